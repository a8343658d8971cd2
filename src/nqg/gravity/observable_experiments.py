"""Experiments ``holographic-wilson-loop`` and ``holographic-dilaton``: observables of the emergent
metric of arXiv:1809.10536, on its published Table II and on ensembles we train on the same lattice
condensate (discrete network; at the full setting also the neural ODE).

- Wilson loop: analytic checks (pure AdS, AdS-Schwarzschild), Table II under assumption (i), and
  ``V(d)`` in fm with the screening distance and string tension per ensemble member (band: mean ± std,
  errors: std/sqrt(members)).
- Dilaton: the Einstein-dilaton reconstruction checked on an analytic solution, then the null energy
  condition and ``V(Phi)`` for Table II and for each member.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nqg.gravity.dilaton import dilaton_from_metric, einstein_dilaton_from_h
from nqg.gravity.emergent_metric import (
    HBARC_GEV_FM,
    LATTICE_TEMPERATURE_GEV,
    PUBLISHED_C5,
    EmergentMetric,
    ads_schwarzschild_metric,
    ensemble_h_profiles,
    ensemble_metrics,
    published_metric_table2,
    pure_ads_metric,
    reconstruct_metric,
    smooth_metric_h,
)
from nqg.gravity.wilson_loop import (
    ADS_D_COEFF,
    ADS_DV,
    separation_and_energy,
    wilson_loop,
    wilson_loops_in_fm,
)
from nqg.results import Result, save_figure
from nqg.spec import Experiment, RunContext

REFERENCE = "Hashimoto, Sugishita, Tanaka, Tomiya, arXiv:1809.10536"
TABLE2_ZERO_L = 0.26  # the paper: V crosses zero at about 0.26 L (0.18 fm), case (i)
ADS_SCHWARZSCHILD_MAX_SEPARATION = 0.8691
ADS_SCHWARZSCHILD_ZERO = 0.756

COMMON: dict[str, Any] = {
    "members": 10,
    "steps": 8000,
    "ode_members": 6,
    "ode_steps": 2000,
    "temperature_GeV": LATTICE_TEMPERATURE_GEV,
    "assumption": "exp",
}
QUICK: dict[str, Any] = {"members": 3, "steps": 2000, "ode_members": 0}


_TRAINED: dict[tuple, list[tuple[str, Any]]] = {}


def _train(cfg: dict[str, Any], ctx: RunContext) -> list[tuple[str, Any]]:
    """Our ensembles on the lattice condensate: ``[(label, converged members stacked)]``; the two
    experiments share them within one process (``nqg reproduce``) through a cache keyed by the seed
    and the training settings."""
    key = (ctx.seed, *(int(cfg[k]) for k in ("members", "steps", "ode_members", "ode_steps")))
    if key not in _TRAINED:
        _TRAINED[key] = _train_uncached(cfg, ctx)
    return _TRAINED[key]


def _train_uncached(cfg: dict[str, Any], ctx: RunContext) -> list[tuple[str, Any]]:
    import jax

    from nqg.gravity.holography import (
        converged_members,
        discrete_ensemble,
        fit_regression,
        load_lattice_condensate,
        ode_ensemble,
    )

    m_q, sigma = load_lattice_condensate()
    key = jax.random.key(ctx.seed)
    out = []
    plans = [("discrete", int(cfg["members"]), int(cfg["steps"]), discrete_ensemble, {"h_std": 1.0})]
    if int(cfg["ode_members"]) > 0:
        plans.append(("ode", int(cfg["ode_members"]), int(cfg["ode_steps"]), ode_ensemble, {}))
    for i, (label, n, steps, make, kw) in enumerate(plans):
        k_init, k_fit = jax.random.split(jax.random.fold_in(key, i))
        fit = fit_regression(
            make(k_init, n, **kw),
            m_q,
            sigma,
            steps=steps,
            key=k_fit,
            progress=False,
            ctx=ctx,
            name=f"observables_{label}",
        )
        ok = converged_members(fit.history["member_chi2"][-1])
        ens = jax.tree_util.tree_map(
            lambda x, ok=ok: x[ok] if hasattr(x, "ndim") and x.ndim else x, fit.state.params
        )
        out.append((label, ens))
    return out


def _mean_err(x) -> tuple[float, float, int]:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, 0
    err = float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(np.mean(x)), err, int(x.size)


def _scaled(metric: EmergentMetric, c: float) -> EmergentMetric:
    """``f, g`` multiplied by ``c`` (the paper's ``c5`` in place of ours)."""
    import dataclasses

    log_c = math.log(c)
    return dataclasses.replace(
        metric, log_f=lambda e: log_c + metric.log_f(e), log_g=lambda e: log_c + metric.log_g(e)
    )


# --------------------------------------------------------------------------------------------------
# holographic-wilson-loop
# --------------------------------------------------------------------------------------------------
def run_wilson_loop(cfg: dict[str, Any], ctx: RunContext) -> Result:
    import matplotlib.pyplot as plt

    res = Result("holographic-wilson-loop", quick=ctx.quick, seed=ctx.seed, params=dict(cfg))
    # analytic checks
    ads = pure_ads_metric()
    eta0 = np.array([-1.0, 0.0, 1.5])
    d, e = separation_and_energy(ads, eta0)
    dev_d = float(np.max(np.abs(d * np.exp(eta0) - 1.19814)))
    dev_dv = float(np.max(np.abs(d * e + 1.43554)))
    res.add_check(
        "pure AdS: d e^{eta0} = 1.19814 to 1e-4", dev_d < 1e-4, f"{float(d[0] * np.exp(eta0[0])):.6f}"
    )
    res.add_check(
        "pure AdS: d * 2 pi alpha' V = -1.43554 to 1e-4", dev_dv < 1e-4, f"{float(d[0] * e[0]):.6f}"
    )
    res.add_metric("ads_d_coefficient", float(ADS_D_COEFF))
    res.add_metric("ads_dV", float(ADS_DV))
    bh = wilson_loop(ads_schwarzschild_metric(1.0 / math.pi))
    res.add_metric("ads_schwarzschild_max_separation_L", bh.max_separation)
    res.add_metric("ads_schwarzschild_zero_L", bh.screening_distance)
    res.add_check(
        "AdS-Schwarzschild T = 1/pi: largest separation 0.8691 within 1%",
        abs(bh.max_separation / ADS_SCHWARZSCHILD_MAX_SEPARATION - 1) < 0.01,
        f"{bh.max_separation:.5f}",
    )
    res.add_check(
        "AdS-Schwarzschild T = 1/pi: V = 0 at d = 0.756 within 1%",
        abs(bh.screening_distance / ADS_SCHWARZSCHILD_ZERO - 1) < 0.01,
        f"{bh.screening_distance:.5f}",
    )
    # Table II, case (i)
    eta_t, h_t = published_metric_table2()
    h_model = smooth_metric_h(eta_t, h_t)
    L_t = 3.460
    TL = float(cfg["temperature_GeV"]) * L_t
    ours = reconstruct_metric(h_model, str(cfg["assumption"]), TL)
    c_ours = ours.info["c"]
    res.add_metric(f"table2_c_{cfg['assumption']}", c_ours)
    if cfg["assumption"] == "exp":
        res.add_reference("table2_c_exp", PUBLISHED_C5, source=REFERENCE + " (c5)")
    matched = reconstruct_metric(smooth_metric_h(eta_t, h_t, horizon="match"), str(cfg["assumption"]), TL)
    res.add_metric(f"table2_c_{cfg['assumption']}_matched_continuation", matched.info["c"])
    unit = reconstruct_metric(h_model, "exp", None)
    paper = wilson_loop(_scaled(unit, PUBLISHED_C5))
    own = wilson_loop(ours)
    res.add_metric("table2_zero_L_paper_c5", paper.screening_distance, unit="L")
    res.add_reference("table2_zero_L_paper_c5", TABLE2_ZERO_L, source=REFERENCE)
    res.add_metric("table2_zero_L_our_c", own.screening_distance, unit="L")
    res.add_metric("table2_zero_fm_paper_c5", paper.screening_distance * L_t * HBARC_GEV_FM, unit="fm")
    res.add_metric("table2_string_tension_paper_c5", paper.string_tension, unit="1/(2 pi alpha' L^2)")
    res.add_check(
        "Table II (i), the paper's c5: V = 0 at 0.26 L within 10%",
        abs(paper.screening_distance / TABLE2_ZERO_L - 1) < 0.10,
        f"{paper.screening_distance:.4f} L",
    )
    # string tension: slope of the connected energy at large d equals sqrt(F(eta_c))
    sel = (paper.branch == paper.branch[np.argmax(paper.d_samples)]) & np.isfinite(paper.d_samples)
    dd, ee = paper.d_samples[sel], paper.e_samples[sel]
    far = dd > np.quantile(dd, 0.9)
    slope = float(np.polyfit(dd[far], ee[far], 1)[0])
    res.add_check(
        "Table II (i): large-d slope of V equals sqrt(F(eta_c)) within 1%",
        abs(slope / paper.string_tension - 1) < 0.01,
        f"slope {slope:.2f} vs {paper.string_tension:.2f}",
    )
    # our ensembles
    d_fm = np.geomspace(0.005, 50.0, 120)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for label, metric, L in (
        ("Table II (i), paper c5", _scaled(unit, PUBLISHED_C5), L_t),
        ("Table II (i), our c5", ours, L_t),
    ):
        wl = wilson_loops_in_fm([(metric, L)], d_fm)
        ax1.plot(d_fm, wl["potential"][0], label=label)
    rows = []
    for label, ens in _train(cfg, ctx):
        members = [
            (m, L) for m, L, _ in ensemble_metrics(ens, str(cfg["assumption"]), float(cfg["temperature_GeV"]))
        ]
        n_all = len(members)
        wl = wilson_loops_in_fm(members, d_fm)
        pot = wl["potential"]
        ok = np.all(np.isfinite(pot), axis=1)
        res.add_metric(f"{label}_members_with_horizon", int(ok.sum()))
        res.add_metric(f"{label}_members_converged", n_all)
        s_mean, s_err, _ = _mean_err(wl["screening_fm"])
        res.add_metric(f"{label}_screening_distance_fm", s_mean, s_err, "fm")
        t_mean, t_err, t_n = _mean_err(wl["string_tension_GeV2"])
        res.add_metric(f"{label}_members_with_string_tension", t_n)
        if t_n:
            res.add_metric(f"{label}_string_tension", t_mean, t_err, "GeV^2 L^2/(2 pi alpha')")
        if ok.any():
            mean, std = pot[ok].mean(0), pot[ok].std(0)
            ax1.plot(d_fm, mean, label=f"ours, {label} ({int(ok.sum())} members)")
            ax1.fill_between(d_fm, mean - std, mean + std, alpha=0.3)
            for j in range(0, d_fm.size, 3):
                rows.append(
                    {"ensemble": label, "d_fm": float(d_fm[j]), "V": float(mean[j]), "V_std": float(std[j])}
                )
        for eta, h, _ in ensemble_h_profiles(ens):
            ax2.plot(eta, h, color="C2" if label == "discrete" else "C3", alpha=0.5, lw=0.8)
    res.add_check(
        "every converged member of the discrete ensemble has a horizon and a finite V(d)",
        res.metrics["discrete_members_with_horizon"]["value"]
        == res.metrics["discrete_members_converged"]["value"],
        f"{res.metrics['discrete_members_with_horizon']['value']}/{res.metrics['discrete_members_converged']['value']}",
    )
    res.add_table("wilson_loop", rows)
    ax1.axhline(0, color="k", lw=0.5)
    ax1.axvline(0.1, color="grey", ls=":", lw=0.8)
    ax1.set_xlabel("d [fm]")
    ax1.set_ylabel(r"$2\pi\alpha' V / L^2$ [GeV]")
    ax1.set_xscale("log")
    ax1.set_yscale("symlog", linthresh=0.1)
    ax1.legend(fontsize=7)
    ax2.plot(eta_t, h_t, "ko", ms=3, label="Table II")
    ax2.set_xlabel(r"$\eta$")
    ax2.set_ylabel(r"$h(\eta)$")
    ax2.legend()
    save_figure(fig, ctx.out_dir, "wilson_loop.png", res)
    return res


# --------------------------------------------------------------------------------------------------
# holographic-dilaton
# --------------------------------------------------------------------------------------------------
def analytic_dilaton_solution(phi0: float = 0.7) -> tuple[EmergentMetric, Any]:
    """Zero-temperature Einstein-dilaton solution: ``Phi = phi0 e^{-eta}`` gives, from
    ``A'' = -(4/9) Phi'^2`` with ``A' -> 1``, ``A = eta - phi0^2 e^{-2 eta}/9`` (``f = g = e^{2A}``), and
    ``V = 3(A'' + 4A'^2) = 12 + 4 Phi^2 + (16/27) Phi^4``. Returns the metric and ``V(Phi)``."""

    def log_a2(e):
        import jax.numpy as jnp

        xp = jnp if not isinstance(e, (np.ndarray, float, int)) else np
        return 2.0 * (e - phi0**2 * xp.exp(-2.0 * e) / 9.0)

    metric = EmergentMetric(log_a2, log_a2, -math.inf, 12.0, "dilaton solution")
    return metric, lambda phi: 12.0 + 4.0 * phi**2 + 16.0 / 27.0 * phi**4


def run_dilaton(cfg: dict[str, Any], ctx: RunContext) -> Result:
    import matplotlib.pyplot as plt

    res = Result("holographic-dilaton", quick=ctx.quick, seed=ctx.seed, params=dict(cfg))
    metric, v_exact = analytic_dilaton_solution()
    grid = np.linspace(-1.0, 8.0, 200)
    prof = dilaton_from_metric(metric, grid, top=30.0)
    dev = float(np.max(np.abs(prof.potential - v_exact(prof.phi))))
    res.add_metric("analytic_solution_max_dV", dev)
    res.add_check("analytic solution: V(Phi) recovered to 1e-6", dev < 1e-6, f"max |dV| = {dev:.2e}")
    bh = dilaton_from_metric(ads_schwarzschild_metric(1 / math.pi), np.linspace(0.05, 3.0, 60))
    dv = float(np.max(np.abs(bh.potential - 12.0)))
    res.add_check(
        "AdS-Schwarzschild: V = 12, Phi' = 0 to 1e-8",
        dv < 1e-8 and np.max(np.abs(bh.phi_prime_sq)) < 1e-8,
        f"max |V - 12| = {dv:.1e}",
    )
    # Table II
    eta_t, h_t = published_metric_table2()
    h_model = smooth_metric_h(eta_t, h_t)
    e_grid = np.linspace(eta_t.min(), eta_t.max(), 141)
    TL = float(cfg["temperature_GeV"]) * 3.460
    for a in ("exp", "cosh"):
        p = dilaton_from_metric(reconstruct_metric(h_model, a, TL), e_grid)
        res.add_metric(f"table2_{a}_nec_fraction", p.nec_fraction)
        res.add_metric(f"table2_{a}_max_abs_tt_xx_residual", float(np.max(np.abs(p.residual))))
    cons = einstein_dilaton_from_h(h_model, e_grid)
    res.add_metric("table2_einstein_dilaton_nec_fraction", cons.nec_fraction)
    res.add_metric("table2_einstein_dilaton_min_phi_prime_sq", float(cons.phi_prime_sq.min()))
    import jax
    import jax.numpy as jnp

    h_slope = np.asarray(jax.vmap(jax.grad(lambda e: h_model(e)))(jnp.asarray(e_grid)))
    rising = h_slope > 0
    res.add_check(
        "Table II, Einstein-dilaton reconstruction: NEC fails wherever h' > 0 (Phi'^2 = -(9/16)(h' + u^2))",
        bool(np.all(cons.phi_prime_sq[rising] < 0)),
        f"{int(rising.sum())} grid points with h' > 0",
    )
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(e_grid, cons.phi_prime_sq, "k-", label="Table II")
    ax2.plot(cons.phi, np.where(cons.nec, cons.potential, np.nan), "k-", label="Table II")
    for label, ens in _train(cfg, ctx):
        fractions, pps, pots, phis, necs = [], [], [], [], []
        for eta, h, _ in ensemble_h_profiles(ens):
            try:
                hm = smooth_metric_h(eta, h)
            except Exception:  # no horizon: skipped (counted below)
                continue
            grid = np.linspace(eta.min(), eta.max(), 141)
            p = einstein_dilaton_from_h(hm, grid)
            fractions.append(p.nec_fraction)
            pps.append(p.phi_prime_sq)
            pots.append(p.potential)
            phis.append(p.phi)
            necs.append(p.nec)
        mean, err, n = _mean_err(fractions)
        res.add_metric(f"{label}_members_with_horizon", n)
        res.add_metric(f"{label}_nec_fraction", mean, err)
        res.add_metric(f"{label}_members_satisfying_nec", int(sum(f == 1.0 for f in fractions)))
        if n:
            pps_a = np.asarray(pps)
            m_, s_ = pps_a.mean(0), pps_a.std(0)
            ax1.plot(grid, m_, label=f"ours, {label} ({n})")
            ax1.fill_between(grid, m_ - s_, m_ + s_, alpha=0.3)
            for j, (phi, v, nec) in enumerate(zip(phis, pots, necs, strict=True)):
                ax2.plot(
                    phi,
                    np.where(nec, v, np.nan),
                    color="C0" if label == "discrete" else "C3",
                    alpha=0.6,
                    lw=0.8,
                    label=f"ours, {label} (each member)" if j == 0 else None,
                )
    res.add_check(
        "every converged discrete member has a horizon (the reconstruction applies)",
        res.metrics["discrete_members_with_horizon"]["value"] >= 1,
        f"{res.metrics['discrete_members_with_horizon']['value']} members",
    )
    ax1.axhline(0, color="k", lw=0.5)
    ax1.set_xlabel(r"$\eta$")
    ax1.set_ylabel(r"$\Phi'^2$ (NEC: $\geq 0$)")
    ax1.set_yscale("symlog")
    ax1.legend(fontsize=7)
    ax2.set_xlabel(r"$\Phi$ (shown where the NEC holds)")
    ax2.set_ylabel(r"$V(\Phi)$")
    ax2.set_yscale("symlog")
    ax2.legend(fontsize=7)
    save_figure(fig, ctx.out_dir, "dilaton.png", res)
    return res


EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="holographic-wilson-loop",
        description="Quark-antiquark potential of the emergent metric: Debye screening, string tension",
        defaults=COMMON,
        run=run_wilson_loop,
        quick=QUICK,
        reference=REFERENCE,
        full_time_s=20,  # measured wall time of the full setting on 2 CPU cores (2026-11-27)
    ),
    Experiment(
        name="holographic-dilaton",
        description="Einstein-dilaton consistency of the emergent metric: NEC and V(Phi)",
        defaults=COMMON,
        run=run_dilaton,
        quick=QUICK,
        reference="Hashimoto, Ohashi, Sumimoto, arXiv:2108.08091, arXiv:2209.04638",
        full_time_s=27,  # measured wall time of the full setting on 2 CPU cores (2026-11-27)
    ),
]
