"""``sweeplab serve``: the dashboard's JSON endpoints on a real trained run (ASGI test client),
path confinement, the token rule, read-only access and the driver's progress.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from sweeplab.dashboard.app import create_app, is_loopback  # noqa: E402
from sweeplab.dashboard.progress_file import ProgressFile, with_progress_file  # noqa: E402

_SCRIPT = Path(sys.executable).with_name("sweeplab")
SWEEPLAB = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]
EVIL = "<script>alert(1)</script> tiny"
BASE = "http://127.0.0.1"


def study_text(name: str = EVIL, epochs: int = 2, values=("relu", "tanh"), hidden=(8,)) -> str:
    sweep = ", ".join(f'"{v}"' for v in values)
    return f"""\
[study]
name = {json.dumps(name)}
seed = 0
repeats = 2
[data]
dataset = "digits"
validation_split = 0.2
[model]
mlp = {{ hidden = {list(hidden)}, activation = "relu" }}
[train]
optimizer = "adam"
learning_rate = 0.01
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
batch_size = 64
epochs = {epochs}
[sweep]
"model.mlp.activation" = [{sweep}]
"""


def env() -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), "JAX_PLATFORMS": "cpu",
            "COLUMNS": "200", "NO_COLOR": "1"}


def sweeplab_run(cwd: Path, out: str, *extra, text: str | None = None, wait: bool = True):
    """``sweeplab run study.toml --out OUT --no-report --max-group-size 1`` (one group per trial)."""
    (cwd / "study.toml").write_text(text or study_text())
    cmd = [*SWEEPLAB, "run", "study.toml", "--out", out, "--no-report", "--max-group-size", "1", *extra]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res = subprocess.run(cmd, cwd=cwd, env=env(), text=True, capture_output=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return res


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A folder with one real trained run (4 trials, 2 epochs, a <script> study name) and a copy of it."""
    root = tmp_path_factory.mktemp("dash")
    sweeplab_run(root, "runs/tiny")
    shutil.copytree(root / "runs" / "tiny", root / "runs" / "copy")
    return root / "runs"


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app([runs]), base_url=BASE)


def _run_ids(client) -> dict[str, str]:
    return {r["dir"]: r["id"] for r in client.get("/api/runs").json()["runs"]}


