"""A model is a pure pair ``init(key) -> (params, state)`` and ``apply(...)``.

``build_model`` turns the validated ``[model]`` section (an explicit layer
list or the ``mlp`` shorthand, optionally with several named heads) and the
prepared data's shapes into a :class:`Model`. Parameters are plain nested
dicts ``{layer_name: {"kernel": ..., "bias": ...}}``; heads return
pre-activation outputs so that losses can be computed stably from logits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod
from typing import Any

from sweeplab.errors import UserError
from sweeplab.models.layers import LAYERS
from sweeplab.vocab.activations import ACTIVATIONS

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
rng = lazy("sweeplab.models.rng")

DEFAULT_ACTIVATION = {"binary": "sigmoid", "multiclass": "softmax", "regression": "linear"}
DEFAULT_LOSS = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
                "regression": "mse"}


@dataclass(frozen=True)
class Node:
    """One layer instance: its Keras-style name, type, config and shapes."""

    name: str
    kind: str
    cfg: dict[str, Any]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    n_params: int  # trainable
    n_state: int = 0  # non-trainable (e.g. batch normalization's moving statistics)


@dataclass(frozen=True)
class Head:
    """One output of the model: dense layers on the trunk, a loss and metrics."""

    name: str
    kind: str  # binary | multiclass | regression
    n_classes: int | None
    activation: str
    loss: str
    loss_weight: float
    metrics: tuple[str, ...]
    nodes: tuple[Node, ...]

    @property
    def units(self) -> int:
        return self.nodes[-1].out_shape[0]


@dataclass(frozen=True)
class Model:
    input_shape: tuple[int, ...]
    trunk: tuple[Node, ...]
    heads: tuple[Head, ...]
    single: bool = True  # one head named "output": Keras metric names without prefix

    # ------------------------------------------------------------------ structure
    def nodes(self):
        yield from self.trunk
        for h in self.heads:
            yield from h.nodes

    @property
    def n_params(self) -> int:
        """Trainable parameters."""
        return sum(n.n_params for n in self.nodes())

    @property
    def n_state(self) -> int:
        """Non-trainable parameters (Keras counts batch normalization's moving statistics here)."""
        return sum(n.n_state for n in self.nodes())

    @property
    def needs_rng(self) -> bool:
        """Some layer draws random numbers while training (the step needs a key)."""
        return any(LAYERS.get(n.kind).obj.needs_rng for n in self.nodes())

    def metric_name(self, head: Head, metric: str) -> str:
        return metric if self.single else f"{head.name}_{metric}"

    # ------------------------------------------------------------------ init / apply
    def init(self, key) -> tuple[dict, dict]:
        params, state = {}, {}
        nodes = list(self.nodes())
        keys = jax.random.split(key, max(len(nodes), 1))
        for k, node in zip(keys, nodes):
            kind = LAYERS.get(node.kind).obj
            if kind.init is not None:
                p = kind.init(node.cfg, k, node.in_shape)
                if p:
                    params[node.name] = p
            if kind.init_state is not None:
                state[node.name] = kind.init_state(node.cfg, node.in_shape)
        return params, state

    def _run(self, nodes, params, state, new_state, x, hp, key, *, train: bool):
        for node in nodes:
            kind = LAYERS.get(node.kind).obj
            sub = None
            if kind.needs_rng and train:
                key, sub = rng.split(key)  # = jax.random.split(key), unrolled (models/rng.py)
            x, s = kind.apply(node.cfg, params.get(node.name, {}), x, state=state.get(node.name), key=sub,
                              hp=hp.get(node.name, {}), train=train)
            if kind.init_state is not None:
                new_state[node.name] = s
        return x, key

    def apply(self, params, state, x, *, hp=None, key=None, train=False):
        """Forward pass. Returns ``({head: pre-activation output}, new_state)``.

        Args:
            hp: per-trial layer values ``{layer: {param: value}}`` (``HP.layers`` of
                :mod:`sweeplab.engine.hparams`); a trial's own model needs none.
            key: PRNG key, needed with ``train=True`` when a layer ``needs_rng``.
        """
        hp = hp or {}
        if train and key is None and self.needs_rng:
            raise ValueError("Model.apply(train=True) with random layers (dropout) needs a key")
        new_state = dict(state)
        h, key = self._run(self.trunk, params, state, new_state, x, hp, key, train=train)
        outs = {}
        for head in self.heads:
            z, key = self._run(head.nodes, params, state, new_state, h, hp, key, train=train)
            outs[head.name] = z
        return outs, new_state

    def features(self, params, state, x) -> dict[str, jax.Array]:
        """Activations of every trunk layer (inference mode), for feature-map figures."""
        out, key = {}, jax.random.PRNGKey(0)
        for node in self.trunk:
            x, key = self._run((node,), params, state, dict(state), x, {}, key, train=False)
            out[node.name] = x
        return out

    def predict_proba(self, outs: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Apply each head's output activation to the pre-activation outputs."""
        return {h.name: ACTIVATIONS.get(h.activation).obj(outs[h.name]) for h in self.heads}


# ---------------------------------------------------------------------------- building
class _Namer:
    def __init__(self):
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        return kind if n == 0 else f"{kind}_{n}"


def _node(cfg: dict, in_shape: tuple, name: str) -> Node:
    kind = LAYERS.get(cfg["type"]).obj
    out = kind.out_shape(cfg, in_shape)
    n = n_state = 0
    # Declared shapes first: counting through jax.eval_shape traces the initializers (and imports JAX).
    if kind.param_shapes is not None:
        n = sum(prod(s) for s in kind.param_shapes(cfg, in_shape).values())
    elif kind.init is not None:
        shapes = jax.eval_shape(lambda k: kind.init(cfg, k, in_shape), jax.random.PRNGKey(0))
        n = sum(prod(s.shape) for s in jax.tree_util.tree_leaves(shapes))
    if kind.state_shapes is not None:
        n_state = sum(prod(s) for s in kind.state_shapes(cfg, in_shape).values())
    elif kind.init_state is not None:
        shapes = jax.eval_shape(lambda: kind.init_state(cfg, in_shape))
        n_state = sum(prod(s.shape) for s in jax.tree_util.tree_leaves(shapes))
    return Node(name, cfg["type"], cfg, tuple(in_shape), tuple(out), n, n_state)


def _chain(cfgs, in_shape, namer, fixed_names=None):
    nodes, shape = [], tuple(in_shape)
    for i, cfg in enumerate(cfgs):
        name = cfg.get("name") or (fixed_names or {}).get(i) or namer(cfg["type"])
        try:
            node = _node(cfg, shape, name)
        except UserError as e:  # the layer refuses its input; any other ValueError is a bug, shown as one
            raise UserError(f"layer {name!r} ({cfg['type']}): {e}") from None
        nodes.append(node)
        shape = node.out_shape
    return nodes, shape


def _dense(units, activation, spec_mlp=None):
    cfg = {"type": "dense", "units": units, "activation": activation}
    if spec_mlp is not None:
        cfg["kernel_initializer"] = spec_mlp.kernel_initializer
        cfg["bias_initializer"] = spec_mlp.bias_initializer
    return LAYERS.validate(cfg)


def mlp_layers(mlp, *, flat_input: bool) -> list[dict]:
    """The layer configs the ``mlp`` shorthand stands for (hidden layers; the output layer is the head's)."""
    cfgs = [] if flat_input else [LAYERS.validate({"type": "flatten"})]
    for units in mlp.hidden_sizes():
        cfgs.append(_dense(units, mlp.activation, mlp))
        if mlp.batch_norm:
            cfgs.append(LAYERS.validate({"type": "batch_normalization"}))
        if mlp.dropout > 0:
            cfgs.append(LAYERS.validate({"type": "dropout", "rate": mlp.dropout}))
    return cfgs


def build_model(model_spec, train_spec, data_heads: dict, input_shape: tuple) -> Model:
    """Build a Model from the validated ``[model]``/``[train]`` sections and the data's heads.

    Args:
        model_spec: ``ModelSpec``.
        train_spec: ``TrainSpec`` (loss and metrics of a single-head model).
        data_heads: head name -> ``HeadInfo`` (kind, n_classes) from the prepared data.
        input_shape: one example's shape, e.g. ``(28, 28, 1)``.

    Raises:
        ValueError: with a message naming the field, when the model does not fit the data.
    """
    namer = _Namer()
    mlp = model_spec.mlp
    if mlp is not None:
        trunk_cfgs = mlp_layers(mlp, flat_input=len(input_shape) == 1)
    else:
        trunk_cfgs = [dict(c) for c in model_spec.layers]
    heads_spec = model_spec.heads
    if heads_spec is None:
        if len(data_heads) != 1:
            raise UserError(f"model.heads: the data has several targets ({', '.join(data_heads)}); "
                             "declare one head per target")
        (hname, info), = data_heads.items()
        out_cfg = None
        if mlp is None:
            if not trunk_cfgs or trunk_cfgs[-1]["type"] != "dense":
                # No explicit output layer: add one that fits the task.
                out_cfg = None
            else:
                out_cfg = trunk_cfgs.pop()
        trunk, shape = _chain(trunk_cfgs, input_shape, namer)
        head = _make_head(hname, info, None, out_cfg, mlp, train_spec, shape, namer, single=True)
        return Model(tuple(input_shape), tuple(trunk), (head,), single=True)
    trunk, shape = _chain(trunk_cfgs, input_shape, namer)
    if len(shape) != 1:
        flat = _node(LAYERS.validate({"type": "flatten"}), shape, namer("flatten"))
        trunk.append(flat)
        shape = flat.out_shape
    heads = []
    for hs in heads_spec:
        if hs.name not in data_heads:
            raise UserError(f"model.heads: head {hs.name!r} has no target in the data; "
                             f"the data's targets are: {', '.join(data_heads)}")
        heads.append(_make_head(hs.name, data_heads[hs.name], hs, None, mlp, train_spec, shape, namer, single=False))
    return Model(tuple(input_shape), tuple(trunk), tuple(heads), single=False)


def _make_head(name, info, hs, out_cfg, mlp, train_spec, shape, namer, *, single: bool):
    kind, n_classes = info.kind, info.n_classes
    units = (n_classes if kind == "multiclass" else 1)
    if hs is not None and hs.units is not None:
        units = hs.units
    activation = DEFAULT_ACTIVATION[kind]
    if single and mlp is not None and mlp.output_activation:
        activation = mlp.output_activation
    if hs is not None and hs.activation:
        activation = hs.activation
    if out_cfg is not None:
        units, activation = out_cfg["units"], out_cfg["activation"]
    expected = n_classes if kind == "multiclass" else 1
    if units != expected and kind != "regression":
        raise UserError(f"model: the output layer of {name!r} has {units} units but the {kind} task "
                         f"needs {expected}")
    loss = (hs.loss if hs is not None and hs.loss else None) or (train_spec.loss if single else None) \
        or DEFAULT_LOSS[kind]
    _check_loss_fits(name, kind, loss, units)
    if hs is not None and hs.metrics is not None:
        metrics = hs.metrics
    else:
        metrics = tuple(m for m in train_spec.metrics if _metric_fits(m, kind))
        if kind == "regression" and not metrics:
            metrics = ("mae",)
    for m in metrics:
        if not _metric_fits(m, kind):
            raise UserError(f"train.metrics: {m!r} does not apply to the {kind} output {name!r}")
    cfgs = []
    if hs is not None:
        cfgs = [_dense(u, "relu") for u in hs.hidden]
    if out_cfg is None:
        out_cfg = _dense(units, activation, mlp)
        if hs is not None or not single:
            out_cfg = {**out_cfg, "name": name}
    out_cfg = {**out_cfg, "activation": activation}
    hidden_nodes, hshape = _chain(cfgs, shape, namer)
    out_nodes, _ = _chain([out_cfg], hshape, namer)
    # The output node's activation is applied by the loss / predict_proba, not in apply.
    out_nodes[-1] = replace(out_nodes[-1], cfg={**out_nodes[-1].cfg, "activation": "linear"})
    return Head(name, kind, n_classes, activation, loss, float(hs.loss_weight if hs else 1.0),
                tuple(metrics), tuple(hidden_nodes + out_nodes))


def _metric_fits(metric: str, kind: str) -> bool:
    from sweeplab.vocab.metrics import METRICS

    mkind = METRICS.get(metric).meta.get("kind")
    return (mkind == "regression") == (kind == "regression")


def _check_loss_fits(name, kind, loss, units):
    from sweeplab.vocab.losses import LOSSES

    target = LOSSES.get(loss).meta.get("target")
    ok = {"binary": {"binary", "regression"}, "multiclass": {"sparse", "onehot", "regression"},
          "regression": {"regression"}}[kind]
    if target not in ok:
        raise UserError(f"train.loss: {loss!r} does not fit the {kind} output {name!r}; "
                         f"use {DEFAULT_LOSS[kind]!r}")
