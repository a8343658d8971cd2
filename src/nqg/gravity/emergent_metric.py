"""The emergent metric ``f(eta), g(eta)`` from the learned ``h(eta)`` (arXiv:1809.10536, units of ``L``).

The bulk metric is ``ds^2 = -f dt^2 + d eta^2 + g dx_i^2`` (4 boundary dimensions, boundary at
``eta -> inf``) and the network learns only

    h(eta) = d/deta log sqrt(f g^3).

Integrating, ``log(f g^3) = 8 eta - 2 I(eta) + const`` with the tail integral
``I(eta) = int_eta^inf (h - 4) d eta'``. One more function is needed to split ``f g^3`` into ``f`` and
``g``; the paper uses two assumptions,

    (i)  g = c e^{2 eta}:      f = c e^{2 eta} e^{-2 I(eta)},
    (ii) g = c cosh 2 eta:     f = c e^{8 eta} e^{-2 I(eta)} / (16 cosh^3 2 eta),

where the AdS boundary condition ``f/g -> 1`` (boundary speed of light 1) has fixed the constant in
``f g^3``. The remaining constant ``c`` (the paper's ``c5`` in case (i)) is fixed by the temperature:
near the horizon ``eta_h``, ``f = kappa^2 (eta - eta_h)^2`` and Euclidean regularity gives
``T L = kappa / (2 pi)``.

The learned ``h`` is known on the layers only (``eta in [1/15, 1]``); :func:`smooth_metric_h` fits it
with the paper's pieces: a polynomial (degree 5), a horizon term ``1/(eta - c1) + c2`` (so
``eta_h = c1``, ``f ~ (eta - c1)^2``) and a boundary term ``h = 4 - c3 e^{-c4 eta}`` (pure AdS,
``h -> 4``), joined ``C^1``. All the integrals of ``h`` are then analytic. ``c`` is exponentially
sensitive to how ``h`` is continued below the last layer (``c ∝ e^{-Lambda}``, ``Lambda`` the
regular part of ``-2 int (h - 4)`` down to the horizon), which the data do not constrain.
"""

from __future__ import annotations

import csv
import importlib.resources
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError

__all__ = [
    "ASSUMPTIONS",
    "HBARC_GEV_FM",
    "LATTICE_TEMPERATURE_GEV",
    "PUBLISHED_C5",
    "TABLE2_ADS_RADIUS",
    "TABLE2_LAMBDA",
    "EmergentMetric",
    "SmoothedMetricH",
    "ads_schwarzschild_metric",
    "ensemble_h_profiles",
    "ensemble_metrics",
    "metric_from_csv",
    "published_metric_table2",
    "pure_ads_metric",
    "reconstruct_metric",
    "smooth_metric_h",
    "table2_metric",
]

TABLE2_FILE = "metric_1809.10536_table2.csv"
#: ``(value, error)`` of the published fit (arXiv:1809.10536 v1, with Table II)
TABLE2_LAMBDA = (0.01243, 0.00060)
TABLE2_ADS_RADIUS = (3.460, 0.021)  # GeV^-1
#: the paper's constant of assumption (i), ``g = c5 e^{2 eta}``
PUBLISHED_C5 = 43.92
#: temperature of the lattice condensate data (N_tau = 4) the metric was learned from
LATTICE_TEMPERATURE_GEV = 0.207
HBARC_GEV_FM = 0.1973269804
ASSUMPTIONS = ("exp", "cosh")


def published_metric_table2() -> tuple[np.ndarray, np.ndarray]:
    """The learned metric of arXiv:1809.10536 (v1), Table II: ``(eta, h)`` on its 15 layers.

    Hashimoto, Sugishita, Tanaka, Tomiya, "Deep learning and holographic QCD", Phys. Rev. D 98,
    106014 (2018), arXiv:1809.10536, Table II, learned from the lattice chiral condensate at
    T ~ 207 MeV together with ``lambda = 0.01243(60)`` and ``L = 3.460(21) GeV^-1``. ``eta`` runs from
    the boundary side ``eta = 1`` to the horizon side ``eta = 1/15`` in steps of ``1/15`` (units of L).
    """
    text = importlib.resources.files("nqg.data").joinpath(TABLE2_FILE).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    eta = np.array([float(r["eta"]) for r in rows])
    h = np.array([float(r["h"]) for r in rows])
    return eta, h


