"""Training as gauge fixing (arXiv:2402.02362, section 4.3).

The map ``x(0) -> x(T)`` of a linear neural ODE ``x' = w x + b`` is invariant under the gauge
transformations of :mod:`nqg.networks.neural_ode`; a regulariser picks one representative of each
gauge orbit:

- the *linear-transport* condition ``L_R = lambda int_0^T [ |w' + w^2|^2 + |(d/dt + w) b|^2 ] dt``. Since
  ``x'' = (w' + w^2) x + (b' + w b)``, ``L_R = 0`` exactly when every trajectory is a straight line;
- *weight decay* ``lambda int_0^T (|w|^2 + |b|^2) dt``, a mass term for the gauge field (in 1D, at fixed
  ``A = int_0^T w``, minimised by the constant ``w = A / T``); :func:`weight_decay` is its parameter form.

In one dimension with ``b = 0`` the gauge orbit of ``w`` is labelled by ``A = int_0^T w`` (the map is
``x(T) = e^A x(0)``), and the ``L_R = 0`` representative solves ``w' + w^2 = 0``:
``w(t) = (e^A - 1) / (T + (e^A - 1) t)`` (:func:`linear_transport_representative`).
Each penalty is a pure function of the model, so it adds to any loss given to :func:`nqg.train.minimize`.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nqg import rng
from nqg.networks.neural_ode import (
    ChebyshevPolynomial,
    LinearNeuralODE,
    MLPFunction,
    PiecewiseLinear,
    time_derivative,
    transport,
)
from nqg.train import minimize


def _gauss_nodes(
    T: float, n_panels: int, per_panel: int = 8, dtype: Any = None
) -> tuple[jax.Array, jax.Array]:
    """Composite Gauss-Legendre nodes and weights on ``[0, T]``."""
    x, w = np.polynomial.legendre.leggauss(per_panel)
    edges = np.linspace(0.0, T, n_panels + 1)
    h = np.diff(edges)[:, None]
    nodes = (edges[:-1, None] + (x[None] + 1.0) / 2.0 * h).ravel()
    weights = (w[None] / 2.0 * h).ravel()
    dtype = dtype or jnp.zeros(()).dtype
    return jnp.asarray(nodes, dtype), jnp.asarray(weights, dtype)


def _quadrature(ode: LinearNeuralODE, n_panels: int) -> tuple[jax.Array, jax.Array]:
    dtype = jnp.result_type(ode.b(jnp.asarray(0.0)))
    kinks = ode.kinks()
    if kinks.size:  # panels whose edges include every kink: exact for piecewise polynomials
        n_panels = max(n_panels, kinks.size + 1)
        n_panels = int(np.ceil(n_panels / (kinks.size + 1)) * (kinks.size + 1))
    return _gauss_nodes(ode.T, n_panels, dtype=dtype)


def transport_curvature(ode: LinearNeuralODE, t: Any) -> tuple[jax.Array, jax.Array]:
    """``(w' + w^2, b' + w b)`` at ``t``: ``x'' = (w' + w^2) x + (b' + w b)`` along every trajectory."""
    w, dw = time_derivative(ode.w, t)
    b, db = time_derivative(ode.b, t)
    return dw + w @ w, db + w @ b


def linear_transport_penalty(ode: LinearNeuralODE, lam: float = 1.0, n_panels: int = 16) -> jax.Array:
    """``L_R = lambda int_0^T [ |w' + w^2|_F^2 + |b' + w b|^2 ] dt`` (composite Gauss-Legendre)."""
    nodes, weights = _quadrature(ode, n_panels)
    acc, vel = jax.vmap(lambda t: transport_curvature(ode, t))(nodes)
    density = jnp.sum(acc**2, axis=(-2, -1)) + jnp.sum(vel**2, axis=-1)
    return lam * jnp.sum(weights * density)


def functional_weight_decay(ode: LinearNeuralODE, lam: float = 1.0, n_panels: int = 16) -> jax.Array:
    """The gauge mass term ``lambda int_0^T (|w|_F^2 + |b|^2) dt``."""
    nodes, weights = _quadrature(ode, n_panels)
    w = jax.vmap(ode.w)(nodes)
    b = jax.vmap(ode.b)(nodes)
    return lam * jnp.sum(weights * (jnp.sum(w**2, axis=(-2, -1)) + jnp.sum(b**2, axis=-1)))


def weight_decay(params: Any, lam: float = 1.0) -> jax.Array:
    """``lambda sum theta^2`` over the inexact-array leaves of any parameter PyTree."""
    leaves = [x for x in jax.tree_util.tree_leaves(params) if eqx.is_inexact_array(x)]
    return lam * sum(jnp.sum(x**2) for x in leaves)


def linear_transport_representative(A: float, T: float, t: Any) -> Any:
    """``w(t) = (e^A - 1) / (T + (e^A - 1) t)``: the 1D ``w`` with ``int_0^T w = A`` and ``w' + w^2 = 0``."""
    k = np.expm1(A)
    return k / (T + k * np.asarray(t))


