"""The course's widgets in a real browser: JupyterLab started as `make lab` starts it, driven by
headless Chromium through Playwright.

Each test opens a notebook, runs every cell from JupyterLab's Run menu in the ``smoke`` profile
(conftest.py; the kernel inherits the environment, but for MPLBACKEND: matplotlib's inline
backend draws the plots as a learner sees them), waits for the last cell, checks that no cell
shows an error or a widget that failed to render, then uses the widget as a learner would:
notebook 03's FreezePanel (toggle a block: the trainable-parameter count changes; Train: its
results table grows by a row) and notebook 08's AdvicePanel (another source similarity, another
compute limit: the advice changes).

The server serves a *copy* of notebooks/ from a temporary folder (its contents and kernel roots
point there), so nothing it saves, autosaves or pairs with jupytext can reach the committed,
output-free notebooks. Screenshots, the server's log and the browser's console go to
``test-artifacts/browser/`` (git-ignored; CI keeps that folder), emptied at the start of a run.

Chromium is the system's (Debian package ``chromium``, which `make test` installs when it runs as
root with apt-get); Playwright never downloads a browser here. Without Chromium or Playwright the
tests are skipped, saying how to install them, except in CI (``CI`` set), where they fail.
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from servers import free_port, stop_group

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the `test` extra installs it
    sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("TLCOURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

SERVER_START_S = 90  # JupyterLab answering its REST API
RUN_ALL_S = 300  # every cell of one notebook, smoke profile, cold cache, a busy 2-core machine
TRAIN_S = 120  # one click of Train: the run and its plot and table
UI_S = 30  # anything else the page must show

STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# JupyterLab's settings for the test only, in a temporary settings folder: every cell stays in
# the page (the default windowing leaves cells out of view unrendered), and no news or update
# prompt covers the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def _missing(reason: str):
    """Skip with ``reason``, or fail in CI: there the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests may not be skipped)")
    pytest.skip(reason)


