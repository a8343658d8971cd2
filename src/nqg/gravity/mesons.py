"""Meson spectra of a bottom-up AdS/QCD model, differentiable in the warp factor and the dilaton
(arXiv:2005.02636; the soft wall is Karch, Katz, Son, Stephanov, hep-ph/0602229).

A spin-``S`` meson tower is a bulk field in ``ds^2 = e^{2A(z)} (dz^2 + dx_mu dx^mu)`` with a dilaton
``Phi(z)``; its transverse-traceless mode ``psi(z)`` obeys (z in GeV^-1, masses in GeV)

    d_z (e^{-B_S} d_z psi) + m^2 e^{-B_S} psi = 0,        B_S(z) = Phi(z) - (2S - 1) A(z),

normalisable at both ends. With ``psi = e^{B_S/2} u`` this is the Schrodinger problem

    -u'' + V_S u = m^2 u,      V_S = B_S'^2 / 4 - B_S'' / 2,

and with ``A = -log z + a(z)`` and the smooth part ``b = Phi - (2S - 1) a`` (c = 2S - 1)

    V_S = b'^2 / 4 + c b' / (2 z) + (4 S^2 - 1) / (4 z^2) - b'' / 2,

so the AdS centrifugal term is explicit and ``b'``, ``b''`` come from automatic differentiation.
The soft wall ``A = -log z``, ``Phi = kappa^2 z^2`` gives ``V = kappa^4 z^2 + (4S^2-1)/(4z^2) +
2 (S-1) kappa^2`` and ``m_{n,S}^2 = 4 kappa^2 (n + S)`` (the vector tower ``4 kappa^2 (n + 1)``).

**Discretisation (spectral Rayleigh-Ritz).** ``u`` is expanded in the Laguerre functions of a
reference soft wall of scale ``kappa0`` (:class:`LaguerreBasis`)

    phi_j(z) = sqrt(2 kappa0) (kappa0 z)^{1/2} f_j(t),    t = kappa0^2 z^2,
    f_j(t) = sqrt(j!/Gamma(j+S+1)) t^{S/2} e^{-t/2} L_j^S(t),

which vanish like ``z^{S+1/2}`` at the boundary (the normalisable AdS behaviour) and decay at large
z. With Gauss-Legendre quadrature on ``[0, z_max]`` the stiffness and mass matrices are

    H_ij = int (phi_i' phi_j' + V_S phi_i phi_j) dz,      M_ij = int phi_i phi_j dz,

and the masses are the generalised eigenvalues ``H c = m^2 M c`` (Cholesky of M, then ``eigh``),
differentiable in the profiles through ``V_S``. Rayleigh-Ritz values are upper bounds that converge
exponentially in the basis size.

**Profiles** (:class:`PolynomialProfiles`): ``A(z) = -log z + sum_k a_k (kappa0 z)^{2k}`` and
``Phi(z) = sum_k phi_k (kappa0 z)^{2k}``, k = 1..K: AdS near the boundary, and the constants of A
and Phi, which do not change any spectrum, fixed to zero. Two towers (S = 1 and S = 2) fix both
functions: the S = 1 masses see ``Phi - A`` and the S = 2 masses ``Phi - 3A``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg import rng
from nqg.errors import NqgInputError

Array = jax.Array

__all__ = [
    "ConfiningParametrization",
    "LaguerreBasis",
    "MesonData",
    "MesonFit",
    "PolynomialProfiles",
    "fit_meson_ensemble",
    "load_meson_masses",
    "mode_density",
    "probe_range",
    "read_meson_csv",
    "schrodinger_potential",
    "soft_wall_masses",
    "soft_wall_profiles",
    "spectrum",
    "tower_masses",
]

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "meson_masses.csv"


# --------------------------------------------------------------------------------------------------
# profiles


class PolynomialProfiles(eqx.Module):
    """Warp ``A = -log z + sum_k a_k (kappa0 z)^{2k}``, dilaton ``Phi = sum_k phi_k (kappa0 z)^{2k}``.

    ``warp`` holds ``a_1..a_K``, ``dilaton`` holds ``phi_1..phi_K`` (dimensionless); ``scale`` is
    ``kappa0`` in GeV. Arrays may carry a leading ensemble axis (one member per seed).
    """

    warp: Array
    dilaton: Array
    scale: float = eqx.field(static=True)

    def _series(self, coeffs: Array, z: Array) -> Array:
        x2 = (self.scale * z) ** 2
        powers = x2[..., None] ** jnp.arange(1, coeffs.shape[-1] + 1, dtype=x2.dtype)
        return jnp.sum(coeffs * powers, axis=-1)

    def warp_correction(self, z: Array) -> Array:
        """``a(z) = A(z) + log z`` (zero for pure AdS)."""
        return self._series(self.warp, z)

    def A(self, z: Array) -> Array:
        """Warp factor ``A(z)`` (the metric is ``e^{2A} (dz^2 + dx^2)``)."""
        return -jnp.log(z) + self.warp_correction(z)

    def Phi(self, z: Array) -> Array:
        """Dilaton ``Phi(z)``."""
        return self._series(self.dilaton, z)

    def smooth_B(self, z: Array, spin: int) -> Array:
        """``b_S(z) = Phi - (2S - 1) a``: ``B_S = b_S + (2S - 1) log z``."""
        return self.Phi(z) - (2 * spin - 1) * self.warp_correction(z)

    @classmethod
    def init(cls, key: Array, degree: int, scale: float, spread: float = 0.3) -> PolynomialProfiles:
        """A random start: ``phi_1 ~ 1 + spread U(-1, 1)``, other coefficients ``~ 0.1 spread N(0, 1)``."""
        k1, k2, k3 = jax.random.split(key, 3)
        dil = 0.1 * spread * rng.normal(k1, (degree,))
        dil = dil.at[0].set(1.0 + spread * rng.uniform(k2, (), minval=-1.0, maxval=1.0))
        warp = 0.1 * spread * rng.normal(k3, (degree,))
        return cls(warp=warp, dilaton=dil, scale=float(scale))


def soft_wall_profiles(kappa: float, scale: float | None = None, degree: int = 2) -> PolynomialProfiles:
    """The soft wall ``A = -log z``, ``Phi = kappa^2 z^2`` as :class:`PolynomialProfiles`."""
    scale = float(kappa if scale is None else scale)
    dil = jnp.zeros(degree).at[0].set((kappa / scale) ** 2)
    return PolynomialProfiles(warp=jnp.zeros(degree), dilaton=dil, scale=scale)


def soft_wall_masses(kappa: float, spin: int, n: int) -> np.ndarray:
    """``m_{n,S} = 2 kappa sqrt(n + S)`` for n = 0..n-1 (GeV), the exact soft-wall tower."""
    return 2.0 * kappa * np.sqrt(np.arange(n) + spin)


def schrodinger_potential(profiles: PolynomialProfiles, z: Array, spin: int) -> Array:
    """``V_S(z) = b'^2/4 + c b'/(2z) + (4S^2-1)/(4z^2) - b''/2`` with ``b = Phi - (2S-1) a``, c = 2S-1."""
    c = 2 * spin - 1

    def b(x):
        return profiles.smooth_B(x, spin)

    db = jax.grad(b)
    d2b = jax.grad(db)
    b1 = jax.vmap(db)(z)
    b2 = jax.vmap(d2b)(z)
    return b1**2 / 4 + c * b1 / (2 * z) + (4 * spin**2 - 1) / (4 * z**2) - b2 / 2


# --------------------------------------------------------------------------------------------------
# spectral basis and the generalised eigenvalue problem


def _laguerre_functions(t: Array, spin: int, n_basis: int) -> Array:
    """Orthonormal ``f_j(t) = sqrt(j!/Gamma(j+S+1)) t^{S/2} e^{-t/2} L_j^S(t)``, j < n_basis, by the
    symmetric three-term recurrence ``sqrt((j+1)(j+S+1)) f_{j+1} = (2j+S+1-t) f_j - sqrt(j(j+S)) f_{j-1}``."""
    a = spin
    f0 = jnp.exp(0.5 * a * jnp.log(t) - 0.5 * t - 0.5 * math.lgamma(a + 1))
    out = [f0]
    fm1, fj = jnp.zeros_like(t), f0
    for j in range(n_basis - 1):
        fn = ((2 * j + a + 1 - t) * fj - math.sqrt(j * (j + a)) * fm1) / math.sqrt((j + 1) * (j + a + 1))
        out.append(fn)
        fm1, fj = fj, fn
    return jnp.stack(out, axis=-1)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _tabulate(z: Array, spin: int, scale: float, n_basis: int) -> tuple[Array, Array]:
    """Basis values ``phi_j(z)`` and derivatives ``phi_j'(z)`` on the nodes ``z`` (one compiled call)."""

    def phi(zz):
        t = (scale * zz) ** 2
        return math.sqrt(2 * scale) * jnp.sqrt(scale * zz) * _laguerre_functions(t, spin, n_basis)

    return jax.vmap(phi)(z), jax.vmap(jax.jacfwd(phi))(z)


