"""Where a run's time goes before and after its training, cold against warm, through the paths a user takes:

    python bench/bench_startup.py --model MODEL_DIR --data PREPARED --out RAW.jsonl [--steps 40] [--members 3] [--parts run sweep engine]

  run     `seqcls run configs/default.yml` twice each way: cold (SEQCLS_COLD=1: every process imports the stack itself) and
          warm (the default: the training forked from a process that imported it while the command went on); the
          `seqcls.startup` lines of each train.log (launch.sh, imports, data, model, trainer, first step; seconds after the
          command started, its interpreter's start included) and the wall time
  sweep   `seqcls sweep` over loss.alpha (--members values, seed 0), warm then cold: each member's wall time, and its
          overhead = wall - the training's own train_runtime (evaluation, the test split and the report are overhead here);
          overhead_less_eval = that minus the final evaluation's eval_runtime and test_runtime (the issue's "wall - training and evaluation")
  --daemon adds a third way to run and sweep: `seqcls warm start --wait` before the command (its imports not timed:
          they were done before the command, as for a user who started it earlier), `seqcls warm stop` after
  engine  the same sweep through the engine (`--engine sqlite:///...` and one `seqcls worker` on the same GPUs), warm
Training only where it matters: `--steps` optimizer steps, no evaluation during training, MLflow off (tracking is
measured elsewhere), the model's weights random when --random-init (start-up does not depend on them). One JSON line
per run or sweep; the parts run in the order given, so a time limit keeps the first ones."""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    try: gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except OSError: gpu = ""
    return f"{gpu or 'no GPU'}, {os.cpu_count()} CPU cores"


def emit(out: Path, row: dict) -> None:
    row = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"), **row}
    with open(out, "a") as f: f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def startup_lines(log: Path) -> dict:
    "The seqcls.startup stages of a train.log: {stage: seconds after the command}."
    out = {}
    if log.is_file():
        for line in log.read_text(errors="replace").splitlines():
            if "seqcls.startup: " in line and " s after the seqcls command started" in line:
                stage, t = line.split("seqcls.startup: ", 1)[1].rsplit(": ", 1)
                try: out[stage] = float(t.split()[0])
                except ValueError: pass
    return out


def notebook_lines(run_dir: Path, log: Path) -> dict:
    """When the run notebook's kernel ran its cells (papermill's own times in report.ipynb), in seconds after the command
    (the command's start read back from train.log's first-step line: its clock time minus its seconds after the start)."""
    import datetime as dt
    nb, t0 = run_dir / "report.ipynb", None
    if log.is_file():
        for line in log.read_text(errors="replace").splitlines():
            if "seqcls.startup: first training step: " in line:
                t0 = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() - float(line.rsplit(": ", 1)[1].split()[0])
    if t0 is None or not nb.is_file(): return {}
    at = lambda iso: round(dt.datetime.fromisoformat(iso).timestamp() - t0, 2)
    meta = json.loads(nb.read_text())
    cells = [c for c in meta["cells"] if c["cell_type"] == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]
    launch = next((c for c in cells if "result = run_launch(" in "".join(c["source"])), None)
    out = {"kernel's first cell": at(cells[0]["metadata"]["papermill"]["start_time"]) if cells else None}
    if launch: out |= {"launch cell started": at(launch["metadata"]["papermill"]["start_time"]), "launch cell ended": at(launch["metadata"]["papermill"]["end_time"])}
    if cells: out["last cell ended"] = at(cells[-1]["metadata"]["papermill"]["end_time"])
    return out


