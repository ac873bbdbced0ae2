"""Choices that hold when validation is tiny: the shipped recipe (`configs/reuters-r8.yml`, only the data changed) with
its choices made on seqcls's validation split (today's way) or out of fold by 5-fold cross-validation, on the quality
suite, several seeds, through seqcls's own training path (`seqcls.train.train`, in warm worker processes).

    python bench/quality_data.py DATA                                     # once: the datasets as CSV files
    python bench/bench_selection.py run --data DATA --model MODEL --out RAW.jsonl --work /tmp/sel \\
        --seeds 0 1 2 --settings alpha0.5:loss.alpha=0.5 alpha0:loss.alpha=0 alpha1:loss.alpha=1 --workers 14 --deadline 480
    python bench/bench_selection.py table RAW.jsonl
    python bench/bench_selection.py outer --data DATA --model MODEL --datasets trec6-tail r8-500   # then `run` on <name>-outer:
                                      # the final model (retrain vs the folds' ensemble) judged on seqcls's validation split

Jobs, most important first (a `--deadline` skips what has not started by then, and says so):
1. every dataset, the first setting (the recipe's own), each seed: the run on the validation split ("single"), and,
   where `selection.cv_folds: auto` cross-validates (a class with fewer than 5 validation examples), the 5 folds,
   then the final model retrained on all the data where the folds chose;
2. the other settings, the same single runs and folds (for the selection regret: which setting each way chooses).
Each fold also records its final model's predictions of the test split (the ensemble's), and at every evaluation
(the ensemble at the chosen point); the single run records its validation and test scores. One JSON line per job;
`table` joins them: final quality (single vs retrain vs ensemble), and the regret of choosing the setting on
validation vs out of fold, the setting's quality being the test macro-F1 of its single runs (the same footing for
both ways of choosing). No choice is made on a test split."""
import argparse, json, os, shutil, sys, tempfile, time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE)); sys.path.insert(0, str(ROOT))
from common import machine, write_jsonl  # noqa: E402
from bench_quality import plain_trainer, splits_of  # noqa: E402

RECIPE = ROOT / "configs" / os.environ.get("SEQCLS_SELECTION_RECIPE", "reuters-r8.yml")  # (--recipe: the workers read it too)
K = 5


def _prepare(data_dir: Path, prep: Path, model: str, max_length: int) -> dict:
    "seqcls prepare once per dataset; returns the counts `auto` decides on."
    from seqcls.config import load_config
    from seqcls.data import infer_num_labels, label_counts, load_splits, prepare_dataset
    from seqcls.model import load_tokenizer
    sets, _ = splits_of(data_dir, prep, model, max_length)
    cfg = load_config(RECIPE, sets + ["tracking.enabled=false"])
    if not prep.exists(): prepare_dataset(cfg, load_tokenizer(cfg.model))
    splits = load_splits(cfg)
    n = infer_num_labels(splits)
    return {"train": label_counts(splits, n).tolist(), "eval": label_counts(splits, n, "eval").tolist()}


_SETUP = []


def _worker_setup():
    "Once per worker process: the console, and no MLflow."
    if _SETUP: return
    from seqcls.console import setup_console
    setup_console(); _SETUP.append(1)


def _test_recorder():
    "A Trainer callback that predicts the test split at each evaluation (for the ensemble at the chosen point)."
    import seqcls.train as st
    from transformers import TrainerCallback
    out = []
    build = st.build_trainer

    class Record(TrainerCallback):
        def __init__(self, trainer, art): self.trainer, self.art = trainer, art
        def on_evaluate(self, args, state, control, metrics=None, **kw):
            rec = self.trainer.compute_metrics  # the fold's EvaluationRecorder: this prediction is not one of its evaluations
            rec.active = False
            try: p = self.trainer.predict(st.model_inputs(self.art.splits["test"]), metric_key_prefix="rec_test")
            finally: rec.active = True
            out.append(np.asarray(p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions, dtype=np.float16))

    def patched(cfg, art, *a, **kw):
        trainer = build(cfg, art, *a, **kw)
        if cfg.selection.fold: trainer.add_callback(Record(trainer, art))
        return trainer
    st.build_trainer = patched
    return out, lambda: setattr(st, "build_trainer", build)


