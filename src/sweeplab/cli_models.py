"""``sweeplab predict`` and ``sweeplab export``: trained models out of a run directory.

Mounted on the main app by :func:`mount` (see ``sweeplab.cli.main``). Mistakes in
the user's input (no such run, trial or image, an activation Keras lacks) print
one line and exit 2; a missing Keras or an unwritable output exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def _usage(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _environment(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def _model(run_dir: Path, trial: str | None):
    """The trained model of ``trial`` (default: first seed of the best configuration)."""
    from sweeplab import load
    from sweeplab.store import StoreEnvironmentError, StoreError

    try:
        run = load(run_dir.parent if run_dir.is_file() else run_dir)
    except StoreEnvironmentError as e:
        _environment(str(e))
    except StoreError as e:
        _usage(str(e))
    try:
        return run.model(trial)
    except LookupError as e:
        _usage(f"{run_dir}: {str(e).strip(chr(39))}")


def _fmt(p: float) -> str:
    return f"{p:.3f}"


def _line(name: str, model, probs: dict, top: int) -> str:
    """``name: 7 0.981, 1 0.012, 9 0.004`` (per head for several heads)."""
    parts = []
    names = model.class_names
    for h in model.network.heads:
        p = probs[h.name][0]
        if h.kind == "regression":
            text = ", ".join(f"{v:.4g}" for v in p)
        else:
            if p.shape[-1] == 1:  # binary: P(class 1)
                p = [1.0 - float(p[0]), float(p[0])]
            labels = names.get(h.name) or [str(i) for i in range(len(p))]
            order = sorted(range(len(p)), key=lambda i: -p[i])[:top]
            text = ", ".join(f"{labels[i]} {_fmt(p[i])}" for i in order)
        parts.append(text if model.network.single else f"{h.name}: {text}")
    return f"{name}: " + "  ".join(parts)


def predict(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="run directory (holds results.sqlite)"),
    images: List[Path] = typer.Argument(..., metavar="IMAGE...", help="image files: PNG, JPEG, ... any size, "
                                                                       "colour or grey, photo or scan"),
    trial: Optional[str] = typer.Option(None, "--trial", help="trial id (default: first seed of the best "
                                                              "configuration, ranked as the report ranks)"),
    top: int = typer.Option(3, "--top", min=1, help="number of classes shown per image"),
    show: Optional[Path] = typer.Option(None, "--show", metavar="DIR",
                                        help="write each image beside the input the network saw into DIR"),
) -> None:
    """Classify image files with a trained model: one line per image, most likely classes first.

    Each image gets the dataset's own preprocessing (MNIST: grey, paper inverted,
    uneven lighting removed, cropped, fitted into 20x20, centred by centre of mass in
    28x28) and then the training run's scaling. See docs/models.md.
    """
    from sweeplab import imageprep

    model = _model(run_dir, trial)
    pre = model.preprocessing
    if not pre.is_image:
        _usage(f"{run_dir}: the run's data ({pre.dataset}) are not images; use run.model().predict in Python")
    if show is not None:
        try:
            show.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            _environment(f"{show}: cannot create: {e.strerror}")
    failed = 0
    for path in images:
        try:
            prep = imageprep.prepare_file(path, pre.dataset, model.input_shape, pre.max_value)
        except imageprep.ImageError as e:
            typer.echo(f"error: {e}", err=True)
            failed += 1
            continue
        probs = model.predict_heads(prep.x[None])
        typer.echo(_line(path.name, model, probs, top))
        if show is not None:
            try:
                imageprep.side_by_side(prep, pre.max_value).save(show / f"{path.stem}.png")
                x = prep.x.squeeze(-1) if prep.x.shape[-1] == 1 else prep.x
                scaled = (x.astype(float) * (255.0 / (pre.max_value or 255))).round().astype("uint8")
                from PIL import Image

                Image.fromarray(scaled).save(show / f"{path.stem}_input.png")
            except OSError as e:
                _environment(f"{show}: cannot write: {e.strerror}")
    if failed:
        raise typer.Exit(2)


def export(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="run directory (holds results.sqlite)"),
    output: Path = typer.Option(..., "--output", "-o", help="file to write (model.keras or model.npz)"),
    fmt: str = typer.Option("keras", "--format", help="keras (a Keras 3 .keras file) or npz (arrays + JSON)"),
    trial: Optional[str] = typer.Option(None, "--trial", help="trial id (default: first seed of the best "
                                                              "configuration)"),
) -> None:
    """Write a trained model as a Keras 3 .keras file or a plain .npz (arrays + JSON architecture).

    The file takes raw stored values (uint8 images): the run's preprocessing is its
    first layers. After writing, its predictions on the run's first 512 test examples
    are compared with sweeplab's and the largest difference printed.
    """
    from sweeplab.export import FORMATS, ExportError

    if fmt not in FORMATS:
        _usage(f"--format: {fmt!r}: accepted: {', '.join(FORMATS)}")
    if fmt == "keras" and output.suffix != ".keras":
        _usage(f"--output: {output}: a Keras file name ends in .keras")
    if fmt == "npz" and output.suffix != ".npz":
        _usage(f"--output: {output}: an npz file name ends in .npz")
    model = _model(run_dir, trial)
    try:
        if fmt == "keras":
            from sweeplab.export.keras import KerasMissingError, save_keras

            try:
                km = save_keras(model, output)
            except KerasMissingError as e:
                _environment(str(e))
            x, _ = model.test_data()
            x = x[:512]
            got = km.predict(x, verbose=0)
            want = model.predict(x)
            diff = max(float(abs(got[k] - want[k]).max()) for k in want) if isinstance(want, dict) \
                else float(abs(got - want).max())
            check = f"; Keras and sweeplab predictions on {len(x)} test examples differ by at most {diff:.1e}"
        else:
            from sweeplab.export.npz import save_npz

            save_npz(model, output)
            check = ""
    except ExportError as e:
        _usage(f"trial {model.trial_id}: {e}")
    except OSError as e:
        _environment(f"{output}: cannot write: {e.strerror or e}")
    typer.echo(f"wrote {output} (trial {model.trial_id}, {model.network.n_params:,} parameters, input: raw "
               f"{model.preprocessing.dataset} values){check}")


def mount(app: typer.Typer) -> None:
    """Add ``predict`` and ``export`` to the main app."""
    app.command("predict")(predict)
    app.command("export")(export)
