"The CLI contract: exit 0 on success; on a user error one line on stderr, no traceback, exit 2."
import shutil, subprocess, sys, zipfile

import pytest
import yaml

from conftest import ROOT


@pytest.fixture
def cli(capsys, monkeypatch):
    """The CLI in this process (no 5-second interpreter start per call): a CompletedProcess-like result. The real-process
    contract (one line on stderr, exit 2) is spot-checked by the `seqcls` fixture's tests below and in test_reliability."""
    from seqcls.cli import main
    monkeypatch.chdir(ROOT)
    def run(*args):
        capsys.readouterr()
        try: code = main([str(a) for a in args])
        except SystemExit as e: code = e.code  # argparse's usage errors
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)
    return run


def assert_user_error(res, *fragments):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert lines[0].startswith("seqcls: error: ")
    for f in fragments: assert f in lines[0], (f, lines[0])


def test_every_shipped_config_validates(cli):
    configs = sorted((ROOT / "configs").glob("*.yml"))
    assert configs, "no configs shipped"
    for c in configs:
        res = cli("config", "check", c)
        assert res.returncode == 0, (c, res.stderr)
        resolved = yaml.safe_load(res.stdout)
        assert resolved["training_args"]["output_dir"], c


def test_config_check_prints_resolved_yaml_with_overrides(cli):
    res = cli("config", "check", "configs/default.yml", "--set", "training_args.learning_rate=3e-5", "--set", "loss.alpha=1")
    assert res.returncode == 0, res.stderr
    resolved = yaml.safe_load(res.stdout)
    assert resolved["training_args"]["learning_rate"] == 3e-5
    assert resolved["loss"]["alpha"] == 1.0
    assert resolved["lora"]["enabled"] is False  # defaults are filled in


def test_config_check_typo_is_one_line_exit_2(seqcls, tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("model:\n  name_or_path: x\ndata:\n  path: d\ntraining_args:\n  output_dir: r\n  evaluation_strategy: epoch\n")
    assert_user_error(seqcls("config", "check", cfg), f"{cfg}:7", "training_args.evaluation_strategy", "eval_strategy")


def test_config_check_yaml_syntax_error_names_line(seqcls, tmp_path):
    cfg = tmp_path / "broken.yml"
    cfg.write_text("model:\n  name_or_path: x\n data: [\n")
    assert_user_error(seqcls("config", "check", cfg), f"{cfg}:3", "YAML syntax error")


def test_usage_errors_are_one_line_too(seqcls):
    assert_user_error(seqcls("config", "check"), "seqcls config check: the following arguments are required: config", "--help")
    assert_user_error(seqcls("trian", "configs/tiny.yml"), "invalid choice: 'trian'")


def test_missing_config_file(seqcls, tmp_path):
    assert_user_error(seqcls("config", "check", tmp_path / "nope.yml"), "nope.yml", "not found")


def test_weights_table_from_the_packaged_trec6(cli, tmp_path):
    png = tmp_path / "w.png"
    res = cli("weights", "configs/default.yml", "--plot", png)
    assert res.returncode == 0, res.stderr
    rows = [l.split() for l in res.stdout.splitlines()[2:8]]
    assert [r[0] for r in rows] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    weights = {r[0]: float(r[3]) for r in rows}
    assert weights["ABBR"] == max(weights.values())            # the rarest class weighs most
    assert abs(sum(weights.values()) / 6 - 1) < 1e-3            # mean 1
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_weights_with_counts_and_bad_counts(cli):
    res = cli("weights", "configs/default.yml", "--counts", "1000,10", "--set", "loss.weight_max=1.5")
    assert res.returncode == 0, res.stderr
    w = [float(l.split()[3]) for l in res.stdout.splitlines()[2:4]]
    assert abs(w[1] - 1.5) < 1e-4 and abs(sum(w) / 2 - 1) < 1e-4  # capped and still mean 1
    assert_user_error(cli("weights", "configs/default.yml", "--counts", "10,x"), "--counts")
    assert_user_error(cli("weights", "configs/default.yml", "--set", "loss.weight_min=3"), "loss.weight_min")
    assert_user_error(cli("weights", "configs/default.yml", "--counts", "5,10", "--plot", "w.foo"), "--plot w.foo", ".png")
    assert_user_error(cli("weights", "configs/default.yml", "--counts", "5,10", "--plot", "/proc/no/w.png"), "--plot /proc/no/w.png", "cannot write")


def test_weights_count_the_rows_training_uses(cli):
    "With data.max_train_samples the table counts the first N training rows, as training does."
    res = cli("weights", "configs/default.yml", "--set", "data.max_train_samples=300")
    assert res.returncode == 0, res.stderr
    assert "first 300 (data.max_train_samples)" in res.stdout.splitlines()[0]
    assert sum(int(l.split()[1]) for l in res.stdout.splitlines()[2:8]) == 300


def test_config_not_utf8(cli, tmp_path):
    cfg = tmp_path / "latin1.yml"
    cfg.write_bytes(b"model:\n  name_or_path: caf\xe9\n")
    assert_user_error(cli("config", "check", cfg), "latin1.yml: not UTF-8 text")


def test_the_wheel_carries_the_run_notebooks(tmp_path):
    "seqcls run and sweep work from an installed package: a built wheel holds copies of the papermill notebooks (the links' targets)."
    src = tmp_path / "src"
    shutil.copytree(ROOT / "seqcls", src / "seqcls", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "nbs").mkdir()
    for nb in ("run_training.ipynb", "run_comparison.ipynb"): shutil.copy(ROOT / "nbs" / nb, src / "nbs")
    for f in ("pyproject.toml", "README.md"): shutil.copy(ROOT / f, src)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    with zipfile.ZipFile(next((tmp_path / "dist").glob("seqcls-*.whl"))) as z:
        for nb in ("run_training.ipynb", "run_comparison.ipynb"): assert z.read(f"seqcls/{nb}") == (ROOT / "nbs" / nb).read_bytes()


def test_warm_status_stop_and_a_folder_others_may_enter(cli, tmp_path, monkeypatch):
    "`seqcls warm`: status and stop with no daemon; a daemons' folder others may enter is refused in one line, and nothing starts."
    import os, tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("SEQCLS_WARM_KEY", "test-key")  # (the in-process CLI pins its key in this process's environment)
    for action in ("status", "stop"):
        res = cli("warm", action)
        assert res.returncode == 0 and "warm: no daemon runs" in res.stdout + res.stderr, (action, res)
    root = tmp_path / f"seqcls-warm-{os.getuid()}"
    root.mkdir(); root.chmod(0o777)
    assert_user_error(cli("warm", "start"), str(root), "not a folder only you can enter")
    assert list(root.iterdir()) == []  # no daemon folder, no process
    assert_user_error(cli("warm", "start", "--idle", "0"), "--idle", "1 or more")
