"""The ``dbm-imaginary-time`` experiment and the ``nqg quantum dbm`` command (Carleo, Nomura, Imada,
arXiv:1802.09558): a deep Boltzmann machine that *is* ``(U_zz U_x)^M |+>`` for the transverse-field
Ising model (and the Marshall-rotated Heisenberg bond product), checked against the dense product,
sampled (block Gibbs for the TFIM, loop moves for the Heisenberg machine), and converged to the ground
state in ``dtau``. Then the construction is optimised by VMC with its deep layer sampled and compared with
nqg's RBMs of the same hidden units and of the same parameter count (:func:`compare_dbm_with_rbm`).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from nqg.errors import NqgInputError
from nqg.results import FullSettingValue, Result, save_figure
from nqg.spec import Experiment, RunContext

REFERENCE = "Carleo, Nomura, Imada, Nat. Commun. 9, 5322 (2018), arXiv:1802.09558"
SAMPLING_SIGMAS = 3.0


def build(config: dict[str, Any]):
    """Validate the CLI/experiment settings and build the machine."""
    from nqg.quantum.dbm import heisenberg_dbm, tfim_dbm
    from nqg.quantum.lattice import parse_lattice

    if config["hamiltonian"] not in ("tfim", "heisenberg"):
        raise NqgInputError(f"--hamiltonian must be tfim or heisenberg, got {config['hamiltonian']!r}")
    if not float(config["dtau"]) > 0:
        raise NqgInputError(f"--dtau must be > 0, got {config['dtau']}")
    if int(config["steps"]) < 1:
        raise NqgInputError(f"--steps must be a positive integer, got {config['steps']}")
    lattice = parse_lattice(config["lattice"], str(config["size"]), pbc=bool(config.get("pbc", True)))
    if config["hamiltonian"] == "heisenberg":  # sampled by loop moves (nqg.quantum.dbm docstring)
        return heisenberg_dbm(lattice, float(config["dtau"]), int(config["steps"]))
    return tfim_dbm(lattice, float(config["h"]), float(config["dtau"]), int(config["steps"]))


def ground_energy(dbm) -> dict[str, Any] | None:
    """ED (N <= 20) or free fermions (periodic TFIM chains) for the DBM's Hamiltonian."""
    from nqg.quantum.exact import ground_state, tfim_chain_ground_energy
    from nqg.quantum.operators import TransverseFieldIsing

    ham = dbm.hamiltonian
    lat = ham.lattice
    if isinstance(ham, TransverseFieldIsing) and len(lat.shape) == 1 and lat.pbc:
        return {"value": tfim_chain_ground_energy(lat.n_sites, ham.h), "source": "free fermions"}
    if lat.n_sites <= 20:
        return {"value": ground_state(ham, None).ground_energy, "source": "exact diagonalization"}
    return None


