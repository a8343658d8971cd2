"""Symmetries of feed-forward networks and self-attention: parameter transformations that leave the
computed function unchanged (Hirono, Sannai, Hashimoto, arXiv:2402.02362, section 2).

**Multi-layer perceptron.** Parameters ``[(W_0, b_0), ..., (W_{L-1}, b_{L-1})]`` with ``W_l`` of shape
``(out, in)`` compute

    x_{l+1} = s(W_l x_l + b_l)  (l < L - 1),      f(x_0) = W_{L-1} x_{L-1} + b_{L-1}   (linear read-out).

The hidden layers are ``x_1 .. x_{L-1}``. With invertible ``D_l`` on layer ``l`` and ``D_0 = D_L = 1``
the transformation ``W_l -> D_{l+1} W_l D_l^{-1}``, ``b_l -> D_{l+1} b_l`` leaves ``f`` unchanged exactly
when ``s(D y) = D s(y)`` for every ``D_l``: permutations ``P`` (any elementwise ``s``), positive
diagonal rescalings ``diag(e^{g})`` (``s`` positively homogeneous: ReLU, leaky ReLU) and sign flips
``S = diag(+-1)`` (``s`` odd: tanh, sin). :func:`activation_symmetries` says which an activation admits.

**Self-attention** with ``H`` heads, ``Wq, Wk: (H, d, d_k)``, ``Wv: (H, d, d_v)``, ``Wo: (H, d_v, d)``:

    softmax form:  out = sum_h softmax_j((x Wq_h)_i (x Wk_h)_j^T / sqrt(d_k)) (x Wv_h)_j Wo_h
    ReLU form:     out = sum_h sum_j ReLU((x Wq_h)_i (x Wk_h)_j^T) (x Wv_h)_j Wo_h

Symmetries: ``Wq_h -> Wq_h A_h``, ``Wk_h -> Wk_h A_h^{-T}`` (any invertible ``A_h``); ``Wv_h -> Wv_h B_h``,
``Wo_h -> B_h^{-1} Wo_h``; permutation of heads; and, for the ReLU form only, ``(Wq, Wk, Wv) ->
(a_q Wq, a_k Wk, a_v Wv)`` with ``a_q a_k > 0`` and ``a_q a_k a_v = 1``.

Every function here is pure, takes plain parameter PyTrees (a list of ``(W, b)`` pairs, a dict
``{"W0", "b0", ...}``, an :class:`MLP`, or an ``equinox.nn.MLP``; a dict of attention arrays or an
``equinox.nn.MultiheadAttention``) and returns the same kind of object, in the inputs' dtype.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg import rng
from nqg.errors import NqgInputError

# ----------------------------------------------------------------------------- activations


def _leaky_relu(x: jax.Array) -> jax.Array:
    return jax.nn.leaky_relu(x, 0.1)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "leaky_relu": _leaky_relu,
    "tanh": jnp.tanh,
    "sin": jnp.sin,
    "gelu": jax.nn.gelu,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "linear": lambda x: x,
}

# s(D y) = D s(y): which families of D each activation commutes with
_SYMMETRIES: dict[str, frozenset[str]] = {
    "relu": frozenset({"permutation", "rescaling"}),
    "leaky_relu": frozenset({"permutation", "rescaling"}),
    "tanh": frozenset({"permutation", "sign_flip"}),
    "sin": frozenset({"permutation", "sign_flip"}),
    "gelu": frozenset({"permutation"}),
    "sigmoid": frozenset({"permutation"}),
    "softplus": frozenset({"permutation"}),
    "linear": frozenset({"permutation", "rescaling", "sign_flip", "general_linear"}),
}
MLP_SYMMETRIES = ("permutation", "rescaling", "sign_flip")


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The elementwise activation called ``name`` (leaky ReLU has slope 0.1)."""
    if name not in ACTIVATIONS:
        raise NqgInputError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def activation_symmetries(name: str) -> frozenset[str]:
    """The hidden-layer symmetries an activation admits: the ``D`` with ``s(D y) = D s(y)``.

    ``permutation`` (every elementwise activation), ``rescaling`` by positive diagonals (positively
    homogeneous ``s``: ReLU, leaky ReLU), ``sign_flip`` (odd ``s``: tanh, sin), ``general_linear``
    (linear ``s`` only).
    """
    activation(name)
    return _SYMMETRIES[name]


# ----------------------------------------------------------------------------- MLP parameters


