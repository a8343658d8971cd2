"""AdS/CFT as a deep Boltzmann machine (arXiv:1903.04951): a Gaussian DBM whose layers are bulk slices.

**The bulk action.** A free scalar of mass ``m`` in the Euclidean metric (boundary at large ``eta``)

    ds^2 = g_etaeta(eta) d eta^2 + g_xx(eta) dx^2 + ...,
    S = 1/2 int d eta d^d x sqrt(g) [g^{etaeta} phi'^2 + g^{xx} (d_x phi)^2 + m^2 phi^2]

becomes, for one transverse momentum ``k`` (``phi(eta, x) = phi_k(eta) e^{ikx}``, each real component
separately),

    S_k = 1/2 int d eta [ P(eta) phi'^2 + (Q(eta) k^2 + R(eta) m^2) phi^2 ],
    P = sqrt(g) g^{etaeta},  Q = sqrt(g) g^{xx},  R = sqrt(g).

**The machine.** Put one Gaussian unit ``phi_n`` on each slice ``eta_0 > eta_1 > ... > eta_N`` (the
visible unit ``phi_0`` on the cut-off boundary, the deepest ``phi_N`` at the horizon or the IR end) and
discretise with midpoint links and trapezoid sites (``delta_n = eta_n - eta_{n+1}``):

    E(phi) = sum_n w_n (phi_n - phi_{n+1})^2 / 2 + sum_n mu_n phi_n^2 / 2,
    w_n  = P(eta_{n+1/2}) / delta_n                                  (coupling of layers n, n+1),
    mu_n = (delta_{n-1} + delta_n)/2 * (Q(eta_n) k^2 + R(eta_n) m^2)     (mass term of layer n).

So ``E = phi^T A phi / 2`` with a tridiagonal precision ``A``: ``A_{n,n+1} = -w_n`` (only neighbouring
layers couple: a *restricted* deep Boltzmann machine) and ``A_nn = w_{n-1} + w_n + mu_n``. For pure AdS
in ``ds^2 = d eta^2 + e^{2 eta} dx^2`` (L = 1) ``P = R = e^{d eta}``, ``Q = e^{(d-2) eta}``: the couplings
are ``sqrt(g)/delta eta``, as in the paper. For AdS-Schwarzschild (``z = e^{-eta}``, horizon ``z_h = 1``
at ``eta = 0``, static modes) ``P = e^{d eta} f``, ``f = 1 - e^{-d eta}``, ``Q = e^{(d-2) eta}``,
``R = e^{d eta}``: the coupling to the horizon layer vanishes with ``f``. All measures are divided by
their boundary value ``e^{d eta_0}`` (a rescaling of the source), so numbers stay O(1).

**The dictionary.** The visible unit is the source ``J``; the hidden units are the bulk field. The
partition function with the visible unit clamped is the generating functional,

    Z[J] = int prod_{n>=1} d phi_n e^{-E(J, phi)} = e^{-K J^2 / 2} x const,   K = A_00 - a^T A_hh^{-1} a,

(``a = A_{h0}``), i.e. the on-shell bulk action (integrating out a Gaussian is solving the classical
equation). The boundary two-point function is ``G(k) = d^2 log Z / dJ^2 = -K(k)``. ``K`` is the Schur
complement, computed exactly by Gaussian elimination from the deepest layer up,

    K_N = A_NN,   K_n = A_nn - w_n^2 / K_{n+1},   K = K_0,

(every pivot ``K_{n>=1} > 0`` iff the hidden block is positive definite), and the clamped means
``<phi_{n+1}> = w_n <phi_n> / K_{n+1}`` are the discretised classical solution. Block Gibbs sampling
draws the odd and the even layers alternately from their Gaussian conditionals; the sampled
``<phi_1>`` estimates ``K = A_00 - w_0 <phi_1>_{J=1}``.

**Continuum.** In pure AdS the regular solution is ``phi = z^{d/2} K_nu(k z)``, ``nu = sqrt(d^2/4 + m^2)``,
and with the cut-off ``z = eps``: ``eps^d G = d/2 + x K_nu'(x)/K_nu(x)``, ``x = k eps``, whose
non-analytic part is ``-2 nu Gamma(-nu)/Gamma(nu) (x/2)^{2 nu}``: ``k dG/dk`` scales as ``k^{2 nu}`` up
to analytic ``O(x^2)`` terms (:func:`continuum_ads_two_point`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError

Array = jax.Array

__all__ = [
    "BulkLattice",
    "GibbsRun",
    "WarpFit",
    "WarpLattice",
    "ads_lattice",
    "ads_schwarzschild_lattice",
    "boundary_two_point",
    "classical_profile",
    "continuum_ads_two_point",
    "eliminate",
    "gibbs_sample",
    "gibbs_two_point",
    "hidden_covariance",
    "learn_warp",
    "log_slope",
    "precision_matrix",
    "scaling_derivative",
    "screening_mass",
]


class BulkLattice(eqx.Module):
    """A Gaussian restricted DBM on slices ``etas`` (boundary first): the measures ``P`` at the link
    midpoints (N,), ``Q`` and ``R`` at the sites (N+1,), normalised to the boundary, and ``m^2``.
    ``ir_dirichlet`` pins the deepest unit to zero instead of leaving it free."""

    etas: Array
    link_measure: Array
    transverse_measure: Array
    mass_measure: Array
    m2: Array
    ir_dirichlet: bool = eqx.field(static=True, default=False)

    @property
    def n_layers(self) -> int:
        return int(self.etas.shape[0]) - 1

    def couplings(self) -> Array:
        """``w_n = P(eta_{n+1/2}) / delta_n``, n = 0..N-1: the weights between neighbouring layers."""
        return self.link_measure / (self.etas[:-1] - self.etas[1:])

    def mass_terms(self, k: Array) -> Array:
        """``mu_n = (delta_{n-1} + delta_n)/2 (Q_n k^2 + R_n m^2)``: the diagonal of each layer."""
        d = self.etas[:-1] - self.etas[1:]
        site = 0.5 * (jnp.concatenate([d, d[-1:] * 0]) + jnp.concatenate([d[:1] * 0, d]))
        return site * (self.transverse_measure * k**2 + self.mass_measure * self.m2)

    def diagonal(self, k: Array) -> Array:
        w = self.couplings()
        zero = jnp.zeros_like(w[:1])
        return jnp.concatenate([zero, w]) + jnp.concatenate([w, zero]) + self.mass_terms(k)


def _lattice(etas, link, transverse, mass, m2, ir_dirichlet):
    etas = jnp.asarray(etas)
    return BulkLattice(
        etas,
        jnp.asarray(link),
        jnp.asarray(transverse),
        jnp.asarray(mass),
        jnp.asarray(m2, dtype=etas.dtype),
        ir_dirichlet,
    )


def _check(d: int, m2: float, n_layers: int, eta_boundary: float, eta_deep: float) -> None:
    if d < 1 or int(d) != d:
        raise NqgInputError(f"d must be a positive integer, got {d}")
    if m2 < -(d**2) / 4:
        raise NqgInputError(f"m2 = {m2} is below the Breitenlohner-Freedman bound -d^2/4 = {-(d**2) / 4}")
    if n_layers < 2:
        raise NqgInputError(f"n_layers must be >= 2, got {n_layers}")
    if not eta_boundary > eta_deep:
        raise NqgInputError(f"eta_boundary ({eta_boundary}) must exceed eta_deep ({eta_deep})")


def ads_lattice(
    d: int = 4,
    m2: float = -3.51,
    *,
    eps: float = 1e-5,
    z_ir: float = 12.0,
    n_layers: int = 700,
    ir_dirichlet: bool = False,
    dtype=None,
) -> BulkLattice:
    """Pure AdS_{d+1}, ``ds^2 = d eta^2 + e^{2 eta} dx^2`` (z = e^{-eta}) from the cut-off ``z = eps``
    to ``z = z_ir`` on a uniform eta grid: ``P = R = e^{d (eta - eta_0)}``, ``Q = e^{-2 eta} R``."""
    eta0, eta_n = -math.log(eps), -math.log(z_ir)
    _check(d, m2, n_layers, eta0, eta_n)
    etas = jnp.linspace(eta0, eta_n, n_layers + 1, dtype=dtype or jnp.zeros(()).dtype)
    mid = 0.5 * (etas[:-1] + etas[1:])
    r = jnp.exp(d * (etas - eta0))
    return _lattice(etas, jnp.exp(d * (mid - eta0)), r * jnp.exp(-2 * etas), r, m2, ir_dirichlet)


def ads_schwarzschild_lattice(
    d: int = 4,
    m2: float = -3.51,
    *,
    eps: float = 1e-5,
    n_layers: int = 700,
    ir_dirichlet: bool = False,
    dtype=None,
) -> BulkLattice:
    """AdS_{d+1}-Schwarzschild with the horizon at ``z_h = 1`` (eta = 0, temperature d/(4 pi)), static
    modes: ``P = e^{d eta} f``, ``f = 1 - e^{-d eta}``, ``Q = e^{(d-2) eta}``, ``R = e^{d eta}`` (over
    ``e^{d eta_0}``). The deepest layer sits on the horizon, where its coupling ``P -> 0``."""
    eta0 = -math.log(eps)
    _check(d, m2, n_layers, eta0, 0.0)
    etas = jnp.linspace(eta0, 0.0, n_layers + 1, dtype=dtype or jnp.zeros(()).dtype)
    mid = 0.5 * (etas[:-1] + etas[1:])
    r = jnp.exp(d * (etas - eta0))
    link = jnp.exp(d * (mid - eta0)) * (1 - jnp.exp(-d * mid))
    return _lattice(etas, link, r * jnp.exp(-2 * etas), r, m2, ir_dirichlet)


class WarpLattice(eqx.Module):
    """The learnable family ``ds^2 = d eta^2 + e^{2 a(eta)} dx^2``: one warp value ``a_n`` per layer
    (``P = R = e^{d a}``, ``Q = e^{(d-2) a}``, links use ``e^{d (a_n + a_{n+1})/2}``), normalised by the
    true boundary value ``e^{d eta_0}`` so that ``a_n = eta_n`` reproduces :func:`ads_lattice`."""

    warp: Array
    etas: Array
    m2: Array
    d: int = eqx.field(static=True)

    def lattice(self) -> BulkLattice:
        d, a, eta0 = self.d, self.warp, self.etas[0]
        r = jnp.exp(d * (a - eta0))
        link = jnp.exp(d * (0.5 * (a[:-1] + a[1:]) - eta0))
        return BulkLattice(self.etas, link, r * jnp.exp(-2 * a), r, self.m2, False)


# --------------------------------------------------------------------------------------------------
# exact: Gaussian elimination over the layers


def precision_matrix(lattice: BulkLattice, k) -> Array:
    """The dense (N+1)x(N+1) precision ``A`` of ``E = phi^T A phi / 2`` (for tests and small N)."""
    w = lattice.couplings()
    a = jnp.diag(lattice.diagonal(jnp.asarray(k))) - jnp.diag(w, 1) - jnp.diag(w, -1)
    if lattice.ir_dirichlet:
        a = a[:-1, :-1]
    return a


@eqx.filter_jit
def eliminate(lattice: BulkLattice, k) -> tuple[Array, Array]:
    """Gaussian elimination from the deepest layer up: the pivots ``K_n`` (n = 0..N; with a Dirichlet
    IR end the pinned layer is dropped and its pivot reported as +inf). ``K_0 = K`` is the Schur
    complement of the hidden layers; the hidden block is positive definite iff ``K_{n>=1} > 0``."""
    k = jnp.asarray(k)
    w = lattice.couplings()
    diag = lattice.diagonal(k)
    if lattice.ir_dirichlet:  # phi_N = 0: start from layer N-1, whose diagonal keeps the link to N
        start = diag[-2]
        ws, ds = w[:-1], diag[:-2]
    else:
        start = diag[-1]
        ws, ds = w, diag[:-1]

    def step(kn, args):
        wn, dn = args
        kn_new = dn - wn**2 / kn
        return kn_new, kn_new

    _, pivots = jax.lax.scan(step, start, (ws, ds), reverse=True)
    pivots = jnp.concatenate([pivots, start[None]])
    if lattice.ir_dirichlet:
        pivots = jnp.concatenate([pivots, jnp.full((1,), jnp.inf, pivots.dtype)])
    return pivots[0], pivots


def boundary_two_point(lattice: BulkLattice, k) -> Array:
    """``G(k) = d^2 log Z[J] / dJ^2 = -K(k)`` (in units of the boundary measure ``e^{d eta_0}``)."""
    return -eliminate(lattice, k)[0]


@eqx.filter_jit
def scaling_derivative(lattice: BulkLattice, ks) -> Array:
    """``k dG/dk`` at each ``k`` (automatic differentiation through the elimination): the contact
    term of G drops out, and in pure AdS ``k dG/dk ~ k^{2 nu}``."""
    g = jax.vmap(jax.grad(lambda kk: boundary_two_point(lattice, kk)))
    ks = jnp.asarray(ks)
    return ks * g(ks)


def log_slope(ks, values) -> tuple[float, np.ndarray]:
    """Least-squares slope of ``log|values|`` vs ``log k`` and the local slopes (central differences)."""
    lk, lv = np.log(np.asarray(ks)), np.log(np.abs(np.asarray(values)))
    slope = float(np.polyfit(lk, lv, 1)[0])
    return slope, np.gradient(lv, lk)


@eqx.filter_jit
def classical_profile(lattice: BulkLattice, k, source: float = 1.0) -> Array:
    """Clamped means ``<phi_n>_J`` (n = 0..N): the discretised classical bulk solution with
    ``phi_0 = J``, ``<phi_{n+1}> = w_n <phi_n> / K_{n+1}``."""
    _, pivots = eliminate(lattice, k)
    w = lattice.couplings()
    ratio = jnp.where(jnp.isfinite(pivots[1:]), w / pivots[1:], 0.0)

    def step(phi, r):
        nxt = r * phi
        return nxt, nxt

    phi0 = jnp.asarray(source, dtype=w.dtype)
    _, rest = jax.lax.scan(step, phi0, ratio)
    return jnp.concatenate([phi0[None], rest])


def hidden_covariance(lattice: BulkLattice, k) -> Array:
    """``<phi_m phi_n>_c`` of the hidden layers with the source clamped: ``(A_hh)^{-1}`` (dense)."""
    a = precision_matrix(lattice, k)
    return jnp.linalg.inv(a[1:, 1:])


def continuum_ads_two_point(k, d: int, m2: float, eps: float) -> np.ndarray:
    """Continuum ``e^{-d eta_0}``-normalised ``G = d/2 + x K_nu'(x) / K_nu(x)``, ``x = k eps``."""
    from scipy.special import kv, kvp

    nu = math.sqrt(d * d / 4 + m2)
    x = np.asarray(k, dtype=float) * eps
    return d / 2 + x * kvp(nu, x) / kv(nu, x)


