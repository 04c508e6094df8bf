"""The analysis registry: one table read by validation, the report and the notebook."""

import subprocess
import sys
from pathlib import Path

import pytest

from sweeplab.vocab.analyses import ANALYSES
from test_analysis_fixtures import make_run

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_analysis_has_a_builder_and_no_builder_is_undeclared():
    from sweeplab.report import ANALYSES as report_names
    from sweeplab.report import build

    assert set(build.BUILDERS) == set(ANALYSES.names())
    assert report_names == tuple(ANALYSES.names())


def test_every_section_is_titled_by_the_registry(tmp_path):
    from sweeplab.analysis.rundata import RunData
    from sweeplab.report.build import build_report

    d, _ = make_run(tmp_path, sweep={"train.batch_size": [32, 64], "model.units": [4, 8]}, repeats=2,
                    grad_layers=2)
    report = build_report(RunData.from_run(d), analyses=ANALYSES.names())
    titles = {s.key: s.title for s in report.sections}
    for a in ANALYSES:
        assert titles[a.name] == a.title, a.name


def test_every_analysis_is_documented():
    text = (DOCS / "reports.md").read_text()
    for a in ANALYSES:
        assert f"`{a.name}`" in text, a.name


def test_validating_a_study_does_not_import_the_report():
    code = ("import sys\n"
            "from sweeplab.spec.schema import ReportSpec\n"
            "ReportSpec(analyses=['best', 'heatmap'])\n"
            "try:\n"
            "    ReportSpec(analyses=['best', 'heatmapp'])\n"
            "except ValueError as e:\n"
            "    print(str(e).replace(chr(10), ' '))\n"
            "print(sorted(m for m in sys.modules if m.startswith('sweeplab.report')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert "unknown analysis 'heatmapp'" in lines[0] and "accepted: best, tables, top" in lines[0]
    assert lines[-1] == "[]"


def test_a_study_analysis_the_sweep_cannot_make_says_what_it_needs(tmp_path):
    from sweeplab.analysis.rundata import RunData
    from sweeplab.report.build import build_report, default_analyses

    d, _ = make_run(tmp_path, sweep={"train.batch_size": [32, 64]}, repeats=1)
    rd = RunData.from_run(d)
    report = build_report(rd, analyses=["heatmap", "tables"])
    assert [s.key for s in report.sections][:2] == ["heatmap", "tables"]
    assert report.sections[0].items[0].text == "'heatmap' needs two sweep axes."
    assert report.sections[1].title == ANALYSES.get("tables").title
    # one axis: the default report leaves the heatmap out, keeps the registry's order
    chosen = default_analyses(rd, None)
    assert "heatmap" not in chosen and chosen[:3] == ["best", "tables", "top"]


def test_notebook_lists_the_analyses_with_what_a_default_report_shows(tmp_path):
    import sweeplab
    import sweeplab.analysis
    from sweeplab.notebook import RunAnalysis

    d, _ = make_run(tmp_path, sweep={"train.batch_size": [32, 64]}, repeats=1, n_classes=3)
    run = sweeplab.load(d)
    assert isinstance(run, RunAnalysis)
    assert sweeplab.notebook.attach(run) is run
    table = run.analyses().set_index("name")
    assert list(table.index) == ANALYSES.names()
    assert table.loc["confusion", "default"] and table.loc["best", "default"]
    assert not table.loc["heatmap", "default"] and table.loc["heatmap", "needs"] == "two sweep axes"
    assert not table.loc["regression", "default"]


@pytest.mark.parametrize("name", ["nope", 3])
def test_unknown_analysis_names_the_accepted_ones(name):
    with pytest.raises(ValueError, match="accepted: best, tables"):
        ANALYSES.get(name)
