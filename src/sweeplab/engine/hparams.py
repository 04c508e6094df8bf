"""Per-trial versus structural: decided once, from the registries' declarations.

A value is *per trial* when its ``Param`` says ``per_trial=True`` in the
optimizer or layer registry (``vocab/optimizers.py``, ``models/layers.py``).
Trials whose configurations differ only in per-trial values share one
compiled program and train together under ``jax.vmap``; everything else is
*structure* and separates groups. Two more rules, both stated here:

* the output layer's activation is structure (it picks the loss);
* ``train.early_stopping`` is per trial (the Python epoch loop applies it).

Every place that needs the split reads it from this module:

* planning: :func:`split_config` -> the group key (``engine/plan.py``);
* the trainer: :func:`split_config` -> the optimizer's per-trial values and
  its static arguments; :func:`group_model` -> the group's compiled model
  (program-cache key) and each trial's per-layer values.

A trial's per-trial numbers travel as one typed pytree, :class:`HP`:
``HP(opt={name: f32}, layers={layer: {param: f32 number | int32 index}})``.
A per-trial name listed in ``LayerType.choices`` (an activation) becomes an
int32 index into the group's candidates, which the group model's layer
config holds as a tuple; other per-trial names (initializers) are used only
when a trial's parameters are drawn, outside the compiled program.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, NamedTuple

import numpy as np

from sweeplab.models.layers import LAYERS
from sweeplab.models.model import Model, mlp_layers
from sweeplab.vocab.optimizers import OPTIMIZERS
from sweeplab.vocab.registry import Entry

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
jnp = lazy("jax.numpy")

PER_TRIAL = "<per-trial>"
#: Train-section fields applied per trial by the Python epoch loop, not by the compiled program.
HOST_PER_TRIAL = ("early_stopping",)


class HP(NamedTuple):
    """One trial's per-trial values (stacked over the trials of a group: one leading axis).

    Attributes:
        opt: optimizer hyperparameter -> float32 (injected into the optimizer state).
        layers: layer name -> per-trial parameter -> float32 number or int32 choice index.
    """

    opt: dict[str, Any]
    layers: dict[str, dict[str, Any]]


def split_params(entry: Entry, values: dict[str, Any], *, structural: tuple[str, ...] = ()
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split one registry entry's parameter values by their ``Param.per_trial`` flag.

    Returns:
        ``(values with every per-trial one replaced by PER_TRIAL, the per-trial values)``;
        names in ``structural`` stay structure whatever their flag.
    """
    flags = {p.name: p.per_trial for p in entry.params}
    struct, per = {}, {}
    for name, value in values.items():
        if flags.get(name) and name not in structural:
            struct[name], per[name] = PER_TRIAL, value
        else:
            struct[name] = value
    return struct, per


def _split_layer(cfg: dict, *, output: bool = False) -> tuple[dict, dict]:
    # The output layer's activation is the head's: it picks the loss, so it is structure.
    return split_params(LAYERS.get(cfg["type"]), cfg, structural=("activation",) if output else ())


# ---------------------------------------------------------------------------- the config view
def split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split one trial configuration into its structure and its per-trial values.

    Args:
        config: a trial's resolved configuration (``data``, ``model``, ``train``).

    Returns:
        ``(structure, per_trial)``. ``structure`` is ``config`` with every per-trial
        value replaced by :data:`PER_TRIAL` (the ``mlp`` shorthand expanded to the
        layers it stands for): trials with equal structures share one compiled
        program. ``per_trial`` is ``{"opt": {name: float}, "early_stopping": ...,
        "layers": {config path: {param: value}}}``.
    """
    s = copy.deepcopy(config)
    train = s["train"]
    entry = OPTIMIZERS.get(train["optimizer"])
    values = {**entry.defaults(), **train["optimizer_params"]}
    if train.get("learning_rate") is not None:
        values["learning_rate"] = train["learning_rate"]
    opt_struct, opt = split_params(entry, values)
    train["optimizer_params"] = {k: opt_struct[k] for k in train["optimizer_params"]}
    train["learning_rate"] = PER_TRIAL
    per: dict[str, Any] = {"opt": {k: float(v) for k, v in opt.items()}}
    for name in HOST_PER_TRIAL:
        per[name] = train.pop(name, None)

    model, layers = s["model"], {}
    if model.get("mlp") is not None:
        # The shorthand stands for layers: split those (the output layer is added by the
        # model from output_activation, which stays structure).
        from sweeplab.spec.schema import MLPSpec

        mlp = MLPSpec.model_validate(model["mlp"])
        split = [_split_layer(c) for c in mlp_layers(mlp, flat_input=True)]
        model["mlp"] = {"layers": [c for c, _ in split], "output_activation": mlp.output_activation}
        layers = {f"mlp.{i}": v for i, (_, v) in enumerate(split) if v}
    if model.get("layers"):
        cfgs = model["layers"]
        # Without heads, a final dense layer is the output layer.
        out = len(cfgs) - 1 if not model.get("heads") and cfgs[-1]["type"] == "dense" else None
        split = [_split_layer(c, output=i == out) for i, c in enumerate(cfgs)]
        model["layers"] = [c for c, _ in split]
        layers = {f"layers.{i}": v for i, (_, v) in enumerate(split) if v}
    per["layers"] = layers
    return s, per


def static_opt_params(config: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The optimizer parameters given in ``config`` that are structure (compiled in)."""
    params = split_config(config)[0]["train"]["optimizer_params"]
    return tuple(sorted((k, v) for k, v in params.items() if v != PER_TRIAL))


