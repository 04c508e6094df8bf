"""The package layers (pyproject.toml [tool.importlinter], docs/architecture.md) hold.

``lint-imports`` checks every import, including those inside functions: a module
may import only from its own layer or a lower one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(src: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([str(LINT), "--config", str(config), "--no-cache"], cwd=src.parent,
                          capture_output=True, text=True, env=env, timeout=120)


def test_lint_imports_keeps_the_layers():
    assert LINT.exists(), "import-linter is in the test extra: pip install -e .[test]"
    out = _lint(ROOT / "src", ROOT / "pyproject.toml")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "sweeplab layers KEPT" in out.stdout and "Contracts: 1 kept, 0 broken." in out.stdout


def test_an_upward_import_inside_a_function_breaks_the_contract(tmp_path):
    """The check is not vacuous: a lazy import from the vocabulary up to the report is caught."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "sweeplab", src / "sweeplab",
                    ignore=shutil.ignore_patterns("__pycache__", "studies"))
    with open(src / "sweeplab" / "vocab" / "registry.py", "a") as f:
        f.write("\n\ndef _upward():\n    from sweeplab.report import write_report\n\n    return write_report\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    out = _lint(src, tmp_path / "pyproject.toml")
    assert out.returncode != 0
    assert "sweeplab.vocab is not allowed to import sweeplab.report" in out.stdout
    assert "sweeplab.vocab.registry -> sweeplab.report" in out.stdout


def test_every_package_module_is_in_a_layer():
    """A new top-level module or package must be placed in a layer (or it is unchecked)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    named = {part.strip().strip("()") for layer in cfg["layers"] for part in layer.split(":")}
    pkg = ROOT / "src" / "sweeplab"
    present = {p.stem for p in pkg.glob("*.py") if p.name != "__init__.py"}
    present |= {p.name for p in pkg.iterdir() if (p / "__init__.py").exists()}
    assert present <= named, f"not in any layer: {sorted(present - named)}"


def _private_uses(path: Path, package: str) -> list[str]:
    """``module._name`` and ``from module import _name`` uses of ``package``'s private names."""
    import ast

    tree = ast.parse(path.read_text())
    aliases, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            for a in node.names:
                if a.name.startswith("_"):
                    found.append(f"{path.name}:{node.lineno} from {node.module} import {a.name}")
                aliases.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.startswith(package)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_the_report_and_the_notebook_use_only_public_names_of_analysis():
    pkg = ROOT / "src" / "sweeplab"
    files = sorted((pkg / "report").glob("*.py")) + [pkg / "notebook.py"]
    found = [use for f in files for use in _private_uses(f, "sweeplab.analysis")]
    assert not found, found