class MLP(eqx.Module):
    """A multi-layer perceptron as an equinox module: ``weights[l]`` of shape ``(out, in)``,
    ``biases[l]`` of shape ``(out,)``, hidden activation ``activation``, linear read-out."""

    weights: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]
    activation: str = eqx.field(static=True, default="relu")

    def __call__(self, x: jax.Array) -> jax.Array:
        return mlp_apply(list(zip(self.weights, self.biases, strict=True)), x, self.activation)

    @classmethod
    def random(cls, key: jax.Array, sizes: Sequence[int], activation: str = "relu", dtype: Any = None) -> MLP:
        """He/LeCun-normal weights ``N(0, 1/in)`` and ``N(0, 0.1^2)`` biases for layer sizes ``sizes``."""
        pairs = random_mlp_params(key, sizes, dtype=dtype)
        return cls(tuple(w for w, _ in pairs), tuple(b for _, b in pairs), activation)


def random_mlp_params(key: jax.Array, sizes: Sequence[int], dtype: Any = None) -> list[tuple[Any, Any]]:
    """Random MLP parameters ``[(W_l, b_l)]`` for layer sizes ``sizes = (n_in, h_1, ..., n_out)``."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise NqgInputError(f"layer sizes must be >= 2 positive integers, got {sizes}")
    dtype = dtype or jnp.zeros(()).dtype
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    out = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = rng.normal(keys[2 * i], (n_out, n_in), dtype) / float(np.sqrt(n_in))
        b = 0.1 * rng.normal(keys[2 * i + 1], (n_out,), dtype)
        out.append((w, b))
    return out


def _to_pairs(params: Any) -> tuple[list[tuple[Any, Any]], Callable[[list[tuple[Any, Any]]], Any]]:
    """Split an MLP parameter PyTree into ``[(W, b)]`` and a function that rebuilds the same kind."""
    if isinstance(params, MLP):
        return list(zip(params.weights, params.biases, strict=True)), lambda p: MLP(
            tuple(w for w, _ in p), tuple(b for _, b in p), params.activation
        )
    if isinstance(params, eqx.nn.MLP):
        layers = params.layers

        def rebuild_eqx(p):
            new = params
            for i, (w, b) in enumerate(p):
                new = eqx.tree_at(lambda m, i=i: m.layers[i].weight, new, w)
                new = eqx.tree_at(lambda m, i=i: m.layers[i].bias, new, b)
            return new

        if any(lay.bias is None for lay in layers):
            raise NqgInputError("equinox MLP without biases: build it with use_bias=True")
        return [(lay.weight, lay.bias) for lay in layers], rebuild_eqx
    if isinstance(params, dict):
        n = len([k for k in params if k.startswith("W")])
        return [(params[f"W{i}"], params[f"b{i}"]) for i in range(n)], lambda p: {
            k: v for i, (w, b) in enumerate(p) for k, v in ((f"W{i}", w), (f"b{i}", b))
        }
    if isinstance(params, (list, tuple)):
        return [(w, b) for w, b in params], (lambda p: list(p)) if isinstance(params, list) else tuple
    raise NqgInputError(f"unsupported MLP parameters of type {type(params).__name__}")


def mlp_pairs(params: Any) -> list[tuple[Any, Any]]:
    """The ``[(W_l, b_l)]`` of any supported MLP parameter PyTree."""
    return _to_pairs(params)[0]


def check_mlp_params(params: Any, what: str = "network") -> list[tuple[Any, Any]]:
    """Validate that the layers chain (``W_l: (out, in)``, ``b_l: (out,)``, ``in_{l+1} = out_l``) and
    are finite; NqgInputError naming the layer otherwise. Returns the ``(W, b)`` pairs."""
    pairs = mlp_pairs(params)
    if not pairs:
        raise NqgInputError(f"{what}: no layers")
    for i, (w, b) in enumerate(pairs):
        w, b = np.asarray(w), np.asarray(b)
        if w.ndim != 2:
            raise NqgInputError(f"{what}: W{i} must be a 2-D (out, in) array, got shape {w.shape}")
        if b.shape != (w.shape[0],):
            raise NqgInputError(f"{what}: b{i} has shape {b.shape}, expected ({w.shape[0]},) to match W{i}")
        if i and w.shape[1] != np.shape(pairs[i - 1][0])[0]:
            raise NqgInputError(
                f"{what}: W{i} takes {w.shape[1]} inputs but layer {i - 1} has {np.shape(pairs[i - 1][0])[0]}"
                " outputs: the shapes do not chain"
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise NqgInputError(f"{what}: W{i} or b{i} contains NaN or inf")
    return pairs


def mlp_apply(params: Any, x: jax.Array, activation_name: str = "relu") -> jax.Array:
    """``f(x)`` of the MLP: ``x_{l+1} = s(W_l x_l + b_l)``, linear last layer; ``x: (..., in)``."""
    activation(activation_name)
    return _mlp_apply_compiled(mlp_pairs(params), x, activation_name)


@jax.jit(static_argnums=2)
def _mlp_apply_compiled(pairs: list, x: jax.Array, activation_name: str) -> jax.Array:
    s = ACTIVATIONS[activation_name]
    h = x
    for i, (w, b) in enumerate(pairs):
        h = h @ w.T + b
        if i < len(pairs) - 1:
            h = s(h)
    return h


def hidden_widths(params: Any) -> list[int]:
    """Widths of the hidden layers ``x_1 .. x_{L-1}``."""
    return [int(np.shape(w)[0]) for w, _ in mlp_pairs(params)[:-1]]


# ----------------------------------------------------------------------------- MLP symmetries


def transform_hidden(params: Any, maps: Sequence[Any]) -> Any:
    """Apply ``W_l -> D_{l+1} W_l D_l^{-1}``, ``b_l -> D_{l+1} b_l`` with ``D_0 = D_L = 1``.

    ``maps[k]`` acts on hidden layer ``k + 1`` and is either a matrix ``D`` or a tuple
    ``("perm", p)`` / ``("diag", d)`` (``D = P`` with ``(P y)_i = y_{p_i}``, or ``D = diag(d)``).
    """
    pairs, rebuild = _to_pairs(params)
    if len(maps) != len(pairs) - 1:
        raise NqgInputError(f"need one map per hidden layer ({len(pairs) - 1}), got {len(maps)}")

    def left(m, a):  # D a
        if isinstance(m, tuple) and m[0] == "perm":
            return a[m[1]]
        if isinstance(m, tuple) and m[0] == "diag":
            return a * m[1].reshape((-1,) + (1,) * (a.ndim - 1))
        return m @ a

    def right_inv(a, m):  # a D^{-1}
        if isinstance(m, tuple) and m[0] == "perm":
            return a[:, m[1]]  # (W P^T)_{:, j} = W_{:, p_j}
        if isinstance(m, tuple) and m[0] == "diag":
            return a / m[1]
        return jnp.linalg.solve(m.T, a.T).T

    out = []
    for i, (w, b) in enumerate(pairs):
        if i > 0:
            w = right_inv(w, maps[i - 1])
        if i < len(pairs) - 1:
            w, b = left(maps[i], w), left(maps[i], b)
        out.append((w, b))
    return rebuild(out)


def permute_neurons(params: Any, perms: Sequence[Any]) -> Any:
    """Neuron permutation in every hidden layer: ``W_l -> P W_l``, ``b_l -> P b_l``,
    ``W_{l+1} -> W_{l+1} P^T``,
    with ``(P y)_i = y_{perms[l][i]}``. Exact for any elementwise activation."""
    return transform_hidden(params, [("perm", jnp.asarray(p)) for p in perms])


def rescale_neurons(params: Any, log_scales: Sequence[Any]) -> Any:
    """Positive rescaling ``D_l = diag(e^{g_l})``: ``W_l -> D_{l+1} W_l D_l^{-1}``, ``b_l -> D_{l+1} b_l``.
    Exact for positively homogeneous activations (ReLU, leaky ReLU)."""
    pairs = mlp_pairs(params)
    dtype = jnp.result_type(pairs[0][0])
    return transform_hidden(params, [("diag", jnp.exp(jnp.asarray(g, dtype))) for g in log_scales])


def flip_signs(params: Any, signs: Sequence[Any]) -> Any:
    """Sign flips ``S = diag(+-1)``: ``W_l -> S W_l``, ``b_l -> S b_l``, ``W_{l+1} -> W_{l+1} S``.
    Exact for odd activations (tanh, sin)."""
    pairs = mlp_pairs(params)
    dtype = jnp.result_type(pairs[0][0])
    return transform_hidden(params, [("diag", jnp.asarray(s, dtype)) for s in signs])


def random_permutations(key: jax.Array, params: Any) -> list[jax.Array]:
    """One uniformly random permutation per hidden layer."""
    widths = hidden_widths(params)
    keys = jax.random.split(key, max(len(widths), 1))
    return [jax.random.permutation(k, n) for k, n in zip(keys, widths, strict=False)]


def random_log_scales(key: jax.Array, params: Any, spread: float = 1.0) -> list[jax.Array]:
    """Log-scales ``g_l ~ N(0, spread^2)`` per hidden unit (a generic positive rescaling)."""
    widths = hidden_widths(params)
    dtype = jnp.result_type(mlp_pairs(params)[0][0])
    keys = jax.random.split(key, max(len(widths), 1))
    return [spread * rng.normal(k, (n,), dtype) for k, n in zip(keys, widths, strict=False)]


def random_signs(key: jax.Array, params: Any) -> list[jax.Array]:
    """Random ``+-1`` per hidden unit."""
    widths = hidden_widths(params)
    dtype = jnp.result_type(mlp_pairs(params)[0][0])
    keys = jax.random.split(key, max(len(widths), 1))
    return [
        jnp.where(jax.random.bernoulli(k, 0.5, (n,)), 1.0, -1.0).astype(dtype)
        for k, n in zip(keys, widths, strict=False)
    ]


def random_mlp_symmetry(key: jax.Array, params: Any, kind: str, spread: float = 1.0) -> Any:
    """``params`` transformed by a random element of ``kind`` (``permutation``, ``rescaling``,
    ``sign_flip``), whether or not the activation admits it."""
    if kind == "permutation":
        return permute_neurons(params, random_permutations(key, params))
    if kind == "rescaling":
        return rescale_neurons(params, random_log_scales(key, params, spread))
    if kind == "sign_flip":
        return flip_signs(params, random_signs(key, params))
    raise NqgInputError(f"unknown MLP symmetry {kind!r}; allowed: {', '.join(MLP_SYMMETRIES)}")


def relative_change(f_old: jax.Array, f_new: jax.Array) -> float:
    """``max |f_new - f_old| / max |f_old|``: the relative change of a network's output."""
    f_old, f_new = np.asarray(f_old), np.asarray(f_new)
    return float(np.max(np.abs(f_new - f_old)) / max(np.max(np.abs(f_old)), np.finfo(f_old.dtype).tiny))