def _xp(x):
    """jax.numpy for jax arrays and tracers (autodiff), numpy otherwise (fast scalar calls)."""
    return jnp if isinstance(x, jax.Array) else np


# --------------------------------------------------------------------------------------------------
# Smoothing h
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmoothedMetricH:
    """A smooth ``h(eta)`` with a horizon at ``c1`` and AdS asymptotics (jax-differentiable).

    ``pole_everywhere`` (``horizon="fit"``): ``h = 1/(eta - c1) + p(eta)`` for ``eta <= eta_hi``;
    otherwise (``horizon="match"``): ``h = p(eta)`` on ``[eta_lo, eta_hi]`` and ``1/(eta - c1) + c2``
    below ``eta_lo``. Above ``eta_hi``: ``h = 4 - c3 e^{-c4 eta}``. Functions accept numpy or jax arrays."""

    poly: tuple[float, ...]  # np.polyval order (highest power first)
    eta_lo: float
    eta_hi: float
    c1: float
    c2: float
    c3: float
    c4: float
    pole_everywhere: bool = False

    @property
    def eta_horizon(self) -> float:
        return self.c1

    def _poly_integral(self, a, b):
        xp = jnp if isinstance(a, jax.Array) or isinstance(b, jax.Array) else np
        p = np.polyint(np.asarray(self.poly))
        return xp.polyval(xp.asarray(p), b) - xp.polyval(xp.asarray(p), a)

    def __call__(self, eta):
        xp = _xp(eta)
        eta = xp.asarray(eta)
        pole = 1.0 / xp.where(eta > self.c1, eta - self.c1, 1.0)
        hi = 4.0 - self.c3 * xp.exp(-self.c4 * eta)
        mid = xp.polyval(xp.asarray(self.poly), eta)
        if self.pole_everywhere:
            return xp.where(eta > self.eta_hi, hi, pole + mid)
        return xp.where(eta < self.eta_lo, pole + self.c2, xp.where(eta > self.eta_hi, hi, mid))

    def tail_integral(self, eta):
        """``I(eta) = int_eta^inf (h - 4)`` (analytic in each piece); needs ``eta > c1``."""
        xp = _xp(eta)
        eta = xp.asarray(eta)
        tail_hi = -self.c3 / self.c4 * xp.exp(-self.c4 * eta)
        i_hi = -self.c3 / self.c4 * math.exp(-self.c4 * self.eta_hi)
        safe = xp.where(eta > self.c1, eta - self.c1, 1.0)
        mid = i_hi + self._poly_integral(eta, self.eta_hi) - 4.0 * (self.eta_hi - eta)
        if self.pole_everywhere:
            mid = mid + xp.log((self.eta_hi - self.c1) / safe)
            return xp.where(eta > self.eta_hi, tail_hi, mid)
        i_lo = i_hi + float(self._poly_integral(self.eta_lo, self.eta_hi)) - 4.0 * (self.eta_hi - self.eta_lo)
        lo = i_lo + xp.log((self.eta_lo - self.c1) / safe) + (self.c2 - 4.0) * (self.eta_lo - eta)
        return xp.where(eta < self.eta_lo, lo, xp.where(eta > self.eta_hi, tail_hi, mid))

    def horizon_log_limit(self) -> float:
        """``Lambda = lim_{eta -> c1} [-2 I(eta) - 2 log(eta - c1)]``: ``e^{-2I} ~ e^Lambda (eta - c1)^2``."""
        i_hi = -self.c3 / self.c4 * math.exp(-self.c4 * self.eta_hi)
        if self.pole_everywhere:
            regular = i_hi + float(self._poly_integral(self.c1, self.eta_hi)) - 4.0 * (self.eta_hi - self.c1)
            return -2.0 * regular - 2.0 * math.log(self.eta_hi - self.c1)
        i_lo = float(self.tail_integral(self.eta_lo))
        return (
            -2.0 * i_lo
            - 2.0 * math.log(self.eta_lo - self.c1)
            - 2.0 * (self.c2 - 4.0) * (self.eta_lo - self.c1)
        )


