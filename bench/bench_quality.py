"""Quality suite: seqcls's shipped GPU recipe (`configs/reuters-r8.yml`, only the data changed, as a user would) against
TF-IDF + LinearSVC (class_weight balanced) and a plain `transformers.Trainer` with run_classification's defaults, on
the datasets of `quality_data.py`, several seeds each. Recipe settings are chosen on the validation splits of the
`dev` datasets only; the `held-out` datasets are not looked at while choosing, and no choice is made on a test split.

    python bench/quality_data.py DATA                                  # once: the datasets as CSV files
    python bench/bench_quality.py run --data DATA --model MODEL --methods linear trainer recipe --seeds 0 1 2 \\
        --workers 6 --out bench/raw/DATE-MACHINE-quality.jsonl
    python bench/bench_quality.py table bench/raw/DATE-MACHINE-quality.jsonl

Every job runs in its own process (`--workers` at once; they share the GPU) and appends one JSON line: validation and
test macro-F1 and accuracy (for seqcls also with the decision rule tuned on validation, which is what `seqcls
predict` uses), the number of classes predicted on the test split (a model that predicts one class shows), steps,
wall time, and the validation logits (for the cross-validated check of decision tuning in `table`)."""
import argparse, gzip, json, math, os, shutil, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import machine, peak_gib, reset_gpu, write_jsonl  # noqa: E402

RECIPE = ROOT / "configs" / os.environ.get("SEQCLS_QUALITY_RECIPE", "reuters-r8.yml")  # --recipe sets it for the job processes
# seqcls variants: overrides of the recipe. "recipe" is the shipped config; the others are the candidates it was chosen
# from (on validation macro-F1 of the dev datasets) and the recipe before the budget (3 epochs, the last checkpoint).
VARIANTS = {
    "recipe": [],
    "before": ["budget.min_steps=null", "budget.early_stopping_patience=null", "budget.select_from=null", "decision.tune=false",
               "training_args.load_best_model_at_end=false", "training_args.save_strategy=no"],
    "full-trajectory": ["budget.early_stopping_patience=null", "budget.select_from=null"],  # with --record: every epoch, for the selection-rule study
    "steps600": ["budget.min_steps=600"],
    "steps1200": ["budget.min_steps=1200"],
    "logit-adjusted": ["loss.class_weights=false", "loss.logit_adjustment=1.0", "loss.reweight_from=null", "budget.min_steps=600"],
    "drw": ["loss.class_weights=true", "loss.logit_adjustment=0", "loss.reweight_from=0.7", "budget.min_steps=600"],
}


def splits_of(data_dir: Path, prep: Path, model: str, max_length: int) -> tuple[list[str], Path]:
    "The overrides that point the recipe at a dataset's CSV files and its prepared folder."
    return [f"model.name_or_path={model}", f"data.path={prep}", f"data.max_length={max_length}", "data.source.kind=csv",
            f"data.source.train_file={data_dir / 'train.csv'}", f"data.source.test_file={data_dir / 'test.csv'}",
            "data.source.validation_file=null", "data.source.text_columns=[text]", "data.source.label_column=label"], prep


def prepare(data_dir: Path, prep: Path, model: str, max_length: int) -> None:
    "seqcls prepare, once per dataset (all jobs then read the same splits)."
    if prep.exists(): return
    from seqcls.config import load_config
    from seqcls.data import prepare_dataset
    from seqcls.model import load_tokenizer
    sets, _ = splits_of(data_dir, prep, model, max_length)
    cfg = load_config(RECIPE, sets + ["tracking.enabled=false"])
    prepare_dataset(cfg, load_tokenizer(cfg.model))


def _scores(labels, preds) -> dict:
    from sklearn.metrics import accuracy_score, f1_score
    return {"accuracy": float(accuracy_score(labels, preds)), "f1_macro": float(f1_score(labels, preds, average="macro", zero_division=0))}