def startup_overrides(model: str, data: str, steps: int, random_init: bool, extra=()) -> list[str]:
    "The config overrides of a start-up measurement: the model and prepared data given, `steps` steps, no evaluation, checkpoint or MLflow (also bench/profile_startup.py's)."
    return [f"model.name_or_path={model}", f"data.path={data}", "data.source=null", "tracking.enabled=false",
            f"training_args.max_steps={steps}", "budget.early_stopping_patience=null", "training_args.eval_strategy=no",
            "training_args.save_strategy=no", *(["model.random_init=true"] if random_init else []), *extra]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True); ap.add_argument("--data", required=True, help="a folder `seqcls prepare` wrote (configs/default.yml's data)")
    ap.add_argument("--out", required=True); ap.add_argument("--work", default="/tmp/startup-bench")
    ap.add_argument("--steps", type=int, default=40); ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--random-init", action="store_true"); ap.add_argument("--parts", nargs="+", default=["run", "sweep", "engine"])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--daemon", action="store_true", help="also a third way: a daemon started before the command (`seqcls warm start`)")
    ap.add_argument("--modes", nargs="+", default=["daemon", "warm", "cold"], help="which ways to measure (daemon needs --daemon)")
    a = ap.parse_args()
    work, out = Path(a.work), Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    sets = startup_overrides(a.model, a.data, a.steps, a.random_init, a.set)
    cli = [sys.executable, "-m", "seqcls.cli"]
    base_env = {k: v for k, v in os.environ.items() if k not in ("SEQCLS_WARM", "SEQCLS_COLD", "SEQCLS_ENGINE")}
    modes = {"cold": {**base_env, "SEQCLS_COLD": "1"}, "warm": dict(base_env)}
    if a.daemon: modes["daemon"] = dict(base_env)  # `seqcls warm start --wait` before the command (not timed), stopped after it
    modes = {k: v for k, v in modes.items() if k in a.modes}

    def daemon(mode: str, action: str) -> None:
        if mode == "daemon": subprocess.run([*cli, "warm", action, *(["--wait", "--idle", "10"] if action == "start" else [])], cwd=ROOT, env=modes[mode], check=True, capture_output=True)
    for part in a.parts:
        if part == "run":
            for i in range(2):
                for mode, env in modes.items():
                    name = f"{mode}-{i}"
                    daemon(mode, "start")
                    t0 = time.time()  # the command's start: its train.log's stages count from here (else from its CLI's main)
                    r = subprocess.run([*cli, "run", str(ROOT / "configs/default.yml"), "--run-name", name, "--quiet",
                                        *[x for s in [*sets, f"training_args.output_dir={work}/runs"] for x in ("--set", s)]],
                                       cwd=ROOT, env={**env, "SEQCLS_T0": str(t0)}, capture_output=True, text=True)
                    wall = time.time() - t0
                    daemon(mode, "stop")
                    m = json.loads((work / "runs" / name / "metrics.json").read_text()) if (work / "runs" / name / "metrics.json").is_file() else {}
                    emit(out, {"bench": "startup-run", "mode": mode, "i": i, "exit": r.returncode, "wall_s": round(wall, 1),
                               "train_runtime_s": m.get("train_runtime"), "startup": startup_lines(work / "runs" / name / "train.log"),
                               "notebook": notebook_lines(work / "runs" / name, work / "runs" / name / "train.log"),
                               "err": r.stderr[-800:] if r.returncode else ""})
        elif part in ("sweep", "engine"):
            values = ",".join(str(round(x / max(1, a.members - 1), 2)) for x in range(a.members))
            for mode in ([m for m in ("daemon", "warm", "cold") if m in modes] if part == "sweep" else ["warm"]):
                name = f"{part}-{mode}"
                daemon(mode, "start")
                env, extra, worker = dict(modes[mode]), [], None
                if part == "engine":
                    url = f"sqlite:///{work}/engine.db"
                    extra = ["--engine", url]
                    worker = subprocess.Popen([*cli, "worker", url], cwd=ROOT, env=env, stdout=open(work / "worker.log", "w"), stderr=subprocess.STDOUT)
                t0 = time.time()
                r = subprocess.run([*cli, "sweep", str(ROOT / "configs/default.yml"), "--grid", f"loss.alpha={values}", "--seeds", "0", "--name", name,
                                    *[x for s in [*sets, f"training_args.output_dir={work}/runs"] for x in ("--set", s)], *extra],
                                   cwd=ROOT, env=env, capture_output=True, text=True)
                wall = time.time() - t0
                daemon(mode, "stop")
                if worker is not None: worker.terminate(); worker.wait(timeout=120)
                members = []
                d = work / "runs" / name
                for m in sorted(p for p in d.iterdir() if p.is_dir() and (p / "train.log").is_file()) if d.is_dir() else []:
                    met = json.loads((m / "metrics.json").read_text()) if (m / "metrics.json").is_file() else {}
                    members.append({"name": m.name, "train_runtime_s": met.get("train_runtime"), "startup": startup_lines(m / "train.log"),
                                    "eval_runtime_s": round(sum(met.get(k) or 0 for k in ("eval_runtime", "test_runtime")), 3),
                                    "notebook": notebook_lines(m, m / "train.log")})
                import yaml
                rec = yaml.safe_load((d / "sweep.yml").read_text()) if (d / "sweep.yml").is_file() else {}
                secs = {m["name"]: m.get("seconds") for m in rec.get("members", [])}
                for m in members:
                    m["wall_s"] = secs.get(m["name"])
                    m["overhead_s"] = round(m["wall_s"] - m["train_runtime_s"], 1) if m["wall_s"] and m["train_runtime_s"] else None
                    m["overhead_less_eval_s"] = round(m["overhead_s"] - m["eval_runtime_s"], 1) if m["overhead_s"] is not None else None  # the count
                emit(out, {"bench": f"startup-{part}", "mode": mode, "exit": r.returncode, "wall_s": round(wall, 1), "members": members,
                           "err": r.stderr[-800:] if r.returncode else ""})


if __name__ == "__main__":
    main()
