"""`sweeplab --help` and `sweeplab check` validate and plan without importing JAX (issue 10, CLI latency).

Each command runs in a fresh interpreter (the test process has JAX loaded already); the
child reports which of the heavy modules it imported. Not timed: the machine is shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("jax", "jaxlib", "optax")

_CHILD = textwrap.dedent("""
    import json, sys
    sys.argv = ["sweeplab", *json.loads(sys.argv[1])]
    from sweeplab.cli import main
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    print("\\nMODULES " + json.dumps({"code": code, "heavy": sorted(
        m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (HEAVY,))


def _run(*args: str) -> dict:
    env = {**os.environ, "COLUMNS": "200"}  # Rich wraps at 80 columns otherwise
    r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(list(args))], capture_output=True, text=True,
                       timeout=600, env=env)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("MODULES ")]
    assert line, r.stdout + r.stderr
    out = json.loads(line[-1][len("MODULES "):])
    out["stdout"], out["stderr"] = r.stdout, r.stderr
    return out


def test_help_does_not_import_jax():
    r = _run("--help")
    assert r["code"] == 0, r["stderr"]
    assert "reproduce" in r["stdout"] and "check" in r["stdout"]
    assert r["heavy"] == []


CNN = """
[study]
name = "cnn-check"
repeats = 2

[data]
dataset = "digits"
validation_split = 0.2

[model]
layers = [
  { type = "conv2d", filters = 4, kernel_size = 3, activation = "relu", padding = "same" },
  { type = "batch_normalization" },
  { type = "max_pooling2d", pool_size = 2 },
  { type = "average_pooling2d", pool_size = 2, padding = "same" },
  { type = "flatten" },
  { type = "dense", units = 8, activation = "relu" },
  { type = "dropout", rate = 0.2 },
  { type = "dense", units = 10, activation = "softmax" },
]

[train]
optimizer = "rmsprop"
batch_size = 32
epochs = 1

[sweep]
"train.optimizer" = ["rmsprop", "adam", "ftrl"]
"""


@pytest.mark.parametrize("which", ["seed002-grid-search", "cnn"])
def test_check_validates_and_plans_without_jax(which, tmp_path):
    if which == "cnn":
        path = tmp_path / "cnn.toml"
        path.write_text(CNN)
        which = str(path)
    r = _run("check", which)
    assert r["code"] == 0, r["stderr"]
    assert "ok" in r["stdout"] and "compiled group(s)" in r["stdout"]
    assert r["heavy"] == []


def test_check_of_a_bad_study_still_exits_2_without_jax(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(CNN.replace('filters = 4', 'filters = 0'))
    r = _run("check", str(path))
    assert r["code"] == 2
    assert "filters" in r["stderr"]
    assert r["heavy"] == []


def test_trial_and_configuration_ids_are_hashes_of_the_whole_record():
    """expand_one serialises a configuration once and composes the ids' JSON: they must stay the
    hashes of the whole record (stored runs are keyed by them)."""
    from sweeplab.spec.expand import _hash, load_study

    s = load_study("seed002-grid-search")  # overrides, 3 repeats, 5 folds
    assert len(s.trials) == 22500
    for t in s.trials[::97]:
        assert t.trial_id == _hash({"config": t.config, "seed": t.seed, "fold": t.fold,
                                    "data_seed": s.spec.study.seed})
        assert t.config_id == _hash({"overrides": t.overrides, "config": t.config}, 12)


def test_lazy_package_exports_are_the_submodules_objects():
    import importlib

    import sweeplab.data as data
    import sweeplab.reproduce as reproduce
    from sweeplab.reproduce import command, quick

    for pkg in (data, reproduce):
        for name in pkg.__all__:
            # reproduce's verdict names are eager (``verdict`` is also a submodule's name)
            mod = importlib.import_module(f"{pkg.__name__}.{pkg._WHERE.get(name, 'verdict')}")
            assert getattr(pkg, name) is getattr(mod, name), name
    # the function, even after the submodule of the same name was imported (reproduce.sizes does)
    importlib.import_module("sweeplab.reproduce.sizes")
    from sweeplab.reproduce import verdict
    assert callable(verdict) and verdict.__module__ == "sweeplab.reproduce.verdict"
    assert (command.QUICK, command.TINY, command.Profile) == (quick.QUICK, quick.TINY, quick.Profile)
    with pytest.raises(AttributeError):
        data.no_such_name
