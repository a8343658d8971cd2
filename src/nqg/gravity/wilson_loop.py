"""The holographic Wilson loop of an emergent metric: quark-antiquark potential, Debye screening,
string tension (Maldacena; Rey-Yee; arXiv:1809.10536 eqs. for ``ds^2 = -f dt^2 + d eta^2 + g dx^2``).

A static Nambu-Goto string hangs from the boundary to the depth ``eta_0``. With ``F = f g`` (the
conserved momentum of ``x(eta)`` gives ``x'^2 = F_0/(g (F - F_0))``), in units of ``L``:

    d(eta_0)          = 2 int_{eta_0}^inf g^{-1/2} sqrt(F_0/(F - F_0)) d eta,
    2 pi alpha' V     = 2 int_{eta_0}^inf sqrt f [sqrt(F/(F - F_0)) - 1] d eta
                        - 2 int_{eta_h}^{eta_0} sqrt f d eta,

the second term subtracting two straight strings down to the horizon ``eta_h`` (``-inf`` without
one). Both integrands have ``(eta - eta_0)^{-1/2}`` endpoint singularities; with
``eta = eta_0 - log(1 - s^2)``, ``s in (0, 1)`` (``d eta = 2 s ds/(1 - s^2)``), the integrands become
analytic in ``s`` on the closed interval and Gauss-Legendre converges exponentially; ``F - F_0`` is
evaluated as ``F (1 - e^{log F_0 - log F})`` with ``expm1`` (no cancellation near ``eta_0``).

A connected string exists only where ``F(eta) > F(eta_0)`` for all ``eta > eta_0``. Where ``F`` has an
interior minimum ``eta_c``, ``d -> inf`` as ``eta_0 -> eta_c`` and ``V ~ sqrt(F(eta_c)) d``: a string
tension ``sqrt(F(eta_c))`` in units of ``1/(2 pi alpha')`` (and ``L^-2``). ``V(d)`` is the lowest
connected branch, set to 0 (two straight strings, Debye screening) where that is lower.

Checks (tests/gravity/test_wilson_loop.py): pure AdS ``d = 2 sqrt(2) pi^{3/2}/Gamma(1/4)^2 e^{-eta_0}
= 1.19814 e^{-eta_0}`` and ``d V = -8 pi^3/Gamma(1/4)^4 = -1.43554``; AdS-Schwarzschild at
``T L = 1/pi``: largest separation 0.8691, ``V = 0`` at ``d = 0.7564``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from nqg.gravity.emergent_metric import EmergentMetric

__all__ = [
    "ADS_DV",
    "ADS_D_COEFF",
    "WilsonLoopCurve",
    "connected_branches",
    "separation_and_energy",
    "wilson_loop",
]

#: pure AdS: ``d = ADS_D_COEFF e^{-eta_0}``, ``d * 2 pi alpha' V = ADS_DV``
ADS_D_COEFF = 2.0 * math.sqrt(2.0) * math.pi**1.5 / math.gamma(0.25) ** 2
ADS_DV = -8.0 * math.pi**3 / math.gamma(0.25) ** 4


def _gauss_unit(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def separation_and_energy(metric: EmergentMetric, eta0, n_nodes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(d(eta_0), 2 pi alpha' V(eta_0))`` of the connected string for each turning point ``eta_0``.

    ``eta_0`` must be admissible (``F > F(eta_0)`` above it; see :func:`connected_branches`), else NaN.
    Gauss-Legendre with ``n_nodes`` nodes in the variable ``s`` of the module docstring; the straight
    strings ``int_{eta_h}^{eta_0} sqrt f`` with ``n_nodes`` nodes on ``[eta_h, eta_0]`` (or in
    ``v = e^{eta - eta_0}`` when ``eta_h = -inf``). dtype follows ``eta0``.
    """
    eta0 = np.atleast_1d(np.asarray(eta0))
    dtype = eta0.dtype if np.issubdtype(eta0.dtype, np.floating) else np.float64
    eta0 = eta0.astype(dtype)
    s, w = (a.astype(dtype) for a in _gauss_unit(n_nodes))
    u = 1.0 - s * s
    eta = eta0[:, None] - np.log(u)[None, :]
    jac = (2.0 * s / u)[None, :]
    log_f = np.asarray(metric.log_f(eta), dtype=dtype)
    log_g = np.asarray(metric.log_g(eta), dtype=dtype)
    log_F0 = np.asarray(metric.log_F(eta0), dtype=dtype)[:, None]
    log_ratio = log_F0 - (log_f + log_g)  # log(F0/F) < 0
    one_minus = -np.expm1(log_ratio)  # 1 - F0/F = (F - F0)/F
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.exp(log_ratio)
        sep = np.exp(-0.5 * log_g) * np.sqrt(ratio / one_minus)
        root = np.sqrt(one_minus)
        excess = np.exp(0.5 * log_f) * ratio / (root * (1.0 + root))  # sqrt f [1/sqrt(1 - F0/F) - 1]
    d = 2.0 * np.sum(w * sep * jac, axis=1)
    e_conn = 2.0 * np.sum(w * excess * jac, axis=1)
    e_straight = 2.0 * _straight_strings(metric, eta0, n_nodes, dtype)
    bad = ~np.all(one_minus > 0, axis=1)
    d = np.where(bad, np.nan, d)
    return d, np.where(bad, np.nan, e_conn - e_straight)


