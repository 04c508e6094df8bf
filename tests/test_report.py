"""write_report: files, escaping, [report] choices, LaTeX/Markdown, large studies."""

import base64
import io
import re
import time

import matplotlib.image as mpimg
import pytest

from sweeplab.report import write_report
from sweeplab.report.render import latex_escape, md_escape
from test_analysis_fixtures import make_run

EVIL = 'Batch <script>alert("x")</script> & <b>bold</b>'


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    d, _ = make_run(tmp_path_factory.mktemp("rep"), name=EVIL, grad_layers=3,
                    sweep={"train.batch_size": [32, 64, "full"], "model.units": [4, 8]}, repeats=2)
    write_report(d, svg=True)
    return d


def test_writes_html_markdown_figures_and_tables(report_dir):
    d = report_dir
    assert (d / "report.html").is_file() and (d / "report.md").is_file()
    pngs = sorted(p.stem for p in (d / "figures").glob("*.png"))
    svgs = sorted(p.stem for p in (d / "figures").glob("*.svg"))
    assert pngs == svgs and {"gradient_flow", "confusion_output", "pr_curve_output"} <= set(pngs)
    assert any(n.startswith("heatmap_") for n in pngs) and any(n.startswith("effect_") for n in pngs)
    csvs = {p.stem for p in (d / "tables").glob("*.csv")}
    assert csvs == {p.stem for p in (d / "tables").glob("*.tex")}
    assert {"axis_train_batch_size", "configurations", "comparison", "confusion_output"} <= csvs


def test_html_is_self_contained_and_images_decode(report_dir):
    html = (report_dir / "report.html").read_text()
    assert not re.search(r'(src|href)="(?!data:|#)', html), "external reference in report.html"
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == len(list((report_dir / "figures").glob("*.png")))
    for b in imgs:
        arr = mpimg.imread(io.BytesIO(base64.b64decode(b)), format="png")
        assert arr.shape[0] > 50 and arr.std() > 0.01


def test_user_strings_are_escaped(report_dir):
    html = (report_dir / "report.html").read_text()
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or "&lt;script&gt;alert(&quot;x&quot;)" in html
    md = (report_dir / "report.md").read_text()
    assert "<script>" not in md and r"\<script\>" in md


def test_latex_tables_use_booktabs_and_escape(report_dir):
    tex = (report_dir / "tables" / "axis_train_batch_size.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"train.batch\_size" in tex and r"$\pm$" in tex and r"$\star$" in tex
    assert latex_escape("50% & $x_1$") == r"50\% \& \$x\_1\$"
    assert md_escape("a|b <i>") == r"a\|b \<i\>"


def test_markdown_links_figures_and_states_best(report_dir):
    md = (report_dir / "report.md").read_text()
    assert "](figures/gradient_flow.png)" in md
    assert "The best configuration by validation accuracy is train.batch\\_size = 32, model.units = 4" in md


def test_report_section_chooses_analyses_and_metrics(tmp_path):
    d, _ = make_run(tmp_path, report={"analyses": ["best", "tables"], "metrics": ["loss"], "top_n": 1})
    write_report(d)
    md = (d / "report.md").read_text()
    assert "## Best configuration" in md and "## Results per sweep value" in md
    assert "Learning curves" not in md and "Confusion" not in md
    assert "test loss" in md and "test accuracy" not in md
    assert not list((d / "figures").glob("*.png"))
    # arguments override the study file
    write_report(d, analyses=["top"], metrics=["accuracy"], top_n=2)
    md = (d / "report.md").read_text()
    assert "Top 2 of 3 configurations by val accuracy" in md


def test_unknown_analysis_is_a_clear_error(tmp_path):
    d, _ = make_run(tmp_path, repeats=1)
    with pytest.raises(ValueError, match="unknown 'confusoin'; accepted: best, tables"):
        write_report(d, analyses=["confusoin"])


def test_500_trial_study_renders_in_under_a_minute(tmp_path):
    sweep = {"data.function": ["f1", "f2", "f3", "f4", "f5"], "train.optimizer": ["sgd", "adam", "rmsprop", "nadam"],
             "model.depth": [1, 2, 3, 4, 5], "model.dropout": [0.0, 0.1, 0.2, 0.3, 0.4]}
    d, truth = make_run(tmp_path, sweep=sweep, repeats=1, epochs=20, grad_layers=2)
    assert len(truth) == 500
    t0 = time.perf_counter()
    write_report(d)
    elapsed = time.perf_counter() - t0
    assert elapsed < 60, f"report of 500 trials took {elapsed:.1f} s"
    md = (d / "report.md").read_text()
    assert "Top 20 of 500 configurations" in md
    assert len(list((d / "figures").glob("*.png"))) < 25  # summary figures, not one per trial
    print(f"500-trial report: {elapsed:.1f} s")
