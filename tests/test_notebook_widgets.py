"""The notebooks in a real browser: JupyterLab runs each notebook (Run All), the exercises' answers stay folded, its
widget renders, a slider moves and the figure above it is redrawn in place. Headless Chromium driven by Playwright;
skipped where either is missing:

    apt-get install chromium && pip install -e ".[notebooks]"      # Debian's browser, Playwright from PyPI
    python -m pytest tests/test_notebook_widgets.py

The notebook runs at the CI size (CI=true) from a temporary copy (JupyterLab autosaves), on a server bound to
127.0.0.1 with a random token. Every notebook by default; ZSNR_BROWSER_NOTEBOOKS="01 04" picks some.
ZSNR_CHROMIUM points at another Chromium binary. Every wait is bounded.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from processes import stop_process

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ZSNR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WANTED = os.environ.get("ZSNR_BROWSER_NOTEBOOKS", "all").split()
CHOSEN = [p for p in NOTEBOOKS if "all" in WANTED or p.name[:2] in WANTED]
SERVER_START_S, RUN_ALL_S, REDRAW_S = 120, 600, 180  # bounds on each wait (a loaded 2-core CPU is slow)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over a copy of notebooks/ (and benchmarks/, which notebook 4 reads)."""
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install -e '.[notebooks]')")
    pytest.importorskip("ipywidgets")
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    (work / "benchmarks").symlink_to(ROOT / "benchmarks")
    # user settings of this server only: attach every cell to the page (no windowing), so that the widget cell far
    # down the notebook is rendered; start the kernel without asking; fetch no news
    settings = work / "lab-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none", "autoStartDefaultKernel": true}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "CI": "true", "JUPYTERLAB_SETTINGS_DIR": str(work / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / "lab-workspaces"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(work / "server.log", "wb") as log:
        yield from serve(work, env, port, token, log)


def serve(work: Path, env: dict, port: int, token: str, log):
    """Start JupyterLab, wait (bounded) until it answers, yield (base URL, token, folder), then stop it."""
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.news_url=None",
         "--ServerApp.allow_remote_access=False", "--LabApp.extension_manager=readonly"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                pytest.fail(f"JupyterLab did not start in {SERVER_START_S} s:\n{(work / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
    try:
        yield base, token, work
    finally:
        stop_process(server, timeout=30)


def stop_kernels(base: str, token: str) -> None:
    """Shut down the kernels this test started (REST API), so that the next notebook has the CPU to itself."""
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=30) as r:
        kernels = json.load(r)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=60).close()


def run_all(page, tries: int = 5) -> None:
    """Run > Run All Cells, again until the kernel is busy (the command is ignored while the session is settling)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _ in range(tries):
        page.locator(".jp-NotebookPanel .jp-Cell").first.click()  # the notebook has the focus
        page.keyboard.press("Escape")  # command mode
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='busy'], .jp-InputPrompt:has-text('[*]')",
                                   timeout=30_000)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    pytest.fail(f"Run All Cells did not start the kernel in {tries} tries")


def move_first_slider(page, widget) -> None:
    """Type a neighbouring value into the first slider's readout (up, or down where up is past the maximum)."""
    readout = widget.locator(".widget-slider").first.locator(".widget-readout")
    old = readout.inner_text().strip()
    delta = 1 if "." not in old else 0.1
    for new in (float(old) + delta, float(old) - delta):
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(f"{new:g}")
        page.keyboard.press("Enter")
        page.wait_for_timeout(500)
        if readout.inner_text().strip() != old:
            return
    pytest.fail(f"the slider's readout stayed at {old}")


@pytest.mark.parametrize("path", CHOSEN, ids=lambda p: p.stem)
def test_sliders_render_and_redraw_in_jupyterlab(lab, path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    base, token, work = lab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = None
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # a workspace of its own, reset: only this notebook open, so that Run All acts on it
            page.goto(f"{base}/lab/workspaces/{path.stem}/tree/notebooks/{path.name}?reset&token={token}",
                      timeout=SERVER_START_S * 1000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=SERVER_START_S * 1000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=SERVER_START_S * 1000)
            dialog = page.locator(".jp-Dialog .jp-mod-accept")  # a kernel chooser, should the settings not apply
            if dialog.count():
                dialog.first.click()
            run_all(page)

            widget = page.locator(".widget-interact").first
            widget.wait_for(state="attached", timeout=RUN_ALL_S * 1000)
            # the figure is the cell's own output (display_id), which the sliders redraw in place: one figure, not two
            cell = page.locator(".jp-CodeCell").filter(has=page.locator(".widget-interact")).first
            cell.scroll_into_view_if_needed(timeout=REDRAW_S * 1000)
            figures = cell.locator(".jp-OutputArea-output img")
            figures.first.wait_for(state="visible", timeout=REDRAW_S * 1000)
            assert figures.count() == 1, f"{figures.count()} figures in the slider's cell"
            before = figures.first.get_attribute("src")
            assert before and before.startswith("data:image/png"), before

            move_first_slider(page, widget)
            page.wait_for_function(
                "([el, old]) => { const img = el.querySelector('.jp-OutputArea-output img'); return img && img.src !== old; }",
                arg=[cell.element_handle(), before], timeout=REDRAW_S * 1000)
            assert figures.count() == 1, f"{figures.count()} figures in the slider's cell after the redraw"
            errors = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert errors.count() == 0, errors.all_inner_texts()

            # the exercises' answers: run, and folded (an open answer would sit under its question)
            solutions = sum(1 for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                            if "".join(c["source"]).startswith("# Solution to exercise"))
            folded = page.locator(".jp-OutputArea-output details")
            page.wait_for_function(f"() => document.querySelectorAll('.jp-OutputArea-output details').length >= {solutions}",
                                   timeout=RUN_ALL_S * 1000)
            assert folded.count() == solutions, (folded.count(), solutions)
            assert all(d.get_attribute("open") is None for d in folded.all()), "an exercise's answer is unfolded"
            assert all(not d.locator("pre").is_visible() for d in folded.all()), "an answer shows under its question"
        except Exception:
            if page is not None:  # what the browser showed, for the failure report
                page.screenshot(path=str(work / f"{path.stem}-failure.png"), full_page=False)
                print(f"screenshot: {work / f'{path.stem}-failure.png'}; server log: {work / 'server.log'}")
            raise
        finally:
            browser.close()
            stop_kernels(base, token)
