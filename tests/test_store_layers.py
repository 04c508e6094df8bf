"""The store's modules: the writer answers only what a resume needs; nothing below the reader imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import sweeplab.store
from sweeplab.store import Run, Store

STORE = Path(sweeplab.store.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (relative names resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.add(f"sweeplab.store.{base}" if node.level == 1 else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_the_writer_and_the_sql_modules_never_import_the_reader_frames():
    # store/sqlite.py imported store/frame.py back inside its reading methods (a cycle)
    for name in ("sqlite", "schema", "reader", "npz", "paths", "errors", "lock"):
        assert "sweeplab.store.frame" not in _imports(STORE / f"{name}.py"), name
        assert "pandas" not in _imports(STORE / f"{name}.py"), name


def test_the_writer_does_not_read_results():
    readers = {"trials_frame", "epochs_frame", "config", "load_params", "load_predictions", "study", "status_counts"}
    assert readers.isdisjoint(dir(Store))
    assert {"trials", "epochs", "history", "config", "params", "predictions", "damaged_trials"} <= set(dir(Run))
