# The two commands of the README, each doing all set-up on a fresh machine:
#   make run    the main job on the embedded default (offline: packaged model and data, local MLflow)
#   make test   the whole test suite (sync check, nbdev-test, pytest)
#   make test-browser   the class-weight explorer in a real JupyterLab, driven by headless Chromium
# Set-up happens once: a second `make test` finds the stamp and reinstalls nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The stamp is named by the content of the dependency files (nbdev-export rewrites pyproject.toml, so mtimes lie).
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt requirements-offline.txt | sha1sum | cut -c1-12)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false

# Every tracked file and every new not-ignored one (outside git: the notebooks and the package)
SNAPSHOT = { git ls-files 2>/dev/null && git ls-files --others --exclude-standard 2>/dev/null || find nbs seqcls -type f -not -path "*/__pycache__/*"; } \
	| sort -u | tr '\n' '\0' | xargs -0 sha1sum 2>/dev/null

.PHONY: setup run warm test pytest-a lane-b test-fast test-slow test-browser browser-deps sync-check nbtest pytest export clean

setup: $(STAMP)

# Reinstall only when the dependency lists change.
$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps -r requirements-offline.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/seqcls run configs/default.yml

# Optional: a process with the training stack imported, kept for the commands that follow in this environment
# (`seqcls warm start`; its key includes the variables exported above, so `make run` finds it). Ends after 20 idle minutes.
warm: $(STAMP)
	$(BIN)/seqcls warm start --wait

# The suite in two lanes, one a core (one pytest process took 5.5-6.5 minutes and left the second core idle once the
# notebooks' tests had ended: bench/RESULTS.md section 7). Lane b first compiles DeepSpeed's CPU communication op (what
# the first DeepSpeed run of a fresh machine compiles, ~30 s; lane a starts with tests that need no DeepSpeed, and a
# run that needs the op while it compiles waits for it), then the notebooks' tests, then pytest on its files; lane a is
# pytest on every other test file (a new file lands there). --output-sync: each lane's output in one piece. One torch
# thread a process: two lanes of two threads each on two cores made some tests 2-6x slower
# (4 threads on 2 cores; with one thread the slowest case went from 47 s to 12 s).
# `make pytest` runs the same tests in one process.
PYTEST_B := tests/test_train.py tests/test_engine.py tests/test_sweep.py tests/test_longtail.py \
	tests/test_cli.py tests/test_house.py tests/test_quality.py tests/test_bench_profile.py
PYTEST_A := tests/test_run.py $(filter-out tests/test_run.py $(PYTEST_B),$(sort $(wildcard tests/test_*.py)))
# Each suite's temporary files go in a folder of its own (TMPDIR), removed when the suite passes and kept, named, when it
# fails: the notebooks' and pytest's temporary folders are ~55 and 184 MB a run, which gathered by the thousand on a
# machine that runs the suite often. (Tests of what seqcls itself leaves behind set a TMPDIR of their own and look in it.)
SUITE_TMP = export TMPDIR=$$(mktemp -d -t seqcls-test.XXXXXX); \
	trap 'rc=$$?; if [ $$rc = 0 ]; then rm -rf "$$TMPDIR"; else echo "kept for a look, the temporary files of the failed suite: $$TMPDIR"; fi' EXIT;
test: $(STAMP)
	$(MAKE) --no-print-directory sync-check
	$(SUITE_TMP) OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 --output-sync=target pytest-a lane-b

pytest-a: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q $(PYTEST_A)

lane-b: $(STAMP)
	set -o pipefail; $(BIN)/python -c "from deepspeed.comm.torch import build_shm_op; build_shm_op()" 2>&1 | tail -1
	$(MAKE) --no-print-directory nbtest
	$(BIN)/python -m pytest -m "not slow" -q $(PYTEST_B)

# Notebooks are the source: cleaning and exporting them must change nothing tracked.
sync-check: $(STAMP)
	@before=$$($(SNAPSHOT)); $(BIN)/nbdev-clean && $(BIN)/nbdev-export || exit 1; after=$$($(SNAPSHOT)); \
	if [ "$$before" != "$$after" ]; then \
	  echo "sync-check FAILED: nbdev-clean/nbdev-export changed files (edit nbs/, run 'make export', commit both):"; \
	  diff <(echo "$$before") <(echo "$$after") | grep '^[<>]' | awk '{print "  " $$3}' | sort -u; exit 1; fi
	@echo "sync-check: nbdev-clean and nbdev-export changed nothing"

# The run notebook (nbs/run_training.ipynb) trains when executed: papermill runs it in tests/test_run.py instead.
nbtest: $(STAMP)
	$(BIN)/nbdev-test --skip-file-re "^([_.]|run_)"
	@echo "nbdev-test: all notebooks passed"

# One process. (pytest-xdist's two workers were tried: they pushed the timed fault test, a rank that fails must end its
# job within 120 s, to 95 s; the lanes above compile DeepSpeed's op first, which that test otherwise pays, and split by file.)
pytest: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q tests/

test-slow: $(STAMP)
	$(SUITE_TMP) $(BIN)/nbdev-test --flags slow --skip-file-re "^([_.]|run_)" && $(BIN)/python -m pytest -m slow -q tests/

# The browser test: Debian's Chromium driven by Playwright for Python (Playwright's own browser download cannot work
# offline). Each is installed only when missing: a second run installs nothing. The test file is named explicitly:
# tests/browser/conftest.py keeps it out of `pytest tests/`.
PLAYWRIGHT_VERSION := 1.65.2
CHROMIUM ?= /usr/lib/chromium/chromium

browser-deps: $(STAMP)
	@if ! { test -x $(CHROMIUM) && dpkg -s fonts-liberation >/dev/null 2>&1; }; then \
	  echo "installing Debian's chromium and fonts-liberation"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null; }; } || exit 1; fi
	@if ! $(BIN)/python -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$(PLAYWRIGHT_VERSION)')" 2>/dev/null; then \
	  echo "installing playwright==$(PLAYWRIGHT_VERSION) into $(VENV)"; \
	  $(BIN)/python -m pip install -q -c constraints.txt playwright==$(PLAYWRIGHT_VERSION) || exit 1; fi

test-browser: browser-deps
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/browser/test_explorer.py

# Edit notebooks, then: make export (clean + export) before committing.
export: $(STAMP)
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-export

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
