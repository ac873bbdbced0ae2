"""Long-tail data through the CLI, as a user brings it: classes with a single example, classes too small for every split,
a binary task with a rare class. Every stage must cope (prepare, the budget, training, metrics, report plots, predict),
and the decision rule tuned on validation must be the one `seqcls predict` applies."""
import json

import pandas as pd
import pytest

from conftest import TINY, run_seqcls

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def write_csv(path, counts: dict, seed: int = 0):
    "A CSV whose class c is recognisable by its keyword (so even the tiny model can learn something)."
    import random
    rng, rows = random.Random(seed), []
    for c, n in counts.items():
        rows += [{"text": f"{c} {rng.choice(WORDS)} {rng.choice(WORDS)} item {i}", "label": c} for i in range(n)]
    rng.shuffle(rows)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def tiny_csv_run(tmp_path, train, test, *extra):
    sets = [f"training_args.output_dir={tmp_path}/run", f"data.path={tmp_path}/data", "data.source.kind=csv",
            f"data.source.train_file={train}", f"data.source.test_file={test}", "data.max_train_samples=null",
            "data.max_eval_samples=null", "tracking.enabled=false", *extra]
    return run_seqcls("train", TINY, *[a for s in sets for a in ("--set", s)])


@pytest.fixture(scope="module")
def long_tail_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("longtail")
    train = write_csv(tmp / "train.csv", {"big": 120, "mid": 30, "small": 6, "pair": 2, "single": 1})
    test = write_csv(tmp / "test.csv", {"big": 20, "mid": 10, "small": 4, "pair": 2}, seed=1)  # `single` is not in test
    res = tiny_csv_run(tmp, train, test, "budget.min_steps=60", "budget.max_epochs=6", "budget.min_batch_size=8")
    return tmp, res


def test_long_tail_data_prepares_and_trains(long_tail_run):
    tmp, res = long_tail_run
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "classes not in validation" in out and "single" in out  # one line names them, nothing crashes
    m = json.loads((tmp / "run" / "metrics.json").read_text())
    assert m["labels"] == ["big", "mid", "pair", "single", "small"]
    assert m["per_class"]["single"]["support"] == 0 and m["train_counts"][3] == 1  # trained on, never tested
    # the budget: 143 training examples in batches of 16 give 9 steps an epoch; min_steps 60 asks for more
    b = m["budget"]
    assert b["steps"] >= 60 and "budget.min_steps 60" in b["reason"], b
    assert m["train_steps"] >= 0.5 * b["steps"]  # early stopping may end it, not before half the plan (select_from)


def test_long_tail_report_and_predict_cope(long_tail_run):
    tmp, res = long_tail_run
    assert res.returncode == 0
    from seqcls.report import load_run, save_report_plots
    pngs = save_report_plots(load_run(tmp / "run"))
    assert {p.name for p in pngs} >= {"confusion_matrix.png", "f1_vs_frequency.png"}
    pd.DataFrame({"text": ["single alpha item", "big bravo item"]}).to_csv(tmp / "new.csv", index=False)
    p = run_seqcls("predict", tmp / "run", tmp / "new.csv", "--output", tmp / "new.out.csv")
    assert p.returncode == 0, p.stderr
    assert set(pd.read_csv(tmp / "new.out.csv").columns) >= {"prediction", "score_single", "score_pair"}


def test_binary_decision_rule_is_tuned_saved_and_applied(tmp_path):
    train = write_csv(tmp_path / "train.csv", {"ham": 200, "spam": 12})
    test = write_csv(tmp_path / "test.csv", {"ham": 40, "spam": 10}, seed=2)
    res = tiny_csv_run(tmp_path, train, test, "budget.min_steps=40", "budget.max_epochs=4")
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    d = json.loads((tmp_path / "run" / "model" / "decision.json").read_text())
    assert d["method"] in ("threshold", "argmax") and len(d["offsets"]) == 2 and m["decision"]["offsets"] == d["offsets"]
    assert "test_tuned_f1_macro" in m and m["eval_tuned_f1_macro"] >= m["eval_f1_macro"]  # tuned on validation: never worse there
    run_preds = pd.read_csv(tmp_path / "run" / "predictions-test.csv")
    assert float((run_preds.label == run_preds.prediction).mean()) == pytest.approx(m["test_tuned_accuracy"])
    pd.read_csv(test).to_csv(tmp_path / "again.csv", index=False)
    p = run_seqcls("predict", tmp_path / "run", tmp_path / "again.csv", "--output", tmp_path / "again.out.csv")
    assert p.returncode == 0, p.stderr
    assert pd.read_csv(tmp_path / "again.out.csv")["prediction"].tolist() == run_preds["prediction"].tolist()