def _api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}", method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _shut_down_kernels(base: str, token: str) -> None:
    try:
        for kernel in _api(base, token, "/api/kernels"):
            _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
    except OSError:  # the server is gone: its process group is stopped anyway
        pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab`'s JupyterLab, headless with a token, serving a copy of notebooks/.

    Returns ``(base_url, token)``; kernels are shut down and the server's whole process group
    is stopped when the module's tests are done."""
    if sync_playwright is None:
        _missing("Playwright is not installed: `make setup-dev` (the `test` extra) installs it")
    if CHROMIUM is None:
        _missing("Chromium is not installed: `make headless-browser` as root, or "
                 "`sudo apt-get install chromium`, or set TLCOURSE_CHROMIUM to a Chromium binary")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    served = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(ROOT / "notebooks", served / "notebooks", ignore=shutil.ignore_patterns("*.py", ".*"))
    settings = tmp_path_factory.mktemp("lab-settings")
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    # make lab fixes --ServerApp.root_dir=. (given twice, traitlets refuses it): the contents
    # and the kernels get their own roots instead, the copy.
    extra = (f"--no-browser --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token} "
             f"--FileContentsManager.root_dir={served} --MappingKernelManager.root_dir={served} "
             "--LabApp.expose_app_in_browser=True")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path_factory.mktemp("jupyter-runtime")),
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path_factory.mktemp("lab-workspaces"))}
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as a learner has it: plots as images
    log = (ARTIFACTS / "jupyterlab.log").open("wb")
    server = subprocess.Popen(["make", "-s", "lab", f"PORT={port}", f"LAB_EXTRA={extra}"],
                              cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("make lab exited early:\n" + (ARTIFACTS / "jupyterlab.log").read_text())
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s")
                time.sleep(0.5)
        yield base, token
    finally:
        _shut_down_kernels(base, token)
        stop_group(server)
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    with sync_playwright() as playwright:
        # the system's Chromium, never a download; as root Playwright adds --no-sandbox itself
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, lab, request):
    """A fresh browser page; on the way out, a screenshot and the console's messages."""
    base, token = lab
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.set_default_timeout(UI_S * 1000)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    page.on("pageerror", lambda error: console.append(f"[pageerror] {error}"))
    try:
        yield page
    finally:
        name = request.node.name
        try:
            page.screenshot(path=ARTIFACTS / f"{name}.png")
        except Exception as err:  # a screenshot must not hide the test's own failure
            console.append(f"[screenshot failed] {err}")
        (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(console) + "\n")
        print(f"screenshot: {ARTIFACTS / (name + '.png')}")
        context.close()
        _shut_down_kernels(base, token)  # free the kernel's memory for the next test


def _errors(notebook) -> list[str]:
    """Error outputs anywhere in the notebook, in a widget's output too, and widgets that failed."""
    shown = notebook.locator(STDERR).all_inner_texts()
    bad = [text for text in shown if "Traceback" in text or "Error" in text]
    for text in notebook.locator(".jp-OutputArea-output").all_inner_texts():
        if "Error displaying widget" in text or "Failed to load model" in text:
            bad.append(text)
    return bad


def open_and_run_all(page, lab, notebook: str):
    """Open notebooks/<notebook> in JupyterLab, run every cell from the Run menu, wait for the end;
    returns the notebook's panel (the tab shown)."""
    base, token = lab
    # reset: a fresh workspace, not the tabs the previous test left open
    page.goto(f"{base}/lab/tree/notebooks/{notebook}?token={token}&reset")
    page.wait_for_function(  # the notebook is open and its kernel is up and idle
        """name => { const w = window.jupyterapp?.shell.currentWidget;
                     const kernel = w?.sessionContext?.session?.kernel;
                     return !!w?.context?.path.endsWith(name) && kernel?.status === 'idle'; }""",
        arg=notebook, timeout=SERVER_START_S * 1000)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(panel).to_have_count(1)
    prompts = panel.locator(".jp-CodeCell .jp-InputPrompt")
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    expect(prompts.filter(has_text="*").first).to_be_attached()  # queued
    start = time.monotonic()
    # done when no cell waits any more: every one ran, or an error stopped the rest
    expect(prompts.filter(has_text="*")).to_have_count(0, timeout=RUN_ALL_S * 1000)
    print(f"{notebook}: every cell ran in the browser in {time.monotonic() - start:.0f} s")
    assert not _errors(panel), _errors(panel)
    texts = prompts.all_inner_texts()
    unrun = [i for i, text in enumerate(texts) if not re.fullmatch(r"\[\d+\]:", text.strip())]
    assert texts and not unrun, f"code cells {unrun} of {len(texts)} did not run: {texts}"
    return panel


def test_freeze_panel_in_jupyterlab(page, lab):
    notebook = open_and_run_all(page, lab, "03_fine_tuning.ipynb")
    cell = notebook.locator(".jp-CodeCell", has=page.get_by_text("trainable blocks, input to head:"))
    expect(cell).to_have_count(1)
    toggles = cell.locator(".widget-toggle-button")
    names = [name.strip() for name in toggles.all_inner_texts()]
    assert names[-1] == "head" and len(names) >= 2, names
    expect(toggles.filter(has_text=re.compile(r"^\s*head\s*$"))).to_have_class(re.compile(r"\bmod-active\b"))

    count = cell.get_by_text(re.compile(r"^trainable: [\d,]+ of [\d,]+ parameters"))
    expect(count).to_contain_text("in blocks: head")
    before = count.inner_text()
    block = names[-2]  # the block just below the head, frozen until now
    toggles.nth(len(names) - 2).click()
    expect(count).to_contain_text(f"in blocks: {block}, head")
    assert count.inner_text() != before

    rows = cell.locator(".widget-output table tbody tr")
    expect(rows.first).to_be_visible()  # the notebook's scripted runs filled the table
    runs = rows.count()
    cell.locator("button.widget-button", has_text="Train").click()
    expect(rows).to_have_count(runs + 1, timeout=TRAIN_S * 1000)
    expect(cell.locator(".widget-output img")).to_have_count(1)  # the curves, redrawn
    expect(cell.get_by_text(re.compile(rf"^run {runs + 1}: best val accuracy"))).to_be_visible()
    expect(cell.locator("button.widget-button", has_text="Train")).to_be_enabled()
    assert not _errors(notebook), _errors(notebook)
    cell.locator(".widget-output").scroll_into_view_if_needed()


def test_advice_panel_in_jupyterlab(page, lab):
    notebook = open_and_run_all(page, lab, "08_when_to_use.ipynb")
    expect(notebook.get_by_text("profile smoke:")).to_be_visible()
    cell = notebook.locator(".jp-CodeCell", has=page.get_by_text("source similarity"))
    expect(cell).to_have_count(1)
    answer, evidence = cell.locator(".widget-html").nth(0), cell.locator(".widget-html").nth(1)
    expect(answer).to_contain_text(" sources), labels per class ")
    expect(evidence.locator("table tbody tr").first).to_be_attached()

    before = answer.inner_text()
    cell.locator(".widget-toggle-button", has_text=re.compile(r"^\s*far\s*$")).click()
    expect(answer).to_contain_text("(far sources)")
    expect(answer).to_contain_text("within 60 s per run")  # the panel's compute: a minute per run
    assert answer.inner_text() != before

    before = answer.inner_text()
    cell.locator(".widget-dropdown select").select_option(label="GPU")
    expect(answer).to_contain_text("with no limit on compute")
    expect(answer).to_contain_text("(far sources)")
    assert answer.inner_text() != before
    expect(evidence.locator("table tbody tr").first).to_be_attached()
    assert not _errors(notebook), _errors(notebook)
    answer.scroll_into_view_if_needed()