# ----------------------------------------------------------------------------- self-attention

ATTENTION_KINDS = ("softmax", "relu")
ATTENTION_SYMMETRIES = ("query_key", "value_output", "head_permutation", "relu_rescaling")


def random_attention_params(
    key: jax.Array,
    d_model: int,
    n_heads: int = 1,
    d_k: int | None = None,
    d_v: int | None = None,
    dtype: Any = None,
) -> dict[str, jax.Array]:
    """Random attention parameters ``Wq, Wk: (H, d, d_k)``, ``Wv: (H, d, d_v)``, ``Wo: (H, d_v, d)``."""
    d_k = d_k or d_model
    d_v = d_v or d_model
    dtype = dtype or jnp.zeros(()).dtype
    kq, kk, kv, ko = jax.random.split(key, 4)
    s = 1.0 / float(np.sqrt(d_model))
    return {
        "Wq": s * rng.normal(kq, (n_heads, d_model, d_k), dtype),
        "Wk": s * rng.normal(kk, (n_heads, d_model, d_k), dtype),
        "Wv": s * rng.normal(kv, (n_heads, d_model, d_v), dtype),
        "Wo": rng.normal(ko, (n_heads, d_v, d_model), dtype) / float(np.sqrt(d_v * n_heads)),
    }


def attention_apply(params: Any, x: jax.Array, kind: str = "softmax") -> jax.Array:
    """Self-attention of a sequence ``x: (n, d)`` (see the module docstring); returns ``(n, d)``."""
    if kind not in ATTENTION_KINDS:
        raise NqgInputError(f"unknown attention kind {kind!r}; allowed: {', '.join(ATTENTION_KINDS)}")
    return _attention_compiled(_attention_dict(params)[0], x, kind)


