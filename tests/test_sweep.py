"""seqcls sweep on the CPU, as a user runs it: run directories, the comparison report and its plots, MLflow's parent and
children; an interrupted sweep continued; a failing member. (The scheduler alone, with stand-in members, is tested in
nbs/75_sweep.ipynb.)"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, TINY, run_seqcls

QUICK = ["data.max_train_samples=96", "data.max_eval_samples=48", "training_args.num_train_epochs=1"]


def sweep_args(out, data, name, *extra):
    sets = [f"training_args.output_dir={out}", f"data.path={data}", *QUICK]
    return ["sweep", TINY, "--grid", "loss.alpha=0,1", "--seeds", "0", "--name", name, "--parallel", "2",
            *[a for s in sets for a in ("--set", s)], *extra]


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory, tiny_data):
    out = tmp_path_factory.mktemp("sweeps")
    res = run_seqcls(*sweep_args(out, tiny_data, "s"))
    return out, out / "s", res


def test_a_sweep_makes_its_runs_a_report_and_an_mlflow_tree(sweep_run):
    out, d, res = sweep_run
    assert res.returncode == 0, res.stderr[-3000:]
    names = ["loss.alpha-0_seed-0", "loss.alpha-1_seed-0"]  # (several seeds per setting: nbs/75_sweep and nbs/78_compare)
    for n in names:
        assert (d / n / "run_info.json").is_file() and (d / n / "launch.sh").is_file() and (d / n / "report.ipynb").is_file(), n
    lines = res.stderr.splitlines()
    assert sum(l.startswith("started ") for l in lines) == 2 and sum(l.startswith("finished ") and "validation macro-F1" in l for l in lines) == 2
    import yaml
    record = yaml.safe_load((d / "sweep.yml").read_text())
    assert record["grid"] == {"loss.alpha": [0, 1]} and [m["state"] for m in record["members"]] == ["finished"] * 2
    # the comparison report: executed without errors, its table and plots written
    nb = json.loads((d / "comparison.ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    table = pd.read_csv(d / "comparison.csv", index_col="setting")
    assert list(table.index) == sorted(table.index, key=lambda s: -table.loc[s, "val_f1_macro"]) and set(table.seeds) == {1}
    text = json.dumps(nb)
    assert f"Chosen: {table.index[0]}" in text and "seqcls run" in text
    assert f"chosen: {table.index[0]} (validation macro-F1" in res.stderr  # the choice on the terminal too (no config's own in this grid)
    assert json.loads((d / "comparison-choice.json").read_text())["chosen"] == table.index[0]
    for png in ("comparison-per-class-f1.png", "comparison-confusion.png"): assert (d / png).read_bytes()[:4] == b"\x89PNG"
    again = run_seqcls("sweep", "report", str(d))  # nothing changed since the sweep wrote it: shown as it is, not run again
    assert again.returncode == 0 and "(current: nothing it reads changed" in again.stderr and f"chosen: {table.index[0]}" in again.stderr, again.stderr
    # MLflow: one parent, the four runs its children, in the members' own store
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{d}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and parents[0].info.run_name == "s" and parents[0].info.status == "FINISHED"
    assert sorted(r.info.run_name for r in children) == names and {r.info.status for r in children} == {"FINISHED"}
    assert {a.path for a in client.list_artifacts(parents[0].info.run_id)} >= {"comparison.ipynb", "comparison-per-class-f1.png"}


def test_a_typo_in_the_grid_stops_the_sweep_before_anything_is_written(tmp_path, tiny_data):
    res = run_seqcls("sweep", TINY, "--grid", "loss.alpha=0,-1", "--set", f"training_args.output_dir={tmp_path}", "--set", f"data.path={tiny_data}")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "loss.alpha=-1: loss.alpha" in res.stderr, res.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_an_interrupted_sweep_continues_to_the_same_table(sweep_run, tmp_path, tiny_data):
    "SIGTERM once a member has finished; the same command again skips it, continues the others, and ends with the same table."
    _, done, _ = sweep_run
    cmd = [sys.executable, "-m", "seqcls.cli", *map(str, sweep_args(tmp_path, tiny_data, "s", "--parallel", "1"))]  # one at a time: one finishes, the other is cut
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("finished "): proc.send_signal(signal.SIGTERM); break
    rest = proc.stdout.read(); rc = proc.wait(timeout=300)
    assert rc == 143, rest[-2000:]
    import yaml
    states = [m["state"] for m in yaml.safe_load((tmp_path / "s" / "sweep.yml").read_text())["members"]]
    assert "finished" in states and states.count("finished") < len(states), states
    unfinished = [s for s in states if s != "finished"]  # cut while it ran, stopped as it started (no folder yet), or never started
    res = run_seqcls(*sweep_args(tmp_path, tiny_data, "s"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert sum(l.startswith("started ") for l in res.stderr.splitlines()) == len(unfinished)  # a member stopped after it finished is not rerun
    again = pd.read_csv(tmp_path / "s" / "comparison.csv", index_col="setting")
    first = pd.read_csv(done / "comparison.csv", index_col="setting")
    pd.testing.assert_frame_equal(again, first)


@pytest.mark.slow
def test_a_failing_member_leaves_the_others_and_the_exit_says_which(tmp_path, tiny_data):
    "flash-attention passes the config check but cannot load here: that member fails, the other finishes, exit 1 names it."
    sets = [f"training_args.output_dir={tmp_path}", f"data.path={tiny_data}", *QUICK]
    res = run_seqcls("sweep", TINY, "--grid", "model.attn_implementation=sdpa,flash_attention_2", "--name", "f", "--parallel", "2",
                     *[a for s in sets for a in ("--set", s)])
    assert res.returncode == 1, res.stderr[-2000:]
    assert "sweep member model.attn_implementation-flash-attention-2_seed-0 failed" in res.stderr and "flash" in res.stderr
    assert (tmp_path / "f" / "model.attn_implementation-sdpa_seed-0" / "run_info.json").is_file()
    assert (tmp_path / "f" / "comparison.ipynb").is_file()  # the report covers the members that finished