def job(spec: dict) -> dict:
    "One training in this (warm) worker process; returns its summary (a fold's record stays on disk in spec['dir'])."
    _worker_setup()
    import gc, logging, torch
    from seqcls.config import load_config
    from seqcls.crossval import final_overrides, fold_overrides
    from seqcls.decision import Decision
    from seqcls.folders import release_folder
    from seqcls.train import train
    data_dir, prep, out = Path(spec["data_dir"]), Path(spec["prep"]), Path(spec["dir"])  # (out: the single run's folder)
    sets, _ = splits_of(data_dir, prep, spec["model"], spec["max_length"])
    base = [*sets, f"seed={spec['seed']}", "tracking.enabled=false", "training_args.disable_tqdm=true", *spec["overrides"]]
    t0 = time.time()
    if spec["part"] == "trainer":
        return {**{k: spec[k] for k in ("dataset", "setting", "seed", "part")}, **plain_trainer(spec["model"], prep, spec["seed"]), "wall_s": round(time.time() - t0, 1)}
    cv = load_config(RECIPE, [*base, f"training_args.output_dir={spec['cvdir']}", f"selection.cv_folds={K}"])
    if spec["part"] == "single": sets = [f"training_args.output_dir={out}", "selection.cv_folds=null"]
    elif spec["part"].startswith("fold"): sets = fold_overrides(cv, int(spec["part"].split("-")[1]), K)
    else: sets = final_overrides(cv, K, spec["share"], Decision(**spec["decision"]))
    cfg = load_config(RECIPE, [*base, *sets])
    shutil.rmtree(cfg.output_dir, ignore_errors=True)  # a clean slate: this bench reruns, it does not resume
    rec, undo = _test_recorder() if spec["part"].startswith("fold") else ([], lambda: None)
    try: m = train(cfg)
    finally:
        undo(); release_folder(cfg.output_dir)
        root = logging.getLogger()
        for h in [h for h in root.handlers if isinstance(h, logging.FileHandler)]: root.removeHandler(h); h.close()
        gc.collect(); torch.cuda.empty_cache()
    r = {**{k: spec[k] for k in ("dataset", "setting", "seed", "part")}, "wall_s": round(time.time() - t0, 1), "train_steps": m.get("train_steps"),
         **{k: m.get(k) for k in ("eval_f1_macro", "eval_accuracy", "test_f1_macro", "test_accuracy", "test_tuned_f1_macro", "test_tuned_accuracy")},
         "test_pred_classes": None, "decision": m.get("decision")}
    if spec["part"].startswith("fold"): np.save(cfg.output_dir / "test_trajectory.npy", np.stack(rec) if rec else np.zeros((0,)))
    if spec["part"] == "single":
        import pandas as pd
        r["test_pred_classes"] = int(pd.read_csv(cfg.output_dir / "predictions-test.csv", keep_default_na=False)["prediction"].nunique())
        r.update(_choice_predictions(cfg.output_dir / "predictions-eval.csv", "eval"))  # what the choice on validation weighs
    if spec["part"] in ("single", "retrain"): r.update(_choice_predictions(cfg.output_dir / "predictions-test.csv", "test"))
    return r


def _choice_predictions(path: Path, prefix: str) -> dict:
    "The class ids of a predictions CSV (labels and the decision's predictions), in its row order, for the paired bootstrap."
    import pandas as pd
    df = pd.read_csv(path, keep_default_na=False).sort_values("index")
    ids = {n[len("score_"):]: i for i, n in enumerate(c for c in df.columns if c.startswith("score_"))}
    logp = np.round(np.log(np.maximum(df[[c for c in df.columns if c.startswith("score_")]].to_numpy(float), 1e-6)), 3)  # the decision's offsets included
    return {f"{prefix}_labels": df["label"].astype(str).map(ids).tolist(), f"{prefix}_pred": df["prediction"].astype(str).map(ids).tolist(),
            f"{prefix}_logp": logp.tolist()}  # (for other decision rules, offline: softmax is blind to a row's constant)


