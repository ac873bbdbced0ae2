"""A class-weight sweep through the path a user takes, `seqcls sweep`, on a long-tail dataset of the quality suite:
the shipped encoder recipe (`configs/reuters-r8.yml`, only the data changed) over loss.alpha x loss.scheme x seeds,
members side by side (one per GPU), then the same members one by one on one GPU, for the wall time.

    python bench/quality_data.py DATA                     # once: the datasets as CSV files
    python bench/bench_sweep.py --data DATA/trec6-tail --model MINILM --work /tmp/sw --out RAW.jsonl \\
        --grid loss.alpha=0,0.5,1 --grid loss.scheme=inverse,effective_number --seeds 0,1,2 --serial-seeds 0

Writes one JSON line per sweep (members, wall time, parallel, each member's seconds and validation macro-F1) and
leaves each sweep's folder (sweep.yml, comparison.ipynb, comparison-*.png, logs/) under --work. The serial sweep runs
`--serial-seeds` only (the same grid), so the one-by-one wall time of the whole sweep is its per-member mean times the
number of members: both the measured and the scaled figure are recorded."""
import argparse, json, subprocess, sys, time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sweep(args: list[str], log: Path) -> tuple[int, float]:
    t0 = time.time()
    with open(log, "a") as f:
        f.write(f"\n===== seqcls sweep {' '.join(args)}\n"); f.flush()
        rc = subprocess.run([sys.executable, "-m", "seqcls.cli", "sweep", *args], stdout=f, stderr=subprocess.STDOUT).returncode
    return rc, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder with train.csv and test.csv (columns text, label)")
    ap.add_argument("--model", required=True); ap.add_argument("--work", default="/tmp/sweep-bench")
    ap.add_argument("--out", required=True); ap.add_argument("--grid", action="append", required=True)
    ap.add_argument("--seeds", default="0,1,2"); ap.add_argument("--serial-seeds", default=None, help="seeds of the one-by-one sweep (none: skip it)")
    ap.add_argument("--max-length", type=int, default=256); ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    work, data = Path(a.work), Path(a.data)
    work.mkdir(parents=True, exist_ok=True)
    log = Path(a.out).with_suffix(".log")
    print(machine(), flush=True)
    sets = [f"model.name_or_path={a.model}", f"data.path={work}/prepared", f"data.max_length={a.max_length}", "data.source.kind=csv",
            f"data.source.train_file={data / 'train.csv'}", f"data.source.test_file={data / 'test.csv'}", "data.source.validation_file=null",
            "data.source.text_columns=[text]", "data.source.label_column=label", f"training_args.output_dir={work}/runs", *a.set]
    common = [str(ROOT / "configs" / "reuters-r8.yml"), *[x for g in a.grid for x in ("--grid", g)], *[x for s in sets for x in ("--set", s)]]
    runs = [("parallel", a.seeds, "auto")] + ([("serial", a.serial_seeds, "1")] if a.serial_seeds else [])
    for name, seeds, parallel in runs:
        rc, wall = sweep([*common, "--seeds", seeds, "--name", name, "--parallel", parallel], log)
        rec = yaml.safe_load((work / "runs" / name / "sweep.yml").read_text()) if (work / "runs" / name / "sweep.yml").is_file() else {}
        members = rec.get("members", [])
        row = {"bench": "sweep", "sweep": name, "exit": rc, "wall_s": round(wall, 1), "parallel": rec.get("parallel"),
               "members": len(members), "finished": sum(m.get("state") == "finished" for m in members), "grid": a.grid, "seeds": seeds,
               "member_s": [m.get("seconds") for m in members], "val_f1_macro": [m.get("val_f1_macro") for m in members],
               "names": [m.get("name") for m in members]}
        write_jsonl(Path(a.out), [row])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
