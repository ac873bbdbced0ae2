# The browser test needs Debian's Chromium and Playwright, which `make test-browser` installs when missing.
# `pytest tests/` (so `make test` and `make test-slow`) leaves it out; `make test-browser` names the file, and pytest
# collects a file named on its command line all the same. Imports here stay in the standard library: this file is
# read whenever pytest walks tests/.
import json, os, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

collect_ignore = ["test_explorer.py"]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
NOTEBOOK = ROOT / "nbs" / "13_explorer.ipynb"
# JupyterLab settings of the test's own: no "Jupyter news" pop-up over the page, every cell in the DOM (the default
# windowing leaves cells out of the page until they are scrolled to).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    "A TCP port on 127.0.0.1 that nothing listens on now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_api(lab: dict, path: str, method: str = "GET"):
    "A JupyterLab server REST call with the server's token; the decoded JSON answer (None when empty)."
    req = urllib.request.Request(f"{lab['url']}/api/{path}", method=method, headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


def processes_under(folder: Path) -> dict[int, list[str]]:
    "Live processes whose command line names `folder` (the server and the kernels it started, by their files): id -> argv."
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid(): continue
        try: argv = (d / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError: continue
        if any(str(folder) in a for a in argv): found[int(d.name)] = argv
    return found


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    "JupyterLab from the project's venv on 127.0.0.1 with a random token and a free port, serving a copy of the notebooks."
    home = tmp_path_factory.mktemp("lab")
    work = home / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / "13_explorer.ipynb")  # the source notebook is never touched
    for name, value in LAB_SETTINGS.items():
        (home / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "settings" / name).write_text(json.dumps(value))
    token, port = secrets.token_hex(24), free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.terminals_enabled=False",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0: cmd.append("--allow-root")
    log = open(home / "server.log", "w")
    server = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    info = {"url": f"http://127.0.0.1:{port}", "token": token, "port": port, "work": work, "home": home, "log": home / "server.log"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"JupyterLab exited at start:\n{info['log'].read_text()[-3000:]}"
            try:
                lab_api(info, "status"); break
            except OSError:
                assert time.monotonic() < deadline, f"JupyterLab did not answer in 60 s:\n{info['log'].read_text()[-3000:]}"
                time.sleep(0.5)
        yield info
    finally:
        killed = stop_lab(server, info)
        log.close()
    assert not killed, f"JupyterLab's shutdown left processes behind (ended now): {killed}"


def stop_lab(server: subprocess.Popen, info: dict) -> list[int]:
    "Shut the server down (it stops its kernels); if it does not go, end it and every process it left, by id: those ids."
    try: lab_api(info, "shutdown", method="POST")
    except OSError: pass
    forced = []
    try: server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        forced.append(server.pid)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    deadline = time.monotonic() + 10
    while processes_under(info["home"]) and time.monotonic() < deadline: time.sleep(0.2)
    left = list(processes_under(info["home"]))
    for pid in left:  # kernels run in sessions of their own, so the group kill above misses them
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    return forced + left