def test_run_list_counts_state_and_name(client):
    rows = {r["dir"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(rows) == {"tiny", "copy"}
    r = rows["tiny"]
    assert r["name"] == EVIL and r["total"] == 4 and r["finished"] + r["diverged"] == 4
    assert r["state"] == "finished" and r["progress"] is None and r["updated"] > 0


def test_driver_wrote_progress_json_for_the_dashboard(runs):
    p = json.loads((runs / "tiny" / "progress.json").read_text())
    assert p["done"] is True and p["saved"] == 4 and p["n_groups"] == 4 and p["fraction"] == 1.0
    assert not list((runs / "tiny").glob(".progress-*"))  # no temporary file left


def test_summary_uses_the_report_selection_and_statistics(client):
    rid = _run_ids(client)["tiny"]
    s = client.get(f"/api/runs/{rid}/summary").json()
    assert s["metric"] == "val_accuracy" and s["selection"]["split"] == "validation"
    assert s["best"].startswith("The best configuration by validation accuracy is model.mlp.activation = ")
    s = client.get(f"/api/runs/{rid}/analyses").json()
    assert [e["axis"] for e in s["effects"]] == ["model.mlp.activation"]
    assert s["effects"][0]["labels"] == ["relu", "tanh"] and s["effects"][0]["n"] == [2, 2]
    assert s["heatmap"] is None  # one axis
    assert s["parallel"]["dims"][0]["name"] == "model.mlp.activation" and len(s["parallel"]["values"]) == 2
    cmp = s["comparison"]
    assert cmp["key"] == "comparison" and any(i["type"] == "text" and "seed" in i["text"] for i in cmp["items"])


def test_config_table_pages_sorts_and_filters(client):
    rid = _run_ids(client)["tiny"]
    t = client.get(f"/api/runs/{rid}/configs").json()
    assert t["total"] == 2 and t["axes"] == ["model.mlp.activation"] and t["metrics"][0] == "val_accuracy"
    best = t["rows"][0]
    assert best["best"] and best["rank"] == 1 and best["n"] == 2 and best["diverged"] == 0
    assert best["metrics"][0][0] >= t["rows"][1]["metrics"][0][0]
    asc = client.get(f"/api/runs/{rid}/configs?sort=val_accuracy&desc=0").json()["rows"]
    assert [r["rank"] for r in asc] == [2, 1]
    page = client.get(f"/api/runs/{rid}/configs?limit=1&offset=1").json()
    assert len(page["rows"]) == 1 and page["rows"][0]["rank"] == 2
    only = client.get(f"/api/runs/{rid}/configs?q=activation%3Dtanh").json()
    assert only["matched"] == 1 and only["rows"][0]["values"] == ["tanh"]
    assert client.get(f"/api/runs/{rid}/configs?sort=nope").status_code == 400
    assert client.get(f"/api/runs/{rid}/configs?metric=nope").status_code == 400


def test_curves_are_seed_means_of_the_stored_epochs(client, runs):
    from sweeplab.store import load

    rid = _run_ids(client)["tiny"]
    t = client.get(f"/api/runs/{rid}/configs").json()
    cid = t["rows"][0]["config_id"]
    c = client.get(f"/api/runs/{rid}/curves?config={cid}").json()
    assert len(c["trials"]) == 2
    val = next(s for s in c["series"] if s["split"] == "val" and s["metric"] == "accuracy")
    assert val["epoch"] == [1, 2] and val["n"] == [2, 2]
    with load(runs / "tiny") as run:
        h = [run.history(t)["val_accuracy"] for t in c["trials"]]
    assert val["mean"] == pytest.approx([(h[0][e] + h[1][e]) / 2 for e in (1, 2)])
    assert client.get(f"/api/runs/{rid}/curves?config=nope").status_code == 404


def test_trial_page_data_has_curves_and_the_report_analyses(client):
    rid = _run_ids(client)["tiny"]
    tid = client.get(f"/api/runs/{rid}/configs").json()["rows"][0]["trial"]
    t = client.get(f"/api/runs/{rid}/trials/{tid}").json()
    assert t["trial_id"] == tid and ["model.mlp.activation", t["facts"][0][1]] == t["facts"][0]
    assert {(h["split"], h["metric"]) for h in t["history"]} >= {("train", "loss"), ("val", "accuracy")}
    keys = [s["key"] for s in t["sections"]]
    assert {"model", "confusion", "f1"} <= set(keys)
    figs = [i for s in t["sections"] for i in s["items"] if i["type"] == "figure"]
    assert figs and all(f["png"].startswith("data:image/png;base64,iVBOR") for f in figs)
    per_class = next(s for s in t["sections"] if s["key"] == "f1")
    assert any(i["type"] == "table" and i["caption"].startswith("Per-class") for i in per_class["items"])


@pytest.mark.parametrize("url", [
    "/static/../results.sqlite", "/static/..%2f..%2fetc%2fpasswd", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/api/runs/..%2F..%2Fetc/summary", "/api/runs/{rid}/trials/..%2F..%2Fresults.sqlite",
    "/api/runs/{rid}/trials/%2Fetc%2Fpasswd", "/api/runs/{rid}/../../etc/passwd", "/results.sqlite",
    "/tiny/results.sqlite", "/api/runs/tiny/summary",
])
def test_paths_cannot_escape(client, url):
    rid = _run_ids(client)["tiny"]
    r = client.get(url.replace("{rid}", rid))
    assert r.status_code in (400, 404), (url, r.status_code)
    assert b"SQLite format" not in r.content and b"root:" not in r.content


def test_static_files_are_served_with_a_strict_policy(client):
    r = client.get("/static/vendor/uPlot.iife.min.js")
    assert r.status_code == 200 and b"uPlot" in r.content
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    page = client.get("/").text
    assert "http://" not in page and "https://" not in page  # nothing loaded from the network


def test_foreign_host_header_is_refused_on_loopback(client):
    assert client.get("/api/runs", headers={"host": "evil.example:8765"}).status_code == 403
    assert client.get("/api/runs", headers={"host": "localhost:8765"}).status_code == 200


def test_token_is_required_when_set(runs):
    c = TestClient(create_app([runs], token="s3cret", allowed_hosts=None), base_url="http://192.0.2.1")
    assert c.get("/api/runs").status_code == 403
    assert c.get("/").status_code == 403
    assert c.get("/api/runs?token=wrong").status_code == 403
    assert c.get("/api/runs", headers={"x-sweeplab-token": "s3cret"}).status_code == 200
    first = c.get("/?token=s3cret")
    assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
    assert c.get("/api/runs").status_code == 200  # the cookie the page got carries the token


def test_serve_needs_a_token_off_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_serving_writes_nothing_and_takes_no_lock(client, runs):
    import fcntl

    d = runs / "copy"
    before = {p: p.stat().st_mtime_ns for p in d.rglob("*")}
    rid = _run_ids(client)["copy"]
    client.get(f"/api/runs/{rid}/summary")
    client.get(f"/api/runs/{rid}/configs")
    tid = client.get(f"/api/runs/{rid}/configs").json()["rows"][0]["trial"]
    client.get(f"/api/runs/{rid}/trials/{tid}")
    with open(d / ".sweeplab.lock", "rb") as f:  # a writer could take the lock while we serve
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert client.get("/api/runs").status_code == 200
        row = next(r for r in client.get("/api/runs").json()["runs"] if r["dir"] == "copy")
        assert row["state"] == "running"  # a live process holds the writer lock
        fcntl.flock(f, fcntl.LOCK_UN)
    after = {p: p.stat().st_mtime_ns for p in d.rglob("*")}
    assert after == before


def test_unknown_run_dir_is_a_usage_error(tmp_path):
    from test_dashboard import SWEEPLAB as cmd

    res = subprocess.run([*cmd, "serve", str(tmp_path / "nope")], env=env(), text=True, capture_output=True,
                         timeout=60)
    assert res.returncode == 2 and res.stderr.strip().startswith("error: ") and "Traceback" not in res.stderr


# --------------------------------------------------------------------------- progress.json


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_file_is_throttled_and_atomic(tmp_path):
    clock = _Clock()
    sink = ProgressFile(tmp_path, every=1.0, now=clock)
    sink.run_start([])
    first = json.loads((tmp_path / "progress.json").read_text())
    assert first["n_groups"] == 0 and first["done"] is False and first["pid"] == os.getpid()
    sink.group_start(0, 3, 5, 10, "g")
    sink.epoch_end(1, 0.1, {})
    assert json.loads((tmp_path / "progress.json").read_text())["group"] is None  # within 1 s: not written
    clock.t = 1.5
    sink.epoch_end(2, 0.1, {})
    p = json.loads((tmp_path / "progress.json").read_text())
    assert (p["group"], p["n_groups"], p["group_trials"], p["epoch"], p["epochs"]) == (0, 3, 5, 2, 10)
    sink.close()
    assert json.loads((tmp_path / "progress.json").read_text())["done"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


def test_progress_file_removes_what_a_killed_run_left(tmp_path):
    """A run killed between writing the temporary file and renaming it leaves it behind; the
    next run's sink removes it (the kill tests require a run directory without temporary files)."""
    stale = tmp_path / ".progress-abc123.tmp"
    stale.write_text('{"group": 1')
    other = tmp_path / "notes.tmp"
    other.write_text("mine")
    ProgressFile(tmp_path).run_start([])
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.tmp", "progress.json"]


def test_progress_file_never_fails_a_run(tmp_path):
    sink = ProgressFile(tmp_path / "missing-dir")
    sink.run_start([])  # cannot write: no error, writing stops
    assert sink.broken and not (tmp_path / "missing-dir").exists()


def test_tee_forwards_to_the_display_and_the_file(tmp_path):
    from sweeplab.engine.progress import Progress

    seen = []

    class Display(Progress):
        entered = False

        def __enter__(self):
            self.entered = True
            return self

        def __exit__(self, *exc):
            pass

        def group_saved(self, index):
            seen.append(index)

    d = Display()
    tee = with_progress_file(d, tmp_path)
    with tee:
        tee.run_start([])
        tee.group_saved(0)
    assert d.entered and seen == [0] and tee.entered
    assert json.loads((tmp_path / "progress.json").read_text())["done"] is True


def test_serve_off_loopback_prints_a_token_and_requires_it(runs):
    """The real command on 0.0.0.0: the printed URL carries a token; requests without it get 403."""
    import re
    import urllib.error
    import urllib.request

    p = subprocess.Popen([*SWEEPLAB, "serve", str(runs), "--host", "0.0.0.0", "--port", "0"], env=env(), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        head = p.stdout.readline()
        line = p.stdout.readline()
        assert "2 runs" in head, head
        m = re.search(r"http://0\.0\.0\.0:(\d+)/\?token=([\w-]+)", line)
        assert m, line
        port, token = m.groups()
        url = f"http://127.0.0.1:{port}/api/runs"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=5)
            except urllib.error.HTTPError as e:
                assert e.code == 403
                break
            except OSError:  # not listening yet
                import time

                time.sleep(0.1)
            else:
                raise AssertionError("served without the token")
        with urllib.request.urlopen(f"{url}?token={token}", timeout=5) as r:
            assert r.status == 200 and len(json.loads(r.read())["runs"]) == 2
    finally:
        p.terminate()
        p.wait(30)


def test_interrupted_and_damaged_runs_are_listed_not_fatal(tmp_path):
    from sweeplab.store import Store, TrialRecord
    from test_analysis_fixtures import make_run

    make_run(tmp_path / "half", name="half done", repeats=2)
    with Store(tmp_path / "half") as store:  # one more planned trial, never trained
        store.register([TrialRecord("pending1", {}, {"train.batch_size": 128}, "c128", 0, 0, None, "g9")])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.sqlite").write_bytes(b"not a database" * 100)
    c = TestClient(create_app([tmp_path]), base_url=BASE)
    rows = {r["dir"]: r for r in c.get("/api/runs").json()["runs"]}
    assert rows["half"]["state"] == "interrupted" and (rows["half"]["finished"], rows["half"]["total"]) == (6, 7)
    assert rows["broken"]["error"] and rows["broken"]["total"] == 0
    assert c.get(f"/api/runs/{rows['broken']['id']}/summary").status_code == 409
    assert c.get(f"/api/runs/{rows['half']['id']}/summary").json()["counts"]["total"] == 7
