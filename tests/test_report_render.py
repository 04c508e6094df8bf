"""Writing a report: cells without <NA>/nan, spreadsheet-safe CSV, Markdown
without math, LaTeX that fits the page, the user's umask, and a rebuild only
when the results changed."""

import csv
import io
import os
import re
import shutil
import stat
import subprocess

import numpy as np
import pandas as pd
import pytest

from sweeplab.report import render, write_report
from sweeplab.report.model import Report, Section, TableItem, TextItem
from sweeplab.store import FINISHED, Store, TrialRecord, TrialResult
from sweeplab.values import canonical
from test_analysis_fixtures import make_run

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]


def _report(table: pd.DataFrame, data: pd.DataFrame | None = None, name="study $x$ & co") -> Report:
    item = TableItem("t", "caption with $a$ and 50%", table, data if data is not None else table)
    return Report(name, "costs $5 and $6", [("ranked by", "val $acc$")], [Section("s", "Section", [item])])


def test_missing_values_never_show_as_na_or_nan(tmp_path):
    disp = pd.DataFrame({
        "config": [canonical([64]), (16,), "relu"],
        "parameters": ["203530 ± <NA>", "1210 ± nan", "15"],
        "accuracy": [pd.NA, float("nan"), "0.91 ± 0.01"],
        "n": [None, 3, np.nan],
    })
    render.write_all(_report(disp), tmp_path)
    md = (tmp_path / "report.md").read_text()
    tex = (tmp_path / "tables" / "t.tex").read_text()
    html = (tmp_path / "report.html").read_text()
    for text in (md, tex, html):
        assert "<NA>" not in text and "&lt;NA&gt;" not in text
        assert not re.search(r"\bnan\b", text, re.I), "nan shown to a reader"
        assert "(16,)" not in text
    assert "203530" in md and "203530 ±" not in md and r"$\pm$ <NA>" not in tex
    assert "[16]" in html and "[64]" in html and "—" in html
    assert render.cell("0.5 ± 0.1") == "0.5 ± 0.1" and render.cell("") == ""


def test_csv_neutralises_formulas_but_keeps_numbers(tmp_path):
    data = pd.DataFrame({"value": FORMULAS + ["-0.25", "relu", "[300, 100]"],
                         "score": [-0.5, 1.0, 2.0, -3.0, 0.0, 1.5, -7.25, 2.0, 1.0]})
    data["=cmd"] = 1
    render.write_all(_report(data.astype(str), data), tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / "tables" / "t.csv").read_bytes().decode(), newline="")))
    header, body = rows[0], rows[1:]
    assert header[2] == "'=cmd"
    values = [r[0] for r in body]
    for original, written in zip(FORMULAS, values):
        assert written == "'" + original, (original, written)
    assert values[6:] == ["-0.25", "relu", "[300, 100]"]  # a negative number stays a number
    assert [float(r[1]) for r in body] == list(data["score"])