def _straight_strings(metric: EmergentMetric, eta0, n_nodes, dtype):
    """``int_{eta_h}^{eta_0} sqrt f d eta`` for each ``eta_0``."""
    x, w = (a.astype(dtype) for a in _gauss_unit(n_nodes))
    if math.isinf(metric.eta_horizon):  # eta = eta0 + log v: int_0^1 sqrt f(eta) dv / v
        eta = eta0[:, None] + np.log(x)[None, :]
        vals = np.exp(0.5 * np.asarray(metric.log_f(eta), dtype=dtype)) / x[None, :]
        return np.sum(w * vals, axis=1)
    lo = metric.eta_horizon
    span = eta0 - lo
    eta = lo + span[:, None] * x[None, :]
    vals = np.exp(0.5 * np.asarray(metric.log_f(eta), dtype=dtype))
    return span * np.sum(w * vals, axis=1)


@dataclass
class Branch:
    """An interval ``(lo, hi)`` of admissible turning points; ``lo_critical``/``hi_critical``: the end is
    a point where ``d -> inf`` (the string runs along the minimum ``eta_c`` of ``F``)."""

    lo: float
    hi: float
    lo_critical: bool
    hi_critical: bool


def connected_branches(metric: EmergentMetric, n_grid: int = 4000) -> tuple[list[Branch], float | None]:
    """The intervals of ``eta_0`` where a connected string exists, and ``eta_c`` (the interior minimum of
    ``F`` that bounds one of them, where ``d -> inf``; None if none).

    ``eta_0`` is admissible iff ``F(eta_0) < min_{eta > eta_0} F(eta)``: on a grid, the strict suffix
    minima of ``log F``; critical ends are refined with ``minimize_scalar`` (the minimum ``eta_c``) and
    ``brentq`` (the point below with ``F = F(eta_c)``)."""
    top = metric.eta_top + 6.0
    lo = metric.eta_horizon if math.isfinite(metric.eta_horizon) else top - 20.0
    grid = np.linspace(lo, top, n_grid)[1:]
    logF = metric.log_F(grid)
    suffix = np.minimum.accumulate(logF[::-1])[::-1]
    later = np.append(suffix[1:], np.inf)
    ok = logF < later - 1e-12
    branches: list[Branch] = []
    eta_c = None
    i = 0
    n = len(grid)
    while i < n:
        if not ok[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and ok[j + 1]:
            j += 1
        a = lo if i == 0 else grid[i]
        b = top if j == n - 1 else grid[j]
        a_crit = i > 0
        b_crit = j < n - 1
        if a_crit:  # the left end is the minimum eta_c of F: refine it
            k = i
            res = minimize_scalar(
                lambda e: float(metric.log_F(e)),
                bounds=(grid[max(k - 2, 0)], grid[min(k + 2, n - 1)]),
                method="bounded",
                options={"xatol": 1e-12},
            )
            a = float(res.x)
            eta_c = a if eta_c is None else eta_c
        if b_crit:  # the right end: F(b) = min of F above b
            target = float(later[j])
            # the minimiser above: where suffix attains target
            k = j + 1 + int(np.argmin(logF[j + 1 :]))
            res = minimize_scalar(
                lambda e: float(metric.log_F(e)),
                bounds=(grid[max(k - 2, 0)], grid[min(k + 2, n - 1)]),
                method="bounded",
                options={"xatol": 1e-12},
            )
            target = float(res.fun)
            eta_c = float(res.x)

            def gap(e, target=target):
                return float(metric.log_F(e)) - target

            b = (
                brentq(gap, grid[j], grid[j + 1], xtol=1e-13)
                if gap(grid[j]) < 0 < gap(grid[j + 1])
                else grid[j]
            )
        branches.append(Branch(float(a), float(b), a_crit, b_crit))
        i = j + 1
    return branches, eta_c


def _sample_branch(br: Branch, n: int, span: float = 16.0) -> np.ndarray:
    """Turning points on a branch: ``n`` uniform in ``eta_0`` (``d ∝ e^{-eta_0}`` towards the boundary)
    plus ``n/2`` clustered logistically (to ``~e^{-span}``) at each end where ``d -> inf``."""
    parts = [np.linspace(br.lo, br.hi, n + 2)[1:-1]]
    x = np.linspace(0.0, span, n // 2)
    sig = 1.0 / (1.0 + np.exp(x))  # 1/2 .. e^{-span}
    if br.lo_critical:
        parts.append(br.lo + 0.5 * (br.hi - br.lo) * 2 * sig * 0.5)
    if br.hi_critical:
        parts.append(br.hi - 0.5 * (br.hi - br.lo) * 2 * sig * 0.5)
    return np.unique(np.concatenate(parts))


@dataclass
class WilsonLoopCurve:
    """``V(d)`` of one metric (``d`` in units of L, ``V`` in units of ``1/(2 pi alpha' L)``).

    ``potential``: with Debye screening (0 where the straight strings are lower or no connected
    string exists); ``connected``: the lowest connected branch (NaN where none); ``eta0``, ``d_samples``,
    ``e_samples``, ``branch``: the turning points computed. ``screening_distance``: the smallest ``d``
    where the connected energy reaches 0 (None: never); ``max_separation``: the largest ``d`` of a
    connected string (inf when ``F`` has an interior minimum); ``string_tension``: ``sqrt(F(eta_c))``."""

    separations: np.ndarray
    potential: np.ndarray
    connected: np.ndarray
    eta0: np.ndarray
    d_samples: np.ndarray
    e_samples: np.ndarray
    branch: np.ndarray
    screening_distance: float | None
    max_separation: float
    string_tension: float | None
    eta_c: float | None
    info: dict = field(default_factory=dict)


def wilson_loop(
    metric: EmergentMetric,
    separations=None,
    *,
    n_separations: int = 200,
    d_max: float | None = None,
    n_nodes: int = 64,
    n_eta0: int = 400,
) -> WilsonLoopCurve:
    """``V(d)`` at ``separations`` (default: ``n_separations`` points up to ``d_max``, by default
    1.5 x the screening distance or the largest separation)."""
    branches, eta_c = connected_branches(metric)
    etas, bids = [], []
    for k, br in enumerate(branches):
        e = _sample_branch(br, n_eta0)
        etas.append(e)
        bids.append(np.full(e.shape, k))
    eta0 = np.concatenate(etas) if etas else np.zeros(0)
    bid = np.concatenate(bids) if bids else np.zeros(0, int)
    d, E = separation_and_energy(metric, eta0, n_nodes)
    good = np.isfinite(d) & np.isfinite(E)
    eta0, bid, d, E = eta0[good], bid[good], d[good], E[good]
    tension = math.exp(0.5 * float(metric.log_F(eta_c))) if eta_c is not None else None
    max_sep = (
        math.inf if any(b.lo_critical or b.hi_critical for b in branches) else float(np.max(d, initial=0))
    )
    if math.isfinite(max_sep) and d.size > 2:  # refine the largest separation between its neighbours
        i = int(np.argmax(d))
        lo_i, hi_i = max(i - 1, 0), min(i + 1, d.size - 1)
        if bid[lo_i] == bid[i] == bid[hi_i] and lo_i < i < hi_i:
            r = minimize_scalar(
                lambda x: -float(separation_and_energy(metric, np.array([x]), n_nodes)[0][0]),
                bounds=(eta0[lo_i], eta0[hi_i]),
                method="bounded",
                options={"xatol": 1e-10},
            )
            max_sep = max(max_sep, -float(r.fun))
    # screening distance: first zero of the energy along each branch, refined in eta_0
    crossings = []
    for k in range(len(branches)):
        sel = np.flatnonzero(bid == k)
        ek = E[sel]
        for j in np.flatnonzero(np.sign(ek[:-1]) * np.sign(ek[1:]) < 0):
            a, b = eta0[sel[j]], eta0[sel[j + 1]]
            r = brentq(
                lambda x: float(separation_and_energy(metric, np.array([x]), n_nodes)[1][0]), a, b, xtol=1e-12
            )
            crossings.append(float(separation_and_energy(metric, np.array([r]), n_nodes)[0][0]))
    segments = _monotone_segments(d, E, bid)
    screening = None
    if crossings:
        # the lowest branch decides: keep crossings where no other branch is below zero
        for dc in sorted(crossings):
            if not (_lowest(segments, np.array([dc]))[0] < -1e-9):
                screening = dc
                break
        if screening is None:
            screening = min(crossings)
    if separations is None:
        top = d_max or (1.5 * screening if screening else (max_sep if math.isfinite(max_sep) else 3.0))
        separations = np.linspace(top / n_separations, top, n_separations)
    separations = np.asarray(separations, dtype=float)
    conn = _lowest(segments, separations)
    pot = np.where(np.isfinite(conn), np.minimum(conn, 0.0), 0.0)
    return WilsonLoopCurve(separations, pot, conn, eta0, d, E, bid, screening, max_sep, tension, eta_c)


def _monotone_segments(d, E, bid):
    """Pieces of the sampled curve on which ``d`` is strictly monotonic, sorted by ``d``."""
    segs = []
    for k in np.unique(bid):
        sel = np.flatnonzero(bid == k)
        dk, ek = d[sel], E[sel]
        if dk.size < 2:
            continue
        sgn = np.sign(np.diff(dk))
        start = 0
        for i in range(1, len(sgn) + 1):
            if i == len(sgn) or sgn[i] != sgn[start]:
                seg_d, seg_e = dk[start : i + 1], ek[start : i + 1]
                order = np.argsort(seg_d)
                seg_d, seg_e = seg_d[order], seg_e[order]
                keep = np.append(np.diff(seg_d) > 0, True)
                segs.append((seg_d[keep], seg_e[keep]))
                start = i
    return segs


def _lowest(segments, x):
    """The lowest connected energy at separations ``x``: a cubic spline in ``log d`` on each monotone
    piece; below the smallest sampled ``d`` the conformal UV law ``E ∝ 1/d``; NaN where no piece."""
    from scipy.interpolate import CubicSpline

    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, np.inf)
    d_min = min((sd[0] for sd, _ in segments), default=np.inf)
    for sd, se in segments:
        inside = (x >= sd[0]) & (x <= sd[-1])
        if sd.size >= 4:
            val = CubicSpline(np.log(sd), se)(np.log(np.clip(x, sd[0], sd[-1])))
        else:
            val = np.interp(x, sd, se)
        out = np.where(inside, np.minimum(out, val), out)
        if sd[0] == d_min:  # UV: extrapolate E d = const below the smallest sample
            out = np.where(x < d_min, se[0] * d_min / np.maximum(x, 1e-300), out)
    return np.where(np.isfinite(out), out, np.nan)


def wilson_loops_in_fm(members, d_fm) -> dict:
    """``V(d)`` of each ``(metric, L)`` on the common separations ``d_fm`` (fm).

    Returns ``potential`` (members x separations; ``2 pi alpha' V / L^2`` in GeV, NaN for a member
    without a metric), ``screening_fm``, ``string_tension_GeV2`` (``sqrt(F(eta_c))/L^2``, GeV^2 in
    units of ``L^2/(2 pi alpha')``, NaN where ``F`` has no interior minimum) and ``curves``."""
    from nqg.gravity.emergent_metric import HBARC_GEV_FM

    d_fm = np.asarray(d_fm, dtype=float)
    pot, screen, tension, curves = [], [], [], []
    for metric, radius in members:
        if metric is None:
            pot.append(np.full(d_fm.shape, np.nan))
            screen.append(np.nan)
            tension.append(np.nan)
            curves.append(None)
            continue
        to_fm = radius * HBARC_GEV_FM
        curve = wilson_loop(metric, d_fm / to_fm)
        pot.append(curve.potential / radius)
        screen.append(curve.screening_distance * to_fm if curve.screening_distance is not None else np.nan)
        tension.append(curve.string_tension / radius**2 if curve.string_tension is not None else np.nan)
        curves.append(curve)
    return {
        "potential": np.asarray(pot),
        "screening_fm": np.asarray(screen),
        "string_tension_GeV2": np.asarray(tension),
        "curves": curves,
    }