@jax.jit(static_argnums=2)
def _attention_compiled(p: dict, x: jax.Array, kind: str) -> jax.Array:
    q = jnp.einsum("nd,hdk->hnk", x, p["Wq"])
    k = jnp.einsum("nd,hdk->hnk", x, p["Wk"])
    v = jnp.einsum("nd,hdv->hnv", x, p["Wv"])
    scores = jnp.einsum("hik,hjk->hij", q, k)
    if kind == "softmax":
        weights = jax.nn.softmax(scores / float(np.sqrt(p["Wq"].shape[-1])), axis=-1)
    else:
        weights = jax.nn.relu(scores)
    heads = jnp.einsum("hij,hjv->hiv", weights, v)
    return jnp.einsum("hiv,hvd->id", heads, p["Wo"])


def _attention_dict(params: Any) -> tuple[dict[str, jax.Array], Callable[[dict[str, jax.Array]], Any]]:
    """Attention parameters as a dict of per-head arrays, and a function that rebuilds the input kind."""
    if isinstance(params, eqx.nn.MultiheadAttention):
        mha = params
        if mha.query_proj.bias is not None or mha.output_proj.bias is not None:
            raise NqgInputError("MultiheadAttention with biases: the symmetries here assume use_*_bias=False")
        H, dk, dv = mha.num_heads, mha.qk_size, mha.vo_size

        def heads_in(w, size):  # (H*size, d) -> (H, d, size)
            return w.reshape(H, size, -1).transpose(0, 2, 1)

        p = {
            "Wq": heads_in(mha.query_proj.weight, dk),
            "Wk": heads_in(mha.key_proj.weight, dk),
            "Wv": heads_in(mha.value_proj.weight, dv),
            "Wo": mha.output_proj.weight.reshape(-1, H, dv).transpose(1, 2, 0),
        }

        def rebuild(q: dict[str, jax.Array]) -> eqx.nn.MultiheadAttention:
            def heads_out(w):
                return w.transpose(0, 2, 1).reshape(-1, w.shape[1])

            new = eqx.tree_at(lambda m: m.query_proj.weight, mha, heads_out(q["Wq"]))
            new = eqx.tree_at(lambda m: m.key_proj.weight, new, heads_out(q["Wk"]))
            new = eqx.tree_at(lambda m: m.value_proj.weight, new, heads_out(q["Wv"]))
            return eqx.tree_at(
                lambda m: m.output_proj.weight, new, q["Wo"].transpose(2, 0, 1).reshape(q["Wo"].shape[2], -1)
            )

        return p, rebuild
    if isinstance(params, dict) and {"Wq", "Wk", "Wv", "Wo"} <= set(params):
        p = {k: jnp.asarray(params[k]) for k in ("Wq", "Wk", "Wv", "Wo")}
        if p["Wq"].ndim == 2:  # single head given without the head axis
            return {k: v[None] for k, v in p.items()}, lambda q: {k: v[0] for k, v in q.items()}
        return p, dict
    raise NqgInputError(
        "attention parameters must be a dict with Wq, Wk, Wv, Wo or an eqx.nn.MultiheadAttention"
    )


