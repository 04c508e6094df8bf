"""The dashboard in headless Chromium (Playwright driving the system browser): pages load
without console errors, charts draw, clicking a configuration overlays its curves, a
``<script>`` study name stays text, and an open page follows a running ``sweeplab run``.

Skipped when Playwright (``pip install playwright``; no browser download needed) or
Chromium (``apt-get install chromium``, as ``.ci/run`` does) is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from sweeplab.dashboard.app import create_app  # noqa: E402
from test_analysis_fixtures import make_run  # noqa: E402
from test_dashboard import EVIL, study_text, sweeplab_run  # noqa: E402

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
SHOTS = os.environ.get("SWEEPLAB_DASHBOARD_SHOTS")  # a folder: save screenshots of the main pages there

# Counts the drawn (non-white, non-transparent) pixels of every canvas under a selector.
INK = """sel => [...document.querySelectorAll(sel + ' canvas')].map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 235 || d[i + 1] < 235 || d[i + 2] < 235)) n++;
  return n; })"""


class Server:
    """uvicorn on a free loopback port, in a thread."""

    def __init__(self, roots):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.server = uvicorn.Server(uvicorn.Config(create_app(roots), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            assert time.monotonic() - t0 < 30 and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    base = tmp_path_factory.mktemp("dashb")
    sweeplab_run(base, "runs/tiny")
    make_run(base / "runs" / "grid", name="grid study", sweep={"train.batch_size": [32, 64, "full"],
                                                             "model.units": [4, 8]}, repeats=3, grad_layers=2)
    return base / "runs"


@pytest.fixture(scope="module")
def server(root):
    s = Server([root])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.messages = []
    pg.on("console", lambda m: pg.messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.messages.append(f"pageerror: {e}"))
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    pg.close()


def until(page, js: str, timeout: float = 15.0):
    """Poll ``js`` until it is truthy (``wait_for_function`` evaluates strings, which the CSP forbids)."""
    t0 = time.monotonic()
    while True:
        value = page.evaluate(js)
        if value:
            return value
        assert time.monotonic() - t0 < timeout, f"timed out waiting for {js}"
        time.sleep(0.1)


def run_ids(page, server) -> dict[str, str]:
    runs = page.request.get(server.url + "/api/runs").json()["runs"]
    return {r["dir"]: r["id"] for r in runs}


def open_study(page, server, name):
    page.goto(f"{server.url}/run/{run_ids(page, server)[name]}")
    page.wait_for_selector("#configs tbody tr")
    page.wait_for_selector("#curves[data-groups='1'] canvas")


def shot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_pages_load_without_console_errors(page, server):
    ids = run_ids(page, server)
    page.goto(server.url + "/")
    page.wait_for_selector("#runs tbody tr[data-run]")
    shot(page, "runs")
    for name in ("tiny", "grid"):
        open_study(page, server, name)
        page.wait_for_selector("#comparison table, #comparison p")
        shot(page, f"study-{name}")
        page.click("#configs tbody tr a")  # the best configuration's first seed
        page.wait_for_selector("#sections section")
        page.wait_for_selector("#curves canvas")
        shot(page, f"trial-{name}")
    page.goto(f"{server.url}/compare?a={ids['tiny']}&b={ids['grid']}")
    page.wait_for_selector("#side-b table[data-run]")
    page.wait_for_selector("#both[data-groups='2'] canvas")
    shot(page, "compare")
    assert page.messages == []


def test_charts_draw_something(page, server):
    open_study(page, server, "grid")
    page.wait_for_selector("#heatmap canvas")
    for sel in ("#curves", "#effects", "#heatmap", "#parallel"):
        ink = page.evaluate(INK, sel)
        assert ink and min(ink) > 200, (sel, ink)
    assert page.locator("#effects canvas").count() == 2
    # the trial page's figures decode
    page.click("#configs tbody tr a")
    page.wait_for_selector("#sections figure img")
    sizes = page.evaluate("[...document.querySelectorAll('#sections img')].map(i => i.complete ? i.naturalWidth : 0)")
    assert sizes and min(sizes) > 100


def test_time_columns_show_their_unit(page, server):
    # time_per_epoch used to show bare numbers ("0.1206 ± 0.0322") where the CLI prints "121 ms"
    open_study(page, server, "grid")
    heads = page.locator("#configs thead th").all_inner_texts()
    col = next(i for i, h in enumerate(heads) if h.startswith("time_per_epoch"))
    cells = page.locator(f"#configs tbody tr td:nth-child({col + 1})").all_inner_texts()
    assert cells and all(re.fullmatch(r"[0-9.]+ (ms|s)( ± [0-9.e-]+ (ms|s))?", c) for c in cells), cells


def test_clicking_configurations_overlays_their_curves(page, server):
    open_study(page, server, "grid")
    before = page.evaluate(INK, "#curves")
    rows = page.locator("#configs tbody tr")
    rows.nth(3).click()
    page.wait_for_selector("#curves[data-groups='2'] canvas")
    assert page.locator("#configs tbody tr.selected").count() == 2
    after = page.evaluate(INK, "#curves")
    assert sum(after) > sum(before)  # more lines drawn
    page.locator("#configs tbody tr").nth(3).click()  # and off again
    page.wait_for_selector("#curves[data-groups='1']")
    # sorting and filtering happen on the server and redraw the table
    page.fill("#filter", "units=8")
    until(page, "document.querySelectorAll('#configs tbody tr').length === 3")
    assert page.locator("#matched").text_content() == "3 of 6 configurations match"


def test_script_in_a_study_name_is_shown_as_text(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("#runs tbody tr[data-run]")
    assert EVIL in page.locator("#runs").inner_text()
    open_study(page, server, "tiny")
    page.wait_for_timeout(500)
    assert page.locator("#name").text_content() == EVIL
    assert page.evaluate("document.querySelectorAll('main script, #runs script').length") == 0
    assert page.dialogs == [] and page.messages == []


def test_open_page_follows_a_running_sweep(page, tmp_path):
    """A run started after the page opened appears, and its finished count rises without a reload."""
    runs = tmp_path / "runs"
    runs.mkdir()
    srv = Server([runs])
    proc = None
    try:
        page.goto(srv.url + "/?poll=250")
        page.evaluate("window.__noReload = 1")
        # 6 groups of one trial; a wide MLP so that each group trains for a while even on a fast machine
        study = study_text(name="live run", epochs=8, hidden=(512, 512), values=("relu", "tanh", "elu"))
        proc = sweeplab_run(tmp_path, "runs/live", text=study, wait=False)
        seen, states, delays = [], set(), []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 300:
            cell = page.locator("#runs tr[data-run] td.finished")
            if cell.count():
                text = cell.first.text_content()
                states.add(page.locator("#runs tr[data-run] .badge").first.text_content())
                n = int(text.split("/")[0])
                if not seen or n != seen[-1]:
                    seen.append(n)
                    db = runs / "live" / "results.sqlite"
                    mtimes = [p.stat().st_mtime for p in (db, Path(str(db) + "-wal")) if p.exists()]
                    if n and mtimes:
                        delays.append(time.time() - max(mtimes))
                if text.strip() == "6 / 6" and proc.poll() is not None:
                    break
            time.sleep(0.1)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert page.evaluate("window.__noReload") == 1  # the same page, never reloaded
        assert seen == sorted(seen) and seen[-1] == 6
        assert len([n for n in seen if 0 < n < 6]) >= 2, seen  # at least two commits seen as they happened
        assert "running" in states
        print(f"live-update delay after a commit: {', '.join(f'{d:.2f}' for d in delays)} s")
        until(page, "document.querySelector('#runs tr[data-run] .badge').textContent === 'finished'")
        assert page.messages == []
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.stop()
