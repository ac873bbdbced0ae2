import os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEQCLS = [sys.executable, "-m", "seqcls.cli"]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_seqcls(*args, cwd=ROOT, timeout=600, env=None):
    "Run the seqcls CLI in a fresh process, as a user would; returns the CompletedProcess."
    return subprocess.run([*SEQCLS, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def seqcls():
    return run_seqcls
