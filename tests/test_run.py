"Runs: the papermill run notebook, launch.sh per launcher, MLflow's one run, predict, and a clean exit."
import json, os, re, subprocess, sys, time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, TINY, run_seqcls, tiny_overrides

NOTEBOOK = ROOT / "nbs" / "run_training.ipynb"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_data):
    "One `seqcls run configs/tiny.yml` (papermill), shared by the checks below."
    base, tmp = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("tmpdir")
    res = run_seqcls("run", TINY, "--run-name", "r1", "--set", f"training_args.output_dir={base}", "--set", f"data.path={tiny_data}",
                     env={"TMPDIR": str(tmp)})
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-3000:])
    assert not [p.name for p in tmp.iterdir() if p.name.startswith("seqcls-")], "the run left its temporary folders behind (input check, zygote)"
    return base, base / "r1", res


def test_run_notebook_leaves_a_complete_run_directory(tiny_run):
    base, run, res = tiny_run
    for f in ("config.yml", "launch.sh", "train.log", "metrics.json", "report.ipynb", "loss_curves.png", "confusion_matrix.png",
              "f1_vs_frequency.png", "class_weights.png", "model/model.safetensors", "run_info.json"):
        assert (run / f).is_file(), f
    assert all((run / p).read_bytes()[:4] == b"\x89PNG" for p in ("loss_curves.png", "confusion_matrix.png"))
    m = json.loads((run / "metrics.json").read_text())
    assert f"macro-F1 (test): {m['test_f1_macro']:.4f}" in res.stderr and f"report: {run / 'report.ipynb'}" in res.stderr
    nb = json.loads((run / "report.ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 4          # the report shows the four plots
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert "-m seqcls.warm seqcls.train --config_yml " + str(run / "config.yml") in (run / "launch.sh").read_text()


def test_the_terminal_shows_a_few_lines_and_one_bar(tiny_run):
    "What a person sees: a line per stage, one progress bar, a line per evaluation, the results, the report's path; the rest is in train.log."
    base, run, res = tiny_run
    out = res.stdout + res.stderr
    lines = [l.split("\r")[-1].rstrip() for l in out.split("\n")]      # a progress bar redraws in place after a carriage return
    lines = [l for l in lines if l.strip() and not re.match(r"training +\d+%\|", l)]
    assert len(lines) <= 25, "\n".join(lines)
    for noise in ("Executing Cell", "LOAD REPORT", " INFO ", "{'loss'", "Figure size", "without encryption", "Setting accelerator",
                  "pin_memory", "Map", "tokenizing", "Creating initial MLflow", "Traceback"):
        assert noise not in out, noise
    assert [l for l in lines if re.match(r"epoch \d: validation loss [\d.]+ · accuracy [\d.]+ · macro-F1 [\d.]+$", l)], lines
    assert re.search(r"training +100%\|", out)                         # the bar, at its end
    log = (run / "train.log").read_text()
    assert "step 4: loss" in log and "budget:" in log and "first training step" in log  # the detail is kept


def test_mlflow_holds_exactly_one_finished_run(tiny_run):
    from mlflow.tracking import MlflowClient
    base, run, _ = tiny_run
    client = MlflowClient(f"sqlite:///{base}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    r = runs[0]
    assert r.data.params["training_args.output_dir"] == str(run) and r.data.params["model.random_init"] == "True"
    assert {"eval_f1_macro", "test_accuracy", "loss", "learning_rate"} <= set(r.data.metrics)
    arts = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"config.yml", "metrics.json", "report.ipynb", "confusion_matrix.png", "loss_curves.png", "launch.sh"} <= arts, arts


def test_predict_reproduces_the_runs_eval_predictions(tiny_run, tiny_data, tmp_path):
    from datasets import load_from_disk
    _, run, _ = tiny_run
    ev = load_from_disk(str(tiny_data))["validation"].select(range(128))  # configs/tiny.yml: max_eval_samples 128
    pd.DataFrame({"text": ev["text"]}).to_parquet(tmp_path / "eval.parquet")
    res = run_seqcls("predict", run, tmp_path / "eval.parquet", "--output", tmp_path / "pred.csv")
    assert res.returncode == 0, res.stderr[-2000:]
    got, want = pd.read_csv(tmp_path / "pred.csv"), pd.read_csv(run / "predictions-eval.csv")
    assert got.prediction.tolist() == want.prediction.tolist()
    cols = [c for c in want.columns if c.startswith("score_")]
    assert (got[cols] - want[cols]).abs().max().max() < 1e-4


def test_predict_input_without_the_text_column(tiny_run, tmp_path):
    _, run, _ = tiny_run
    pd.DataFrame({"body": ["what is x ?"]}).to_csv(tmp_path / "in.csv", index=False)
    res = run_seqcls("predict", run, tmp_path / "in.csv")
    assert res.returncode == 2 and "has no column 'text'" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "in.predictions.csv").exists()


@pytest.mark.parametrize("launcher,nproc,expect", [
    ("python", "auto", "/python -m seqcls.warm seqcls.train --config_yml"),
    ("torchrun", "2", "/torchrun --nproc_per_node 2 -m seqcls.train --config_yml"),
    ("deepspeed", "2", "/deepspeed --num_gpus 2 --module seqcls.train --config_yml"),
])
def test_dry_run_writes_the_launch_script_and_trains_nothing(tmp_path, launcher, nproc, expect):
    sets = ["--set", f"training_args.output_dir={tmp_path}", "--set", f"data.path={tmp_path}/no-data-needed"]
    if launcher == "deepspeed": sets += ["--set", "deepspeed=configs/deepspeed/zero2.json"]
    res = run_seqcls("run", TINY, "--run-name", "dry", "--dry-run", "--quiet", "--launcher", launcher, "--num-gpus", nproc, *sets)
    assert res.returncode == 0, res.stderr[-2000:]
    run = tmp_path / "dry"
    script = (run / "launch.sh").read_text()
    assert expect + " " + str(run / "config.yml") in script, script
    assert sorted(p.name for p in run.iterdir()) == [".seqcls-run", "config.yml", "launch.sh", "report.ipynb"]


def test_unknown_notebook_parameter_fails(tmp_path):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    with pytest.raises(PapermillExecutionError) as e:
        pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), progress_bar=False, cwd=str(ROOT),
                            parameters={"config": str(TINY), "lanucher": "python", "dry_run": True})
    assert e.value.ename == "ConfigError" and "notebook parameter `lanucher`: unknown" in e.value.evalue
    assert "Did you mean `launcher`?" in e.value.evalue