# --------------------------------------------------------------------------------------------------
# block Gibbs sampling


@dataclass
class GibbsRun:
    """Samples of the hidden layers, ``samples[chain, sweep, n]`` for n = 1..N (source clamped)."""

    samples: np.ndarray
    source: float

    def layer(self, n: int) -> np.ndarray:
        return self.samples[:, :, n - 1]


def gibbs_sample(
    lattice: BulkLattice,
    k,
    key: Array,
    *,
    n_chains: int = 64,
    n_sweeps: int = 2000,
    n_burn: int = 200,
    source: float = 1.0,
) -> GibbsRun:
    """Block Gibbs sampling of the hidden layers with ``phi_0 = J`` clamped: odd layers, then even
    layers, each drawn exactly from its Gaussian conditional
    ``phi_n | rest ~ N((w_{n-1} phi_{n-1} + w_n phi_{n+1}) / A_nn, 1 / A_nn)`` (the units of one parity
    do not couple: the machine is restricted). Chains start at zero; ``n_burn`` sweeps are dropped."""
    if lattice.ir_dirichlet:
        raise NqgInputError("gibbs_sample expects a free deepest layer (ir_dirichlet=False)")
    if n_chains < 2 or n_sweeps < 4:
        raise NqgInputError(f"need n_chains >= 2 and n_sweeps >= 4, got {n_chains}, {n_sweeps}")
    k = jnp.asarray(k)
    w = lattice.couplings()
    diag = lattice.diagonal(k)
    if not bool(jnp.all(diag[1:] > 0)):
        raise NqgInputError("a hidden layer has a non-positive diagonal: the machine is not normalisable")
    zero = jnp.zeros_like(w[:1])
    w_left, w_right = jnp.concatenate([zero, w]), jnp.concatenate([w, zero])
    idx = jnp.arange(diag.shape[0])
    masks = [(idx % 2 == p) & (idx > 0) for p in (1, 0)]
    sd = 1.0 / jnp.sqrt(diag)

    def half(phi, mask, key):
        left = jnp.concatenate([zero, phi[:-1]])
        right = jnp.concatenate([phi[1:], zero])
        mean = (w_left * left + w_right * right) / diag
        new = mean + sd * jax.random.normal(key, phi.shape, phi.dtype)
        return jnp.where(mask, new, phi)

    def sweep(phi, key):
        k1, k2 = jax.random.split(key)
        phi = half(phi, masks[0], k1)
        phi = half(phi, masks[1], k2)
        return phi, phi[1:]

    def chain(key):
        phi0 = jnp.zeros_like(diag).at[0].set(source)
        _, xs = jax.lax.scan(sweep, phi0, jax.random.split(key, n_burn + n_sweeps))
        return xs[n_burn:]

    samples = jax.jit(jax.vmap(chain))(jax.random.split(key, n_chains))
    return GibbsRun(samples=np.asarray(samples), source=float(source))