def straight_line_source(A: float, B: float, T: float, t: Any) -> Any:
    """``b(t) = B / (T + (e^A - 1) t)``: with the ``w`` above, ``b' + w b = 0`` and the map is
    ``x(T) = e^A x(0) + B`` (every trajectory a straight line)."""
    return B / (T + np.expm1(A) * np.asarray(t))


class ZeroFunction(eqx.Module):
    """``f(t) = 0`` of a fixed shape (a coefficient that is not trained)."""

    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: str = eqx.field(static=True, default="float64")

    def __call__(self, t: Any) -> jax.Array:
        return jnp.zeros(self.shape, self.dtype) + 0.0 * jnp.asarray(t, self.dtype)


REGULARISERS = ("linear_transport", "weight_decay")


def fit_gauge_orbit_1d(
    key: jax.Array,
    A: float,
    T: float = 1.0,
    regulariser: str = "linear_transport",
    lam: float = 1e-2,
    kind: str = "polynomial",
    degree: int = 10,
    n_data: int = 32,
    steps: int = 4000,
    learning_rate: float = 3e-2,
    n_magnus: int = 48,
    dtype: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the 1D neural ODE ``x' = w(t) x`` on data ``x(T) = e^A x(0)`` with the loss
    ``mean (x(T) - e^A x(0))^2 + regulariser``. ``w`` starts as a random function (``kind``: polynomial of
    ``degree`` in the Chebyshev basis, MLP, or piecewise-linear on ``degree + 1`` knots).

    Returns the trained ``ode``, the loss ``history``, the learned invariant ``A_learned = int w``, the final
    data fit ``fit_mse`` and the sup-norm distance to the expected representative (``sup_distance``:
    :func:`linear_transport_representative` for ``linear_transport``, ``A / T`` for ``weight_decay``).
    """
    from nqg.errors import NqgInputError

    if regulariser not in REGULARISERS:
        raise NqgInputError(f"unknown regulariser {regulariser!r}; allowed: {', '.join(REGULARISERS)}")
    dtype = dtype or jnp.zeros(()).dtype
    k_w, k_x = jax.random.split(key)
    if kind == "polynomial":
        w = ChebyshevPolynomial.random(k_w, degree, (1, 1), T, 0.5, dtype)
    elif kind == "mlp":
        w = MLPFunction.random(k_w, (1, 1), T, width=16, scale=0.5, dtype=dtype)
    elif kind == "piecewise_linear":
        w = PiecewiseLinear.random(k_w, degree + 1, (1, 1), T, 0.5, dtype)
    else:
        raise NqgInputError(f"unknown function kind {kind!r}; allowed: polynomial, mlp, piecewise_linear")
    ode = LinearNeuralODE(w, ZeroFunction((1,), jnp.dtype(dtype).name), float(T))
    x0 = rng.normal(k_x, (n_data, 1), dtype)
    xT = float(np.exp(A)) * x0

    def data_loss(model: LinearNeuralODE) -> jax.Array:
        return jnp.mean((transport(model, x0, n_magnus) - xT) ** 2)

    def loss(model: LinearNeuralODE, _key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        fit = data_loss(model)
        if regulariser == "linear_transport":
            reg = linear_transport_penalty(model, lam)
        else:
            reg = functional_weight_decay(model, lam)
        return fit + reg, {"fit": fit, "regulariser": reg}

    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-3)
    out = minimize(
        loss,
        ode,
        optax.adam(schedule),
        steps=steps,
        key=key,
        has_aux=True,
        progress=progress,
        chunk=max(1, min(500, steps)),
    )
    model = out.state.params
    ts = np.linspace(0.0, T, 401)
    w_t = np.asarray(jax.vmap(lambda t: model.w(t)[0, 0])(jnp.asarray(ts, dtype)))
    nodes, weights = _quadrature(model, 32)
    A_learned = float(jnp.sum(weights * jax.vmap(lambda t: model.w(t)[0, 0])(nodes)))
    target = (
        linear_transport_representative(A, T, ts)
        if regulariser == "linear_transport"
        else np.full_like(ts, A / T)
    )
    return {
        "ode": model,
        "history": out.history,
        "t": ts,
        "w": w_t,
        "target": target,
        "A_learned": A_learned,
        "fit_mse": float(data_loss(model)),
        "sup_distance": float(np.max(np.abs(w_t - target))),
        "penalty": float(linear_transport_penalty(model, 1.0)),
    }