def cv_summary(folds_dir: Path, names_k: int, tune: bool) -> dict:
    "The choice out of fold (as seqcls.crossval.choose makes it) and the ensembles' test scores, from the folds' records."
    from seqcls.decision import Decision, tune_decision
    from seqcls.metrics import split_metrics
    from seqcls.selection import Evaluations, choose_evaluation, evaluation_scores, out_of_fold
    folds = [Evaluations.load(folds_dir / f"fold-{i}") for i in range(1, K + 1)]
    oof = out_of_fold(folds)
    scores = evaluation_scores(oof)
    e = choose_evaluation(scores)
    counts = np.bincount(oof.labels, minlength=names_k)
    decision = tune_decision(oof.logits[e], oof.labels, counts) if tune else Decision("argmax", [0.0] * names_k)
    labels = folds[0].test_labels
    last = np.mean([f.test_logits for f in folds], axis=0)
    traj = [np.load(folds_dir / f"fold-{i}" / "test_trajectory.npy").astype(np.float32) for i in range(1, K + 1)]
    at_e = np.mean([t[e] for t in traj], axis=0) if all(len(t) == len(scores) for t in traj) else None
    out = {"cv_scores": [float(s) for s in scores], "cv_evaluation": e, "cv_share": float(oof.fractions[e]), "cv_f1_macro": float(scores[e]),
           "oof_labels": oof.labels.tolist(), "oof_pred": decision.apply(oof.logits[e]).argmax(-1).tolist(),  # what the choice out of fold weighs
           "oof_logits": np.round(oof.logits[e], 3).tolist(),  # before the decision's offsets
           "fold_scores": [float(evaluation_scores(f)[e]) for f in folds],
           "decision": decision.to_dict(), "ensemble_last_f1_macro": split_metrics(labels, decision.apply(last))["f1_macro"],
           "ensemble_last_raw_f1_macro": split_metrics(labels, last)["f1_macro"]}
    if at_e is not None: out["ensemble_at_choice_f1_macro"] = split_metrics(labels, decision.apply(at_e))["f1_macro"]
    return out