HORIZON_CONTINUATIONS = ("fit", "match")


def _pole_fit(eta, h, degree, c1_min):
    """Least squares of ``h - 1/(eta - c1)`` by a polynomial, ``c1`` scanned on ``[c1_min, min(eta))``
    then refined (bounded Brent); returns ``(c1, poly)``."""
    from scipy.optimize import minimize_scalar

    def rss(c1):
        y = h - 1.0 / (eta - c1)
        p = np.polyfit(eta, y, degree)
        return float(np.sum((np.polyval(p, eta) - y) ** 2)), p

    top = float(eta.min()) - 1e-6
    grid = np.linspace(c1_min, top, 400)
    vals = np.array([rss(c)[0] for c in grid])
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    c1 = (
        float(
            minimize_scalar(lambda c: rss(c)[0], bounds=(a, b), method="bounded", options={"xatol": 1e-10}).x
        )
        if b > a
        else float(grid[i])
    )
    return c1, rss(c1)[1]


def smooth_metric_h(
    eta, h, degree: int = 5, *, horizon: str = "fit", c1_min: float = 0.0, min_boundary_decay: float = 2.0
) -> SmoothedMetricH:
    """Smooth ``h`` on its layers and continue it to the horizon and to the boundary.

    ``horizon="fit"`` (default): least squares of ``h = 1/(eta - c1) + p(eta)``, ``p`` of degree
    ``degree``, with the horizon ``c1`` in ``[c1_min, min(eta))`` (the network's horizon lies between
    ``eta = 0`` and its last layer); the same function continues to the horizon. For an exact black
    brane (``h = 4 coth 4 eta`` on 15 layers) this recovers ``c1 = 0`` and the temperature constant
    to 0.3%. ``horizon="match"``: the polynomial alone on the layers, continued ``C^1`` (value and
    slope) by ``1/(eta - c1) + c2`` below the last layer; this needs ``p' < 0`` there.

    Boundary side (both): ``4 - c3 e^{-c4 eta}`` matched in value at ``eta_hi = max(eta)``, and in slope
    when ``c4 = h'(eta_hi)/(4 - h(eta_hi)) >= min_boundary_decay`` (else ``c4 = min_boundary_decay``).
    """
    if horizon not in HORIZON_CONTINUATIONS:
        raise NqgInputError(
            f"unknown horizon continuation {horizon!r}; allowed: {', '.join(HORIZON_CONTINUATIONS)}"
        )
    eta = np.asarray(eta, dtype=float)
    h = np.asarray(h, dtype=float)
    if eta.shape != h.shape or eta.ndim != 1 or eta.size < degree + 2:
        raise NqgInputError(f"need at least {degree + 2} (eta, h) points, got shapes {eta.shape}, {h.shape}")
    if not (np.all(np.isfinite(eta)) and np.all(np.isfinite(h))):
        raise NqgInputError("h(eta) has NaN or inf values")
    lo, hi = float(eta.min()), float(eta.max())
    if horizon == "fit":
        if not c1_min < lo:
            raise NqgInputError(f"c1_min = {c1_min} must lie below the last layer eta = {lo}")
        c1, p = _pole_fit(eta, h, degree, c1_min)
        c2 = float(np.polyval(p, c1))

        def h_at(x):
            return 1.0 / (x - c1) + np.polyval(p, x)

        def slope_at(x):
            return -1.0 / (x - c1) ** 2 + np.polyval(np.polyder(p), x)
    else:
        p = np.polyfit(eta, h, degree)
        h_lo, s_lo = float(np.polyval(p, lo)), float(np.polyval(np.polyder(p), lo))
        if not s_lo < 0:
            raise NqgInputError(
                f"h(eta) does not grow towards the horizon (slope {s_lo:.3g} at eta = {lo:.3g}); "
                "no horizon h ~ 1/(eta - c1) to continue it to"
            )
        c1 = lo - 1.0 / math.sqrt(-s_lo)
        c2 = h_lo - math.sqrt(-s_lo)

        def h_at(x):
            return np.polyval(p, x)

        def slope_at(x):
            return np.polyval(np.polyder(p), x)

    h_hi, s_hi = float(h_at(hi)), float(slope_at(hi))
    gap = 4.0 - h_hi
    c4 = s_hi / gap if gap != 0 else min_boundary_decay
    if not (math.isfinite(c4) and c4 >= min_boundary_decay):
        c4 = min_boundary_decay
    c3 = gap * math.exp(c4 * hi)
    return SmoothedMetricH(tuple(float(x) for x in p), lo, hi, c1, c2, c3, c4, horizon == "fit")


