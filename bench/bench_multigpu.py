"""Several GPUs through the path a user takes: `seqcls run CONFIG --launcher deepspeed --num-gpus N` (papermill, launch.sh,
the DeepSpeed launcher, NCCL, MLflow in a sqlite store), on the Qwen2-architecture models of bench_decoder.py with
random weights and Reuters R8 up to 512 tokens.

    python bench/bench_multigpu.py --tokenizer .gpu/minilm --csv DATA/r8 --work /tmp/mg --out RAW.jsonl \\
        --scenarios lora-zero2 full-zero2 full-zero3 kill balance-off --gpus 1 2 4

Scenarios (each a config written here, each GPU count one `seqcls run`):
  lora-zero2   1.5B, LoRA r=16, ZeRO-2, 12k-token batches per GPU, no compilation (compile time would dominate short runs)
  full-zero2   3B full fine-tuning (all weights, AdamW), ZeRO-2, gradient checkpointing, 8k-token batches per GPU
  full-zero2-hfauto  full-zero2 with reduce_bucket_size = hidden_size² (what transformers fills for "auto"; seqcls now fills
               "auto" itself under ZeRO-1/2): the baseline of the bucket-size fix, measured in the same call
  full-zero3   the same under ZeRO-3; its gathered 16-bit save is reloaded on one GPU by `seqcls predict`, whose
               predictions must equal the run's own on the test split
  kill         lora-zero2 on 2 GPUs with rank 1 killed (SIGKILL) mid-training: how long the job takes to end, and
               the MLflow run's status
  balance-off  lora-zero2 with data.balance_ranks false (token-budget batches dealt to ranks in shuffled order)
Per run: real tokens/s (all GPUs, and per GPU) over the steps after the first 5, each rank's forward time per step
(the spread slowest/fastest is what the fastest rank waits), peak GPU memory (rank 0), wall time of the whole
`seqcls run`, and the MLflow runs in the store."""
import argparse, json, os, re, signal, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QWEN2 = {  # Qwen2 shapes, the MiniLM tokenizer's vocabulary
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),  # CPU smoke test
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2),
    "3b": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4),
    "14b": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=48, num_attention_heads=40, num_key_value_heads=8),
}


def model_dir(work: Path, size: str) -> Path:
    from transformers import Qwen2Config
    d = work / "models" / f"qwen2-{size}"
    if not (d / "config.json").is_file():
        Qwen2Config(vocab_size=30522, max_position_embeddings=4096, tie_word_embeddings=False, pad_token_id=0, **QWEN2[size]).save_pretrained(d)
    return d


def config(work: Path, tokenizer: str, csv: Path, scenario: str, size: str) -> Path:
    "The config of a scenario: a user's YAML (data from CSV files, DeepSpeed from the shipped JSON files)."
    lora = scenario.startswith(("lora", "kill", "balance"))
    zero = "zero3" if scenario == "full-zero3" else "zero2"
    ds = f"{ROOT}/configs/deepspeed/{zero}.json"
    if scenario == "full-zero2-hfauto":
        d = json.loads(Path(ds).read_text()); d["zero_optimization"]["reduce_bucket_size"] = QWEN2[size]["hidden_size"] ** 2
        ds = work / "zero2-hfauto.json"; ds.write_text(json.dumps(d, indent=1))
    p = work / f"{scenario}.yml"
    p.write_text(f"""
seed: 0
model: {{name_or_path: "{model_dir(work, size)}", tokenizer: "{tokenizer}", random_init: true, attn_implementation: sdpa,
        gradient_checkpointing: {str(not lora).lower()}{", dtype: bfloat16" if lora else ""}}}
data:
  path: "{work}/r8-512"
  max_length: 512
  source: {{kind: csv, train_file: "{csv}/train.csv", test_file: "{csv}/test.csv"}}
  eval_split: null
  test_split: {"test" if scenario == "full-zero3" else "null"}
  max_eval_samples: 256
  max_tokens_per_batch: {12288 if lora else 8192}
  balance_ranks: {str(scenario != "balance-off").lower()}
lora: {{enabled: {str(lora).lower()}, r: 16, alpha: 32, dropout: 0.0, target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj], adapter_dtype: model}}
deepspeed: "{ds}"
training_args:
  output_dir: "{work}/runs/{scenario}"
  max_steps: {40 if lora else 15}
  learning_rate: 1.0e-4
  bf16: true
  per_device_eval_batch_size: 16
  eval_strategy: "no"
  save_strategy: "no"
  logging_steps: 5
  dataloader_num_workers: 2
  report_to: []
loss: {{class_weights: true, alpha: 0.5, weight_min: 0.25, weight_max: 4.0}}
tracking: {{experiment: seqcls-multigpu}}
""")
    return p


