"""The class-weight explorer as a person sees it: nbs/13_explorer.ipynb (a copy) in JupyterLab, driven by headless Chromium.

Run with `make test-browser` (it installs Debian's chromium and Playwright when missing). Screenshots land in
tests/browser/screenshots/ (git-ignored).
"""
import json, os, re, sys, time

from browser.conftest import ROOT, SCREENSHOTS, lab_api, processes_under

CHROMIUM = os.environ.get("CHROMIUM", "/usr/lib/chromium/chromium")
RUN_ALL_TIMEOUT_MS = 150_000
EXPLORER_CELL = "explorer = weights_explorer(counts, r8_names)"
# Run All has ended: no cell queued or running ("[*]:"), and either every code cell has run or one failed (the kernel
# then drops the queued rest, whose prompts go back to "[ ]:")
RUN_ALL_ENDED = """n => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  if (prompts.some(t => t.includes('*'))) return false;
  const failed = [...document.querySelectorAll('.jp-OutputArea-output')].some(o => o.textContent.includes('Traceback (most recent call last)'));
  return failed || (prompts.length === n && prompts.every(t => /^\\[\\d+\\]:$/.test(t)));
}"""


def wait_kernel_idle(lab, seconds: float = 60, settle: float = 0.5):
    "Until every kernel of the server reports idle twice, `settle` seconds apart."
    deadline, idle_since = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        kernels = lab_api(lab, "kernels")
        if kernels and all(k["execution_state"] == "idle" for k in kernels):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle: return
        else: idle_since = None
        time.sleep(0.2)
    raise AssertionError(f"the kernel did not go idle in {seconds} s: {lab_api(lab, 'kernels')}")


def plot_src(output) -> str:
    "The explorer's plot as its <img> src (a data: URL of the PNG); empty while it is being redrawn."
    img = output.locator(".widget-output img")
    return img.first.get_attribute("src") if img.count() == 1 else ""


def wait_for_redraw(page, lab, output, old_src: str, caption: str) -> str:
    "Until the explorer shows a new plot under `caption` and the kernel is idle; the new plot's src."
    from playwright.sync_api import TimeoutError
    try:
        page.wait_for_function("""([cell, old, caption]) => {
            const out = [...document.querySelectorAll('.jp-CodeCell')].find(c => c.textContent.includes(cell));
            const img = out && out.querySelector('.widget-output img');
            const cap = out && out.querySelector('.seqcls-weights-caption');
            return img && img.src !== old && cap && cap.textContent.trim() === caption;
        }""", arg=[EXPLORER_CELL, old_src, caption], timeout=30_000)
    except TimeoutError:
        shown = output.locator(".seqcls-weights-caption").all_inner_texts()
        raise AssertionError(f"no redraw in 30 s: wanted a new plot under {caption!r}; the caption reads {shown}, "
                             f"the plot {'is unchanged' if plot_src(output) == old_src else 'changed'}") from None
    wait_kernel_idle(lab)
    src = plot_src(output)
    assert src.startswith("data:image/png;base64,") and src != old_src
    return src