def cmd_run(a) -> None:
    global RECIPE
    os.environ["SEQCLS_SELECTION_RECIPE"] = a.recipe; RECIPE = ROOT / "configs" / a.recipe
    from quality_data import SUITE
    data, work = Path(a.data), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    settings = [s.split(":", 1) for s in a.settings]
    names = a.datasets or list(SUITE)
    print(machine(), flush=True)
    t0 = time.time()
    counts = {n: _prepare(data / n, work / f"{n}-prep", a.model, a.max_length) for n in names}
    from seqcls.selection import auto_cv_folds
    from types import SimpleNamespace
    auto = {n: auto_cv_folds(SimpleNamespace(cv_folds="auto", auto_below=5), c["train"], c["eval"])[0] is not None for n, c in counts.items()}
    write_jsonl(Path(a.out), [{"bench": "selection", "part": "plan", "counts": counts, "cv_auto": auto, "prepare_s": round(time.time() - t0, 1),
                               "settings": a.settings, "seeds": a.seeds}])
    print("prepared in", round(time.time() - t0), "s; cv auto:", auto, flush=True)
    spec = lambda n, s, seed, part, **kw: {"dataset": n, "setting": s[0], "overrides": [*a.set, *(o for o in s[1].split(";") if o)], "seed": seed, "part": part,
                                           "data_dir": str(data / n), "prep": str(work / f"{n}-prep"), "model": a.model, "max_length": a.max_length,
                                           "dir": str(work / n / s[0] / f"seed-{seed}" / "single"), "cvdir": str(work / n / s[0] / f"seed-{seed}" / "cv"), **kw}
    done_before = _finished(Path(a.out)) if a.resume else {}
    is_done = lambda sp: (key := (sp["dataset"], sp["setting"], sp["seed"], sp["part"])) in done_before and (
        not sp["part"].startswith("fold") or ("cv",) + key[:3] in done_before or (Path(sp["cvdir"]) / "folds" / sp["part"] / "test_trajectory.npy").is_file())
    queue = []  # (priority, spec): lower first
    big = {n: (data / n / "train.csv").stat().st_size for n in names}
    for si, s in enumerate(settings):
        for seed in a.seeds:
            for n in sorted(names, key=lambda n: -big[n]):  # the longest first, so the pool ends together
                pri = (seed, si) if a.complete_seeds else (si > 0, seed, si)  # --complete-seeds: every setting of a seed before the next seed (the regret needs them all)
                queue.append((pri, spec(n, s, seed, "single")))
                if (auto[n] or a.cv_everywhere) and not a.singles_only: queue += [(pri, spec(n, s, seed, f"fold-{i}")) for i in range(1, K + 1)]
                cv = done_before.get(("cv", n, s[0], seed))
                if si == 0 and cv and (n, s[0], seed, "retrain") not in done_before:  # folds finished in an earlier call, their final model not
                    queue.append(((-1,), spec(n, s, seed, "retrain", share=cv["cv_share"], decision=cv["decision"])))
    if a.trainer: queue += [((True, seed, 99), spec(n, ("trainer", ""), seed, "trainer")) for seed in a.seeds for n in names]
    n_all = len(queue)
    queue = [(p, sp) for p, sp in queue if not is_done(sp)]
    if a.resume: print(f"resume: {n_all - len(queue)} jobs done in {a.out}, {len(queue)} to run", flush=True)
    queue.sort(key=lambda x: x[0])
    pending_folds = {}
    for _, sp in queue:
        if sp["part"].startswith("fold") and sp["setting"] == settings[0][0] and (sp["dataset"], sp["setting"], sp["seed"], "retrain") not in done_before: pending_folds.setdefault((sp["dataset"], sp["seed"]), set()).add(sp["part"])
    import multiprocessing as mp
    pool = ProcessPoolExecutor(a.workers, mp_context=mp.get_context("spawn"))
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # killed: the finally below ends the workers' trainings too
    running, done = {}, 0
    try:
        while queue or running:
            while queue and len(running) < a.workers:
                if a.deadline and time.time() - t0 > a.deadline:
                    write_jsonl(Path(a.out), [{"bench": "selection", **{k: sp[k] for k in ("dataset", "setting", "seed", "part")}, "error": "skipped: --deadline"} for _, sp in queue])
                    print(f"deadline: {len(queue)} jobs skipped", flush=True); queue = []; break
                _, sp = queue.pop(0)
                running[pool.submit(job, sp)] = sp
            if not running: break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for f in finished:
                sp = running.pop(f)
                try: r = f.result()
                except Exception as e: r = {**{k: sp[k] for k in ("dataset", "setting", "seed", "part")}, "error": f"{type(e).__name__}: {str(e)[:300]}"}
                r["bench"] = "selection"; done += 1
                key = (sp["dataset"], sp["seed"])
                write_jsonl(Path(a.out), [r])  # first: a failing summary below must not lose this training
                if sp["part"].startswith("fold") and "error" not in r:
                    folds_dir = Path(sp["cvdir"]) / "folds"
                    k = len(counts[sp["dataset"]]["train"])
                    # test_trajectory.npy is a fold's last file (run_info.json is written when it starts: a fold still running has one)
                    if all((folds_dir / f"fold-{i}" / "test_trajectory.npy").is_file() for i in range(1, K + 1)):
                        tune = k == 2  # decision.tune auto
                        summ = cv_summary(folds_dir, k, tune)
                        write_jsonl(Path(a.out), [{"bench": "selection", "part": "cv", "dataset": sp["dataset"], "setting": sp["setting"], "seed": sp["seed"], **summ}])
                        if sp["setting"] == settings[0][0] and key in pending_folds:  # the recipe's own setting: its final model too
                            pending_folds.pop(key)
                            queue.insert(0, ((False, -1, 0), spec(sp["dataset"], settings[0], sp["seed"], "retrain", share=summ["cv_share"], decision=summ["decision"])))
                print(f"[{done}] {time.time() - t0:6.0f} s {sp['dataset']} {sp['setting']} seed {sp['seed']} {sp['part']}: "
                      + (r.get("error") or f"test {r.get('test_f1_macro')} val {r.get('eval_f1_macro')} ({r.get('wall_s')} s)"), flush=True)
    finally:
        procs = list((pool._processes or {}).values())  # a worker mid-training would go on without this process (an orphan)
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive(): p.terminate()
    print(f"all done in {time.time() - t0:.0f} s", flush=True)