class LaguerreBasis(eqx.Module):
    """Laguerre functions of the reference soft wall ``kappa0`` for spin ``S``, tabulated (values and
    z-derivatives) on Gauss-Legendre nodes of ``[0, z_max]``; ``z_max = sqrt(4 n_basis + 2S + 80) / kappa0``
    lies far beyond the turning point of the highest basis function."""

    spin: int = eqx.field(static=True)
    scale: float = eqx.field(static=True)
    z: Array
    weights: Array
    values: Array  # (n_quad, n_basis)
    derivatives: Array  # (n_quad, n_basis)

    @classmethod
    def build(cls, spin: int, scale: float, n_basis: int = 30, n_quad: int | None = None, dtype=None):
        if spin < 0 or int(spin) != spin:
            raise NqgInputError(f"spin must be a non-negative integer, got {spin}")
        if not (scale > 0 and math.isfinite(scale)):
            raise NqgInputError(f"basis scale kappa0 must be a positive number (GeV), got {scale}")
        dtype = dtype or jnp.zeros(()).dtype
        n_quad = n_quad or 6 * n_basis + 40
        z_max = math.sqrt(4 * n_basis + 2 * spin + 80) / scale
        x, w = np.polynomial.legendre.leggauss(n_quad)
        z = jnp.asarray(0.5 * z_max * (x + 1), dtype)
        weights = jnp.asarray(0.5 * z_max * w, dtype)

        values, derivatives = _tabulate(z, spin, float(scale), n_basis)
        return cls(
            spin=int(spin), scale=float(scale), z=z, weights=weights, values=values, derivatives=derivatives
        )

    def matrices(self, potential: Array) -> tuple[Array, Array]:
        """Stiffness ``H = int (phi' phi' + V phi phi)`` and mass ``M = int phi phi`` (quadrature)."""
        wv = self.weights[:, None] * self.values
        wd = self.weights[:, None] * self.derivatives
        h = wd.T @ self.derivatives + (wv * potential[:, None]).T @ self.values
        m = wv.T @ self.values
        return 0.5 * (h + h.T), 0.5 * (m + m.T)