def test_markdown_escapes_dollar_so_github_renders_no_math(tmp_path):
    assert render.md_escape("$x$ costs $5") == r"\$x\$ costs \$5"
    render.write_all(_report(pd.DataFrame({"a": ["$y$"]})), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert not re.search(r"(?<!\\)\$", md), [l for l in md.splitlines() if "$" in l]


def test_latex_table_is_scaled_to_the_text_width():
    wide = pd.DataFrame({f"column {i}": ["0.9350 ± 0.0137"] for i in range(13)})
    tex = render.to_latex(TableItem("wide", "thirteen columns", wide, wide))
    assert r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%" in tex
    assert tex.index(r"\resizebox") < tex.index(r"\begin{tabular}") < tex.index(r"\end{tabular}") < tex.rindex("}\n")
    assert r"\toprule" in tex and "graphicx" in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_wide_table_compiles_without_overfull_box(tmp_path):
    wide = pd.DataFrame({f"column {i}": ["0.9350 ± 0.0137"] for i in range(13)})
    doc = ("\\documentclass[a4paper]{article}\\usepackage{booktabs}\\usepackage{graphicx}\\begin{document}\n"
           + render.to_latex(TableItem("wide", "wide", wide, wide)) + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc)
    out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "t.tex"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "Overfull \\hbox" not in out.stdout


def test_html_tables_wrap_and_print_without_clipping(tmp_path):
    render.write_all(_report(pd.DataFrame({"a": ["x"]})), tmp_path)
    html = (tmp_path / "report.html").read_text()
    css = html[html.index("<style>"):html.index("</style>")]
    cell_rule = re.search(r"\n\s*th, td \{([^}]*)\}", css).group(1)
    assert "nowrap" not in cell_rule
    printing = css[css.index("@media print"):]
    assert re.search(r"\.table-wrap \{[^}]*overflow: visible", printing)
    assert re.search(r"table \{[^}]*font-size: [0-9.]+pt", printing)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_follow_the_umask(tmp_path, umask, mode):
    d, _ = make_run(tmp_path / "run", repeats=1, artifacts="none", report={"analyses": ["best", "top", "curves"]})
    old = os.umask(umask)
    try:
        write_report(d)
    finally:
        os.umask(old)
    files = [d / "report.html", d / "report.md", *(d / "figures").iterdir(), *(d / "tables").iterdir()]
    assert len(files) > 4
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == mode, f"{p.name}: {oct(stat.S_IMODE(p.stat().st_mode))}"


def _add_trial(run_dir, tid="extra-trial"):
    with Store(run_dir) as store:
        store.register([TrialRecord(tid, {"data": {}, "model": {}, "train": {}}, {"train.batch_size": 16},
                                    "cfg-extra", 7, 0, None, "g9")])
        store.commit_group([TrialResult(tid, FINISHED, 2, {("train", "loss"): [1.0, 0.5], ("val", "loss"): [1.1, 0.6]},
                                        test={"accuracy": 0.5, "loss": 0.6}, final={}, confusion={},
                                        epoch_seconds=[0.1, 0.1], n_params=3)])


def test_report_is_rebuilt_only_when_the_results_change(tmp_path, monkeypatch):
    d, _ = make_run(tmp_path, repeats=1, artifacts="none", report={"analyses": ["best", "top"]})
    html = write_report(d)
    assert (d / ".report-fingerprint").is_file()
    first = html.stat().st_mtime_ns

    import sweeplab.report.build as build

    def boom(*a, **k):
        raise AssertionError("rebuilt an up-to-date report")

    monkeypatch.setattr(build, "build_report", boom)
    assert write_report(d) == html  # nothing changed: returns at once
    assert html.stat().st_mtime_ns == first
    with pytest.raises(AssertionError, match="rebuilt"):
        write_report(d, force=True)  # `sweeplab report` always rebuilds
    with pytest.raises(AssertionError, match="rebuilt"):
        write_report(d, top_n=3)  # other options: another report
    monkeypatch.undo()

    _add_trial(d)
    write_report(d)
    assert html.stat().st_mtime_ns != first
    assert "16" in (d / "report.md").read_text()  # the new trial's batch size is in the tables

    (d / "report.md").unlink()  # a report file deleted by hand is rewritten
    write_report(d)
    assert (d / "report.md").is_file()


def test_rebuild_removes_figures_of_the_previous_build(tmp_path):
    d, _ = make_run(tmp_path, repeats=1, artifacts="none")
    write_report(d, svg=True)
    assert list((d / "figures").glob("*.svg"))
    write_report(d, analyses=["best", "curves"])
    assert not list((d / "figures").glob("*.svg")), "stale SVGs of an earlier build left behind"
    assert sorted(p.name for p in (d / "figures").iterdir()) == ["curves_train_batch_size.png"]


def test_markdown_text_items_escape_dollar(tmp_path):
    rep = Report("s", "", [], [Section("s", "S", [TextItem("plain $x$ text", "note")])])
    render.write_all(rep, tmp_path)
    assert r"plain \$x\$ text" in (tmp_path / "report.md").read_text()


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
WIDTH_PROBE = ("<script>window.addEventListener('load', () => { const w = [...document.querySelectorAll('.table-wrap')];"
               " const over = w.filter(e => e.scrollWidth > e.clientWidth + 1).length;"
               " document.body.setAttribute('data-overflow', w.length + ':' + over); });</script>")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_wide_table_fits_1280_px_in_chromium(tmp_path):
    cols = {"configuration": ["activation=sigmoid, hidden=[300, 100], dropout=0.2"] * 3}
    cols.update({f"{s} {m}": ["0.9350 ± 0.0137"] * 3 for s in ("val", "test") for m in ("accuracy", "loss", "f1")})
    cols.update({"s/epoch (share)": ["0.001 ± 0.000"] * 3, "parameters": ["203,530"] * 3, "n": ["3"] * 3})
    render.write_all(_report(pd.DataFrame(cols)), tmp_path)
    html = (tmp_path / "report.html").read_text()
    probe = tmp_path / "probe.html"  # the report forbids scripts (CSP); the probe runs in a copy without it
    probe.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
                     .replace("</body>", WIDTH_PROBE + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000", "--virtual-time-budget=10000"]
    for _ in range(3):
        out = subprocess.run([CHROMIUM, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                             timeout=90).stdout
        m = re.search(r'data-overflow="(\d+):(\d+)"', out)
        if m:
            break
    assert m, "probe did not run"
    assert (int(m.group(1)), int(m.group(2))) == (1, 0), "a table runs past 1280 px (columns behind a scroll bar)"
