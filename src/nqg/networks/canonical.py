"""Canonical representatives of feed-forward networks: gauge fixing of the permutation, rescaling and
sign-flip symmetries of :mod:`nqg.networks.symmetries`, and loss barriers between networks.

- :func:`balance_relu`: in the positive-rescaling orbit of a ReLU network, minimise ``sum_l |W_l|^2 +
  |b_l|^2``. The objective ``sum_{l,i,j} W_{l,ij}^2 e^{2(g_{l+1,i} - g_{l,j})} + ...`` is convex in the
  log-scales ``g``; its stationarity condition is that every hidden unit has equal incoming
  (``|W_l[i, :]|^2 + b_l[i]^2``) and outgoing (``|W_{l+1}[:, i]|^2``) squared norms. Solved by exact
  coordinate minimisation, one layer at a time (``g_i += log(out_i / in_i) / 4``).
- :func:`canonical_signs`: for odd activations, flip every hidden unit so that the largest-magnitude
  entry of its incoming vector ``(W_l[i, :], b_l[i])`` is positive.
- :func:`match_permutations`: weight matching (Ainsworth, Hayase, Srinivasa, "Git Re-Basin",
  arXiv:2209.04836): per hidden layer, the permutation ``P_l`` maximising
  ``<W^A_l, P_l W^B_l P_{l-1}^T> + <b^A_l, P_l b^B_l> + <W^A_{l+1}, P_{l+1} W^B_{l+1} P_l^T>`` with
  :func:`scipy.optimize.linear_sum_assignment`: a forward pass layer by layer, then coordinate
  descent over layers until no permutation changes.
- :func:`align`: bring ``B`` into ``A``'s frame: both to the canonical representative of their
  rescaling (or sign) orbit, permutations matched, then ``A``'s own scales (signs) put back. If ``B`` is
  ``A`` transformed by any symmetry, the result is ``A`` (to the precision of the balancing).
- :func:`loss_barrier`: the largest excess of the loss on the straight line
  ``theta(t) = (1 - t) theta_A + t theta_B`` over the endpoints' mean, ``max_t L(t) - (L(0) + L(1)) / 2``.

Computations run in NumPy float64 on the host; the results take the input's dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from nqg.errors import NqgInputError
from nqg.networks.symmetries import (
    _to_pairs,
    activation_symmetries,
    check_mlp_params,
    mlp_apply,
)

# ----------------------------------------------------------------------------- helpers


def _np_pairs(params: Any) -> tuple[list[tuple[np.ndarray, np.ndarray]], Any, Callable]:
    pairs, rebuild = _to_pairs(params)
    dtype = np.asarray(pairs[0][0]).dtype
    return [(np.array(w, np.float64), np.array(b, np.float64)) for w, b in pairs], dtype, rebuild


def _rebuild(pairs: list[tuple[np.ndarray, np.ndarray]], dtype: Any, rebuild: Callable, like: Any) -> Any:
    import jax.numpy as jnp

    first = _to_pairs(like)[0][0][0]
    to = (
        (lambda a: np.asarray(a, dtype))
        if isinstance(first, np.ndarray)
        else (lambda a: jnp.asarray(a, dtype))
    )
    return rebuild([(to(w), to(b)) for w, b in pairs])


# ----------------------------------------------------------------------------- rescaling: norm balancing


def balance_relu(
    params: Any, include_biases: bool = True, tol: float = 1e-15, max_sweeps: int = 20_000
) -> tuple[Any, list[np.ndarray]]:
    """The norm-balanced representative of the positive-rescaling orbit and its log-scales ``g`` with
    ``balanced = rescale_neurons(params, g)``. Stops when ``max |log(out / in)| < tol`` (4 ``tol`` is the
    largest log-scale step) or after ``max_sweeps`` sweeps over the layers."""
    pairs, dtype, rebuild = _np_pairs(params)
    sq = [w**2 for w, _ in pairs]  # |W_ij|^2: only squared norms enter; scales act by matvecs
    bias_sq = [b**2 if include_biases else np.zeros_like(b) for _, b in pairs]
    g = [np.zeros(w.shape[0]) for w, _ in pairs[:-1]]

    def weights(k: int) -> np.ndarray:  # e^{2 g} of the layer feeding W_k (1 at the input)
        return np.exp(2.0 * g[k - 1]) if k > 0 else np.ones(sq[0].shape[1])

    for _ in range(max_sweeps):
        worst = 0.0
        for k in range(len(pairs) - 1):
            inc = np.exp(2.0 * g[k]) * (sq[k] @ (1.0 / weights(k)) + bias_sq[k])
            nxt = np.exp(2.0 * g[k + 1]) if k + 1 < len(pairs) - 1 else np.ones(sq[k + 1].shape[0])
            out = np.exp(-2.0 * g[k]) * (nxt @ sq[k + 1])
            ok = (inc > 0) & (out > 0)
            step = np.zeros_like(inc)
            step[ok] = 0.25 * np.log(out[ok] / inc[ok])
            worst = max(worst, float(np.max(np.abs(step), initial=0.0)))
            g[k] += step
        if worst < tol:
            break
    balanced = _rescale(_rebuild(pairs, np.float64, rebuild, params), g)
    out_pairs = _np_pairs(balanced)[0]
    return _rebuild(out_pairs, dtype, rebuild, params), g


def balance_residual(params: Any, include_biases: bool = True) -> float:
    """``max_i |log(out_i / in_i)|`` over hidden units: 0 for a norm-balanced network."""
    pairs, _, _ = _np_pairs(params)
    worst = 0.0
    for k in range(len(pairs) - 1):
        inc = np.sum(pairs[k][0] ** 2, axis=1) + (pairs[k][1] ** 2 if include_biases else 0.0)
        out = np.sum(pairs[k + 1][0] ** 2, axis=0)
        ok = (inc > 0) & (out > 0)
        worst = max(worst, float(np.max(np.abs(np.log(out[ok] / inc[ok])), initial=0.0)))
    return worst


def squared_norm(params: Any) -> float:
    """``sum_l |W_l|^2 + |b_l|^2``."""
    pairs, _, _ = _np_pairs(params)
    return float(sum(np.sum(w**2) + np.sum(b**2) for w, b in pairs))


# ----------------------------------------------------------------------------- signs


def canonical_signs(params: Any) -> tuple[Any, list[np.ndarray]]:
    """Flip hidden units so that the largest-magnitude entry of each incoming vector ``(W_l[i], b_l[i])``
    is positive (the sign gauge of an odd activation). Returns ``(params', signs)``."""
    pairs, dtype, rebuild = _np_pairs(params)
    signs = []
    for k in range(len(pairs) - 1):
        inc = np.concatenate([pairs[k][0], pairs[k][1][:, None]], axis=1)
        s = np.sign(inc[np.arange(inc.shape[0]), np.argmax(np.abs(inc), axis=1)])
        s[s == 0] = 1.0
        pairs[k] = (pairs[k][0] * s[:, None], pairs[k][1] * s)
        pairs[k + 1] = (pairs[k + 1][0] * s[None, :], pairs[k + 1][1])
        signs.append(s)
    return _rebuild(pairs, dtype, rebuild, params), signs


# ----------------------------------------------------------------------------- permutations


def _apply_perms(pairs: list[tuple[np.ndarray, np.ndarray]], perms: Sequence[np.ndarray]) -> list:
    out = []
    for k, (w, b) in enumerate(pairs):
        if k > 0:
            w = w[:, perms[k - 1]]
        if k < len(pairs) - 1:
            w, b = w[perms[k]], b[perms[k]]
        out.append((w, b))
    return out


def _layer_similarity(ref: list, other: list, perms: list, k: int, outgoing: bool) -> np.ndarray:
    """``S[i, j]``: similarity of unit ``i`` of ``ref`` and unit ``j`` of ``other`` in hidden layer ``k``."""
    w_ref, b_ref = ref[k]
    w_oth, b_oth = other[k]
    if k > 0:
        w_oth = w_oth[:, perms[k - 1]]
    sim = w_ref @ w_oth.T + np.outer(b_ref, b_oth)
    if outgoing:
        nxt_ref, nxt_oth = ref[k + 1][0], other[k + 1][0]
        if k + 1 < len(ref) - 1:
            nxt_oth = nxt_oth[perms[k + 1]]
        sim = sim + nxt_ref.T @ nxt_oth
    return sim


def match_permutations(params_ref: Any, params: Any, max_iter: int = 50, seed: int = 0) -> list[np.ndarray]:
    """Weight matching of ``params`` onto ``params_ref``: one permutation per hidden layer, with
    ``permute_neurons(params, perms)`` closest to ``params_ref``. Layer-by-layer forward pass with the
    incoming weights, then coordinate descent with incoming and outgoing weights (random layer order)."""
    ref, _, _ = _np_pairs(params_ref)
    other, _, _ = _np_pairs(params)
    n_hidden = len(ref) - 1
    perms = [np.arange(w.shape[0]) for w, _ in ref[:-1]]
    for k in range(n_hidden):
        perms[k] = linear_sum_assignment(_layer_similarity(ref, other, perms, k, False), maximize=True)[1]
    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        changed = False
        for k in rng.permutation(n_hidden):
            new = linear_sum_assignment(_layer_similarity(ref, other, perms, k, True), maximize=True)[1]
            if not np.array_equal(new, perms[k]):
                perms[k], changed = new, True
        if not changed:
            break
    return perms


def permute(params: Any, perms: Sequence[np.ndarray]) -> Any:
    """``permute_neurons`` on the host (NumPy), keeping the input's kind and dtype."""
    pairs, dtype, rebuild = _np_pairs(params)
    return _rebuild(_apply_perms(pairs, perms), dtype, rebuild, params)


def _rescale(params: Any, log_scales: Sequence[np.ndarray]) -> Any:
    pairs, dtype, rebuild = _np_pairs(params)
    out = []
    for k, (w, b) in enumerate(pairs):
        if k > 0:
            w = w * np.exp(-log_scales[k - 1])[None, :]
        if k < len(pairs) - 1:
            s = np.exp(log_scales[k])
            w, b = w * s[:, None], b * s
        out.append((w, b))
    return _rebuild(out, dtype, rebuild, params)


def _flip(params: Any, signs: Sequence[np.ndarray]) -> Any:
    pairs, dtype, rebuild = _np_pairs(params)
    out = []
    for k, (w, b) in enumerate(pairs):
        if k > 0:
            w = w * signs[k - 1][None, :]
        if k < len(pairs) - 1:
            w, b = w * signs[k][:, None], b * signs[k]
        out.append((w, b))
    return _rebuild(out, dtype, rebuild, params)


# ----------------------------------------------------------------------------- alignment


@dataclass
class Alignment:
    """``aligned``: ``B`` moved along its symmetry orbit onto ``A``; ``perms`` per hidden layer;
    ``max_param_diff = max |theta_aligned - theta_A|``."""

    aligned: Any
    perms: list[np.ndarray]
    max_param_diff: float
    balanced: bool


def max_param_diff(params_a: Any, params_b: Any) -> float:
    """``max |theta_a - theta_b|`` over every weight and bias."""
    pa, _, _ = _np_pairs(params_a)
    pb, _, _ = _np_pairs(params_b)
    return float(
        max(
            max(np.max(np.abs(wa - wb)), np.max(np.abs(ba - bb)))
            for (wa, ba), (wb, bb) in zip(pa, pb, strict=True)
        )
    )


def align(params_a: Any, params_b: Any, activation: str = "relu", balance_tol: float = 1e-15) -> Alignment:
    """Align ``B`` to ``A`` using every symmetry ``activation`` admits.

    ReLU / leaky ReLU: balance both (:func:`balance_relu`), match permutations of the balanced networks,
    then rescale by ``A``'s inverse balancing scales, so ``aligned`` is in ``A``'s gauge (balanced when
    ``A`` is). Odd activations: the same with :func:`canonical_signs`. Otherwise: permutations only.
    """
    check_mlp_params(params_a, "A")
    check_mlp_params(params_b, "B")
    shapes_a = [np.shape(w) for w, _ in _to_pairs(params_a)[0]]
    shapes_b = [np.shape(w) for w, _ in _to_pairs(params_b)[0]]
    if shapes_a != shapes_b:
        raise NqgInputError(f"A and B have different architectures: {shapes_a} vs {shapes_b}")
    syms = activation_symmetries(activation)
    if "rescaling" in syms:
        a_can, g_a = balance_relu(params_a, tol=balance_tol)
        b_can, _ = balance_relu(params_b, tol=balance_tol)
        perms = match_permutations(a_can, b_can)
        aligned = _rescale(permute(b_can, perms), [-g for g in g_a])
    elif "sign_flip" in syms:
        a_can, s_a = canonical_signs(params_a)
        b_can, _ = canonical_signs(params_b)
        perms = match_permutations(a_can, b_can)
        aligned = _flip(permute(b_can, perms), s_a)
    else:
        perms = match_permutations(params_a, params_b)
        aligned = permute(params_b, perms)
    return Alignment(aligned, perms, max_param_diff(aligned, params_a), "rescaling" in syms)


# ----------------------------------------------------------------------------- loss barriers


def interpolate(params_a: Any, params_b: Any, t: float) -> Any:
    """``(1 - t) theta_A + t theta_B``."""
    pa, dtype, rebuild = _np_pairs(params_a)
    pb, _, _ = _np_pairs(params_b)
    pairs = [
        ((1 - t) * wa + t * wb, (1 - t) * ba + t * bb) for (wa, ba), (wb, bb) in zip(pa, pb, strict=True)
    ]
    return _rebuild(pairs, dtype, rebuild, params_a)


def mse(params: Any, x: Any, y: Any, activation: str = "relu") -> float:
    """Mean squared error ``mean |f(x) - y|^2`` (averaged over samples and outputs)."""
    pred = np.asarray(mlp_apply(params, np.asarray(x), activation))
    return float(np.mean((pred - np.asarray(y).reshape(pred.shape)) ** 2))


def loss_along_line(
    loss_fn: Callable[[Any], float], params_a: Any, params_b: Any, n_points: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """``(t, L(theta(t)))`` at ``n_points`` equally spaced ``t`` in ``[0, 1]``."""
    ts = np.linspace(0.0, 1.0, n_points)
    return ts, np.array([loss_fn(interpolate(params_a, params_b, float(t))) for t in ts])


def loss_barrier(losses: Any) -> float:
    """``max_t L(t) - (L(0) + L(1)) / 2``: the largest excess over the endpoints' mean."""
    losses = np.asarray(losses)
    return float(np.max(losses) - 0.5 * (losses[0] + losses[-1]))


def functional_barrier(
    params_a: Any, params_b: Any, x: Any, activation: str = "relu", n_points: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """Without data: ``L(t) = mean |f_{theta(t)}(x) - (1 - t) f_A(x) - t f_B(x)|^2``, the departure of the
    interpolated network from the interpolated functions (zero at both ends). Returns ``(t, L(t))``."""
    fa = np.asarray(mlp_apply(params_a, np.asarray(x), activation))
    fb = np.asarray(mlp_apply(params_b, np.asarray(x), activation))
    ts = np.linspace(0.0, 1.0, n_points)
    vals = []
    for t in ts:
        ft = np.asarray(mlp_apply(interpolate(params_a, params_b, float(t)), np.asarray(x), activation))
        vals.append(float(np.mean((ft - (1 - t) * fa - t * fb) ** 2)))
    return ts, np.array(vals)


# ----------------------------------------------------------------------------- measured effect of alignment


def regression_task(
    key: Any, n_samples: int, input_dim: int = 4, n_waves: int = 3, dtype: Any = None
) -> tuple[Any, Any]:
    """Inputs ``x ~ N(0, 1)^input_dim`` and targets ``y = sum_k sin(u_k . x + c_k)`` with fixed random
    ``u_k ~ N(0, 1)``, ``c_k ~ U(0, 2 pi)`` (the waves depend only on ``n_waves`` and ``input_dim``)."""
    import jax
    import jax.numpy as jnp

    dtype = dtype or jnp.zeros(()).dtype
    rng = np.random.default_rng(1234 + 97 * input_dim + n_waves)
    u = rng.standard_normal((n_waves, input_dim))
    c = rng.uniform(0, 2 * np.pi, n_waves)
    x = jax.random.normal(key, (n_samples, input_dim), dtype)
    y = jnp.sum(jnp.sin(x @ jnp.asarray(u.T, dtype) + jnp.asarray(c, dtype)), axis=1, keepdims=True)
    return x, y


def train_mlps(
    keys: Any,
    sizes: Sequence[int],
    x: Any,
    y: Any,
    activation: str = "relu",
    steps: int = 2000,
    learning_rate: float = 3e-3,
    progress: bool = False,
) -> tuple[list[Any], np.ndarray]:
    """Train one MLP per key (different initialisations, same data) with Adam on the mean squared error,
    all in one compiled loop. Returns the parameter lists and the final training losses."""
    import jax
    import jax.numpy as jnp
    import optax

    from nqg.networks.symmetries import random_mlp_params
    from nqg.train import minimize

    stacked = jax.vmap(lambda k: random_mlp_params(k, sizes, dtype=x.dtype))(keys)

    def loss(p: Any, _key: Any) -> tuple[Any, dict[str, Any]]:
        per = jax.vmap(lambda q: jnp.mean((mlp_apply(q, x, activation) - y) ** 2))(p)
        return jnp.sum(per), {"member_loss": per}

    sched = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05)
    out = minimize(
        loss,
        stacked,
        optax.adam(sched),
        steps=steps,
        key=keys[0],
        has_aux=True,
        progress=progress,
        chunk=max(1, min(250, steps)),
    )
    trained = out.state.params
    nets = [[(np.asarray(w[i]), np.asarray(b[i])) for w, b in trained] for i in range(len(keys))]
    final = np.array([mse(n, x, y, activation) for n in nets])
    return nets, final


def barrier_across_widths(
    key: Any,
    widths: Sequence[int],
    hidden_layers: int = 2,
    input_dim: int = 4,
    n_train: int = 1024,
    steps: int = 2000,
    learning_rate: float = 3e-3,
    n_points: int = 21,
    activation: str = "relu",
    progress: bool = False,
) -> tuple[list[dict[str, Any]], dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """For each width: train two MLPs from different seeds on :func:`regression_task`, measure the
    training-loss barrier on the straight line before and after :func:`align`. Returns table rows and,
    per width, the curves ``(t, loss_before, loss_after)``."""
    import jax

    k_data, k_init = jax.random.split(key)
    x, y = regression_task(k_data, n_train, input_dim)
    rows, curves = [], {}
    for width in widths:
        sizes = [input_dim] + [int(width)] * hidden_layers + [1]
        keys = jax.random.split(jax.random.fold_in(k_init, int(width)), 2)
        (net_a, net_b), final = train_mlps(keys, sizes, x, y, activation, steps, learning_rate, progress)
        al = align(net_a, net_b, activation)

        def loss_fn(p: Any) -> float:
            return mse(p, x, y, activation)

        ts, before = loss_along_line(loss_fn, net_a, net_b, n_points)
        _, after = loss_along_line(loss_fn, net_a, al.aligned, n_points)
        b0, b1 = loss_barrier(before), loss_barrier(after)
        rows.append(
            {
                "width": int(width),
                "loss_A": float(final[0]),
                "loss_B": float(final[1]),
                "barrier_before": b0,
                "barrier_after": b1,
                "removed_fraction": float(1.0 - b1 / b0) if b0 > 0 else float("nan"),
            }
        )
        curves[int(width)] = (ts, before, after)
    return rows, curves