# --------------------------------------------------------------------------------------------------
# The metric
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmergentMetric:
    """``log f(eta)`` and ``log g(eta)`` (units of L) and the horizon ``eta_h`` (``-inf``: none).

    ``eta_top``: the largest ``eta`` worth resolving (beyond it the metric is AdS to the accuracy
    that matters); ``info`` holds how it was made (assumption, constant ``c``, smoothing)."""

    log_f: Callable
    log_g: Callable
    eta_horizon: float
    eta_top: float = 6.0
    name: str = "metric"
    info: dict = field(default_factory=dict)

    def f(self, eta):
        return np.exp(np.asarray(self.log_f(eta)))

    def g(self, eta):
        return np.exp(np.asarray(self.log_g(eta)))

    def log_F(self, eta):
        """``log F = log(f g)``: the Nambu-Goto string's effective tension squared."""
        return np.asarray(self.log_f(eta)) + np.asarray(self.log_g(eta))


def pure_ads_metric() -> EmergentMetric:
    """``f = g = e^{2 eta}`` (no horizon: ``eta_h = -inf``)."""

    def two_eta(e):
        return 2.0 * _xp(e).asarray(e)

    return EmergentMetric(two_eta, two_eta, -math.inf, 4.0, "AdS")


def _log_cosh2(eta):
    xp = _xp(eta)
    eta = xp.asarray(eta)
    return xp.logaddexp(2.0 * eta, -2.0 * eta) - math.log(2.0)


def ads_schwarzschild_metric(temperature_L: float = 1.0 / math.pi) -> EmergentMetric:
    """AdS5 black brane: ``f = r_h^2 sinh^2 2eta / cosh 2eta``, ``g = r_h^2 cosh 2eta``, ``r_h = pi T L``."""
    r2 = (math.pi * temperature_L) ** 2

    def log_f(e):
        xp = _xp(e)
        e = xp.asarray(e)
        safe = xp.where(e > 0, e, 1.0)
        log_sinh = 2.0 * safe + xp.log(-xp.expm1(-4.0 * safe)) - math.log(2.0)
        return math.log(r2) + 2.0 * log_sinh - _log_cosh2(e)

    return EmergentMetric(
        log_f,
        lambda e: math.log(r2) + _log_cosh2(e),
        0.0,
        5.0,
        f"AdS-Schwarzschild T L = {temperature_L:.4g}",
    )