def run_linear(prep: Path, seed: int) -> dict:
    "TF-IDF (word 1-2 grams, sublinear tf) + LinearSVC(class_weight='balanced'), C=1 and C chosen on validation."
    from datasets import load_from_disk
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC
    dd = load_from_disk(str(prep))
    t0 = time.time()
    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
    xtr = vec.fit_transform(dd["train"]["text"]); xva = vec.transform(dd["validation"]["text"]); xte = vec.transform(dd["test"]["text"])
    out, best = {}, None
    for c in (0.01, 0.1, 1.0, 10.0):
        clf = LinearSVC(C=c, class_weight="balanced", random_state=seed).fit(xtr, dd["train"]["label"])
        val = _scores(dd["validation"]["label"], clf.predict(xva))
        if c == 1.0: out = {"val": val, "test": _scores(dd["test"]["label"], clf.predict(xte)), "test_pred_classes": int(np.unique(clf.predict(xte)).size)}
        if best is None or val["f1_macro"] > best[0]: best = (val["f1_macro"], c, _scores(dd["test"]["label"], clf.predict(xte)))
    return {**flat(out), "tuned_C": best[1], "test_tuned_f1_macro": best[2]["f1_macro"], "test_tuned_accuracy": best[2]["accuracy"],
            "train_runtime_s": time.time() - t0}


def plain_trainer(model_dir: str, prep: Path, seed: int, epochs: int = 3) -> dict:
    "What a user would do instead: run_classification.py's defaults with a plain Trainer (fp32, batch 8, lr 5e-5, pad to 128, unweighted, last checkpoint)."
    from datasets import load_from_disk
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, set_seed
    set_seed(seed)
    dd, tok = load_from_disk(str(prep)), AutoTokenizer.from_pretrained(model_dir)
    cols = ["input_ids", "attention_mask", "token_type_ids", "label"]
    enc = {s: dd[s].map(lambda b: tok(b["text"], padding="max_length", max_length=128, truncation=True), batched=True).select_columns(cols)
           for s in ("train", "validation", "test")}
    names = dd["train"].features["label"].names
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(names), dtype="float32")
    out_dir = tempfile.mkdtemp()
    args = TrainingArguments(output_dir=out_dir, num_train_epochs=epochs, per_device_train_batch_size=8, learning_rate=5e-5, seed=seed,
                             report_to=[], save_strategy="no", eval_strategy="no", logging_steps=500, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=enc["train"], processing_class=tok)
    reset_gpu()
    res = trainer.train()
    peak = peak_gib()
    preds = {s: trainer.predict(enc[s]).predictions.argmax(-1) for s in ("validation", "test")}
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"val_" + k: v for k, v in _scores(dd["validation"]["label"], preds["validation"]).items()} | \
           {"test_" + k: v for k, v in _scores(dd["test"]["label"], preds["test"]).items()} | \
           {"test_pred_classes": int(np.unique(preds["test"]).size), "train_runtime_s": res.metrics["train_runtime"],
            "samples_per_s": len(enc["train"]) * epochs / res.metrics["train_runtime"], "train_steps": res.global_step, "peak_gib": peak}


def record_every_evaluation(epochs: list) -> None:
    """Experiment: after every evaluation during training, keep the validation and test predictions (and, for two
    classes, the validation logit differences), so selection rules can be compared afterwards on the same trajectories."""
    import seqcls.train as st
    from transformers import TrainerCallback
    build = st.build_trainer
    class Record(TrainerCallback):
        def __init__(self, trainer, art): self.trainer, self.art = trainer, art
        def on_evaluate(self, args, state, control, metrics=None, **kw):
            out = {}
            for name in ("eval", "test"):
                p = self.trainer.predict(st.model_inputs(self.art.splits[name]), metric_key_prefix=f"rec_{name}")
                x = np.asarray(p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions)
                out[name] = x.argmax(-1).tolist()
                if x.shape[1] == 2: out[f"{name}_diff"] = np.round(x[:, 1] - x[:, 0], 3).tolist()
            epochs.append({"step": state.global_step, **out})
    def patched(cfg, art, *a, **kw):
        trainer = build(cfg, art, *a, **kw); trainer.add_callback(Record(trainer, art)); return trainer
    st.build_trainer = patched