def _finished(out: Path) -> dict:
    "The jobs an earlier call finished (--resume): (dataset, setting, seed, part) -> its line; ('cv', dataset, setting, seed) -> the choice out of fold."
    if not out.is_file(): return {}
    got = {}
    for r in _rows([out]):
        if "error" in r or r.get("part") == "plan": continue
        key = ("cv", r["dataset"], r["setting"], r["seed"]) if r.get("part") == "cv" else (r["dataset"], r["setting"], r["seed"], r["part"])
        got[key] = r
    return got


def _rows(paths):
    import gzip
    for p in paths:
        op = gzip.open if str(p).endswith(".gz") else open
        with op(p, "rt") as f:
            for line in f:
                if line.strip(): yield json.loads(line)


def cmd_table(a) -> None:
    "Final quality and selection regret, from the raw lines."
    rows = list(_rows(a.raw))
    plans = [r for r in rows if r.get("part") == "plan"]  # one per raw file: their datasets together (the same settings)
    plan = {**plans[0], "counts": {k: v for p in plans for k, v in p["counts"].items()}, "cv_auto": {k: v for p in plans for k, v in p["cv_auto"].items()}}
    auto, settings = plan["cv_auto"], [s.split(":", 1)[0] for s in plan["settings"]]
    recipe = settings[0]
    get = lambda **kw: [r for r in rows if all(r.get(k) == v for k, v in kw.items()) and "error" not in r]
    ms = lambda xs: (f"{np.mean(xs):.3f} ({np.std(xs, ddof=1) if len(xs) > 1 else 0:.3f})" if xs else "-")
    print("| dataset | cv auto | single split (today) | retrain at the point chosen out of fold | folds' ensemble at that point | ensemble of the folds' last | plain Trainer | seeds |")
    print("|---|---|---|---|---|---|---|---|")
    deltas = {}
    for n in plan["counts"]:
        single = [r.get("test_tuned_f1_macro") or r["test_f1_macro"] for r in get(dataset=n, setting=recipe, part="single")]
        retrain = [r.get("test_tuned_f1_macro") or r["test_f1_macro"] for r in get(dataset=n, setting=recipe, part="retrain")]
        cv = get(dataset=n, setting=recipe, part="cv")
        ens = [r["ensemble_at_choice_f1_macro"] for r in cv if "ensemble_at_choice_f1_macro" in r]
        last = [r["ensemble_last_f1_macro"] for r in cv]
        trainer = [r["test_f1_macro"] for r in get(dataset=n, part="trainer")]
        shipped = retrain if auto[n] and retrain else single
        deltas[n] = (np.mean(shipped) - np.mean(single) if single and shipped else None, np.std(single, ddof=1) if len(single) > 1 else 0)
        print(f"| {n} | {'yes' if auto[n] else 'no'} | {ms(single)} | {ms(retrain)} | {ms(ens)} | {ms(last)} | {ms(trainer)} | {len(single)} |")
    print("\nSelection regret (test macro-F1 of the chosen setting minus the best setting's, each setting's quality = mean test macro-F1 of its single runs):")
    print("| dataset | settings | best on test | chosen on validation (regret) | chosen out of fold (regret) | worst on test |")
    print("|---|---|---|---|---|---|")
    regrets = {"val": [], "cv": []}
    for n in plan["counts"]:
        q, v, c = {}, {}, {}
        for s in settings:
            singles = get(dataset=n, setting=s, part="single")
            cvs = get(dataset=n, setting=s, part="cv")
            if singles: q[s] = np.mean([r.get("test_tuned_f1_macro") or r["test_f1_macro"] for r in singles]); v[s] = np.mean([r["eval_f1_macro"] for r in singles])
            if cvs and len(cvs) == len(singles): c[s] = np.mean([r["cv_f1_macro"] for r in cvs])
        common = [s for s in settings if s in q and s in v]
        if len(common) < 2: continue
        best, worst = max(common, key=q.get), min(common, key=q.get)
        by_val = max(common, key=v.get)
        line = f"| {n} | {len(common)} | {best} {q[best]:.3f} | {by_val} ({q[by_val] - q[best]:+.3f}) |"
        regrets["val"].append(q[by_val] - q[best])
        if all(s in c for s in common):
            by_cv = max(common, key=c.get); regrets["cv"].append(q[by_cv] - q[best])
            line += f" {by_cv} ({q[by_cv] - q[best]:+.3f}) |"
        else: line += " - |"
        print(line + f" {worst} {q[worst]:.3f} |")
    for k, xs in regrets.items():
        if xs: print(f"mean regret, {'validation split' if k == 'val' else 'out of fold'}: {np.mean(xs):+.4f} over {len(xs)} datasets (worst {min(xs):+.4f})")
    print("\nPer seed (each seed's own runs: the setting each way chooses on that seed, judged by that seed's test scores):")
    print("| dataset | seed | best on test | chosen on validation (regret) | chosen out of fold (regret) | worst on test |")
    print("|---|---|---|---|---|---|")
    per = {"val": [], "cv": []}; worst_hits = {"val": 0, "cv": 0}; best_hits = {"val": 0, "cv": 0}
    for n in plan["counts"]:
        for seed in sorted({r["seed"] for r in get(dataset=n, part="single")}):
            one = lambda s, p: get(dataset=n, setting=s, seed=seed, part=p)
            have = [s for s in settings if one(s, "single") and one(s, "cv")]
            if len(have) < len(settings): continue
            q = {s: one(s, "single")[-1].get("test_tuned_f1_macro") or one(s, "single")[-1]["test_f1_macro"] for s in have}
            v = {s: one(s, "single")[-1]["eval_f1_macro"] for s in have}; c = {s: one(s, "cv")[-1]["cv_f1_macro"] for s in have}
            best, worst = max(have, key=q.get), min(have, key=q.get)
            by = {"val": max(have, key=v.get), "cv": max(have, key=c.get)}
            for k in by: per[k].append(q[by[k]] - q[best]); worst_hits[k] += by[k] == worst; best_hits[k] += by[k] == best
            print(f"| {n} | {seed} | {best} {q[best]:.3f} | {by['val']} ({q[by['val']] - q[best]:+.3f}) | {by['cv']} ({q[by['cv']] - q[best]:+.3f}) | {worst} {q[worst]:.3f} |")
    for k, xs in per.items():
        if xs: print(f"per seed, {'validation split' if k == 'val' else 'out of fold'}: mean regret {np.mean(xs):+.4f} over {len(xs)} choices, "
                     f"the test-best setting chosen {best_hits[k]} times, the worst {worst_hits[k]} times")
    _table_keep(get, plan, settings)
    print("\nWall time per job (s), mean:", {p: round(float(np.mean([r['wall_s'] for r in rows if r.get('part', '').startswith(p) and 'wall_s' in r])), 1)
                                          for p in ("single", "fold", "retrain", "trainer") if any(r.get('part', '').startswith(p) and 'wall_s' in r for r in rows)})