def dbm_result(config: dict[str, Any], ctx: RunContext, name: str = "quantum-dbm") -> Result:
    """Exact and/or sampled energy of the imaginary-time DBM, with the energy-vs-tau figure."""
    from nqg.quantum.dbm import MAX_EXACT_SITES, exact_energy_vs_tau, sample_energy

    dbm = build(config)
    n = dbm.n_sites
    res = Result(name, quick=ctx.quick, seed=ctx.seed, params=dict(config))
    res.add_metric("n_hidden", dbm.machine.n_hidden)
    res.add_metric("n_deep", dbm.machine.n_deep)
    res.add_metric("tau", dbm.tau)
    gs = ground_energy(dbm)
    if gs is not None:
        res.add_metric("exact_energy_per_site", gs["value"] / n)
        res.add_reference("energy_per_site", gs["value"] / n, source=f"ground state, {gs['source']}")
    taus = energies = None
    if n <= MAX_EXACT_SITES:
        taus, energies = exact_energy_vs_tau(dbm)
        res.add_metric("energy_per_site_trotter_exact", energies[-1] / n)
    samples = int(config["samples"])
    if samples > 0:
        chains = int(config["chains"])
        per_chain = max(2, -(-samples // chains))
        mc = sample_energy(dbm, jax.random.key(ctx.seed), n_chains=chains, n_samples=per_chain)
        res.add_metric("energy_per_site", mc.energy / n, mc.energy_error / n)
        res.add_metric("autocorrelation_time", mc.tau)
        res.add_metric("r_hat", mc.rhat)
        if energies is not None:
            z = abs(mc.energy - energies[-1]) / mc.energy_error
            res.add_check(
                f"sampled energy = exact energy of the Trotter state within {SAMPLING_SIGMAS:g} sigma",
                bool(z <= SAMPLING_SIGMAS),
                f"{mc.energy / n:.6f} +- {mc.energy_error / n:.6f} vs {energies[-1] / n:.6f} ({z:.2f} sigma)",
            )
    elif energies is not None:
        res.add_metric("energy_per_site", energies[-1] / n)
    else:
        raise NqgInputError(f"N = {n} > {MAX_EXACT_SITES}: exact amplitudes are out of reach; give --samples")
    if energies is not None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.plot(taus, energies / n, "o-", ms=3, label=f"DBM, exact (dtau = {dbm.dtau:g})")
        if samples > 0:
            ax.errorbar([dbm.tau], [mc.energy / n], yerr=[mc.energy_error / n], fmt="s", label="DBM, sampled")
        if gs is not None:
            ax.axhline(gs["value"] / n, color="k", ls="--", label=f"ground state ({gs['source']})")
        ax.set_xlabel(r"imaginary time $\tau$")
        ax.set_ylabel("energy per site")
        ax.set_title(f"{dbm.hamiltonian!r}")
        ax.legend(fontsize=8)
        save_figure(fig, ctx.out_dir, "energy_vs_tau.png", res)
    return res


# ------------------------------------------------------------------------------------- experiment


def run_dbm_imaginary_time(config: dict[str, Any], ctx: RunContext) -> Result:
    from nqg.quantum.dbm import (
        exact_log_amplitudes,
        exact_trotter_energy,
        fit_trotter_order,
        heisenberg_dbm,
        tfim_dbm,
        trotter_product,
    )
    from nqg.quantum.lattice import chain, parse_lattice
    from nqg.quantum.operators import Heisenberg

    settings = {
        "hamiltonian": "tfim",
        "lattice": "chain",
        "size": str(config["n_sites"]),
        "h": float(config["h"]),
        "dtau": float(config["dtau"]),
        "steps": int(config["steps"]),
        "samples": int(config["samples"]),
        "chains": int(config["chains"]),
    }
    res = dbm_result(settings, ctx, name="dbm-imaginary-time")
    res.reference = REFERENCE
    n = int(config["n_sites"])

    # 1. the machine is the Trotter product: amplitudes against sparse matrix exponentials
    worst = 0.0
    rows = []
    for size, j_coupling, gamma, dtau, steps in config["exact_cases"]:
        dbm = tfim_dbm(chain(int(size)), float(gamma), float(dtau), int(steps), J=float(j_coupling))
        _, log_psi = exact_log_amplitudes(dbm)
        ref = trotter_product(dbm)
        rel = float(np.max(np.abs(np.exp(log_psi) - ref)) / np.max(np.abs(ref)))
        worst = max(worst, rel)
        rows.append(
            {"N": size, "J": j_coupling, "Gamma": gamma, "dtau": dtau, "M": steps, "max_rel_error": rel}
        )
    res.add_metric("amplitude_max_rel_error", worst)
    res.add_check(
        "DBM amplitudes = (U_zz U_x)^M |+> to 1e-12 (relative)", worst < 1e-12, f"worst {worst:.2e}"
    )
    worst_h = 0.0
    for kind, size, dtau, steps in config["heisenberg_cases"]:
        lat_h = parse_lattice(str(kind), str(size), pbc=True)
        dbm = heisenberg_dbm(lat_h, float(dtau), int(steps))
        _, log_psi = exact_log_amplitudes(dbm)
        ref = trotter_product(dbm)
        rel = float(np.max(np.abs(np.exp(log_psi) - ref)) / np.max(np.abs(ref)))
        worst_h = max(worst_h, rel)
        rows.append(
            {
                "N": lat_h.n_sites,
                "J": 1.0,
                "Gamma": "heisenberg",
                "dtau": dtau,
                "M": steps,
                "max_rel_error": rel,
            }
        )
    res.add_metric("heisenberg_amplitude_max_rel_error", worst_h)
    res.add_check(
        "Heisenberg DBM (constraint units) = Marshall-rotated bond product to 1e-12 (relative)",
        worst_h < 1e-12,
        f"worst {worst_h:.2e}",
    )
    res.add_table("amplitude_checks", rows)

    # 1b. the Heisenberg machine sampled by loop moves, against the exact energy of its Trotter state
    from nqg.quantum.dbm import sample_heisenberg_energy

    size_h, dtau_hs, steps_h, samples_h = config["heisenberg_sampling"]
    dbm_hs = heisenberg_dbm(chain(int(size_h)), float(dtau_hs), int(steps_h))
    chains_h = int(config["chains"])
    mc_h = sample_heisenberg_energy(
        dbm_hs,
        jax.random.fold_in(jax.random.key(ctx.seed), 1),
        n_chains=chains_h,
        n_samples=max(2, -(-int(samples_h) // chains_h)),
    )
    exact_h = exact_trotter_energy(dbm_hs)
    n_h = dbm_hs.n_sites
    res.add_metric("heisenberg_energy_per_site_sampled", mc_h.energy / n_h, mc_h.energy_error / n_h)
    res.add_metric("heisenberg_energy_per_site_trotter_exact", exact_h / n_h)
    res.add_metric("heisenberg_autocorrelation_time", mc_h.tau)
    z_h = abs(mc_h.energy - exact_h) / mc_h.energy_error
    res.add_check(
        f"Heisenberg DBM sampled by loop moves = exact energy of its Trotter state within "
        f"{SAMPLING_SIGMAS:g} sigma (N = {n_h}, M = {int(steps_h)})",
        bool(z_h <= SAMPLING_SIGMAS),
        f"{mc_h.energy / n_h:.6f} +- {mc_h.energy_error / n_h:.6f} vs {exact_h / n_h:.6f} ({z_h:.2f} sigma)",
    )

    # 2. Trotter order: E(dtau) - E_0 ~ dtau^p at fixed tau, p = 2 expected
    from nqg.quantum.exact import ground_state

    n_order = int(config["order_sites"])
    tau = float(config["order_tau"])
    dtaus = [float(x) for x in config["order_dtaus"]]
    lat = chain(n_order)
    from nqg.quantum.operators import TransverseFieldIsing

    e0 = ground_state(TransverseFieldIsing(lat, h=float(config["h"]))).ground_energy
    e_dt = [exact_trotter_energy(tfim_dbm(lat, float(config["h"]), dt, round(tau / dt))) for dt in dtaus]
    p, amp = fit_trotter_order(dtaus, e_dt, e0)
    res.add_metric("trotter_order", p)
    res.add_table(
        "trotter_convergence",
        [{"dtau": dt, "energy": e, "energy_minus_ground": e - e0} for dt, e in zip(dtaus, e_dt, strict=True)],
    )
    res.add_check(
        "energy converges to the ED ground state at second order in dtau (fitted order in [1.8, 2.2])",
        1.8 <= p <= 2.2,
        f"p = {p:.3f}, N = {n_order}, tau = {tau:g}",
    )
    lat_h = chain(int(config["heisenberg_order_sites"]))
    tau_h = float(config["heisenberg_order_tau"])
    dt_h = [float(x) for x in config["heisenberg_order_dtaus"]]
    e0_h = ground_state(Heisenberg(lat_h, marshall_sign=True)).ground_energy
    e_h = [exact_trotter_energy(heisenberg_dbm(lat_h, dt, round(tau_h / dt))) for dt in dt_h]
    p_h, amp_h = fit_trotter_order(dt_h, e_h, e0_h)
    res.add_metric("trotter_order_heisenberg", p_h)
    res.add_check(
        "Heisenberg: energy converges to the ED ground state at second order (fitted order in [1.8, 2.2])",
        1.8 <= p_h <= 2.2,
        f"p = {p_h:.3f}, N = {lat_h.n_sites}, tau = {tau_h:g}",
    )
    claim_note = compare_dbm_with_rbm(res, config["compare"], ctx)

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(dtaus, np.abs(np.asarray(e_dt) - e0) / n_order, "o", label="TFIM DBM (exact amplitudes)")
    grid = np.geomspace(min(dtaus), max(dtaus), 20)
    ax.loglog(grid, amp * grid**p / n_order, "-", label=f"fit: order {p:.2f}")
    ax.loglog(dt_h, np.abs(np.asarray(e_h) - e0_h) / lat_h.n_sites, "s", label="Heisenberg DBM")
    grid_h = np.geomspace(min(dt_h), max(dt_h), 20)
    ax.loglog(grid_h, amp_h * grid_h**p_h / lat_h.n_sites, "--", label=f"fit: order {p_h:.2f}")
    ax.set_xlabel(r"$d\tau$")
    ax.set_ylabel(r"$(E - E_0) / N$")
    ax.set_title("Trotter error of the long-time energy")
    ax.legend()
    save_figure(fig, ctx.out_dir, "trotter_order.png", res)
    res.add_table(
        "notes",
        [
            {
                "note": f"N = {n}: H = M (bonds + N) = {int(res.metrics['n_hidden']['value'])} hidden and "
                f"D = M N = {int(res.metrics['n_deep']['value'])} deep units; no parameter is trained. "
                "The Heisenberg machine's constraint units are complex; summed per bond event they give a "
                "non-negative weight, sampled by two-replica loop moves (loop estimator of the energy)."
            },
            {"note": claim_note},
        ],
    )
    return res


def _compare_check_names(cfg: dict[str, Any]) -> tuple[str, str]:
    return (
        f"optimised DBM (deep layer sampled, paired, K = {int(cfg['conditional'])}): sampled energy = its "
        f"exact energy within {SAMPLING_SIGMAS:g} sigma (N = {int(cfg['n_sites'])})",
        "optimisation lowers the DBM's exact energy below the construction's",
    )


# the full setting's comparison, last run 2026-11-27 (`nqg run dbm-imaginary-time --out DIR`; a slow test
# re-runs it and checks these strings)
DBM_VS_RBM_FULL_DATE = "2026-11-27"
DBM_VS_RBM_LAST_FULL: dict[str, tuple[bool, str]] = {
    "optimised DBM (deep layer sampled, paired, K = 4): sampled energy = its exact energy within 3 sigma "
    "(N = 8)": (
        True,
        "-1.281187 +- 0.000398 vs -1.281387 (0.50 sigma)",
    ),
    "optimisation lowers the DBM's exact energy below the construction's": (
        True,
        "-1.252843 -> -1.281387 (ground state -1.281458)",
    ),
}
DBM_VS_RBM_LAST_CLAIM = (
    "Claim tested (issue 12): the optimised DBM improves on the RBM of the same size. Not run at the quick "
    "setting; the last full run (N = 8, 2026-11-27) found that it did not hold: against the RBM (H = 16): "
    "indistinguishable (0.000006 +- 0.000026 per site); against the RBM (H = 31): indistinguishable "
    "(-0.000007 +- 0.000026 per site). The same comparison from N = 8 to 64: docs/quantum_dbm_vmc.md."
)


def compare_dbm_with_rbm(res: Result, cfg: dict[str, Any], ctx: RunContext) -> str:
    """Section 1, "beyond exactness": the M = 1 DBM from the construction, optimised by VMC with its deep
    layer sampled (paired local energy, ``K`` conditional sweeps), against nqg's RBMs with the same hidden
    units and with the closest parameter count, on the periodic TFIM chain (:func:`compare_with_rbm`).

    Checked: the trained DBM's sampled energy equals its exact (enumerated) energy within 3 sigma, and
    the optimisation lowered that exact energy below the construction's. The issue's claim, "the DBM
    improves on the RBM of the same size", is *measured and reported* (table ``claims``): at these sizes
    and budgets it did not hold (docs/quantum_dbm_vmc.md, N = 8 to 64).

    The quick setting does not run it (three VMC compilations, about 40 s of ``make demo``): both checks
    are listed as full setting only, with the last full run's values (:data:`DBM_VS_RBM_LAST_FULL`)."""
    names = _compare_check_names(cfg)
    if ctx.quick:
        for name in names:
            passed, value = DBM_VS_RBM_LAST_FULL[name]
            res.add_check(
                name,
                False,
                "not run at the quick setting",
                full_setting_only=True,
                last_full=FullSettingValue(
                    passed, value, DBM_VS_RBM_FULL_DATE, "nqg run dbm-imaginary-time --out DIR"
                ),
            )
        return DBM_VS_RBM_LAST_CLAIM
    from nqg.quantum.dbm import exact_trotter_energy, tfim_dbm
    from nqg.quantum.dbm_exact_opt import rbm_hidden_for_parameters
    from nqg.quantum.dbm_vmc import (
        compare_with_rbm,
        count_dbm_parameters,
        enumerated_energy,
        three_sigma_verdict,
    )
    from nqg.quantum.exact import tfim_chain_ground_energy
    from nqg.quantum.lattice import chain

    n, h = int(cfg["n_sites"]), float(cfg["h"])
    dbm = tfim_dbm(chain(n), h, float(cfg["dtau"]), 1)
    hidden = dbm.machine.n_hidden
    n_params = count_dbm_parameters(dbm.machine)
    matched = rbm_hidden_for_parameters(n, n_params)
    rows = compare_with_rbm(
        dbm,
        [hidden, matched],
        iterations=int(cfg["iterations"]),
        learning_rate=float(cfg["learning_rate"]),
        n_chains=int(cfg["chains"]),
        n_samples=int(cfg["samples"]),
        n_conditional=int(cfg["conditional"]),
        local_energy="paired",
        final_samples=int(cfg["final_samples"]),
        seed=ctx.seed,
    )
    exact = tfim_chain_ground_energy(n, h) / n
    start = exact_trotter_energy(dbm) / n
    trained = enumerated_energy(rows[0].result.machine, dbm.hamiltonian) / n
    dbm_row, rbm_rows = rows[0], rows[1:]

    def entry(machine, n_hidden, n_parameters, energy, error=None):
        return {
            "machine": machine,
            "hidden": n_hidden,
            "parameters": n_parameters,
            "energy_per_site": energy,
            "error": error,
            "relative_error": abs(energy - exact) / abs(exact),
        }

    table = [
        entry("DBM construction (M = 1, not trained)", hidden, n_params, start),
        entry("DBM optimised, exact energy (enumerated)", hidden, dbm_row.n_parameters, trained),
    ]
    table += [
        entry(
            row.name + (" optimised, sampled" if row is dbm_row else ""),
            row.n_hidden,
            row.n_parameters,
            row.energy_per_site,
            row.error_per_site,
        )
        for row in rows
    ]
    res.add_table("dbm_vs_rbm", table)
    res.add_metric("dbm_optimised_energy_per_site", dbm_row.energy_per_site, dbm_row.error_per_site)
    res.add_metric("dbm_optimised_energy_per_site_exact", trained)
    for label, row in zip(("equal_hidden", "equal_parameters"), rbm_rows, strict=True):
        res.add_metric(f"rbm_{label}_energy_per_site", row.energy_per_site, row.error_per_site)
    z = abs(dbm_row.energy_per_site - trained) / dbm_row.error_per_site
    res.add_check(
        names[0],
        bool(z <= SAMPLING_SIGMAS),
        f"{dbm_row.energy_per_site:.6f} +- {dbm_row.error_per_site:.6f} vs {trained:.6f} ({z:.2f} sigma)",
    )
    res.add_check(
        names[1],
        trained < start,
        f"{start:.6f} -> {trained:.6f} (ground state {exact:.6f})",
    )
    claims = []
    for row in rbm_rows:
        diff = trained - row.energy_per_site
        verdict = three_sigma_verdict(diff, row.error_per_site)
        difference = f"{diff:.6f} +- {row.error_per_site:.6f} per site"
        claims.append(
            {
                "claim": f"the optimised DBM improves on the {row.name} ({row.n_parameters} parameters)",
                "rbm": row.name,
                "measured": f"E_DBM (exact) - E_RBM = {difference}",
                "difference": difference,
                "verdict_3_sigma": verdict,
                "held": verdict == "lower",
            }
        )
    res.add_table("claims", claims)  # reported, not checked: the measured answer to the claim
    held = any(c["held"] for c in claims)
    return (
        f"Claim tested (issue 12): the optimised DBM improves on the RBM of the same size. At N = {n} it "
        f"{'held' if held else 'did not hold'}: "
        + "; ".join(f"against the {c['rbm']}: {c['verdict_3_sigma']} ({c['difference']})" for c in claims)
        + " (DBM's exact energy against the RBM's sampled one, 3 sigma; table claims). The same comparison "
        "from N = 8 to 64: docs/quantum_dbm_vmc.md."
    )


DBM_IMAGINARY_TIME = Experiment(
    name="dbm-imaginary-time",
    description="Deep Boltzmann machine = exact imaginary-time evolution (TFIM, Heisenberg): amplitudes, "
    "sampling, Trotter order, optimised DBM vs RBM",
    defaults={
        "n_sites": 12,
        "h": 1.0,
        "dtau": 0.1,
        "steps": 20,
        "samples": 12800,
        "chains": 32,
        "exact_cases": [[12, 1.0, 1.0, 0.1, 20], [10, -0.7, 0.5, 0.05, 8], [6, 1.3, 2.0, 0.3, 5]],
        "order_sites": 8,
        "order_tau": 8.0,
        "order_dtaus": [0.2, 0.1, 0.05, 0.025],
        "heisenberg_cases": [["chain", "12", 0.1, 4], ["square", "2x4", 0.2, 2], ["chain", "8", 0.05, 5]],
        "heisenberg_order_sites": 6,
        "heisenberg_order_tau": 12.0,
        "heisenberg_order_dtaus": [0.2, 0.1, 0.05],
        "heisenberg_sampling": [12, 0.1, 20, 12800],
        "compare": {
            "n_sites": 8,
            "h": 1.0,
            "dtau": 0.3,
            "iterations": 100,
            "learning_rate": 0.05,
            "chains": 32,
            "samples": 32,
            "conditional": 4,
            "final_samples": 200,
        },
    },
    quick={
        "n_sites": 6,
        "steps": 6,
        "samples": 2048,
        "exact_cases": [[8, 1.0, 1.0, 0.1, 10], [6, -0.7, 0.5, 0.05, 4]],
        "order_sites": 6,
        "order_tau": 4.0,
        "order_dtaus": [0.1, 0.05, 0.025],
        "heisenberg_cases": [["chain", "6", 0.1, 3]],
        "heisenberg_order_sites": 4,
        "heisenberg_order_tau": 8.0,
        "heisenberg_sampling": [6, 0.1, 4, 2048],
    },
    run=run_dbm_imaginary_time,
    reference=REFERENCE,
    full_time_s=52,  # measured wall time of the full setting on 2 CPU cores (2026-11-27, with the DBM vs RBM)
)

EXPERIMENTS = [DBM_IMAGINARY_TIME]
