"""The house (README, "Developing"): imports between seqcls's modules point down the layers, never up, and no module
outgrows what a reader takes in at once. Checked on the generated modules' source, lazy imports inside functions
included."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "seqcls"

# the README's drawing, top to bottom; a module may import its own layer's modules and any below
LAYERS = [
    {"cli"},
    {"sweep", "compare"},
    {"crossval"},
    {"runplan"},
    {"launch"},
    {"train"},
    {"predict", "report"},
    {"budget"},
    {"trainer", "callbacks", "persistence", "tracking", "preflight", "memory"},
    {"data", "sources", "model", "fused_lora", "decision", "selection", "metrics", "weights", "loss", "batches", "explorer", "plots"},
    {"config"},
    {"training_args", "deepspeed_config"},
    {"jobs", "folders", "reading", "warm", "engine"},
    {"errors", "dist", "console"},
]
LEVEL = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def seqcls_imports(path: Path) -> set[str]:
    "The seqcls modules a file imports (top level and inside functions)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module: out.add(node.module.split(".")[0])
            elif node.level == 1: out.update(a.name for a in node.names)
            elif node.module and node.module.startswith("seqcls."): out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("seqcls."))
    return out


def modules() -> list[Path]:
    return sorted(p for p in PKG.glob("*.py") if not p.name.startswith("_"))


def test_every_module_has_a_room():
    assert {p.stem for p in modules()} == set(LEVEL), "a module was added or removed: place it in LAYERS and the README's drawing"


def test_imports_point_down():
    upward = [f"{p.stem} imports {m}" for p in modules() for m in seqcls_imports(p) if m in LEVEL and LEVEL[m] < LEVEL[p.stem]]
    assert not upward, upward


def test_no_module_outgrows_a_reading():
    long = {p.stem: n for p in modules() if (n := len(p.read_text().splitlines())) > 340}
    assert not long, long


def test_the_check_sees_an_upward_import(tmp_path):
    (tmp_path / "x.py").write_text("def f():\n    from seqcls.cli import main\n    from .train import train\n")
    assert seqcls_imports(tmp_path / "x.py") == {"cli", "train"}


# the modules a command, a report or the explorer imports before anything trains: importing one must not pull in the
# training stack (a second or more each on a GPU machine; the report notebooks and `seqcls --help` pay it otherwise)
LIGHT = ["cli", "sweep", "compare", "crossval", "runplan", "launch", "report", "tracking", "decision", "selection", "metrics",
         "weights", "explorer", "plots", "config", "training_args", "deepspeed_config", "jobs", "folders", "reading", "warm", "engine", "errors", "dist", "console"]
HEAVY = ("torch", "transformers", "datasets", "peft", "deepspeed", "mlflow", "sklearn", "matplotlib", "optuna")


def test_light_modules_import_no_training_stack():
    import subprocess, sys
    code = ("import importlib, sys\nheavy = %r\nfor m in %r:\n    importlib.import_module('seqcls.' + m)\n"
            "    got = [h for h in heavy if h in sys.modules]\n    if got: print(m, 'imports', got); break\n") % (HEAVY, LIGHT)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PKG.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "", r.stdout  # the first module that pulled one in


def test_papermill_comes_without_pyarrow():
    # every `seqcls run` and `sweep report` imports papermill, whose hdfs:// handler would import pyarrow (~0.15 s on 2
    # cores); it is left out of that import, and pyarrow still imports afterwards for whatever needs it
    import subprocess, sys
    code = ("import sys\nfrom seqcls.persistence import import_papermill\npm = import_papermill()\n"
            "print('pyarrow' in sys.modules, callable(pm.execute_notebook))\nimport pyarrow.fs\nprint('pyarrow' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PKG.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True", "True"], r.stdout