def gibbs_two_point(lattice: BulkLattice, k, run: GibbsRun):
    """``G = -(A_00 - w_0 <phi_1>_J / J)`` from the sampled first hidden layer, with its MC error
    (:func:`nqg.stats.estimate`, autocorrelation included). Returns ``(Estimate of <phi_1>, G, error)``."""
    from nqg.stats import estimate

    est = estimate(run.layer(1))
    w0 = float(lattice.couplings()[0])
    a00 = float(lattice.diagonal(jnp.asarray(k))[0])
    g = -(a00 - w0 * est.mean / run.source)
    return est, g, abs(w0) * est.error / abs(run.source)


def screening_mass(lattice: BulkLattice) -> float:
    """Lowest ``M`` with a pole of ``G(k)`` at ``k^2 = -M^2`` (static screening mass): the lowest
    generalised eigenvalue of ``A_hh(k=0) v = M^2 D_Q v``, ``D_Q = diag(site weight x Q)``."""
    from scipy.linalg import eigh

    a = np.asarray(precision_matrix(lattice, 0.0))[1:, 1:]
    one = np.asarray(lattice.mass_terms(jnp.asarray(1.0)) - lattice.mass_terms(jnp.asarray(0.0)))[1:]
    if lattice.ir_dirichlet:
        one = one[:-1]
    return float(np.sqrt(eigh(a, np.diag(one), eigvals_only=True, subset_by_index=[0, 0])[0]))