def generalized_eigh(h: Array, m: Array) -> tuple[Array, Array]:
    """Eigenvalues (ascending) and M-orthonormal eigenvectors of ``H c = lambda M c`` (M = L L^T)."""
    chol = jnp.linalg.cholesky(m)
    x = jax.scipy.linalg.solve_triangular(chol, h, lower=True)
    c = jax.scipy.linalg.solve_triangular(chol, x.T, lower=True)
    evals, evecs = jnp.linalg.eigh(0.5 * (c + c.T))
    vecs = jax.scipy.linalg.solve_triangular(chol.T, evecs, lower=False)
    return evals, vecs


@eqx.filter_jit
def spectrum(profiles: PolynomialProfiles, basis: LaguerreBasis) -> Array:
    """Squared masses ``m_n^2`` (GeV^2, ascending) of the spin-``basis.spin`` tower."""
    v = schrodinger_potential(profiles, basis.z, basis.spin)
    return generalized_eigh(*basis.matrices(v))[0]


def tower_masses(profiles: PolynomialProfiles, spin: int, n: int, n_basis: int = 30) -> np.ndarray:
    """The lowest ``n`` masses (GeV) of the spin-``spin`` tower of one set of profiles."""
    basis = LaguerreBasis.build(spin, profiles.scale, n_basis)
    return np.sqrt(np.asarray(spectrum(profiles, basis))[:n])


def mode_density(profiles: PolynomialProfiles, basis: LaguerreBasis, n_modes: int, z: Array) -> Array:
    """``rho(z) = (1/n) sum_{n<n_modes} u_n(z)^2``: where the lowest ``n_modes`` Schrodinger modes live."""
    v = schrodinger_potential(profiles, basis.z, basis.spin)
    _, vecs = generalized_eigh(*basis.matrices(v))
    t = (basis.scale * z) ** 2
    phi = (
        math.sqrt(2 * basis.scale)
        * jnp.sqrt(basis.scale * z)[:, None]
        * _laguerre_functions(t, basis.spin, vecs.shape[0])
    )
    u = phi @ vecs[:, :n_modes]
    return jnp.mean(u**2, axis=1)


