"""Generated clocks are cached once, in the user's cache when the data folder is read-only."""

from __future__ import annotations

import tempfile

import numpy as np

from sweeplab.data import loaders


def test_clocks_fall_back_to_user_cache_when_data_folder_is_read_only(tmp_path, monkeypatch):
    shared = tmp_path / "shared"          # stands for a read-only copy such as ../shared/data
    home = tmp_path / "home"
    shared.mkdir()
    monkeypatch.setenv("SWEEPLAB_DATA", str(shared))
    monkeypatch.setenv("HOME", str(home))
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kw):
        if str(dir).startswith(str(shared)):
            raise PermissionError(13, "read-only", str(dir))
        return real_mkstemp(*args, dir=dir, **kw)

    monkeypatch.setattr(loaders.tempfile, "mkstemp", mkstemp)
    from sweeplab.data import clocks

    calls = []
    real_generate = clocks.generate

    def generate(*a, **k):
        calls.append(a)
        return real_generate(*a, **k)

    monkeypatch.setattr(clocks, "generate", generate)
    a = loaders.load_clocks(size=24, n_images=40)
    cached = list((home / ".cache" / "sweeplab" / "clocks").glob("*.npz"))
    assert len(cached) == 1 and not list(shared.rglob("*.npz"))
    b = loaders.load_clocks(size=24, n_images=40)   # second load: from the user's cache
    assert len(calls) == 1
    np.testing.assert_array_equal(a.x_train, b.x_train)