def run_seqcls(data_dir: Path, prep: Path, model: str, max_length: int, seed: int, overrides: list[str], record: bool = False) -> dict:
    "The recipe through seqcls's own training path (seqcls.train.train), with only the data (and the variant) changed."
    from seqcls.config import load_config
    epochs = []
    if record: record_every_evaluation(epochs)
    from seqcls.train import train
    sets, _ = splits_of(data_dir, prep, model, max_length)
    out_dir = tempfile.mkdtemp()
    cfg = load_config(RECIPE, sets + [f"training_args.output_dir={out_dir}/run", f"seed={seed}", "tracking.enabled=false",
                                      *overrides])  # the recipe's dataloader workers (none: a worker start costs seconds on a GPU machine)
    import pandas as pd
    try:
        m = train(cfg)
        test = pd.read_csv(f"{out_dir}/run/predictions-test.csv")
        val = pd.read_csv(f"{out_dir}/run/predictions-eval.csv")
    finally: shutil.rmtree(out_dir, ignore_errors=True)
    names = m["labels"]
    offsets = np.asarray((m.get("decision") or {}).get("offsets") or np.zeros(len(names)))
    # the raw logits up to a constant per row (enough for any argmax): log of the saved scores, less the decision's offsets
    val_logits = np.log(np.maximum(val[[f"score_{n}" for n in names]].to_numpy(), 1e-7)) - offsets
    keep = ("eval_accuracy", "eval_f1_macro", "test_accuracy", "test_f1_macro", "eval_tuned_accuracy", "eval_tuned_f1_macro",
            "test_tuned_accuracy", "test_tuned_f1_macro", "train_runtime", "train_steps", "best_step")
    r = {k.replace("eval_", "val_").replace("train_runtime", "train_runtime_s"): m[k] for k in keep if k in m}
    r["test_pred_classes"] = int(test["prediction"].nunique())
    r["val_logits"] = np.round(val_logits, 3).tolist()
    r["val_labels"] = [names.index(x) for x in val["label"]]
    if record: r["epochs"], r["test_labels"] = epochs, [names.index(x) for x in test["label"]]
    r["budget"] = m.get("budget", {}).get("reason")
    r["decision"] = {k: v for k, v in (m.get("decision") or {}).items() if k != "offsets"}
    r["train_counts"] = m["train_counts"]
    return r


def flat(d: dict) -> dict:
    return {f"{split}_{k}": v for split, scores in d.items() if isinstance(scores, dict) for k, v in scores.items()} | \
           {k: v for k, v in d.items() if not isinstance(v, dict)}


def one(job: dict) -> dict:
    data_dir, prep = Path(job["data_dir"]), Path(job["prep"])
    t0 = time.time()
    if job["method"] == "linear": r = run_linear(prep, job["seed"])
    elif job["method"] == "trainer": r = plain_trainer(job["model"], prep, job["seed"])
    else: r = run_seqcls(data_dir, prep, job["model"], job["max_length"], job["seed"], VARIANTS[job["method"]] + job.get("extra", []), job.get("record", False))
    return {"bench": "quality", **{k: job[k] for k in ("dataset", "group", "method", "seed")}, "wall_s": round(time.time() - t0, 1), **r}


def cmd_run(a) -> None:
    global RECIPE
    os.environ["SEQCLS_QUALITY_RECIPE"] = a.recipe
    RECIPE = ROOT / "configs" / a.recipe
    sys.path.insert(0, str(HERE))
    from quality_data import SUITE
    data, work = Path(a.data), Path(a.work or tempfile.mkdtemp(prefix="quality-"))
    names = a.datasets or list(SUITE)
    for name in names:  # prepared once, in this process, before any job reads it
        prepare(data / name, work / f"{name}-{a.max_length}", a.model, a.max_length)
    jobs = [{"dataset": n, "group": SUITE[n][0], "method": m, "seed": s, "data_dir": str(data / n), "prep": str(work / f"{n}-{a.max_length}"),
             "model": a.model, "max_length": a.max_length, "extra": a.set, "record": a.record} for n in names for m in a.methods for s in (a.seeds if m != "linear" else a.seeds[:1])]
    big = {n: (data / n / "train.csv").stat().st_size for n in names}
    jobs.sort(key=lambda j: (j["seed"], -big[j["dataset"]]))  # every setting once before any twice; longest first, so the pool ends together
    lock, logf, t0 = threading.Lock(), open(a.log, "a") if a.log else None, time.time()
    done = [0]

    def work_one(job):
        t = time.time()
        if a.deadline and t - t0 > a.deadline:
            with lock: write_jsonl(Path(a.out), [{"bench": "quality", **{k: job[k] for k in ("dataset", "group", "method", "seed")}, "error": "skipped: --deadline"}])
            return
        p = subprocess.run([sys.executable, __file__, "one", json.dumps(job)], capture_output=True, text=True)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{\"bench\": \"quality\"")]
        with lock:
            done[0] += 1
            if logf: logf.write(f"===== {job['dataset']} {job['method']} seed {job['seed']} (exit {p.returncode}, {time.time() - t:.0f} s)\n{p.stdout[-3000:]}{p.stderr[-6000:]}\n"); logf.flush()
            if p.returncode or not lines:
                row = {"bench": "quality", **{k: job[k] for k in ("dataset", "group", "method", "seed")}, "error": (p.stderr.strip().splitlines() or ["?"])[-1][:300]}
            else: row = json.loads(lines[-1])
            write_jsonl(Path(a.out), [row])
            f1 = row.get("test_tuned_f1_macro", row.get("test_f1_macro"))
            print(f"[{done[0]}/{len(jobs)}] {job['dataset']:<13} {job['method']:<15} seed {job['seed']}: "
                  + (f"test macro-F1 {f1:.4f} ({time.time() - t:.0f} s)" if f1 is not None else f"FAILED {row.get('error')}"), flush=True)

    with ThreadPoolExecutor(a.workers) as pool: list(pool.map(work_one, jobs))
    print(f"{len(jobs)} jobs in {time.time() - t0:.0f} s on {machine()}")