def probe_range(
    profiles: PolynomialProfiles,
    towers: dict[int, int],
    n_basis: int = 30,
    quantiles: tuple[float, float] = (0.05, 0.95),
) -> tuple[float, float]:
    """The z interval holding the central 90% of the averaged density of the modes in ``towers``
    (``{spin: number of modes}``): the range of z that those masses probe."""
    z_max = 8.0 / profiles.scale
    z = jnp.linspace(z_max / 4000, z_max, 4000)
    dens = sum(
        mode_density(profiles, LaguerreBasis.build(s, profiles.scale, n_basis), n, z)
        for s, n in towers.items()
    )
    cdf = np.cumsum(np.asarray(dens))
    cdf /= cdf[-1]
    zz = np.asarray(z)
    return float(np.interp(quantiles[0], cdf, zz)), float(np.interp(quantiles[1], cdf, zz))


# --------------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class MesonData:
    """Meson masses by tower: ``masses[spin]`` ascending (GeV), ``errors[spin]`` (GeV, may be zeros),
    ``names[spin]`` labels."""

    masses: dict[int, np.ndarray]
    errors: dict[int, np.ndarray]
    names: dict[int, list[str]]

    @property
    def spins(self) -> list[int]:
        return sorted(self.masses)

    @property
    def lightest(self) -> float:
        return float(min(m[0] for m in self.masses.values()))


