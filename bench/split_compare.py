"""Which quality-suite datasets get other validation rows from seqcls's split that sees every class (issue 26) than
from the split of 2026-11-26 (commit d30eee2, section 0 of RESULTS.md): the old `stratified_holdout` is read from git.
The two differ only for a class whose share rounds to no row (fewer than 5 examples at validation_size 0.1).

    python bench/split_compare.py DATA     # DATA: the folder `bench/quality_data.py DATA` wrote"""
import subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd

from seqcls.sources import stratified_holdout as new_holdout

OLD = "d30eee2"


def old_holdout():
    src = subprocess.run(["git", "show", f"{OLD}:seqcls/sources.py"], capture_output=True, text=True, check=True).stdout
    start = src.index("def stratified_holdout"); ns = {"np": np}
    exec(src[start:src.index("# %%", start)], ns)
    return ns["stratified_holdout"]


def main(data: str) -> None:
    old = old_holdout()
    for d in sorted(Path(data).iterdir()):
        if not (d / "train.csv").is_file() or (d / "validation.csv").is_file(): continue
        labels = pd.read_csv(d / "train.csv", keep_default_na=False).label.astype(str).str.strip()
        codes = np.searchsorted(np.unique(labels), labels)  # seqcls encodes labels in sorted order
        (_, o), (_, n) = old(codes, 0.1, 42), new_holdout(codes, 0.1, 42)
        smallest = int(np.bincount(codes).min())
        same = "the same rows" if np.array_equal(o, n) else f"other rows: {len(o)} -> {len(n)} validation examples"
        print(f"{d.name:18s} {len(codes):6,d} training rows, smallest class {smallest:4d}: {same}")


if __name__ == "__main__":
    main(sys.argv[1])
