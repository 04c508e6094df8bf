"""Generate the study-file field reference from the pydantic models.

Usage::

    python -m sweeplab.spec.docgen [OUT]    # default: docs/reference/study-file.md

One table per section (field, type, default, constraint, meaning), produced
from the models themselves, so the reference lists exactly the keys a study
file accepts, with the defaults it really uses.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sweeplab.data.spec import AugmentSpec, DataSpec, TaskSpec
from sweeplab.spec.schema import (EarlyStoppingSpec, HeadSpec, MLPSpec, ModelSpec, ReportSpec, SearchSection,
                                  StudySection, StudySpec, TrainSpec)
from sweeplab.spec.space import DISTRIBUTIONS

DEFAULT_OUT = Path("docs/reference/study-file.md")

# (heading, model); the order of the page
SECTIONS = [
    ("Top level", StudySpec),
    ("[study]", StudySection),
    ("[data]", DataSpec),
    ("data.task", TaskSpec),
    ("data.augment", AugmentSpec),
    ("[model]", ModelSpec),
    ("model.mlp", MLPSpec),
    ("model.heads (each)", HeadSpec),
    ("[train]", TrainSpec),
    ("train.early_stopping", EarlyStoppingSpec),
    ("[report]", ReportSpec),
    ("[search]", SearchSection),
]

# Meanings for models that carry no field descriptions (DataSpec is documented in docs/datasets.md).
FALLBACK = {
    DataSpec: {
        "dataset": "dataset name (`sweeplab data list`)",
        "params": "dataset-specific options (synthetic2d, clocks: see docs/datasets.md)",
        "task": 'what the model predicts: "multiclass", "binary" (with positive), "regression", '
                '"multihead"; default: the dataset\'s natural task',
        "subsample": "use this many training examples (stratified; a smaller N is nested in a larger one)",
        "augment": "append noisy copies of training examples (table below)",
        "permute_pixels": "apply one fixed random pixel permutation to every image",
        "normalize": 'default: "unit" (x / max) for images, "none" for 2-D points',
        "validation_split": "last fraction of the training data held out for validation (Keras semantics)",
        "validation_size": "hold out this many training examples for validation (stratified, seeded)",
        "test_size": "fraction carved out as test set for datasets without an official test split "
                     "(default 0.2)",
        "stratify": "keep class proportions when sampling subsets and splits",
        "seed": "data seed (splits, subsample, augmentation, permutation, folds); default: study.seed",
    },
    TaskSpec: {
        "type": "multiclass, binary, regression or multihead (clocks)",
        "positive": "binary one-vs-rest: class indices that count as 1",
        "target_scale": "multiplies regression targets (clocks minute / 60: 0.016666666666666666)",
        "validation_data": "\"test\": validate on the test split each epoch (Keras validation_data=(x_test, y_test))",
    },
    AugmentSpec: {
        "fraction": "noisy copies appended, as a fraction of the training set",
        "sigma": "standard deviation of the Gaussian noise, in normalized units",
    },
}


def _type(ann) -> str:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:  # Int, Float, Bool of sweeplab/fieldtypes.py: strict, finite
        return _type(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        return " \\| ".join(parts)
    if origin in (tuple, list):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "table"
    # Every section refuses inf and nan (allow_inf_nan=False) and bools as numbers (sweeplab/fieldtypes.py).
    return {int: "integer", float: "finite number", str: "string", bool: "boolean"}.get(ann, getattr(ann, "__name__", str(ann)))


def _default(f: FieldInfo) -> str:
    if f.default_factory is not None:
        value = f.default_factory()
        return "{}" if isinstance(value, (dict, BaseModel)) else f"`{value!r}`"
    if f.default is PydanticUndefined:
        return "**required**"
    if f.default is None:
        return "—"
    v = f.default
    if isinstance(v, bool):
        return f"`{str(v).lower()}`"
    if isinstance(v, tuple):
        v = list(v)
    return f'`"{v}"`' if isinstance(v, str) else f"`{v!r}`"


def _constraint(f: FieldInfo) -> str:
    names = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "min length", "max_length": "max length",
             "pattern": "pattern"}
    out = []
    for m in f.metadata:
        for attr, sym in names.items():
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} `{v}`" if attr == "pattern" else f"{sym} {v}")
    return ", ".join(out) or ""


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def section_table(model: type[BaseModel]) -> str:
    lines = ["| field | type | default | constraint | meaning |", "|---|---|---|---|---|"]
    for name, f in model.model_fields.items():
        meaning = f.description or FALLBACK.get(model, {}).get(name, "")
        lines.append(f"| `{name}` | {_type(f.annotation)} | {_default(f)} | {_cell(_constraint(f))} | "
                     f"{_cell(meaning)} |")
    return "\n".join(lines)


def render() -> str:
    out = [
        "# Study file reference",
        "",
        "<!-- Generated by `python -m sweeplab.spec.docgen`; do not edit by hand. -->",
        "",
        "Every key a study file accepts, per section, with its type, default and constraint.",
        "Unknown keys are errors. Names of activations, initializers, optimizers, losses,",
        "metrics and layers are listed in [vocabulary.md](vocabulary.md); the guide is",
        "[../study-file.md](../study-file.md).",
        "",
    ]
    for heading, model in SECTIONS:
        out += [f"## {heading}", ""]
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc and model is not StudySpec:
            out += [" ".join(doc.split()), ""]
        out += [section_table(model), ""]
    out += ["## [sweep] distributions (search)", "",
            "Under `[search] strategy = \"random\"` or `\"tpe\"`, a `[sweep]` axis is a list of values (a "
            "categorical choice) or one of these tables; a grid refuses them ([../search.md](../search.md)).", "",
            "| form | samples |", "|---|---|"]
    out += [f"| `{form}` | {what} |" for form, what in DISTRIBUTIONS]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    from sweeplab.models.docgen import write

    return write(render, DEFAULT_OUT, argv)


if __name__ == "__main__":
    raise SystemExit(main())