# --------------------------------------------------------------------------------------------------
# the inverse problem: the couplings (the metric) from boundary correlators


@dataclass
class WarpFit:
    """Learned warps ``warp[member, n]`` (a_n of :class:`WarpLattice`), final relative loss per member."""

    warp: np.ndarray
    final_loss: np.ndarray
    history: np.ndarray


def learn_warp(
    etas,
    ks,
    g_target,
    *,
    d: int,
    m2: float,
    key: Array,
    members: int = 4,
    steps: int = 300,
    smoothness: float = 1e-6,
    ctx=None,
    progress: bool | None = None,
) -> WarpFit:
    """Learn the layer couplings of a :class:`WarpLattice` (one ``a_n`` per layer) from the boundary
    two-point function ``G(k)`` at the momenta ``ks``.

    Loss: ``sum_k (G(k) - G_target(k))^2 / sum_k G_target(k)^2 + smoothness sum_n (a_{n+1} - 2 a_n +
    a_{n-1})^2``, minimised per member by L-BFGS (:func:`nqg.train.minimize_members_lbfgs`).
    Members start from ``a_n = eta_0 + s (eta_n - eta_0)`` with a random slope ``s ~ U(0.6, 1.4)`` and
    noise 0.05 per layer (the true AdS warp has s = 1).
    """
    from nqg.train import minimize_members_lbfgs

    etas = jnp.asarray(etas)
    ks = jnp.asarray(ks)
    g_target = jnp.asarray(g_target)
    norm = jnp.sum(g_target**2)
    m2a = jnp.asarray(m2, dtype=etas.dtype)

    def loss(warp):
        lat = WarpLattice(warp, etas, m2a, d).lattice()
        g = jax.vmap(lambda kk: boundary_two_point(lat, kk))(ks)
        curv = warp[2:] - 2 * warp[1:-1] + warp[:-2]
        return jnp.sum((g - g_target) ** 2) / norm + smoothness * jnp.sum(curv**2)

    k1, k2 = jax.random.split(key)
    slopes = jax.random.uniform(k1, (members, 1), minval=0.6, maxval=1.4, dtype=etas.dtype)
    init = etas[0] + slopes * (etas - etas[0])[None, :]
    init = init + 0.05 * jax.random.normal(k2, init.shape, etas.dtype)
    out = minimize_members_lbfgs(
        lambda warp, _: loss(warp),
        init,
        steps=steps,
        name="dbm-inverse",
        ctx=ctx,
        chunk=25,
        progress=progress,
        description="DBM couplings (L-BFGS)",
    )
    warp = out.state[0]
    final = np.asarray(jax.jit(lambda w: jax.lax.map(loss, w))(warp))
    return WarpFit(warp=np.asarray(warp), final_loss=final, history=np.asarray(out.history.get("loss", [])))