def _table_keep(get, plan, settings) -> None:
    """The shipped rule (seqcls.compare.choose_setting): the best on validation (or out of fold), but the recipe's own
    setting where a paired bootstrap over the examples the choice weighs cannot tell the best apart from it; per seed,
    and over the seeds together (a sweep of all of them). Needs the predictions the choice weighs (lines from 2026-12-08 on)."""
    from seqcls.selection import paired_bootstrap
    recipe = settings[0]
    print("\nKeeping the recipe's setting unless the best is told apart from it (paired bootstrap, 95%; the shipped rule):")
    print("| dataset | seeds | best on test | validation, keeping (regret) | out of fold, keeping (regret) | worst on test |")
    print("|---|---|---|---|---|---|")
    per, hits, best_hits = {"val": [], "cv": []}, {"val": 0, "cv": 0}, {"val": 0, "cv": 0}
    for n in plan["counts"]:
        seeds = sorted({r["seed"] for r in get(dataset=n, part="single")})
        one = lambda s, seed, p: (get(dataset=n, setting=s, seed=seed, part=p) or [None])[-1]
        full = [seed for seed in seeds if all(one(s, seed, "single") and "eval_pred" in one(s, seed, "single") and one(s, seed, "cv")
                                              and "oof_pred" in one(s, seed, "cv") for s in settings)]
        for group in [[seed] for seed in full] + ([full] if len(full) > 1 else []):
            q = {s: np.mean([one(s, seed, "single").get("test_tuned_f1_macro") or one(s, seed, "single")["test_f1_macro"] for seed in group]) for s in settings}
            best_t, worst = max(settings, key=q.get), min(settings, key=q.get)
            cells = []
            for way, score, lab, pred, part in (("val", "eval_f1_macro", "eval_labels", "eval_pred", "single"), ("cv", "cv_f1_macro", "oof_labels", "oof_pred", "cv")):
                v = {s: np.mean([one(s, seed, part)[score] for seed in group]) for s in settings}
                best = max(settings, key=v.get)
                chosen, why = best, ""
                if best != recipe:
                    c = paired_bootstrap([(one(best, seed, part)[lab], one(best, seed, part)[pred], one(recipe, seed, part)[pred]) for seed in group],
                                         len(plan["counts"][n]["train"]))
                    if not c["differ"]: chosen, why = recipe, f" kept over {best} [{c['low']:+.3f}, {c['high']:+.3f}]"
                if len(group) == 1: per[way].append(q[chosen] - q[best_t]); hits[way] += chosen == worst; best_hits[way] += chosen == best_t
                cells.append(f"{chosen}{why} ({q[chosen] - q[best_t]:+.3f})")
            print(f"| {n} | {','.join(map(str, group))} | {best_t} {q[best_t]:.3f} | {cells[0]} | {cells[1]} | {worst} {q[worst]:.3f} |")
    for k, xs in per.items():
        if xs: print(f"per seed, {'validation split' if k == 'val' else 'out of fold'} keeping the recipe's: mean regret {np.mean(xs):+.4f} over {len(xs)} choices, "
                     f"the test-best setting chosen {best_hits[k]} times, the worst {hits[k]} times")


