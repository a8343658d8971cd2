"""Experiment ``nn-path-integral``: path integrals as sums over network weights (arXiv:2403.11420).

For each activation (relu, step, cosine, free-relu = ReLU with random time divisions):
E0 and the gap of the harmonic and the g = 1 anharmonic oscillator on periodic paths of length
T = ``T_gaps`` / (E1 - E0) (thermal contamination ~ exp(-T_gaps)); the endpoint density of free-end
paths against the free and Mehler kernels; the ground-state wave function from long free-end paths
(psi0) and from periodic paths (|psi0|^2) of the anharmonic oscillator; E0 against the number of
neurons N; the step network with free-particle weights as Brownian motion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nqg.fields.path_integral import (
    ACTIVATIONS,
    StepPath,
    chi2_against,
    endpoint_distribution,
    ground_state,
    harmonic_discretized_energy,
    make_path_network,
    make_potential,
    sample_path_integral,
    squared_increments,
    thermal_oscillator_energy,
)
from nqg.fields.path_integral_field import free_scalar_field
from nqg.fields.quantum_mechanics import endpoint_density_exact, oscillator_basis_spectrum
from nqg.results import Result, save_figure
from nqg.spec import Experiment, RunContext

REFERENCE = "Hashimoto, Hirono, Maeda, Totsuka-Yoshinaka, arXiv:2403.11420"
LABELS = {
    "relu": "ReLU (fixed kinks)",
    "step": "step (lattice)",
    "cosine": "Fourier",
    "free-relu": "ReLU (free kinks)",
}

DEFAULTS: dict[str, Any] = {
    "neurons": 64,
    "g": 1.0,
    "T_gaps": 8.0,
    "chains": 32,
    "samples": 4000,
    "warmup": 400,
    "block": 10,
    "kernel_T": 1.0,
    "kernel_x0": 0.5,
    "kernel_neurons": 32,
    "kernel_samples": 2000,
    "wavefunction_T": 5.0,
    "scan_neurons": [8, 16, 32, 64],
    "scan_chains": 16,
    "scan_samples": 1000,
    "pad": False,
    # random time divisions have ~1.5x the O(dtau^2) error of the uniform grid: twice the neurons keep
    # that bias below the statistical error (0 = same as "neurons")
    "free_relu_neurons": 128,
    "field_sites": 8,
    "field_mass": 1.0,
    "field_T": 8.0,
    "field_modes": 16,
    "field_samples": 4000,
}
QUICK: dict[str, Any] = {
    "neurons": 32,
    "chains": 4,
    "samples": 400,
    "warmup": 150,
    "kernel_neurons": 32,
    "kernel_samples": 400,
    "scan_neurons": [16, 32],
    "scan_chains": 4,
    "scan_samples": 400,
    "pad": True,
    "free_relu_neurons": 0,
    "field_modes": 8,
    "field_samples": 400,
}


# A run compares N_DENSITY_CHECKS sampled densities with exact ones (endpoint densities of the free and
# harmonic kernels, psi0 from free ends, |psi0|^2 from periodic paths, for every activation) by chi^2. Each
# passes at p > P_FAMILY / N_DENSITY_CHECKS (Bonferroni), so a correct sampler fails one of them in at most
# 0.1 % of runs; a per-check p > 0.001 would let 1.6 % of correct runs fail somewhere.
N_DENSITY_CHECKS = 4 * len(ACTIVATIONS)
P_FAMILY = 1e-3
P_CHECK = P_FAMILY / N_DENSITY_CHECKS
P_LABEL = f"chi2 p > {P_CHECK:.2g}: 0.001 over the run's {N_DENSITY_CHECKS} density checks"


def _sigma(value: float, error: float, exact: float) -> float:
    return float((value - exact) / error) if error > 0 else float("inf")


def _density_check(res: Result, ax, act: str, i: int, edges, density, name: str, label: str, check: str):
    """chi^2 of a sampled density ``(centres, density, error, exact, n_samples)`` against the exact one:
    plotted on ``ax``, recorded as a check; returns the table row."""
    centres, dens, err, exact, n_samples = density
    chi2, dof, p = chi2_against(dens, err, exact, bin_width=np.diff(edges), n_samples=n_samples)
    ax.errorbar(
        centres + (i - 1.5) * 0.01,
        dens,
        err,
        fmt="o",
        ms=3,
        label=f"{LABELS[act]} {label} (chi2/dof {chi2:.0f}/{dof})",
    )
    res.add_check(f"{check} ({act}), {P_LABEL}", p > P_CHECK, f"chi2/dof = {chi2:.1f}/{dof}, p = {p:.3g}")
    return {"activation": act, "quantity": f"{name} ({label})", "chi2": chi2, "dof": dof, "p_value": p}


def run_nn_path_integral(cfg: dict[str, Any], ctx: RunContext) -> Result:
    import matplotlib.pyplot as plt

    res = Result("nn-path-integral", quick=ctx.quick, seed=ctx.seed, params=dict(cfg))
    N, g = int(cfg["neurons"]), float(cfg["g"])
    scan = [int(n) for n in cfg["scan_neurons"]]
    N_free = int(cfg["free_relu_neurons"]) or N
    n_max = max([N, N_free, int(cfg["kernel_neurons"]), *scan])
    # one padded shape for every run (quick): a single compilation of the sampler
    pad = {"pad_dim": n_max + 1, "pad_quad": 6 * n_max + 6} if cfg["pad"] else {}
    # keep_weights everywhere: the Brownian-motion check needs them, and one static flag means one compile
    run_kw = {"n_warmup": int(cfg["warmup"]), "block_size": int(cfg["block"]), "keep_weights": True, **pad}
    counter = iter(range(10_000))

    def seed() -> int:
        return int(ctx.seed) * 10_000 + next(counter)

    potentials = {"harmonic": make_potential("harmonic"), "anharmonic": make_potential("anharmonic", g)}
    exact = {name: oscillator_basis_spectrum(p, n_basis=200) for name, p in potentials.items()}

    # ---------------------------------------------------------------- E0 and gap, every activation
    rows, runs = [], {}
    for pname, pot in potentials.items():
        T = float(cfg["T_gaps"]) / exact[pname].gap
        for act in ACTIVATIONS:
            n_act = N_free if act == "free-relu" else N
            run = ground_state(
                pot,
                act,
                n_neurons=n_act,
                T=T,
                n_chains=int(cfg["chains"]),
                n_samples=int(cfg["samples"]),
                seed=seed(),
                **run_kw,
            )
            runs[(pname, act)] = run
            e0, fit = run.E0, run.correlator
            ex = exact[pname]
            row = {
                "potential": pname,
                "activation": act,
                "neurons": n_act,
                "T": round(T, 4),
                "E0": e0.mean,
                "E0_error": e0.error,
                "E0_exact": ex.E0,
                "E0_sigma": _sigma(e0.mean, e0.error, ex.E0),
                "E0_rel_dev_percent": 100 * (e0.mean / ex.E0 - 1),
                "E0_rel_error_percent": 100 * e0.error / ex.E0,
                "gap": fit.gap if fit else float("nan"),
                "gap_error": fit.gap_error if fit else float("nan"),
                "gap_exact": ex.gap,
                "gap_sigma": _sigma(fit.gap, fit.gap_error, ex.gap) if fit else float("nan"),
                "E0_correlator": fit.E0 if fit else float("nan"),
                "E0_correlator_error": fit.E0_error if fit else float("nan"),
                "tau_int": e0.tau,
                "acceptance": run.samples.acceptance,
            }
            rows.append(row)
            res.add_metric(f"E0_{pname}_{act}", e0.mean, e0.error)
            res.add_reference(
                f"E0_{pname}_{act}", ex.E0, source="oscillator-basis diagonalization (200 states)"
            )
            if fit:
                res.add_metric(f"gap_{pname}_{act}", fit.gap, fit.gap_error)
                res.add_reference(f"gap_{pname}_{act}", ex.gap, source="oscillator-basis diagonalization")
            res.add_check(
                f"E0 {pname} {act} within 3 sigma of exact",
                abs(row["E0_sigma"]) < 3,
                f"{e0.mean:.5f} +- {e0.error:.5f} vs {ex.E0:.5f} ({row['E0_sigma']:+.1f} sigma)",
            )
            if not ctx.quick:
                res.add_check(
                    f"E0 {pname} {act}: |dev| < 1% and error < 0.5%",
                    abs(row["E0_rel_dev_percent"]) < 1 and row["E0_rel_error_percent"] < 0.5,
                    f"dev {row['E0_rel_dev_percent']:+.2f}%, error {row['E0_rel_error_percent']:.2f}%",
                )
            if fit:
                res.add_check(
                    f"gap {pname} {act} within 3 sigma of exact",
                    abs(row["gap_sigma"]) < 3,
                    f"{fit.gap:.4f} +- {fit.gap_error:.4f} vs {ex.gap:.4f}",
                )
    res.add_table("energies", rows)
    for pname in potentials:
        a, b = runs[(pname, "relu")].E0, runs[(pname, "free-relu")].E0
        z = (a.mean - b.mean) / np.hypot(a.error, b.error)
        res.add_check(
            f"fixed and free time divisions agree ({pname})",
            abs(z) < 3,
            f"relu (N={N}) {a.mean:.5f} +- {a.error:.5f}, "
            f"free-relu (N={N_free}) {b.mean:.5f} +- {b.error:.5f} ({z:+.1f} sigma)",
        )

    # ---------------------------------------------------------------- kernels: free end
    kT, kx0 = float(cfg["kernel_T"]), float(cfg["kernel_x0"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    kernel_rows = []
    brownian_weights = None
    for ax, kname in zip(axes, ("free", "harmonic"), strict=True):
        sd = np.sqrt(kT if kname == "free" else np.tanh(kT))
        mean = kx0 if kname == "free" else kx0 / np.cosh(kT)
        edges = np.linspace(mean - 3.5 * sd, mean + 3.5 * sd, 29)
        xs = np.linspace(edges[0], edges[-1], 300)
        ax.plot(
            xs,
            endpoint_density_exact(xs, kx0, kT, kname),
            "k-",
            lw=1.5,
            label="free kernel" if kname == "free" else "Mehler kernel",
        )
        for i, act in enumerate(ACTIVATIONS):
            keep = kname == "free" and act == "step"
            r = endpoint_distribution(
                make_potential(kname),
                act,
                n_neurons=int(cfg["kernel_neurons"]),
                T=kT,
                x0=kx0,
                bin_edges=edges,
                n_chains=int(cfg["chains"]),
                n_samples=int(cfg["kernel_samples"]),
                seed=seed(),
                **run_kw,
            )
            if keep:
                brownian_weights = r.samples.blocks["weights"]
            ex = endpoint_density_exact(r.centres, kx0, kT, kname)
            chi2, dof, p = chi2_against(
                r.density, r.error, ex, bin_width=np.diff(edges), n_samples=r.samples.blocks["x_end"].size
            )
            kernel_rows.append(
                {
                    "kernel": kname,
                    "activation": act,
                    "chi2": chi2,
                    "dof": dof,
                    "p_value": p,
                    "variance": r.variance.mean,
                    "variance_error": r.variance.error,
                    "variance_exact": sd**2,
                }
            )
            res.add_check(
                f"endpoint density {kname} {act} vs exact kernel ({P_LABEL})",
                p > P_CHECK,
                f"chi2/dof = {chi2:.1f}/{dof}, p = {p:.3g}",
            )
            ax.errorbar(
                r.centres + (i - 1.5) * 0.01 * sd,
                r.density,
                r.error,
                fmt="o",
                ms=3,
                label=f"{LABELS[act]} (chi2/dof {chi2:.0f}/{dof})",
            )
        ax.set_title(f"{kname}: K(x, x0={kx0}; T={kT}) / norm")
        ax.set_xlabel("x(T)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("endpoint density")
    save_figure(fig, ctx.out_dir, "kernel.png", res)
    res.add_table("kernels", kernel_rows)

    # ---------------------------------------------------------------- Brownian motion (step, free particle)
    step_net = StepPath(kT, int(cfg["kernel_neurons"]), "free", kx0)
    lags = [1, 2, 4, 8]
    inc_rows = []
    for lag, est in zip(lags, squared_increments(brownian_weights, step_net, lags), strict=True):
        expected = lag * step_net.dtau
        z = _sigma(est.mean, est.error, expected)
        inc_rows.append(
            {
                "lag": lag * step_net.dtau,
                "mean_sq_increment": est.mean,
                "error": est.error,
                "expected": expected,
                "sigma": z,
            }
        )
        res.add_check(
            f"step network, free particle: <(x(t+s)-x(t))^2> = s at s = {expected:.4g}",
            abs(z) < 3,
            f"{est.mean:.5f} +- {est.error:.5f} ({z:+.1f} sigma)",
        )
    res.add_table("brownian_increments", inc_rows)

    # ---------------------------------------------------------------- ground-state wave function
    pot = potentials["anharmonic"]
    spec = exact["anharmonic"]
    xs = np.linspace(-2.0, 2.0, 400)
    psi = spec.ground_state_wavefunction(xs)
    xx = np.linspace(-6, 6, 4001)
    psi_norm = np.trapezoid(spec.ground_state_wavefunction(xx), xx)
    edges = np.linspace(-1.6, 1.6, 25)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(xs, psi / psi_norm, "k-", label="psi0 / int psi0 (basis diagonalization)")
    axes[1].plot(xs, psi**2, "k-", label="|psi0|^2 (basis diagonalization)")
    wf_rows = []
    for i, act in enumerate(ACTIVATIONS):
        r = endpoint_distribution(
            pot,
            act,
            n_neurons=N,
            T=float(cfg["wavefunction_T"]),
            x0=0.0,
            bin_edges=edges,
            n_chains=int(cfg["chains"]),
            n_samples=int(cfg["samples"]),
            seed=seed(),
            **run_kw,
        )
        ex = spec.ground_state_wavefunction(r.centres) / psi_norm
        n_end = r.samples.blocks["x_end"].size
        free_end = (r.centres, r.density, r.error, ex, n_end)
        wf_rows.append(
            _density_check(
                res, axes[0], act, i, edges, free_end, "psi0", "free end", "psi0 from free-end density"
            )
        )
        per = runs[("anharmonic", act)].samples
        c, d, e = per.quarter_density(edges)
        ex2 = spec.ground_state_wavefunction(c) ** 2
        periodic = (c, d, e, ex2, per.blocks["x_quarter"].size)
        wf_rows.append(
            _density_check(
                res, axes[1], act, i, edges, periodic, "|psi0|^2", "periodic", "|psi0|^2 from periodic paths"
            )
        )
    for ax in axes:
        ax.set_xlabel("x")
        ax.legend(fontsize=7)
    axes[0].set_title(f"anharmonic g={g}: free end, T={cfg['wavefunction_T']}")
    axes[1].set_title("anharmonic: periodic paths")
    save_figure(fig, ctx.out_dir, "wavefunction.png", res)
    res.add_table("wavefunction", wf_rows)

    # ---------------------------------------------------------------- E0 against N
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    T_an = float(cfg["T_gaps"]) / exact["anharmonic"].gap
    scan_rows = []
    for i, act in enumerate(ACTIVATIONS):
        vals, errs = [], []
        for n in scan:
            if n == (N_free if act == "free-relu" else N):
                e0 = runs[("anharmonic", act)].E0
            else:
                e0 = ground_state(
                    pot,
                    act,
                    n_neurons=n,
                    T=T_an,
                    n_chains=int(cfg["scan_chains"]),
                    n_samples=int(cfg["scan_samples"]),
                    seed=seed(),
                    fit_gap=False,
                    **run_kw,
                ).E0
            vals.append(e0.mean)
            errs.append(e0.error)
            scan_rows.append({"activation": act, "neurons": n, "E0": e0.mean, "E0_error": e0.error})
        axes[0].errorbar(
            np.array(scan) * (1 + 0.02 * (i - 1.5)), vals, errs, fmt="o-", ms=4, label=LABELS[act]
        )
    axes[0].axhline(exact["anharmonic"].E0, color="k", lw=1, label="exact")
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("neurons N")
    axes[0].set_ylabel("E0 (virial estimator)")
    axes[0].set_title(f"anharmonic g={g}, T={T_an:.2f} (Monte Carlo)")
    axes[0].legend(fontsize=7)
    T_h = float(cfg["T_gaps"]) / exact["harmonic"].gap
    ns = np.array([4, 8, 16, 32, 64, 128])
    for act in ("relu", "step", "cosine"):
        for tail in (True, False) if act != "step" else (False,):
            e = [
                harmonic_discretized_energy(
                    make_path_network(act, T_h, int(n), "periodic"), tail_correction=tail
                )
                for n in ns
            ]
            axes[1].plot(
                ns,
                np.abs(np.array(e) - thermal_oscillator_energy(T_h)) / 0.5,
                "o-" if tail else "s--",
                label=f"{LABELS[act]}{' + tail' if tail else ''}",
            )
    axes[1].set_xscale("log", base=2)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("neurons N")
    axes[1].set_ylabel("|E0(N) - E0(inf)| / E0 (exact Gaussian integral)")
    axes[1].set_title(f"harmonic oscillator, T={T_h:.1f}: discretization error")
    axes[1].legend(fontsize=7)
    save_figure(fig, ctx.out_dir, "e0_vs_neurons.png", res)
    res.add_table("e0_vs_neurons", scan_rows)

    # ---------------------------------------------------------------- free scalar field on a 1+1 lattice
    L, mu = int(cfg["field_sites"]), float(cfg["field_mass"])
    fr = free_scalar_field(
        L,
        mu,
        T=float(cfg["field_T"]),
        n_modes=int(cfg["field_modes"]),
        n_chains=int(cfg["chains"]),
        n_samples=int(cfg["field_samples"]),
        n_warmup=int(cfg["warmup"]),
        k_max=L // 2,
        seed=seed(),
    )
    field_rows = []
    for k, w, e, ex in zip(fr.momenta, fr.omega, fr.omega_error, fr.omega_exact, strict=True):
        z = _sigma(w, e, ex)
        field_rows.append(
            {"k": int(k), "q": 2 * np.pi * k / L, "omega": w, "omega_error": e, "omega_exact": ex, "sigma": z}
        )
        res.add_check(
            f"field: w_q from the k = {k} correlator within 3 sigma of the lattice dispersion",
            abs(z) < 3,
            f"{w:.4f} +- {e:.4f} vs {ex:.4f}",
        )
    z = _sigma(fr.E0.mean, fr.E0.error, fr.E0_exact)
    res.add_metric("field_E0", fr.E0.mean, fr.E0.error)
    res.add_reference("field_E0", fr.E0_exact, source="sum_q (w_q/2) coth(w_q T/2), lattice dispersion")
    res.add_check(
        "field: E0 (virial) within 3 sigma of sum_q w_q/2",
        abs(z) < 3,
        f"{fr.E0.mean:.4f} +- {fr.E0.error:.4f} vs {fr.E0_exact:.4f}",
    )
    res.add_table("field_dispersion", field_rows)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    qq = np.linspace(0, np.pi, 200)
    ax.plot(qq, np.sqrt(mu**2 + 4 * np.sin(qq / 2) ** 2), "k-", label="lattice dispersion")
    ax.errorbar(
        2 * np.pi * fr.momenta / L, fr.omega, fr.omega_error, fmt="o", label="Fourier-network sites, HMC"
    )
    ax.set_xlabel("q")
    ax.set_ylabel("w_q (correlator decay)")
    ax.set_title(f"free scalar field, L={L}, mu={mu}")
    ax.legend(fontsize=8)
    save_figure(fig, ctx.out_dir, "field_dispersion.png", res)
    return res


EXPERIMENTS = [
    Experiment(
        name="nn-path-integral",
        full_time_s=194,  # measured wall time of the full setting on 2 CPU cores (2026-11-23)
        description="Path integrals as sums over network weights: E0, gap, kernels, psi0 (ReLU/step/Fourier)",
        defaults=DEFAULTS,
        run=run_nn_path_integral,
        quick=QUICK,
        reference=REFERENCE,
    )
]

# sample_path_integral is re-exported for notebooks that start from the experiment module
__all__ = ["EXPERIMENTS", "run_nn_path_integral", "sample_path_integral"]