def test_weights_explorer_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    t0 = time.monotonic()
    SCREENSHOTS.mkdir(exist_ok=True)
    source_before = (ROOT / "nbs" / "13_explorer.ipynb").read_bytes()
    copy = lab["work"] / "13_explorer.ipynb"
    n_code = sum(c["cell_type"] == "code" for c in json.loads(copy.read_text())["cells"])

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page_errors = []
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(f"{lab['url']}/lab/tree/13_explorer.ipynb?token={lab['token']}")
            page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=60_000)
            wait_kernel_idle(lab)
            kernels = [argv for argv in processes_under(lab["home"]).values() if "ipykernel_launcher" in argv]
            assert len(kernels) == 1 and kernels[0][0] == sys.executable, f"not one kernel from the project's venv: {kernels}"

            # Run > Run All Cells, as a person would
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            try: page.wait_for_function(RUN_ALL_ENDED, arg=n_code, timeout=RUN_ALL_TIMEOUT_MS)
            finally: page.screenshot(path=SCREENSHOTS / "01_after_run_all.png")
            wait_kernel_idle(lab)
            run_all_s = time.monotonic() - t0

            # No cell failed: in the page, and in the notebook as JupyterLab saves it
            tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
            assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
            assert page.locator(".jp-OutputArea-output", has_text="Error displaying widget").count() == 0
            prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
            assert len(prompts) == n_code and all(re.fullmatch(r"\[\d+\]:", t.strip()) for t in prompts), prompts
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 20
            while not all(c.get("execution_count") for c in json.loads(copy.read_text())["cells"] if c["cell_type"] == "code"):
                assert time.monotonic() < deadline, "the notebook was not saved after Control+s"
                time.sleep(0.2)
            saved = json.loads(copy.read_text())
            errors = [o for c in saved["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "error"]
            assert errors == [], [f"{e['ename']}: {e['evalue']}" for e in errors]

            # The three sliders render as widgets, with their whole labels
            cell = page.locator(".jp-CodeCell", has_text=EXPLORER_CELL)
            output = cell.locator(".jp-Cell-outputArea")
            output.scroll_into_view_if_needed()
            sliders = output.locator(".widget-slider")
            assert sliders.count() == 3, output.inner_html()[:2000]
            labels = [sliders.nth(i).locator(".widget-label").inner_text() for i in range(3)]
            assert [l.split(" ")[0] for l in labels] == ["alpha", "weight_min", "weight_max"], labels
            assert "no minimum" in labels[1] and "no maximum" in labels[2], labels
            truncated = sliders.locator(".widget-label").evaluate_all("ls => ls.filter(l => l.scrollWidth > l.clientWidth).map(l => l.textContent)")
            assert truncated == [], f"slider labels cut short: {truncated}"
            caption = output.locator(".seqcls-weights-caption")
            assert caption.inner_text().strip() == "weights at alpha=0.75, no caps (mean 1)"  # the notebook sets 0.75
            first = plot_src(output)
            assert first.startswith("data:image/png;base64,"), "the explorer shows no plot"
            output.screenshot(path=SCREENSHOTS / "02_explorer_initial.png")

            # alpha by keyboard on the slider handle: 5 steps of 0.05 to the left
            handle = sliders.nth(0).locator(".noUi-handle")
            handle.focus()
            for _ in range(5): page.keyboard.press("ArrowLeft")
            second = wait_for_redraw(page, lab, output, first, "weights at alpha=0.50, no caps (mean 1)")
            assert sliders.nth(0).locator(".widget-readout").inner_text().strip() == "0.50"
            output.screenshot(path=SCREENSHOTS / "03_explorer_alpha_0.50.png")

            # the max cap by typing into the slider's readout: 2 holds grain (2.2 uncapped) at the cap
            readout = sliders.nth(2).locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+a")
            page.keyboard.type("2")
            page.keyboard.press("Enter")
            third = wait_for_redraw(page, lab, output, second, "weights at alpha=0.50, max 2, no min (mean 1)")
            assert third != first
            assert readout.inner_text().strip() == "2.00"
            capped = output.locator(".widget-output table tbody tr", has_text="grain").inner_text()
            assert "True" in capped, f"grain (weight 2.2 uncapped) is not held at the cap of 2: {capped}"
            output.screenshot(path=SCREENSHOTS / "04_explorer_max_2.png")
            page.screenshot(path=SCREENSHOTS / "05_page_at_the_end.png")
            assert page_errors == [], page_errors
        finally:
            browser.close()
    assert (ROOT / "nbs" / "13_explorer.ipynb").read_bytes() == source_before, "the test changed the source notebook"
    print(f"\nrun all: {run_all_s:.0f} s; whole test: {time.monotonic() - t0:.0f} s; screenshots in {SCREENSHOTS}")