def transform_query_key(params: Any, A: jax.Array) -> Any:
    """``Wq_h -> Wq_h A_h``, ``Wk_h -> Wk_h A_h^{-T}`` (``A: (H, d_k, d_k)`` or one ``(d_k, d_k)``
    for every head): the scores ``q k^T`` are unchanged."""
    p, rebuild = _attention_dict(params)
    A = jnp.broadcast_to(A, (p["Wq"].shape[0], *A.shape[-2:]))
    wk = jnp.swapaxes(jnp.linalg.solve(A, jnp.swapaxes(p["Wk"], -1, -2)), -1, -2)  # Wk A^{-T}
    return rebuild({**p, "Wq": p["Wq"] @ A, "Wk": wk})


def transform_value_output(params: Any, B: jax.Array) -> Any:
    """``Wv_h -> Wv_h B_h``, ``Wo_h -> B_h^{-1} Wo_h``: the product ``Wv_h Wo_h`` is unchanged."""
    p, rebuild = _attention_dict(params)
    B = jnp.broadcast_to(B, (p["Wv"].shape[0], *B.shape[-2:]))
    return rebuild({**p, "Wv": p["Wv"] @ B, "Wo": jnp.linalg.solve(B, p["Wo"])})


def permute_heads(params: Any, perm: Any) -> Any:
    """Permutation of the heads (the output is a sum over heads)."""
    p, rebuild = _attention_dict(params)
    perm = jnp.asarray(perm)
    return rebuild({k: v[perm] for k, v in p.items()})


def rescale_relu_attention(params: Any, a_q: Any, a_k: Any, a_v: Any) -> Any:
    """``(Wq, Wk, Wv) -> (a_q Wq, a_k Wk, a_v Wv)``: a symmetry of the ReLU form when ``a_q a_k > 0``
    and ``a_q a_k a_v = 1`` (``ReLU(c s) = c ReLU(s)`` for ``c > 0``); not of the softmax form."""
    p, rebuild = _attention_dict(params)
    return rebuild({**p, "Wq": a_q * p["Wq"], "Wk": a_k * p["Wk"], "Wv": a_v * p["Wv"]})