def cmd_decisions(a) -> None:
    """The decision rule three ways, offline from the raw lines' log-scores (lines from 2026-12-07's tenth session on):
    always the plain argmax, always the tuned offsets, and the tuned offsets only where a paired bootstrap over the
    examples they were tuned on (validation, or out of fold) tells them apart from the argmax. Test macro-F1 of the run
    on the validation split (its own rule) and of the retrain (the rule chosen out of fold); mean over the lines. The
    log-scores come from the predictions CSVs (6 decimals): near-uniform models (a smoke test) lose the digits that decide."""
    from seqcls.metrics import split_metrics
    from seqcls.selection import paired_bootstrap
    rows = list(_rows(a.raw))
    f1 = lambda y, z: split_metrics(np.asarray(y), np.asarray(z, dtype=float))["f1_macro"]
    out = {}
    for r in rows:
        if r.get("part") not in ("single", "retrain") or "test_logp" not in r: continue
        off = np.asarray(r["decision"]["offsets"]) if r.get("decision") else np.zeros(len(r["test_logp"][0]))  # (none saved: the argmax)
        if r["part"] == "single": y, tuned_on = r["eval_labels"], np.asarray(r["eval_logp"]) - off
        else:
            cv = [c for c in rows if c.get("part") == "cv" and all(c.get(k) == r[k] for k in ("dataset", "setting", "seed")) and "oof_logits" in c]
            if not cv: continue
            y, tuned_on = cv[-1]["oof_labels"], np.asarray(cv[-1]["oof_logits"])
        test = np.asarray(r["test_logp"]) - off
        c = paired_bootstrap([(y, (tuned_on + off).argmax(-1), tuned_on.argmax(-1))], tuned_on.shape[1]) if off.any() else {"differ": False}
        ty = r["test_labels"]
        out.setdefault((r["dataset"], r["part"]), []).append((f1(ty, test), f1(ty, test + off), f1(ty, test + off) if c["differ"] else f1(ty, test), off.any(), c["differ"]))
    print("| dataset | model | lines | tuned (not argmax) | told apart | argmax always | tuned always | tuned where told apart |")
    print("|---|---|---|---|---|---|---|---|")
    for (n, part), v in sorted(out.items()):
        m = np.mean([x[:3] for x in v], axis=0)
        print(f"| {n} | {part} | {len(v)} | {sum(x[3] for x in v)} | {sum(x[4] for x in v)} | {m[0]:.4f} | {m[1]:.4f} | {m[2]:.4f} |")


