"""Where dataset files live: ``$SWEEPLAB_DATA`` if set, else ``~/.cache/sweeplab``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SWEEPLAB_DATA"


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The data folder (not created). ``root`` overrides the environment."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/sweeplab").expanduser()


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The subfolder of one dataset, e.g. ``<data>/mnist``."""
    return data_dir(root) / name