def test_bad_run_input_exits_2_and_writes_nothing(tmp_path):
    res = run_seqcls("run", TINY, "--set", f"training_args.output_dir={tmp_path}", "--set", "training_args.lr=1")
    assert res.returncode == 2 and "training_args.lr" in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_training_process_exits_promptly_after_finishing(tmp_path, tiny_data):
    "The end of training must not hang (the legacy script patched MLflow's on_train_end for this)."
    cmd = [sys.executable, "-m", "seqcls.train", "--config_yml", str(TINY), *tiny_overrides(tmp_path, tiny_data)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finished_at = None
    for line in proc.stdout:
        if line.startswith("outputs: "): finished_at = time.time()  # the last line the training prints
    rc = proc.wait(timeout=120)
    assert rc == 0 and finished_at is not None
    assert time.time() - finished_at < 15, "the process lingered after training finished"


def test_two_process_deepspeed_run_logs_one_mlflow_run(tmp_path, tiny_data):
    """The multi-GPU launch path on CPU: seqcls run --launcher deepspeed --num-gpus 2 (ZeRO-2), one MLflow run, not one per rank.
    The config does not say `use_cpu` (several CPU processes need it; seqcls sets it), and ZeRO-2's "auto" gradient bucket
    is filled from the model."""
    cfg = tmp_path / "tiny-no-use-cpu.yml"
    cfg.write_text(TINY.read_text().replace("  use_cpu: true\n", ""))
    assert "use_cpu" not in cfg.read_text()
    res = run_seqcls("run", cfg, "--run-name", "ds", "--quiet", "--launcher", "deepspeed", "--num-gpus", "2",
                     "--set", f"training_args.output_dir={tmp_path}", "--set", f"data.path={tiny_data}",
                     "--set", "deepspeed=configs/deepspeed/zero2.json", "--set", "training_args.num_train_epochs=1",
                     "--set", f"launch.master_port={(port := 29900 + os.getpid() % 90)}")
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-2000:])
    leftover = list(Path("/dev/shm").glob(f"deepspeed_allreduce_buffer_{os.getuid()}_*_{port}_*"))
    assert not leftover, f"DeepSpeed's CPU all-reduce buffers outlived the run: {leftover}"  # 66 MB of memory a rank, until a reboot
    run = tmp_path / "ds"
    assert re.search(r"deepspeed --num_gpus 2 (--master_port \d+ )?--module seqcls.train", (run / "launch.sh").read_text())
    assert json.loads((run / "metrics.json").read_text())["world_size"] == 2
    assert re.search(r"reduce_bucket_size auto -> [\d,]+ \([\d,]+ trainable numbers, hidden size 32\)", (run / "train.log").read_text())
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