def reconstruct_metric(
    h_model: SmoothedMetricH, assumption: str = "exp", temperature_L: float | None = None
) -> EmergentMetric:
    """``f`` and ``g`` from ``h`` under assumption ``"exp"`` (``g = c e^{2 eta}``) or ``"cosh"``
    (``g = c cosh 2 eta``), AdS boundary condition ``f/g -> 1``, and the constant ``c`` fixed by the
    horizon temperature ``T L = kappa/(2 pi)`` (``temperature_L = T L``; None: ``c = 1``).

    With ``e^{-2I} -> e^{Lambda} (eta - c1)^2`` at the horizon: ``kappa^2 = c G e^{Lambda}``,
    ``G = e^{2 c1}`` (exp) or ``e^{8 c1}/(16 cosh^3 2 c1)`` (cosh)."""
    if assumption not in ASSUMPTIONS:
        raise NqgInputError(f"unknown assumption {assumption!r}; allowed: {', '.join(ASSUMPTIONS)}")
    c1 = h_model.eta_horizon
    lam = h_model.horizon_log_limit()
    if assumption == "exp":
        log_geom = 2.0 * c1
    else:
        log_geom = 8.0 * c1 - math.log(16.0) - 3.0 * float(_log_cosh2(c1))
    if temperature_L is None:
        log_c = 0.0
    else:
        if not (temperature_L > 0 and math.isfinite(temperature_L)):
            raise NqgInputError(f"temperature must be a positive number, got {temperature_L}")
        log_c = 2.0 * math.log(2.0 * math.pi * temperature_L) - log_geom - lam
    c = math.exp(log_c)

    def guard(e):
        return _xp(e).where(e > c1, e, c1 + 1.0)

    if assumption == "exp":

        def log_g(e):
            return log_c + 2.0 * _xp(e).asarray(e)

        def log_f(e):
            e = _xp(e).asarray(e)
            return log_c + 2.0 * e - 2.0 * h_model.tail_integral(guard(e))
    else:

        def log_g(e):
            return log_c + _log_cosh2(e)

        def log_f(e):
            e = _xp(e).asarray(e)
            return (
                log_c + 8.0 * e - 2.0 * h_model.tail_integral(guard(e)) - math.log(16.0) - 3.0 * _log_cosh2(e)
            )

    info = {"assumption": assumption, "c": c, "temperature_L": temperature_L, "eta_horizon": c1, "h": h_model}
    return EmergentMetric(
        log_f, log_g, c1, max(h_model.eta_hi, 1.0) + 5.0, f"reconstructed ({assumption})", info
    )


def table2_metric(
    assumption: str = "exp",
    temperature_GeV: float = LATTICE_TEMPERATURE_GEV,
    ads_radius: float = 3.460,
    horizon: str = "fit",
) -> EmergentMetric:
    """The Table II metric, smoothed and reconstructed (``T L`` from ``temperature_GeV * ads_radius``)."""
    eta, h = published_metric_table2()
    return reconstruct_metric(
        smooth_metric_h(eta, h, horizon=horizon), assumption, temperature_GeV * ads_radius
    )


