"""Cross-validated selection end to end on the tiny config: the folds' held-out parts cover the pooled data once, the
choice is the best out-of-fold evaluation (recomputed here with scikit-learn), the final model trains on all of it and
is what `seqcls predict` serves, the MLflow run is a parent with a child per fold and the final run, a continued run
trains no fold twice, and the ensemble is served as its test predictions say."""
import json, os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from conftest import TINY, run_seqcls, tiny_overrides


def test_cross_validation_end_to_end(tmp_path, tiny_data):
    sets = ["selection.cv_folds=2", "training_args.num_train_epochs=2"]
    res = run_seqcls("train", TINY, *tiny_overrides(tmp_path, tiny_data, *sets))
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "run"
    assert "chosen out of fold (640 examples, 2 folds)" in res.stderr and "out of fold " in res.stderr, res.stderr[-2000:]
    from seqcls.selection import Evaluations
    folds = [Evaluations.load(run / "folds" / f"fold-{i}") for i in (1, 2)]
    rows = np.concatenate([f.rows for f in folds])
    assert sorted(rows.tolist()) == list(range(512 + 128))  # the training and validation rows, each held out by exactly one fold
    labels = np.concatenate([f.labels for f in folds])
    scores = [f1_score(labels, np.concatenate([f.logits[e] for f in folds]).argmax(-1), average="macro") for e in range(len(folds[0].steps))]
    cv = json.loads((run / "crossval.json").read_text())
    assert np.allclose(cv["scores"], scores) and cv["evaluation"] == len(scores) - 1 - int(np.argmax(scores[::-1]))
    final = json.loads((run / "final" / "metrics.json").read_text())
    assert final["train_counts"] == cv["counts"] and sum(final["train_counts"]) == 640  # the final model trained on the whole pool
    assert final["train_steps"] == round(cv["share"] * 2 * 40)  # 640 examples in batches of 16: 40 steps an epoch, stopped where chosen
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cv_f1_macro"] == pytest.approx(scores[cv["evaluation"]]) and metrics["test_f1_macro"] == final["test_f1_macro"]
    # `seqcls predict RUN` serves the final model: its test predictions again
    test = pd.read_csv(run / "predictions-test.csv", keep_default_na=False)
    texts = tmp_path / "test.csv"
    from datasets import load_from_disk
    pd.DataFrame({"text": load_from_disk(str(tiny_data))["test"].select(range(128))["text"]}).to_csv(texts, index=False)
    assert run_seqcls("predict", run, texts, "--output", tmp_path / "p.csv").returncode == 0
    assert (pd.read_csv(tmp_path / "p.csv", keep_default_na=False)["prediction"] == test["prediction"]).all()
    # MLflow: the cross-validation's run, with the two folds and the final run as its children
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])
    parent = json.loads((run / "mlflow_cv.json").read_text())["run_id"]
    children = sorted(r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent)
    assert children == ["run-final", "run-fold-1", "run-fold-2"] and all(r.info.status == "FINISHED" for r in runs), children
    # continued as the folds' ensemble: no fold trains again, and predict serves the mean of their logits
    stamps = [os.stat(run / "folds" / f"fold-{i}" / "run_info.json").st_mtime_ns for i in (1, 2)]
    res = run_seqcls("train", TINY, *tiny_overrides(tmp_path, tiny_data, *sets, "selection.final_model=ensemble", "resume.checkpoint=auto"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert [os.stat(run / "folds" / f"fold-{i}" / "run_info.json").st_mtime_ns for i in (1, 2)] == stamps
    assert json.loads((run / "run_info.json").read_text())["model"] == "ensemble.json"
    assert run_seqcls("predict", run, texts, "--output", tmp_path / "e.csv").returncode == 0
    ensemble = pd.read_csv(run / "predictions-test.csv", keep_default_na=False)
    assert (pd.read_csv(tmp_path / "e.csv", keep_default_na=False)["prediction"] == ensemble["prediction"]).all()
    mean = np.mean([f.test_logits for f in folds], axis=0)
    assert (ensemble["prediction"] == np.asarray(cv["labels"])[mean.argmax(-1)]).all()  # the mean of the folds' logits


def test_auto_cross_validates_when_validation_is_too_thin(tmp_path, tiny_data):
    "selection.cv_folds auto settles on the data: with auto_below above every class's validation count it cross-validates, and says why."
    res = run_seqcls("run", TINY, "--quiet", "--dry-run", "--run-name", "r",
                     *tiny_overrides(tmp_path, tiny_data, "selection.cv_folds=auto", "selection.auto_below=1000"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "selection: 5-fold cross-validation (selection.cv_folds: auto): the validation split has fewer than 1000 examples of 6 classes" in res.stderr
    run = tmp_path / "run" / "r"
    assert "-m seqcls.crossval" in (run / "launch.sh").read_text()
    res = run_seqcls("run", TINY, "--quiet", "--dry-run", "--run-name", "s", *tiny_overrides(tmp_path, tiny_data, "selection.cv_folds=auto", "selection.auto_below=1"))
    assert "selection: on the validation split: every class has 1 or more examples there" in res.stderr, res.stderr[-2000:]
    assert "-m seqcls.warm seqcls.train" in (tmp_path / "run" / "s" / "launch.sh").read_text()


def test_train_with_auto_prepares_a_missing_data_path_first(tmp_path):
    "`seqcls train` with selection.cv_folds auto on a data.path not prepared yet: prepared, then settled and trained (it used to stop, exit 2)."
    res = run_seqcls("train", TINY, "--set", f"training_args.output_dir={tmp_path / 'run'}", "--set", f"data.path={tmp_path / 'fresh'}",
                     "--set", "selection.cv_folds=auto", "--set", "selection.auto_below=1", "--set", "training_args.num_train_epochs=1")
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"prepared {tmp_path / 'fresh'}" in res.stderr and "selection: on the validation split" in res.stderr, res.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