def seqcls(*args, log, env=None, timeout=600, kill_when: Path | None = None) -> tuple[int, float]:
    """Run the seqcls CLI, its output appended to `log`; with `kill_when` (a train.log), SIGKILL rank 1 once that log
    shows a training step, and return the seconds from the kill to the job's end."""
    t0 = time.time()
    with open(log, "a") as f:
        f.write(f"\n===== seqcls {' '.join(map(str, args))}\n"); f.flush()
        p = subprocess.Popen([sys.executable, "-m", "seqcls.cli", *map(str, args)], stdout=f, stderr=subprocess.STDOUT, env=env or os.environ)
        killed = None
        while p.poll() is None and time.time() - t0 < timeout:
            time.sleep(1)
            if kill_when and killed is None and kill_when.is_file() and re.search(r"step \d+: loss|'loss'", kill_when.read_text()):
                ps = subprocess.run(["pgrep", "-f", "seqcls.train.*--local_rank=1"], capture_output=True, text=True).stdout.split()
                if ps:
                    os.kill(int(ps[0]), signal.SIGKILL); killed = time.time()
                    f.write(f"\n===== bench: SIGKILL to rank 1 (pid {ps[0]}) at {killed - t0:.0f} s\n"); f.flush()
        if p.poll() is None: p.kill()
        rc = p.wait()
    return rc, (time.time() - killed if killed else time.time() - t0)


def mlflow_runs(runs: Path) -> list[tuple[str, str]]:
    "(run name, status) of every MLflow run in the store beside the runs (seqcls's default: <output_dir's parent>/mlflow.db)."
    from mlflow.tracking import MlflowClient
    c = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp = c.get_experiment_by_name("seqcls-multigpu")
    return [(r.info.run_name, r.info.status) for r in c.search_runs([exp.experiment_id])] if exp else []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True); ap.add_argument("--csv", required=True, help="folder with R8's train.csv/test.csv")
    ap.add_argument("--work", default="/tmp/multigpu"); ap.add_argument("--out", required=True); ap.add_argument("--log", default=None)
    ap.add_argument("--scenarios", nargs="+", default=["lora-zero2", "full-zero2", "full-zero3", "kill", "balance-off"])
    ap.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--size-lora", default="1.5b"); ap.add_argument("--size-full", default="3b")
    ap.add_argument("--set", action="append", default=[], help="an extra config override for every run (CPU smoke tests)")
    ap.add_argument("--repeats", type=int, default=1, help="run the whole list this many times, scenarios interleaved (run-to-run spread)")
    a = ap.parse_args()
    work, log = Path(a.work), Path(a.log or Path(a.out).with_suffix(".log"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine(), flush=True)
    for rep, scenario in ((r, s) for r in range(a.repeats) for s in a.scenarios):
        size = a.size_full if scenario.startswith("full") else a.size_lora
        cfg = config(work, a.tokenizer, Path(a.csv), scenario, size)
        if not (work / "r8-512").exists(): seqcls("prepare", cfg, *[x for o in a.set for x in ("--set", o)], log=log)
        counts = [2] if scenario == "kill" else [max(a.gpus)] if scenario == "balance-off" else a.gpus
        for n in counts:
            name = f"{n}gpu" + (f"-r{rep}" if rep else "")
            run = work / "runs" / scenario / name
            rc, wall = seqcls("run", cfg, "--launcher", "deepspeed", "--num-gpus", n, "--run-name", name, *[x for o in a.set for x in ("--set", o)], log=log,
                              kill_when=run / "train.log" if scenario == "kill" else None)
            m = json.loads((run / "metrics.json").read_text()) if rc == 0 and (run / "metrics.json").is_file() else {}  # a refused run leaves an older one's
            row = {"bench": "multigpu", "scenario": scenario, "model": size, "gpus": n, "repeat": rep, "exit": rc, "wall_s": round(wall, 1),
                   **{k: m.get(k) for k in ("train_real_tokens_per_second", "train_real_tokens_per_second_per_gpu", "rank_forward_ms",
                                            "rank_forward_spread", "throughput_steps", "gpu_mem_peak_gib", "train_runtime", "world_size")}}
            if scenario == "full-zero3" and rc == 0:  # the gathered save, reloaded on one GPU, predicts what the trained model did
                pred = work / f"predict-{name}.csv"
                import pandas as pd
                test = pd.read_csv(run / "predictions-test.csv")
                pd.DataFrame({"text": pd.read_csv(Path(a.csv) / "test.csv")["text"][:len(test)]}).to_csv(work / "test-texts.csv", index=False)
                prc, _ = seqcls("predict", run, work / "test-texts.csv", "--output", pred, log=log,
                                env={**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
                row["reload_exit"] = prc
                if prc == 0:
                    again = pd.read_csv(pred)
                    row["reload_same_argmax"] = float((again["prediction"].to_numpy() == test["prediction"].to_numpy()).mean())
                    row["saved_weights_gib"] = round(sum(f.stat().st_size for f in (run / "model").glob("*.safetensors")) / 2**30, 2)
            row["mlflow_runs"] = mlflow_runs(work / "runs" / scenario)
            write_jsonl(Path(a.out), [row])
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
