"""The HTML report in headless Chromium: no console errors, every image
decodes, the screenshot is not blank, user text stays text.

Skipped when Chromium is not installed (CI installs ``chromium``).
"""

import re
import shutil
import subprocess

import matplotlib.image as mpimg
import pytest

from sweeplab.report import write_report
from test_analysis_fixtures import make_run

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars"]
NAME = "Evil <script>document.title='pwned'</script> study"
# Counts images and those that decoded, once everything has loaded.
PROBE = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
         " const ok = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);"
         " document.body.setAttribute('data-probe', imgs.length + ':' + ok.length); });</script>")


def chromium(tmp_path, url, *args, timeout=60):
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def console_messages(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if ":CONSOLE" in l or "Refused to" in l]


def image_probe(tmp_path, html_text: str) -> tuple[int, int]:
    # The report itself has no script and forbids scripts (CSP); the probe
    # runs in a copy without the CSP line.
    probe = tmp_path / "probe.html"
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html_text)
    probe.write_text(text.replace("</body>", PROBE + "</body>"))
    for _ in range(3):  # a loaded machine may dump the DOM before the load event
        out = chromium(tmp_path, probe.as_uri(), "--virtual-time-budget=20000", "--dump-dom").stdout
        m = re.search(r'data-probe="(\d+):(\d+)"', out)
        if m:
            break
    assert m, "probe did not run"
    return int(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d, _ = make_run(tmp_path_factory.mktemp("chr"), name=NAME, grad_layers=2, repeats=2)
    return write_report(d)


def test_checks_catch_errors_and_broken_images(tmp_path):
    """The checks below are not vacuous: a console error and a broken image are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
                   "<script>console.error('boom')</script></body></html>")
    err = chromium(tmp_path, bad.as_uri(), "--enable-logging=stderr", "--v=0", "--dump-dom").stderr
    assert any("boom" in l for l in console_messages(err))
    assert image_probe(tmp_path, bad.read_text()) == (1, 0)


def test_report_loads_without_console_errors(report, tmp_path):
    res = chromium(tmp_path, report.as_uri(), "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert res.returncode == 0
    assert console_messages(res.stderr) == []
    dom = res.stdout
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # shown as text
    assert "<script>" not in dom and "pwned</title>" not in dom


def test_every_image_decodes(report, tmp_path):
    n, ok = image_probe(tmp_path, report.read_text())
    assert n >= 5 and ok == n


def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "shot.png"
    chromium(tmp_path, report.as_uri(), "--window-size=1280,2400", f"--screenshot={shot}")
    img = mpimg.imread(shot)
    assert img.shape[0] >= 2000
    gray = img[..., :3].mean(axis=2)
    assert gray.std() > 0.05 and (gray < 0.5).mean() > 0.005  # text and figures, not an empty page
