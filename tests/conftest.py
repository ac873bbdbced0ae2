import os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One process imports the training stack once for the session, and each `seqcls` command a test starts is forked from
# it (seqcls.warm), as a sweep's members and a cross-validation's folds are: the same code and the same process for the
# command, started in a fraction of a second instead of seconds. A test that signals a process it starts builds its own
# command (cold), so the signal reaches exactly that process.
from seqcls.warm import CLI_PRELOAD, PRELOAD, start_zygote  # noqa: E402
start_zygote(PRELOAD + CLI_PRELOAD)
SEQCLS = [sys.executable, "-m", "seqcls.warm", "seqcls.cli"]


def run_seqcls(*args, cwd=ROOT, timeout=600, env=None):
    "Run the seqcls CLI in a fresh process, as a user would; returns the CompletedProcess."
    return subprocess.run([*SEQCLS, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def seqcls():
    return run_seqcls


TINY = ROOT / "configs" / "tiny.yml"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    "TREC-6 tokenized once for configs/tiny.yml (max_length 32), shared by the session's tests."
    path = tmp_path_factory.mktemp("data") / "trec6-32"
    res = run_seqcls("prepare", TINY, "--set", f"data.path={path}")
    assert res.returncode == 0, res.stderr
    return path


def tiny_overrides(tmp_path, data, *extra):
    "--set arguments that point configs/tiny.yml at a fresh run directory and the shared data."
    sets = [f"training_args.output_dir={tmp_path / 'run'}", f"data.path={data}", *extra]
    return [a for s in sets for a in ("--set", s)]




def run_group(cmd, timeout=600, **kw):
    "subprocess.run in its own process group; on timeout the whole group (launcher and ranks) is killed, not only the launcher."
    import signal as _signal
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, _signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"timed out after {timeout} s: {' '.join(map(str, cmd[:6]))} ...\n{(out or '')[-1500:]}\n{(err or '')[-1500:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