def metric_from_csv(path: str | Path) -> EmergentMetric:
    """A metric from a CSV with header ``eta,f,g`` (units of L), ``eta`` strictly decreasing from the
    boundary, ``f, g > 0``. ``log f``, ``log g`` are interpolated by cubic splines, continued as AdS
    (``e^{2 eta}``) above the largest ``eta``; the smallest ``eta`` is taken as the IR end (the
    horizon) where the straight strings of the screened pair end."""
    from scipy.interpolate import CubicSpline

    path = Path(path)
    if not path.is_file():
        raise NqgInputError(f"metric file {path} does not exist")
    try:
        lines = [
            row for row in path.read_text().splitlines() if row.strip() and not row.lstrip().startswith("#")
        ]
    except UnicodeDecodeError:
        raise NqgInputError(f"{path} is not a text CSV file") from None
    reader = csv.reader(lines)
    header = [c.strip() for c in next(reader, [])]
    if header != ["eta", "f", "g"]:
        raise NqgInputError(f"{path}: header must be 'eta,f,g', got {','.join(header)!r}")
    try:
        rows = [tuple(float(v) for v in r) for r in reader]
    except ValueError:
        raise NqgInputError(f"{path}: every row needs three numbers eta,f,g") from None
    if any(len(r) != 3 for r in rows):
        raise NqgInputError(f"{path}: every row needs three numbers eta,f,g")
    if len(rows) < 4:
        raise NqgInputError(f"{path}: need at least 4 rows, got {len(rows)}")
    arr = np.asarray(rows, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise NqgInputError(f"{path}: NaN or inf in the metric")
    eta, f, g = arr.T
    if not np.all(np.diff(eta) < 0):
        i = int(np.argmax(np.diff(eta) >= 0))
        raise NqgInputError(
            f"{path}: eta must decrease strictly from the boundary; row {i + 2} has eta = {eta[i + 1]:g} "
            f"after {eta[i]:g}"
        )
    for name, col in (("f", f), ("g", g)):
        if np.any(col <= 0):
            i = int(np.argmax(col <= 0))
            raise NqgInputError(
                f"{path}: {name} must be > 0; row {i + 2} has {name} = {col[i]:g} at eta = {eta[i]:g}"
            )
    e = eta[::-1]
    sf, sg = CubicSpline(e, np.log(f[::-1])), CubicSpline(e, np.log(g[::-1]))
    top = float(e[-1])
    lf_top, lg_top = float(np.log(f[0])), float(np.log(g[0]))

    def log_f(x):
        x = np.asarray(x, dtype=float)
        return np.where(x > top, lf_top + 2.0 * (x - top), sf(np.minimum(x, top)))

    def log_g(x):
        x = np.asarray(x, dtype=float)
        return np.where(x > top, lg_top + 2.0 * (x - top), sg(np.minimum(x, top)))

    return EmergentMetric(log_f, log_g, float(e[0]), top + 5.0, path.name, {"source": str(path)})


# --------------------------------------------------------------------------------------------------
# Trained ensembles
# --------------------------------------------------------------------------------------------------
def ensemble_h_profiles(ensemble, n_points: int = 15) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """``[(eta, h, L)]`` per member of a stacked :class:`nqg.gravity.holography.HolographicQCD`:
    the discrete network's layer weights at its layer positions, or the neural ODE's ``h(eta)`` at
    ``n_points`` points from ``eta_ini`` to ``eta_fin``; ``L = |ads_radius|`` in GeV^-1."""
    from nqg.gravity.network import DiscreteBulkNetwork, layer_etas

    bulk = ensemble.bulk
    radius = np.abs(np.asarray(ensemble.ads_radius)).reshape(-1)
    out = []
    if isinstance(bulk, DiscreteBulkNetwork):
        h = np.asarray(bulk.h)
        eta = np.asarray(layer_etas(float(bulk.eta_ini), float(bulk.eta_fin), h.shape[-1]))
        for k in range(h.shape[0]):
            out.append((eta, h[k], float(radius[k])))
        return out
    import equinox as eqx

    eta = np.linspace(float(bulk.eta_ini), float(bulk.eta_fin), n_points)
    # any metric module (nodal or monomial polynomial, MLP): evaluate it, member by member
    h = np.asarray(eqx.filter_vmap(lambda member: member.bulk.metric(jnp.asarray(eta)))(ensemble))
    for k in range(h.shape[0]):
        out.append((eta, h[k], float(radius[k])))
    return out


def ensemble_metrics(
    ensemble, assumption: str = "exp", temperature_GeV: float = LATTICE_TEMPERATURE_GEV
) -> list[tuple[EmergentMetric | None, float, str]]:
    """``[(metric or None, L, why)]`` per member: smoothed ``h``, reconstructed ``f, g`` at ``T L``
    (None with the reason when the member's ``h`` has no horizon)."""
    out = []
    for eta, h, radius in ensemble_h_profiles(ensemble):
        try:
            out.append(
                (
                    reconstruct_metric(smooth_metric_h(eta, h), assumption, temperature_GeV * radius),
                    radius,
                    "",
                )
            )
        except NqgInputError as exc:
            out.append((None, radius, str(exc)))
    return out