def cmd_outer(a) -> None:
    "The nested check of the final model: `<name>-outer/` whose train.csv is seqcls's training split of <name> and whose test.csv is its validation split."
    import pandas as pd
    from datasets import load_from_disk
    data, work = Path(a.data), Path(a.work)
    for n in a.datasets:
        prep = work / f"{n}-prep"
        _prepare(data / n, prep, a.model, a.max_length)  # seqcls's own split, as a run on this dataset makes it
        dd = load_from_disk(str(prep))
        names = dd["train"].features["label"].names
        out = data / f"{n}-outer"; out.mkdir(exist_ok=True)
        for split, f in (("train", "train.csv"), ("validation", "test.csv")):
            pd.DataFrame({"text": dd[split]["text"], "label": [names[i] for i in dd[split]["label"]]}).to_csv(out / f, index=False)
        print(out, {k: len(v) for k, v in dd.items()}, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True); r.add_argument("--model", required=True); r.add_argument("--out", required=True)
    r.add_argument("--work", default=tempfile.mkdtemp(prefix="selection-")); r.add_argument("--datasets", nargs="*")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2]); r.add_argument("--settings", nargs="+", default=["alpha0.5:"])
    r.add_argument("--workers", type=int, default=8); r.add_argument("--deadline", type=float, default=None); r.add_argument("--max-length", type=int, default=256)
    r.add_argument("--trainer", action="store_true", help="also the plain Trainer baseline"); r.add_argument("--cv-everywhere", action="store_true")
    r.add_argument("--resume", action="store_true", help="skip the jobs --out already records (folds only where their folder is still there)")
    r.add_argument("--complete-seeds", action="store_true", help="every setting of a seed before the next seed (for the regret) instead of the recipe's setting first")
    r.add_argument("--singles-only", action="store_true", help="only the runs on the validation split (more seeds of the validation-split side when folds cannot be afforded)")
    r.add_argument("--recipe", default="reuters-r8.yml", help="the config under configs/ (a smoke test: tiny.yml)")
    r.add_argument("--set", action="append", default=[], help="an override for every job (a smoke test: a short budget)")
    t = sub.add_parser("table"); t.add_argument("raw", nargs="+")
    d = sub.add_parser("decisions", help="the decision rule: argmax, tuned, or tuned only where told apart (offline, from the log-scores)"); d.add_argument("raw", nargs="+")
    o = sub.add_parser("outer", help="datasets whose test split is seqcls's validation split (retrain vs ensemble judged on validation)")
    o.add_argument("--data", required=True); o.add_argument("--model", required=True); o.add_argument("--datasets", nargs="+", required=True)
    o.add_argument("--work", default=tempfile.mkdtemp(prefix="outer-")); o.add_argument("--max-length", type=int, default=256)
    a = ap.parse_args()
    {"run": cmd_run, "table": cmd_table, "outer": cmd_outer, "decisions": cmd_decisions}[a.cmd](a)


if __name__ == "__main__":
    main()
