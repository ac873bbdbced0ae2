"""seqcls sweep beyond one machine, on this one: an Optuna storage (a SQLite file) and two `seqcls worker` processes as
two nodes. One worker is killed with everything it started (its node dies) while it runs a member: the heartbeat fails
that member, it is queued again and the other worker runs it to the end; the sweep's record, report and MLflow tree are
those of a sweep on one machine. (The engine alone, with stand-in jobs, is tested in nbs/09_engine.ipynb.)"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TINY

pytest.importorskip("optuna")
QUICK = ["data.max_train_samples=96", "data.max_eval_samples=48", "training_args.num_train_epochs=1"]


def descendants(pid: int) -> list[int]:
    "Every process started, directly or not, by `pid` (its node's processes), from /proc."
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try: parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError): pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop(); kids = [c for c, pp in parent.items() if pp == p]; out += kids; todo += kids
    return out


def test_a_sweep_on_the_engine_survives_a_dead_node(tmp_path, tiny_data):
    url = f"sqlite:///{tmp_path}/engine.db"
    env = {k: v for k, v in os.environ.items() if k not in ("SEQCLS_WARM", "SEQCLS_COLD")}  # each node warms itself
    env["SEQCLS_HEARTBEAT"] = "3"  # a dead node's member is failed and queued again after 9 s
    cli = [sys.executable, "-m", "seqcls.cli"]
    logs = [open(tmp_path / f"worker-{i}.log", "w") for i in range(2)]
    workers = [subprocess.Popen([*cli, "worker", url], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True) for log in logs]
    sets = [f"training_args.output_dir={tmp_path / 'runs'}", f"data.path={tiny_data}", *QUICK]
    sweep = subprocess.Popen([*cli, "sweep", str(TINY), "--grid", "loss.alpha=0.5", "--name", "e", "--engine", url,
                              *[a for s in sets for a in ("--set", s)]], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, killed = [], None
    for line in sweep.stdout:
        lines.append(line)
        if killed is None and " runs on " in line:  # `engine: NAME runs on HOST:PID`: that node dies now
            pid = int(line.rsplit(":", 1)[1].split()[0])
            victim = next(w for w in workers if w.pid == pid)
            for p in [pid, *descendants(pid)]:
                try: os.kill(p, signal.SIGKILL)
                except ProcessLookupError: pass
            killed = line.split("engine: ", 1)[1].split()[0]
    rc = sweep.wait(timeout=600)
    out = "".join(lines)
    (tmp_path / "sweep.out").write_text(out)
    survivor = next(w for w in workers if w is not victim)
    survivor.send_signal(signal.SIGTERM)  # a node taken back when idle: it ends at once, nothing to stop
    survivor.wait(timeout=60); victim.wait(timeout=60)
    assert rc == 0, out[-3000:]
    assert killed and f"engine: {killed} runs on" in out and "(retry 1)" in out, out
    assert victim.returncode == -signal.SIGKILL and survivor.returncode == 143, (victim.returncode, survivor.returncode)
    d = tmp_path / "runs" / "e"
    record = yaml.safe_load((d / "sweep.yml").read_text())
    assert [m["state"] for m in record["members"]] == ["finished"], record
    for m in record["members"]:
        run = d / m["name"]
        assert (run / "run_info.json").is_file() and (run / "launch.sh").is_file() and (run / "report.ipynb").is_file(), m["name"]
    assert (d / "comparison.ipynb").is_file() and (d / "comparison.csv").is_file()
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{d}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("seqcls-tiny").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    finished = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id and r.info.status == "FINISHED"}
    assert finished == {m["name"] for m in record["members"]}
