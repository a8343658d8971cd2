"""AdS-Schwarzschild from boundary data: the toy problem of arXiv:1802.08313 (Hashimoto, Sugishita,
Tanaka, Tomiya), section "AdS/DL with AdS-Schwarzschild".

The bulk scalar ``phi'' + h(eta) phi' - dV/dphi = 0`` with ``V = m^2 phi^2/2 + lambda phi^4/4`` is
discretised from the boundary ``eta_ini`` to near the horizon ``eta_fin`` in ``N`` layers
(:func:`nqg.gravity.network.propagate`)::

    phi_{n+1} = phi_n + d_eta pi_n
    pi_{n+1}  = pi_n + d_eta (-h_n pi_n + m^2 phi_n + lambda phi_n^3),     d_eta = (eta_fin - eta_ini)/N < 0,

so that weight ``h_n`` belongs to the layer that starts at ``eta_n = eta_ini + n d_eta`` (n = 0..N-1):
``h_0`` sits at the boundary ``eta_ini`` and ``h_{N-1}`` at ``eta_fin - d_eta``, one step above the
horizon cut-off. The true network is AdS-Schwarzschild in d = 3, ``h(eta) = 3 coth(3 eta)``, sampled at
those same ``eta_n``; learned weights are compared with ``3 coth(3 eta_n)`` layer by layer.

Regularity at the horizon (``phi`` finite at ``eta -> 0`` where ``h ~ 1/eta``) is the *horizon condition*

    F(phi, pi) = 2 pi / eta_fin - m^2 phi - lambda phi^3 = 0        evaluated at eta = eta_fin,

the paper's eq. (3.6). Boundary data ``(phi, pi)`` at ``eta_ini`` are *positive* when the propagated
``|F| < epsilon`` (0.1), negative otherwise.

Two estimators of ``h_n`` from those boundary data:

- **paper** (:func:`fit_paper`): the classifier ``t(F) = [tanh((F - eps)/w) - tanh((F + eps)/w) + 2]/2``
  (``w = 0.01``; ``t ~ 0`` inside the band ``|F| < eps``, ``t ~ 1`` outside) trained with the L1 loss
  ``mean_i |t(F_i) - y_i|`` (labels 0 positive / 1 negative) plus the smoothness penalty
  ``c_reg sum_n eta_n^4 (h_{n+1} - h_n)^2`` with Adam (:func:`nqg.train.minimize`).
- **positive-curve regression** (:func:`fit_positive_curve`): the positive data are a thin band around
  the curve of boundary data whose horizon condition holds exactly, ``F(phi_0, pi_0) = 0``. We locate
  that curve (root-finding in ``pi_0`` for given ``phi_0``, :func:`positive_curve`) and solve the
  nonlinear least-squares problem ``min_h mean_i F_h(phi_i, pi_i)^2 + c_reg sum_n eta_n^4 (h_{n+1}-h_n)^2``
  with Levenberg-Marquardt (optimistix). This uses only boundary data of horizon-regular solutions,
  which is what a physicist measuring the response curve would have. The Jacobian ``dF/dh`` on the
  curve is very ill-conditioned (singular values 51, 2.9, 0.11, 4.5e-3, 1e-4, ... for the default setup),
  which is why a second-order solver, not Adam, is used here, and why a small smoothness prior remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx

from nqg.errors import NqgInputError
from nqg.gravity.network import (
    ads_schwarzschild_h,
    ensemble_loss,
    layer_etas,
    phi4_force,
    propagate,
    smoothness_penalty,
)
from nqg.spec import RunContext
from nqg.train import LoopResult, minimize

__all__ = [
    "SchwarzschildSetup",
    "fit_paper",
    "fit_positive_curve",
    "generate_data",
    "horizon_F",
    "horizon_condition",
    "paper_loss",
    "paper_output",
    "positive_curve",
    "relative_error",
    "rms_relative_error",
    "smoothness_penalty",
]


@dataclass(frozen=True)
class SchwarzschildSetup:
    """The discretised bulk of arXiv:1802.08313: d, m^2, lambda, N layers from eta_ini to eta_fin."""

    d: int = 3
    m2: float = -1.0
    lam: float = 1.0
    n_layers: int = 10
    eta_ini: float = 1.0
    eta_fin: float = 0.1

    def __post_init__(self) -> None:
        if self.n_layers < 2:
            raise NqgInputError(f"n_layers must be >= 2, got {self.n_layers}")
        if not (0.0 < self.eta_fin < self.eta_ini):
            raise NqgInputError(
                f"need 0 < eta_fin < eta_ini, got eta_fin={self.eta_fin}, eta_ini={self.eta_ini}"
            )

    @property
    def d_eta(self) -> float:
        """Layer step ``(eta_fin - eta_ini)/N`` (negative: from the boundary toward the horizon)."""
        return (self.eta_fin - self.eta_ini) / self.n_layers

    @property
    def etas(self) -> jax.Array:
        """``eta_n = eta_ini + n d_eta`` (n = 0..N-1), where weight ``h_n`` is evaluated."""
        return layer_etas(self.eta_ini, self.eta_fin, self.n_layers)

    def true_h(self) -> jax.Array:
        """AdS-Schwarzschild weights ``h_n = d coth(d eta_n)``."""
        return ads_schwarzschild_h(self.etas, self.d)

    def force(self, phi):
        """``dV/dphi = m^2 phi + lambda phi^3``."""
        return phi4_force(phi, self.m2, self.lam)


def horizon_condition(phi, pi, eta_fin: float, m2: float, lam: float):
    """``F = 2 pi/eta_fin - m^2 phi - lambda phi^3`` at ``eta = eta_fin`` (0 for horizon-regular fields)."""
    return 2.0 * pi / eta_fin - m2 * phi - lam * phi**3


def horizon_F(h, phi0, pi0, setup: SchwarzschildSetup):
    """Propagate boundary data ``(phi0, pi0)`` at ``eta_ini`` through the network with weights ``h``
    and return the horizon condition ``F`` at ``eta_fin`` (elementwise over the batch)."""
    phi, pi = propagate(h, phi0, pi0, setup.d_eta, setup.force)
    return horizon_condition(phi, pi, setup.eta_fin, setup.m2, setup.lam)


def paper_output(F, epsilon: float = 0.1, width: float = 0.01):
    """``t(F) = [tanh((F - eps)/w) - tanh((F + eps)/w) + 2]/2``: ~0 for ``|F| < eps``, ~1 outside."""
    return 0.5 * (jnp.tanh((F - epsilon) / width) - jnp.tanh((F + epsilon) / width) + 2.0)


def paper_loss(
    h, phi0, pi0, labels, setup: SchwarzschildSetup, c_reg: float, epsilon: float = 0.1, width: float = 0.01
):
    """``mean_i |t(F_i) - y_i| + c_reg sum_n eta_n^4 (h_{n+1} - h_n)^2`` with labels 0 (positive) / 1."""
    F = horizon_F(h, phi0, pi0, setup)
    l1 = jnp.mean(jnp.abs(paper_output(F, epsilon, width) - labels))
    return l1 + smoothness_penalty(h, setup.etas, c_reg)


def generate_data(
    key,
    setup: SchwarzschildSetup,
    n_per_class: int = 1000,
    *,
    phi_range: tuple[float, float] = (0.0, 1.5),
    pi_range: tuple[float, float] = (-0.2, 0.2),
    epsilon: float = 0.1,
    chunk: int = 1 << 18,
    max_draws: int = 1 << 27,
) -> dict[str, np.ndarray]:
    """Balanced boundary data by rejection sampling through the true network.

    ``(phi0, pi0)`` uniform in ``phi_range x pi_range`` at ``eta_ini``; label 0 (positive) when
    ``|F| < epsilon`` after propagation with ``h_n = d coth(d eta_n)``, 1 otherwise. Returns the first
    ``n_per_class`` of each class, shuffled: ``{"phi", "pi", "label", "F", "acceptance"}``
    (``acceptance``: fraction of draws that were positive).
    """
    if n_per_class < 1:
        raise NqgInputError(f"n_per_class must be >= 1, got {n_per_class}")
    lo = jnp.array([phi_range[0], pi_range[0]], dtype=float)
    hi = jnp.array([phi_range[1], pi_range[1]], dtype=float)
    k_draw, k_shuffle = jax.random.split(key)
    pos: list[np.ndarray] = []
    neg: list[np.ndarray] = []
    n_pos = n_neg = drawn = 0
    i = 0
    while n_pos < n_per_class or n_neg < n_per_class:
        if drawn >= max_draws:
            raise NqgInputError(
                f"rejection sampling found only {n_pos} positives in {drawn} draws; widen epsilon or the box"
            )
        phi, pi, F = (
            np.asarray(a) for a in _draw_boundary_data(jax.random.fold_in(k_draw, i), lo, hi, setup, chunk)
        )
        i += 1
        drawn += chunk
        block = np.stack([phi, pi, F], axis=1)
        inside = np.abs(F) < epsilon
        pos.append(block[inside])
        neg.append(block[~inside][: max(n_per_class - n_neg, 0)])
        n_pos += int(inside.sum())
        n_neg += len(neg[-1])
    p = np.concatenate(pos)[:n_per_class]
    n = np.concatenate(neg)[:n_per_class]
    both = np.concatenate([p, n])
    labels = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)])
    order = np.asarray(jax.random.permutation(k_shuffle, 2 * n_per_class))
    return {
        "phi": both[order, 0],
        "pi": both[order, 1],
        "F": both[order, 2],
        "label": labels[order],
        "acceptance": np.asarray(n_pos / drawn),
    }


@partial(jax.jit, static_argnums=(3, 4))
def _draw_boundary_data(key, lo, hi, setup: SchwarzschildSetup, chunk: int):
    """``chunk`` uniform boundary points in the box ``[lo, hi]`` and their horizon condition (true metric)."""
    u = jax.random.uniform(key, (chunk, 2), minval=lo, maxval=hi)
    return u[:, 0], u[:, 1], horizon_F(setup.true_h(), u[:, 0], u[:, 1], setup)


@partial(jax.jit, static_argnums=(0, 2))
def positive_curve(setup: SchwarzschildSetup, phi0, bracket: tuple[float, float] = (-1.0, 1.0), h=None):
    """Boundary momenta ``pi0(phi0)`` whose propagated horizon condition is exactly ``F = 0``.

    Bisection (optimistix) in ``pi0`` within ``bracket`` for each ``phi0``, through the network with
    weights ``h`` (default: the true metric). ``F`` is increasing in ``pi0`` on the default bracket
    for ``phi0`` in [0, 1.5]; entries without a sign change in the bracket are NaN.
    """
    h = setup.true_h() if h is None else jnp.asarray(h)
    phi0 = jnp.asarray(phi0, dtype=float)
    lower, upper = bracket

    def one(phi):
        sign_change = horizon_F(h, phi, lower, setup) * horizon_F(h, phi, upper, setup) <= 0
        midpoint = 0.5 * (lower + upper)

        def fn(pi, args):
            # without a sign change in the bracket, solve a dummy linear equation instead (result masked)
            return jnp.where(sign_change, horizon_F(h, phi, pi, setup), pi - midpoint)

        sol = optx.root_find(
            fn,
            optx.Bisection(rtol=1e-13, atol=1e-13),
            jnp.asarray(midpoint),
            options={"lower": lower, "upper": upper},
            max_steps=200,
            throw=False,
        )
        return jnp.where(sign_change, sol.value, jnp.nan)

    return jax.vmap(one)(phi0.reshape(-1)).reshape(phi0.shape)


def fit_paper(
    key,
    datasets: dict[str, np.ndarray],
    setup: SchwarzschildSetup,
    *,
    c_reg: float = 0.01,
    learning_rate: float = 0.01,
    steps: int = 5000,
    h_init_std: float = 0.1,
    epsilon: float = 0.1,
    width: float = 0.01,
    ctx: RunContext | None = None,
) -> tuple[jax.Array, LoopResult]:
    """Train an ensemble of networks the paper's way, one member per data set.

    ``datasets``: arrays with a leading member axis, ``phi, pi, label`` of shape ``(M, n)``. Member ``m``
    starts at ``h_n = d + h_init_std * N(0, 1)`` (pure AdS, ``h = d``, plus noise) and minimises
    :func:`paper_loss` on its own data with Adam; the members are vmapped and trained in one compiled
    loop (the summed loss gives each member its own Adam update, Adam being elementwise).
    Returns the learned weights ``(M, N)`` and the :class:`nqg.train.LoopResult`
    (``history["member_loss"]`` has shape ``(steps, M)``).
    """
    phi0, pi0, labels = (jnp.asarray(datasets[k]) for k in ("phi", "pi", "label"))
    h0 = setup.d + h_init_std * jax.random.normal(key, (phi0.shape[0], setup.n_layers))

    def member(h, phi, pi, y):
        return paper_loss(h, phi, pi, y, setup, c_reg, epsilon, width)

    def loss_fn(h, _key):
        total, losses = ensemble_loss(member, h, phi0, pi0, labels)
        return total, {"member_loss": losses}

    loop = minimize(
        loss_fn,
        h0,
        optax.adam(learning_rate),
        steps=steps,
        key=jax.random.fold_in(key, 1),
        has_aux=True,
        name="ads-schwarzschild-paper",
        ctx=ctx,
        chunk=500,
    )
    return loop.state.params, loop


def fit_positive_curve(
    key,
    setup: SchwarzschildSetup,
    *,
    n_members: int = 8,
    n_points: int = 64,
    phi_range: tuple[float, float] = (0.0, 1.5),
    c_reg: float = 1e-6,
    h_init_std: float = 0.1,
    max_steps: int = 2000,
) -> tuple[jax.Array, dict[str, np.ndarray]]:
    """Regression of the horizon condition on the exact positive curve, for an ensemble of members.

    Member ``m`` draws ``n_points`` values ``phi0 ~ U(phi_range)``, finds ``pi0(phi0)`` on the curve
    ``F = 0`` through the true network (:func:`positive_curve`), starts at ``h = d + h_init_std N(0,1)``
    and minimises ``mean_i F_h(phi0_i, pi0_i)^2 + c_reg sum_n eta_n^4 (h_{n+1} - h_n)^2`` with
    Levenberg-Marquardt. Returns ``h`` of shape ``(M, N)`` and diagnostics
    (``converged`` per member, the final ``rms_F`` per member).
    """
    k_phi, k_init = jax.random.split(key)
    phis = jax.random.uniform(k_phi, (n_members, n_points), minval=phi_range[0], maxval=phi_range[1])
    pis = positive_curve(setup, phis)
    if not bool(jnp.all(jnp.isfinite(pis))):
        raise NqgInputError(f"the positive curve leaves the pi bracket for phi in {phi_range}")
    h0 = setup.d + h_init_std * jax.random.normal(k_init, (n_members, setup.n_layers))
    sqrt_c = float(np.sqrt(c_reg))
    etas = setup.etas

    def solve(h_start, phi, pi):
        def residuals(h, _args):
            F = horizon_F(h, phi, pi, setup) / np.sqrt(n_points)
            return jnp.concatenate([F, sqrt_c * etas[:-1] ** 2 * (h[1:] - h[:-1])])

        sol = optx.least_squares(
            residuals,
            optx.LevenbergMarquardt(rtol=1e-10, atol=1e-12),
            h_start,
            max_steps=max_steps,
            throw=False,
        )
        rms_F = jnp.sqrt(jnp.mean(horizon_F(sol.value, phi, pi, setup) ** 2))
        return sol.value, sol.result == optx.RESULTS.successful, rms_F, sol.stats["num_steps"]

    h, converged, rms_F, n_steps = jax.jit(jax.vmap(solve))(h0, phis, pis)
    return h, {"converged": np.asarray(converged), "rms_F": np.asarray(rms_F), "steps": np.asarray(n_steps)}


def relative_error(h, setup: SchwarzschildSetup):
    """``(h_n - d coth(d eta_n)) / (d coth(d eta_n))`` per layer (last axis)."""
    truth = setup.true_h()
    return (jnp.asarray(h) - truth) / truth


def rms_relative_error(h, setup: SchwarzschildSetup, eta_min: float = 0.3):
    """Root-mean-square relative error over the layers with ``eta_n >= eta_min`` (last axis)."""
    rel = relative_error(h, setup)
    mask = setup.etas >= eta_min - 1e-12
    return jnp.sqrt(jnp.sum(jnp.where(mask, rel**2, 0.0), axis=-1) / jnp.sum(mask))