def _cv_decision_gain(rows: list[dict], folds: int = 2, repeats: int = 10) -> tuple[float, float] | None:
    "Macro-F1 of the decision rule tuned on one half of the validation split and scored on the other, against the raw argmax there."
    from seqcls.decision import macro_f1, tune_decision
    gains = []
    for r in rows:
        if "val_logits" not in r: continue
        x, y = np.asarray(r["val_logits"]), np.asarray(r["val_labels"])
        for rep in range(repeats):
            parts = np.array_split(np.random.default_rng(rep).permutation(len(y)), folds)
            for k in range(folds):
                test, fit = parts[k], np.concatenate([parts[j] for j in range(folds) if j != k])
                d = tune_decision(x[fit], y[fit], r["train_counts"])
                gains.append(macro_f1(y[test], d.predict(x[test])) - macro_f1(y[test], x[test].argmax(-1)))
    return (float(np.mean(gains)), float(np.std(gains))) if gains else None


def cmd_table(a) -> None:
    rows = []
    for spec in a.raw:  # FILE or FILE:OLD=NEW,... (a method renamed: what a file calls "recipe" may be a candidate now)
        f, _, ren = spec.partition(":")
        names = dict(x.split("=") for x in ren.split(",") if x)
        for l in read_lines(f):
            r = json.loads(l) if l.strip() else {}
            if r.get("bench") != "quality": continue
            r["method"] = names.get(r["method"], r["method"])
            rows.append(r)
    if a.methods: rows = [r for r in rows if r["method"] in a.methods]
    errors = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    score = lambda r, split="test", m="f1_macro": r.get(f"{split}_tuned_{m}", r[f"{split}_{m}"]) if r["method"] not in ("linear",) else r[f"{split}_{m}"]
    ms = lambda xs: f"{np.mean(xs):.3f} ({np.std(xs):.3f})" if len(xs) > 1 else f"{np.mean(xs):.3f}"
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = a.methods or list(dict.fromkeys(r["method"] for r in rows))
    print(f"Test macro-F1, mean (standard deviation) over seeds; seqcls: with the decision rule tuned on validation "
          f"(raw argmax in the second table); linear: C=1\n")
    print("| dataset | group | " + " | ".join(methods) + " |"); print("|---|---|" + "---|" * len(methods))
    for d in datasets:
        cells = []
        for m in methods:
            xs = [score(r) for r in rows if r["dataset"] == d and r["method"] == m]
            one_class = any(r.get("test_pred_classes") == 1 for r in rows if r["dataset"] == d and r["method"] == m)
            cells.append((ms(xs) if xs else "") + (" **one class**" if one_class else ""))
        g = next(r["group"] for r in rows if r["dataset"] == d)
        print(f"| {d} | {g} | " + " | ".join(cells) + " |")
    for title, key in (("test macro-F1, raw argmax", lambda r: r["test_f1_macro"]), ("test accuracy", lambda r: score(r, "test", "accuracy")),
                       ("validation macro-F1 (raw argmax; what settings are chosen on)", lambda r: r["val_f1_macro"]),
                       ("wall seconds per job (jobs share the machine)", lambda r: r["wall_s"])):
        print(f"\n{title}\n\n| dataset | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods))
        for d in datasets:
            cells = [ms([key(r) for r in rows if r["dataset"] == d and r["method"] == m]) if any(r["dataset"] == d and r["method"] == m for r in rows) else "" for m in methods]
            print(f"| {d} | " + " | ".join(cells) + " |")
    print("\nChoice on validation (dev datasets only): mean over datasets of the mean validation macro-F1 over seeds\n")
    for m in methods:
        per = [np.mean([r["val_f1_macro"] for r in rows if r["dataset"] == d and r["method"] == m]) for d in datasets
               if any(r["dataset"] == d and r["method"] == m and r["group"] == "dev" for r in rows)]
        if per: print(f"- {m}: {np.mean(per):.4f} over {len(per)} dev datasets")
    print("\nDecision tuning, cross-validated on the validation split (tuned on one half, scored on the other; 10 random halvings),"
          " mean gain in macro-F1 over the raw argmax:\n")
    print("| dataset | " + " | ".join(m for m in methods if m not in ("linear", "trainer")) + " |\n|---|" + "---|" * sum(m not in ("linear", "trainer") for m in methods))
    for d in datasets:
        cells = [_cv_decision_gain([r for r in rows if r["method"] == m and r["dataset"] == d]) for m in methods if m not in ("linear", "trainer")]
        print(f"| {d} | " + " | ".join(f"{g[0]:+.4f}" if g else "" for g in cells) + " |")
    for r in errors: print(f"\nFAILED: {r['dataset']} {r['method']} seed {r['seed']}: {r['error']}")


def read_lines(path) -> list[str]:
    "A raw JSON-lines file, gzipped or not."
    p = Path(path)
    return (gzip.open(p, "rt").read() if p.suffix == ".gz" else p.read_text()).splitlines()


def _choose(f1s: list[float], rule: str) -> int:
    "The evaluation a checkpoint-selection rule keeps, from the validation macro-F1 after each evaluation."
    if rule == "last": return len(f1s) - 1
    later, patience = "later-on-ties" in rule, 5 if "early-stop" in rule else None
    start = len(f1s) // 2 if "second-half" in rule else 0
    best, chosen, misses = -1.0, start, 0
    for i in range(start, len(f1s)):
        if f1s[i] > best or (later and f1s[i] == best): best, chosen, misses = f1s[i], i, 0
        else:
            misses += 1
            if patience and misses >= patience: break
    return chosen

SHIPPED = "second-half+later-on-ties+early-stop"  # configs/reuters-r8.yml: budget.select_from 0.5, LaterOnTies, patience 5
RULES = ("first-best+early-stop", "later-on-ties+early-stop", "first-best", "later-on-ties", "second-half+later-on-ties", "second-half+later-on-ties+early-stop", "last")


def cmd_study(a) -> None:
    """Checkpoint-selection rules compared on recorded trajectories (`run --record`): each rule picks an evaluation from
    one random half of the validation split and is scored on the other half (10 halvings), dev datasets only; then
    the test macro-F1 of the evaluation each rule picks on the whole validation split."""
    from seqcls.decision import macro_f1, tune_decision
    rows = [json.loads(l) for f in a.raw for l in read_lines(f) if l.strip()]
    rows = [r for r in rows if "epochs" in r]
    nested, test, shipped = {}, {}, {}
    for r in rows:
        yv, yt = np.asarray(r["val_labels"]), np.asarray(r["test_labels"])
        E = r["epochs"]
        for rule in RULES:
            if r["group"] == "dev":
                for rep in range(10):
                    halves = np.array_split(np.random.default_rng(rep).permutation(len(yv)), 2)
                    for k in (0, 1):
                        fit, held = halves[k], halves[1 - k]
                        i = _choose([macro_f1(yv[fit], np.asarray(e["eval"])[fit]) for e in E], rule)
                        nested.setdefault(rule, {}).setdefault(r["dataset"], []).append(macro_f1(yv[held], np.asarray(E[i]["eval"])[held]))
            i = _choose([macro_f1(yv, e["eval"]) for e in E], rule)
            f1 = macro_f1(yt, E[i]["test"])
            if "eval_diff" in E[i]:  # two classes: the threshold tuned on validation (decision.tune auto)
                x = lambda d: np.c_[np.zeros(len(d)), np.asarray(d)]
                f1 = macro_f1(yt, tune_decision(x(E[i]["eval_diff"]), yv, r["train_counts"]).predict(x(E[i]["test_diff"])))
            test.setdefault(rule, {}).setdefault(r["dataset"], []).append(f1)
            if rule == SHIPPED:
                pred = np.asarray(E[i]["test"]) if "test_diff" not in E[i] else (np.asarray(E[i]["test_diff"]) + tune_decision(
                    np.c_[np.zeros(len(E[i]["eval_diff"])), E[i]["eval_diff"]], yv, r["train_counts"]).offsets[1] > 0).astype(int)
                shipped.setdefault(r["dataset"], []).append((f1, float((pred == yt).mean()), int(np.unique(pred).size), r["group"]))
    print("Selection rules, nested on validation (chosen on one half, scored on the other), mean macro-F1 per dev dataset:\n")
    ds = sorted({d for v in nested.values() for d in v})
    print("| rule | " + " | ".join(ds) + " | mean |\n|---|" + "---|" * (len(ds) + 1))
    for rule in RULES:
        per = [np.mean(nested[rule][d]) for d in ds]
        print(f"| {rule} | " + " | ".join(f"{x:.4f}" for x in per) + f" | **{np.mean(per):.4f}** |")
    print("\nTest macro-F1 (mean over seeds) of the evaluation each rule picks on the whole validation split:\n")
    ds = list(dict.fromkeys(r["dataset"] for r in rows))
    print("| rule | " + " | ".join(ds) + " |\n|---|" + "---|" * len(ds))
    for rule in RULES:
        print(f"| {rule} | " + " | ".join(f"{np.mean(test[rule][d]):.3f} ({np.std(test[rule][d]):.3f})" for d in ds) + " |")
    print(f"\nThe shipped rule ({SHIPPED}): test macro-F1 and accuracy, mean (sd) over seeds, classes predicted\n")
    print("| dataset | group | test macro-F1 | test accuracy | classes predicted (fewest) |\n|---|---|---|---|---|")
    for d, v in shipped.items():
        f1s, accs, ncls = zip(*[x[:3] for x in v])
        print(f"| {d} | {v[0][3]} | {np.mean(f1s):.3f} ({np.std(f1s):.3f}) | {np.mean(accs):.3f} ({np.std(accs):.3f}) | {min(ncls)} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True, help="folder written by quality_data.py")
    r.add_argument("--model", required=True, help="the recipe's model (a local folder)")
    r.add_argument("--methods", nargs="+", default=["linear", "trainer", "recipe"], help=f"linear, trainer, or seqcls variants: {', '.join(VARIANTS)}")
    r.add_argument("--datasets", nargs="*", default=None)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--max-length", type=int, default=256)
    r.add_argument("--recipe", default="reuters-r8.yml", help="the shipped config under configs/ (default.yml: the CPU recipe)")
    r.add_argument("--work", default=None, help="folder for the prepared datasets (default: a new temporary folder)")
    r.add_argument("--record", action="store_true", help="keep every evaluation's validation and test predictions (selection-rule study)")
    r.add_argument("--set", action="append", default=[], help="an extra override for every seqcls job (smoke tests)")
    r.add_argument("--deadline", type=float, default=None, help="start no job after this many seconds (the rest are recorded as skipped)")
    r.add_argument("--out", required=True); r.add_argument("--log", default=None)
    o = sub.add_parser("one"); o.add_argument("job")
    st = sub.add_parser("study"); st.add_argument("raw", nargs="+")
    t = sub.add_parser("table"); t.add_argument("raw", nargs="+", help="raw files, each optionally FILE:OLD=NEW,... to rename methods")
    t.add_argument("--methods", nargs="*", default=None, help="only these methods, in this order")
    a = ap.parse_args()
    if a.cmd == "one": print(json.dumps(one(json.loads(a.job))))
    elif a.cmd == "run": cmd_run(a)
    elif a.cmd == "study": cmd_study(a)
    else: cmd_table(a)


if __name__ == "__main__":
    main()