# ---------------------------------------------------------------------------- the model view
def _node_split(node) -> tuple[dict, dict]:
    return _split_layer(node.cfg)


def _describe(model: Model, cfg_of) -> str:
    nodes = [(n.name, n.kind, cfg_of(n), n.in_shape) for n in model.nodes()]
    heads = [(h.name, h.kind, h.n_classes, h.activation, h.loss, h.loss_weight, h.metrics) for h in model.heads]
    return json.dumps([nodes, heads, model.single], sort_keys=True, default=str)


def model_structure(model: Model) -> str:
    """A trial model's structure: its layers and heads without the per-trial values."""
    return _describe(model, lambda n: _node_split(n)[0])


def program_key(model: Model) -> str:
    """The compiled-program key of a group model (from :func:`group_model`): its
    layers as compiled, choice candidates included."""
    return _describe(model, lambda n: n.cfg)


def group_model(models: list[Model]) -> tuple[Model, list[dict[str, dict[str, Any]]]]:
    """The compiled model of a group and each trial's per-layer values.

    Args:
        models: one model per trial, built from each trial's own configuration.

    Returns:
        ``(model, layer_hps)``: ``model`` is the first trial's model with every
        per-trial value replaced by :data:`PER_TRIAL`, and each choice parameter
        by the tuple of the group's candidates; ``layer_hps[i]`` is trial ``i``'s
        ``{layer: {param: float32 | int32 index}}``.

    Raises:
        RuntimeError: the trials differ in structure (planning grouped them wrongly: a
            bug, so not a user error), instead of training them all with trial 0's value.
    """
    key = model_structure(models[0])
    for i, m in enumerate(models[1:], 1):
        if model_structure(m) != key:
            raise RuntimeError(f"trials 0 and {i} of one group differ in model structure; "
                             "planning and the layer registry disagree on what is per trial")
    values = [{n.name: _node_split(n)[1] for n in m.nodes()} for m in models]
    candidates: dict[tuple[str, str], tuple] = {}
    for node in models[0].nodes():
        for name in LAYERS.get(node.kind).obj.choices:
            if name in values[0][node.name]:
                candidates[node.name, name] = tuple(sorted({v[node.name][name] for v in values}))

    def encode(layer: str, name: str, value):
        if (layer, name) in candidates:
            return np.int32(candidates[layer, name].index(value))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return np.float32(value)
        return None  # a name used only when the trial's parameters are drawn

    hps = []
    for v in values:
        hp = {layer: {k: e for k, x in d.items() if (e := encode(layer, k, x)) is not None} for layer, d in v.items()}
        hps.append({layer: d for layer, d in hp.items() if d})

    def node_for(n):
        struct = dict(_node_split(n)[0])
        for (layer, name), cands in candidates.items():
            if layer == n.name:
                struct[name] = cands
        return dataclasses.replace(n, cfg=struct)

    m0 = models[0]
    heads = tuple(dataclasses.replace(h, nodes=tuple(node_for(n) for n in h.nodes)) for h in m0.heads)
    return dataclasses.replace(m0, trunk=tuple(node_for(n) for n in m0.trunk), heads=heads), hps


def stack(hps: list[HP]) -> HP:
    """Stack the trials' values along a new leading axis (dtypes kept: float32, int32)."""
    return jax.tree_util.tree_map(lambda *xs: jnp.asarray(np.stack(xs)), *hps)


def trial_hps(configs: list[dict[str, Any]], models: list[Model]) -> tuple[Model, HP]:
    """The group's compiled model and its trials' stacked :class:`HP`."""
    model, layer_hps = group_model(models)
    opts = [{k: np.float32(v) for k, v in split_config(c)[1]["opt"].items()} for c in configs]
    return model, stack([HP(o, lh) for o, lh in zip(opts, layer_hps)])