def read_meson_csv(path: str | Path) -> MesonData:
    """Read ``spin,mass_GeV[,error_GeV][,name]`` (one row per state; the masses of each spin in
    increasing order). :class:`NqgInputError` for a missing file, a bad header or value, a mass that
    is not positive and finite, a spin that is not 1..4, fewer than two masses of a spin, or masses of
    a spin out of order."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise NqgInputError(f"--data: no such file {str(path)!r}")
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r) and not r[0].startswith("#")]
    if not rows:
        raise NqgInputError(f"{path}: empty file; expected the header spin,mass_GeV")
    header = [h.strip() for h in rows[0]]
    if header[:2] != ["spin", "mass_GeV"]:
        raise NqgInputError(f"{path}: header must start with spin,mass_GeV, got {','.join(header)!r}")
    has_err = "error_GeV" in header
    has_name = "name" in header
    masses: dict[int, list[float]] = {}
    errors: dict[int, list[float]] = {}
    names: dict[int, list[str]] = {}
    for i, row in enumerate(rows[1:], start=2):
        cells = dict(zip(header, [c.strip() for c in row], strict=False))
        try:
            spin_f = float(cells.get("spin", ""))
            mass = float(cells.get("mass_GeV", ""))
            err = float(cells["error_GeV"]) if has_err and cells.get("error_GeV", "") != "" else 0.0
        except ValueError:
            raise NqgInputError(f"{path} line {i}: {','.join(row)!r} is not spin,mass_GeV numbers") from None
        if not math.isfinite(spin_f) or spin_f != int(spin_f) or not 1 <= spin_f <= 4:
            raise NqgInputError(f"{path} line {i}: spin {cells.get('spin')!r} is not an integer 1..4")
        if not (math.isfinite(mass) and mass > 0):
            raise NqgInputError(f"{path} line {i}: mass {cells.get('mass_GeV')!r} must be > 0 and finite")
        if not (math.isfinite(err) and err >= 0):
            raise NqgInputError(f"{path} line {i}: error {cells.get('error_GeV')!r} must be >= 0 and finite")
        s = int(spin_f)
        if masses.get(s) and mass <= masses[s][-1]:
            raise NqgInputError(
                f"{path} line {i}: spin-{s} masses must increase ({mass} GeV after {masses[s][-1]} GeV)"
            )
        masses.setdefault(s, []).append(mass)
        errors.setdefault(s, []).append(err)
        names.setdefault(s, []).append(cells.get("name", "") if has_name else "")
    if not masses:
        raise NqgInputError(f"{path}: no masses after the header")
    for s, m in masses.items():
        if len(m) < 2:
            raise NqgInputError(f"{path}: spin {s} has {len(m)} mass; at least two per spin are needed")
    return MesonData(
        masses={s: np.asarray(v) for s, v in masses.items()},
        errors={s: np.asarray(v) for s, v in errors.items()},
        names=names,
    )


def load_meson_masses() -> MesonData:
    """The packaged rho and a2 masses (``src/nqg/data/meson_masses.csv``).

    Source: Particle Data Group, Review of Particle Physics (pdglive.lbl.gov, summary tables):
    rho(770) 775.26(23) MeV, rho(1450) 1465(25) MeV, rho(1700) 1720(20) MeV (J^PC = 1^--, S = 1);
    a2(1320) 1318.2(6) MeV, a2(1700) 1706(14) MeV (2^++, S = 2). These are the five states used for
    training in arXiv:2005.02636 (rho 0.775, 1.465, 1.720 and a2 1.318, 1.706 GeV in the issue); the
    a2(1700) average has moved between PDG editions (1705(40) MeV in 2018-2020, 1706(14) now), and the
    central values agree with the paper's inputs to 1 MeV.
    """
    return read_meson_csv(DATA_FILE)


# --------------------------------------------------------------------------------------------------
# learning the profiles from masses


class ConfiningParametrization(eqx.Module):
    """Trainable form of :class:`PolynomialProfiles` whose highest power keeps every tower confined.

    The top coefficient of ``b_S = Phi - (2S-1) a`` is linear in S, so it is positive for all spins of
    the data when it is positive at the lowest and highest spin: ``top(S_lo) = softplus(r_0)``,
    ``top(S_hi) = softplus(r_1)`` (one spin: ``a_K = 0``, ``phi_K = softplus(r_0)``). Without this the
    quartic terms drift to negative values where ``e^{-B_S}`` grows in the IR, and the loss has a
    spurious minimum there (found with free coefficients from every start with Adam at lr 0.02).
    """

    warp_low: Array
    dilaton_low: Array
    top_raw: Array
    spins: tuple[int, int] = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def profiles(self) -> PolynomialProfiles:
        top = jax.nn.softplus(self.top_raw)
        lo, hi = (2 * s - 1 for s in self.spins)
        if lo == hi:
            a_top, phi_top = jnp.zeros_like(top[0]), top[0]
        else:
            a_top = (top[0] - top[1]) / (hi - lo)
            phi_top = top[0] + lo * a_top
        warp = jnp.concatenate([self.warp_low, a_top[None]])
        dil = jnp.concatenate([self.dilaton_low, phi_top[None]])
        return PolynomialProfiles(warp=warp, dilaton=dil, scale=self.scale)

    @classmethod
    def init(cls, key: Array, degree: int, scale: float, spins: tuple[int, int], spread: float = 0.3):
        """A random start near a soft wall: the z^2 coefficient of Phi ``1 + spread U(-1, 1)``, the
        others ``0.1 spread N(0, 1)``; with degree 1 the z^2 coefficients are the confining top ones."""
        k1, k2, k3, k4 = jax.random.split(key, 4)
        dil = 0.1 * spread * rng.normal(k1, (degree,))
        dil = dil.at[0].set(1.0 + spread * rng.uniform(k2, (), minval=-1.0, maxval=1.0))
        warp = 0.1 * spread * rng.normal(k3, (degree,))
        if degree == 1:
            tops = jnp.stack([dil[0] - (2 * s - 1) * warp[0] for s in spins])
        else:
            tops = 0.05 * jnp.exp(0.5 * rng.normal(k4, (2,)))
        raw = jnp.log(jnp.expm1(jnp.maximum(tops, 1e-3)))
        return cls(warp_low=warp[:-1], dilaton_low=dil[:-1], top_raw=raw, spins=spins, scale=float(scale))


@dataclass
class MesonFit:
    """An ensemble fit: stacked ``profiles`` (leading axis = member), the training ``targets`` of each
    member (``{spin: (members, n)}`` GeV), the loss history and the final loss per member."""

    profiles: PolynomialProfiles
    targets: dict[int, np.ndarray]
    history: np.ndarray
    final_loss: np.ndarray
    n_basis: int

    def member(self, i: int) -> PolynomialProfiles:
        return jax.tree_util.tree_map(lambda x: x[i], self.profiles)

    @property
    def members(self) -> int:
        return int(self.final_loss.shape[0])

    def masses(self, spin: int, n: int) -> np.ndarray:
        """``(members, n)``: the lowest n masses (GeV) of the spin tower for every member."""
        basis = LaguerreBasis.build(spin, self.profiles.scale, self.n_basis)
        m2 = jax.jit(lambda ps: jax.lax.map(lambda p: spectrum(p, basis)[:n], ps))(self.profiles)
        return np.sqrt(np.maximum(np.asarray(m2), 0.0))

    def profile_band(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """``A(z)`` and ``Phi(z)`` of every member: ``{"A": (members, nz), "Phi": (members, nz)}``."""
        zz = jnp.asarray(z)
        a = jax.vmap(lambda p: p.A(zz))(self.profiles)
        phi = jax.vmap(lambda p: p.Phi(zz))(self.profiles)
        return {"A": np.asarray(a), "Phi": np.asarray(phi)}


def fit_meson_ensemble(
    data: MesonData,
    *,
    members: int = 8,
    degree: int = 2,
    steps: int = 200,
    n_basis: int = 20,
    resample: bool = True,
    key: Array,
    scale: float | None = None,
    ctx=None,
    progress: bool | None = None,
    targets: dict[int, np.ndarray] | None = None,
) -> MesonFit:
    """Learn ``A(z)`` and ``Phi(z)`` from meson masses, one ensemble member per seed.

    Each member starts from :meth:`ConfiningParametrization.init` and (with ``resample``) trains on
    masses drawn from ``N(m_i, sigma_i)`` with the data errors, so the ensemble spread carries both the
    optimisation and the data uncertainty. The loss of a member is the mean squared relative error
    of the squared masses, ``mean_i (m_i^2(model) / m_i^2 - 1)^2``. Each member is minimised by
    L-BFGS (:func:`nqg.train.minimize_members_lbfgs`: members in ``lax.map``, a step that would produce a
    non-finite loss leaves that member where it was). ``scale`` (kappa0, GeV) defaults to half the
    lightest mass (the soft-wall kappa of a vector ground state). ``targets`` (``{spin: (members, n)}``
    masses, GeV) gives every member its own training masses instead (``resample`` is then ignored).
    """
    from nqg.train import minimize_members_lbfgs

    if members < 1:
        raise NqgInputError(f"members must be >= 1, got {members}")
    if degree < 1:
        raise NqgInputError(f"degree must be >= 1, got {degree}")
    scale = float(scale if scale is not None else data.lightest / 2)
    k_init, k_data = jax.random.split(key)
    spins = (min(data.spins), max(data.spins))
    params = eqx.filter_vmap(lambda k: ConfiningParametrization.init(k, degree, scale, spins))(
        jax.random.split(k_init, members)
    )
    if targets is not None:
        targets = {s: np.asarray(targets[s], dtype=float).reshape(members, -1) for s in data.spins}
    else:
        targets = {}
    for i, s in enumerate(data.spins if not targets else []):
        m, e = data.masses[s], data.errors[s]
        noise = np.asarray(rng.normal(jax.random.fold_in(k_data, i), (members, m.size)))
        t = m[None, :] + (noise * e[None, :] if resample else np.zeros_like(noise))
        targets[s] = np.sort(np.abs(t), axis=1)
    bases = {s: LaguerreBasis.build(s, scale, n_basis) for s in data.spins}
    tgt = {s: jnp.asarray(v**2) for s, v in targets.items()}

    def member_loss(raw, t2):
        p = raw.profiles()
        terms = []
        for s in data.spins:
            m2 = spectrum(p, bases[s])[: t2[s].shape[0]]
            terms.append((m2 / t2[s] - 1.0) ** 2)
        return jnp.mean(jnp.concatenate(terms))

    out = minimize_members_lbfgs(
        member_loss,
        params,
        tgt,
        steps=steps,
        name="mesons",
        ctx=ctx,
        chunk=25,
        progress=progress,
        description="mesons (L-BFGS)",
    )
    trained = out.state[0]
    final = np.asarray(jax.jit(lambda ps: jax.lax.map(lambda a: member_loss(*a), (ps, tgt)))(trained))
    return MesonFit(
        profiles=eqx.filter_vmap(lambda r: r.profiles())(trained),
        targets=targets,
        history=np.asarray(out.history.get("loss", np.zeros(0))),
        final_loss=final,
        n_basis=n_basis,
    )


def recovery_error(profiles: PolynomialProfiles, reference, z: np.ndarray) -> float:
    """``max_z |Phi(z) / Phi_ref(z) - 1|`` on the points ``z`` (``reference`` a callable)."""
    zz = jnp.asarray(z)
    return float(jnp.max(jnp.abs(profiles.Phi(zz) / reference(zz) - 1.0)))


def as_float_list(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values]