def random_attention_symmetry(key: jax.Array, params: Any, kind: str) -> Any:
    """``params`` transformed by a random element of ``kind`` in :data:`ATTENTION_SYMMETRIES`
    (well-conditioned random ``A, B``; ``relu_rescaling`` with ``a_q = 2.5, a_k = 0.7``)."""
    p, _ = _attention_dict(params)
    H, _, dk = p["Wq"].shape
    dv = p["Wv"].shape[-1]
    dtype = p["Wq"].dtype
    if kind == "query_key":
        A = jnp.eye(dk, dtype=dtype) + 0.5 * rng.normal(key, (H, dk, dk), dtype) / float(np.sqrt(dk))
        return transform_query_key(params, A)
    if kind == "value_output":
        B = jnp.eye(dv, dtype=dtype) + 0.5 * rng.normal(key, (H, dv, dv), dtype) / float(np.sqrt(dv))
        return transform_value_output(params, B)
    if kind == "head_permutation":
        return permute_heads(params, jax.random.permutation(key, H))
    if kind == "relu_rescaling":
        a_q, a_k = 2.5, 0.7
        return rescale_relu_attention(params, a_q, a_k, 1.0 / (a_q * a_k))
    raise NqgInputError(f"unknown attention symmetry {kind!r}; allowed: {', '.join(ATTENTION_SYMMETRIES)}")


def attention_symmetries(kind: str) -> frozenset[str]:
    """The symmetries of the softmax or ReLU form of attention."""
    if kind not in ATTENTION_KINDS:
        raise NqgInputError(f"unknown attention kind {kind!r}; allowed: {', '.join(ATTENTION_KINDS)}")
    base = {"query_key", "value_output", "head_permutation"}
    return frozenset(base | ({"relu_rescaling"} if kind == "relu" else set()))


# ----------------------------------------------------------------------------- invariance table


def invariance_table(
    key: jax.Array,
    activations: Sequence[str] = ("relu", "leaky_relu", "tanh", "gelu", "sigmoid"),
    sizes: Sequence[int] = (5, 16, 12, 3),
    d_model: int = 8,
    n_heads: int = 3,
    seq_len: int = 7,
    n_inputs: int = 64,
    dtype: Any = None,
) -> list[dict[str, Any]]:
    """Relative output change under a random element of every symmetry family, for MLPs with each
    activation and for single- and multi-head softmax / ReLU attention. Each row says whether the
    transformation is a symmetry (``expected_symmetry``) and the measured ``relative_change``."""
    rows = []
    k_net, k_x, k_t = jax.random.split(key, 3)
    x = rng.normal(k_x, (n_inputs, sizes[0]), dtype or jnp.zeros(()).dtype)
    for i, act in enumerate(activations):
        params = random_mlp_params(jax.random.fold_in(k_net, i), sizes, dtype=dtype)
        f0 = mlp_apply(params, x, act)
        for j, sym in enumerate(MLP_SYMMETRIES):
            new = random_mlp_symmetry(jax.random.fold_in(k_t, 10 * i + j), params, sym)
            rows.append(
                {
                    "architecture": f"MLP {'-'.join(map(str, sizes))}",
                    "activation": act,
                    "transformation": sym,
                    "expected_symmetry": sym in activation_symmetries(act),
                    "relative_change": relative_change(f0, mlp_apply(new, x, act)),
                }
            )
    xs = rng.normal(jax.random.fold_in(k_x, 1), (seq_len, d_model), dtype or jnp.zeros(()).dtype)
    for i, (kind, heads) in enumerate([(k, h) for k in ATTENTION_KINDS for h in (1, n_heads)]):
        params = random_attention_params(jax.random.fold_in(k_net, 100 + i), d_model, heads, dtype=dtype)
        f0 = attention_apply(params, xs, kind)
        for j, sym in enumerate(ATTENTION_SYMMETRIES):
            if sym == "head_permutation" and heads == 1:
                continue
            new = random_attention_symmetry(jax.random.fold_in(k_t, 1000 + 10 * i + j), params, sym)
            rows.append(
                {
                    "architecture": f"attention {heads} head{'s' if heads > 1 else ''}",
                    "activation": kind,
                    "transformation": sym,
                    "expected_symmetry": sym in attention_symmetries(kind),
                    "relative_change": relative_change(f0, attention_apply(new, xs, kind)),
                }
            )
    return rows
