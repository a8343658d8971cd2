"""The ``tensor-networks`` experiment and the ``nqg quantum dmrg`` result (shared code).

Parts of the experiment (each with its checks):

1. **DMRG references** (TeNPy): the open Heisenberg chain against the Bethe ansatz of the open XXX
   chain, the open critical TFIM chain against free fermions, and J1-J2 chains against exact
   diagonalization (and the Majumdar-Ghosh point ``J2 = 1/2``, ``E = -3N/8``); a J1-J2 chain beyond ED
   (N = 64 in the full setting) with its convergence in the bond dimension.
2. **RBM -> MPS** (Chen et al., arXiv:1701.04831): a short-range RBM written exactly as an MPS
   (amplitudes to 1e-12), its bond dimensions against the Schmidt ranks of the RBM state, and the
   negative control (a dense RBM, whose Schmidt rank exceeds the short-range bound).
3. **RBM vs MPS at equal parameter count**: both optimised by the same VMC + SR on the critical open
   TFIM chain; energies against free fermions, middle-cut entanglement against DMRG.
4. **Entanglement of the trained RBM** (exact Schmidt decomposition of its state vector) beside
   DMRG's for the critical TFIM, with the central charge fitted by Calabrese-Cardy (expected 1/2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nqg.errors import NqgInputError
from nqg.spec import Experiment, RunContext

DMRG_HAMILTONIANS = ("tfim", "heisenberg", "j1j2")
ED_REFERENCE_MAX_SITES = {"tfim": 16, "heisenberg": 20, "j1j2": 20}


# ---------------------------------------------------------------------------- DMRG command


def validate_dmrg(config: dict[str, Any]) -> dict[str, Any]:
    """Check the settings of ``nqg quantum dmrg``; NqgInputError names the bad value and what is allowed."""
    c = dict(config)
    if c["hamiltonian"] not in DMRG_HAMILTONIANS:
        raise NqgInputError(
            f"unknown Hamiltonian {c['hamiltonian']!r}; choose from {', '.join(DMRG_HAMILTONIANS)}"
        )
    if c["lattice"] != "chain":
        raise NqgInputError(f"DMRG runs on chains only: --lattice must be 'chain', got {c['lattice']!r}")
    try:
        n = int(str(c["size"]).strip())
    except ValueError:
        raise NqgInputError(
            f"--size {c['size']!r} is not valid for a chain: expected an integer >= 2"
        ) from None
    if n < 2 or str(n) != str(c["size"]).strip():
        raise NqgInputError(f"--size must be an integer >= 2, got {c['size']!r}")
    c["size"] = n
    bd = c["bond_dim"]
    if isinstance(bd, bool) or int(bd) != bd or bd < 1:
        raise NqgInputError(f"--bond-dim must be an integer >= 1, got {bd}")
    if int(c.get("sweeps", 1)) < 1:
        raise NqgInputError(f"--sweeps must be an integer >= 1, got {c['sweeps']}")
    for key in ("h", "j2"):
        if not np.isfinite(float(c[key])):
            raise NqgInputError(f"--{key} must be a finite number, got {c[key]}")
    return c


def chain_operator(hamiltonian: str, n_sites: int, pbc: bool, h: float = 1.0, j2: float = 0.0):
    """The nqg operator of a named chain model (no Marshall rotation: DMRG needs none)."""
    from nqg.quantum.lattice import chain
    from nqg.quantum.operators import Heisenberg, TransverseFieldIsing

    lat = chain(n_sites, pbc=pbc)
    if hamiltonian == "tfim":
        return TransverseFieldIsing(lat, h=h)
    return Heisenberg(lat, J1=1.0, J2=j2 if hamiltonian == "j1j2" else 0.0)


def exact_chain_energy(hamiltonian: str, n_sites: int, pbc: bool, h: float = 1.0, j2: float = 0.0):
    """Exact ground energy per site of a chain where one is known (dict value/method/source, or None).

    TFIM: free fermions (periodic and open). Heisenberg: Bethe ansatz (open, even N), the shipped
    table (periodic N = 80), else exact diagonalization up to ``ED_REFERENCE_MAX_SITES``.
    """
    from nqg.quantum.exact import ground_state, tfim_chain_ground_energy, tfim_open_chain_ground_energy
    from nqg.quantum.tensor_networks import heisenberg_open_chain_energy

    n = int(n_sites)
    if hamiltonian == "tfim":
        e = tfim_chain_ground_energy(n, h) if pbc else tfim_open_chain_ground_energy(n, h)
        return {
            "value": e / n,
            "method": "free fermions",
            "source": "Jordan-Wigner, computed (nqg.quantum.exact)",
        }
    if hamiltonian == "j1j2" and j2 == 0.0:
        hamiltonian = "heisenberg"
    if hamiltonian == "heisenberg" and not pbc and n % 2 == 0:
        return {
            "value": heisenberg_open_chain_energy(n) / n,
            "method": "Bethe ansatz",
            "source": "open XXX chain, Alcaraz et al. J. Phys. A 20, 6397 (1987), computed",
        }
    if hamiltonian == "heisenberg" and pbc:
        from nqg.quantum.ground_state import lookup_reference
        from nqg.quantum.lattice import chain

        row = lookup_reference("heisenberg", chain(n, pbc=True))
        if row is not None:
            return row
    if n <= ED_REFERENCE_MAX_SITES[hamiltonian]:
        e = ground_state(chain_operator(hamiltonian, n, pbc, h, j2)).ground_energy
        return {"value": e / n, "method": "exact diagonalization", "source": "Lanczos, computed"}
    return None


def plot_entanglement(curves: list[tuple[str, np.ndarray, dict]], n_sites: int, title: str):
    """Figure: entanglement entropy S(l) against the Calabrese-Cardy chord length, one curve per state."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ells = np.arange(1, n_sites)
    chord = np.log((2 * n_sites / np.pi) * np.sin(np.pi * ells / n_sites)) / 6
    for label, s, style in curves:
        axes[0].plot(ells[: len(s)], s, label=label, **style)
        axes[1].plot(chord[: len(s)], s, label=label, **style)
    axes[0].set_xlabel("cut l (sites left of the cut)")
    axes[0].set_ylabel("S(l) (von Neumann, nats)")
    axes[1].set_xlabel("(1/6) ln[(2N/pi) sin(pi l/N)]")
    axes[1].set_ylabel("S(l)")
    axes[0].set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def dmrg_result(config: dict[str, Any], ctx: RunContext, name: str = "quantum-dmrg"):
    """Run DMRG for one chain and assemble the Result (used by ``nqg quantum dmrg``)."""
    from nqg.quantum.tensor_networks import dmrg_ground_state, fit_central_charge
    from nqg.results import Result, save_figure, write_csv

    c = validate_dmrg(config)
    n, pbc = int(c["size"]), bool(c["pbc"])
    op = chain_operator(c["hamiltonian"], n, pbc, float(c["h"]), float(c["j2"]))
    res = Result(name, seed=ctx.seed, params={k: v for k, v in c.items() if v is not None})
    r = dmrg_ground_state(op, int(c["bond_dim"]), max_sweeps=int(c.get("sweeps", 40)))
    res.add_metric("energy_per_site", r.energy_per_site)
    res.add_metric("energy", r.energy)
    res.add_metric("truncation_error", r.truncation_error)
    res.add_metric("entanglement_entropy_mid", r.entanglement_entropy_mid, unit="nats")
    res.add_metric("max_bond_dimension", int(r.bond_dimensions.max()))
    res.add_metric("energy_change_last_sweep", r.energy_change)
    res.add_metric("sweeps", r.sweeps)
    res.add_metric("seconds", r.seconds, unit="s")
    if n >= 8:
        cc, _ = fit_central_charge(r.entanglement_entropy, n, periodic=pbc)
        res.add_metric("central_charge_fit", cc)
    exact = exact_chain_energy(c["hamiltonian"], n, pbc, float(c["h"]), float(c["j2"]))
    if exact is not None:
        e0 = exact["value"]
        res.add_metric("exact_energy_per_site", e0)
        res.add_metric("energy_per_site_deviation", r.energy_per_site - e0)
        res.add_reference("energy_per_site", e0, source=f"{exact['method']}: {exact['source']}")
        # DMRG is variational: its energy lies above the exact one up to round-off
        res.add_check(
            "variational: E_DMRG >= E_exact - 1e-10 per site",
            bool(r.energy_per_site >= e0 - 1e-10),
            f"E_DMRG - E_exact = {r.energy_per_site - e0:.2e} per site",
        )
    ells = np.arange(1, n)
    write_csv(
        ctx.out_dir / "entanglement.csv",
        ["cut", "entanglement_entropy", "bond_dimension"],
        np.column_stack(
            [
                ells,
                r.entanglement_entropy,
                r.bond_dimensions[1:-1] if r.bond_dimensions.size == n + 1 else r.bond_dimensions[: n - 1],
            ]
        ),
    )
    fig = plot_entanglement([("DMRG", r.entanglement_entropy, {"marker": "o", "ms": 3})], n, op.__repr__())
    save_figure(fig, ctx.out_dir, "entanglement.png", res)
    return res


# ---------------------------------------------------------------------------- experiment

DEFAULTS: dict[str, Any] = {
    "heisenberg_sites": 80,
    "heisenberg_bond_dim": 128,
    "tfim_sites": 80,
    "tfim_bond_dim": 64,
    "j1j2_ed_sites": 20,
    "j1j2_values": [0.2, 0.5],
    "j1j2_large_sites": 64,
    "j1j2_large_bond_dims": [32, 64],
    "rbm_mps_sites": 12,
    "rbm_range": 3,
    "rbm_alpha": 2,
    "vmc_sites": 16,
    "vmc_h": 1.0,
    "vmc_alpha": 1,
    "vmc_iterations": 400,
    "vmc_samples": 1024,
    "entanglement_dmrg_sites": 80,
    "entanglement_dmrg_bond_dim": 64,
}
QUICK: dict[str, Any] = {
    "heisenberg_sites": 12,
    "heisenberg_bond_dim": 24,
    "tfim_sites": 12,
    "tfim_bond_dim": 16,
    "j1j2_ed_sites": 8,
    "j1j2_large_sites": 0,
    "rbm_mps_sites": 8,
    "vmc_sites": 6,
    "vmc_iterations": 40,
    "vmc_samples": 128,
    "entanglement_dmrg_sites": 16,
    "entanglement_dmrg_bond_dim": 16,
}


def _dmrg_references(config, ctx, res, rows):
    """Part 1: DMRG against Bethe ansatz, free fermions and ED."""
    from nqg.quantum.exact import ground_state
    from nqg.quantum.tensor_networks import dmrg_ground_state

    # open Heisenberg chain vs Bethe ansatz
    n = int(config["heisenberg_sites"])
    op = chain_operator("heisenberg", n, False)
    r = dmrg_ground_state(op, int(config["heisenberg_bond_dim"]))
    ex = exact_chain_energy("heisenberg", n, False)
    dev = r.energy_per_site - ex["value"]
    res.add_metric(f"heisenberg_open_{n}_energy_per_site", r.energy_per_site)
    res.add_reference(f"heisenberg_open_{n}_energy_per_site", ex["value"], source=ex["source"])
    res.add_check(
        f"DMRG Heisenberg open N={n}, D={config['heisenberg_bond_dim']}: |E - E_Bethe| < 1e-8 per site",
        bool(abs(dev) < 1e-8),
        f"E_DMRG - E_Bethe = {dev:.2e} per site ({dev * n:.2e} total), "
        f"truncation error {r.truncation_error:.1e}",
    )
    rows.append(_row("heisenberg", f"open {n}", None, r, ex))
    # open TFIM chain at the critical point vs free fermions
    n = int(config["tfim_sites"])
    op = chain_operator("tfim", n, False, 1.0)
    r = dmrg_ground_state(op, int(config["tfim_bond_dim"]))
    ex = exact_chain_energy("tfim", n, False, 1.0)
    dev = r.energy_per_site - ex["value"]
    res.add_metric(f"tfim_open_{n}_energy_per_site", r.energy_per_site)
    res.add_reference(f"tfim_open_{n}_energy_per_site", ex["value"], source=ex["source"])
    res.add_check(
        f"DMRG TFIM open N={n}, h=1, D={config['tfim_bond_dim']}: |E - E_free fermions| < 1e-10 per site",
        bool(abs(dev) < 1e-10),
        f"E_DMRG - E_exact = {dev:.2e} per site ({dev * n:.2e} total), "
        f"truncation error {r.truncation_error:.1e}",
    )
    rows.append(_row("tfim", f"open {n}", "h=1", r, ex))
    # J1-J2 open chains vs ED (open: DMRG converges fast), and the Majumdar-Ghosh ring
    n = int(config["j1j2_ed_sites"])
    for j2 in config["j1j2_values"]:
        op = chain_operator("j1j2", n, False, j2=float(j2))
        r = dmrg_ground_state(op, 64)
        e_ed = ground_state(op).ground_energy / n
        dev = r.energy_per_site - e_ed
        res.add_check(
            f"DMRG J1-J2 open N={n}, J2={j2}: |E - E_ED| < 1e-8 per site",
            bool(abs(dev) < 1e-8),
            f"E_DMRG = {r.energy_per_site:.10f}, E_ED = {e_ed:.10f}",
        )
        rows.append(_row("j1j2", f"open {n}", f"J2={j2}", r, {"value": e_ed, "method": "ED"}))
    n_mg = min(n, 12)  # periodic: D = 2^(N/2) = 64 keeps the ring exact
    r = dmrg_ground_state(chain_operator("j1j2", n_mg, True, j2=0.5), 2 ** (n_mg // 2))
    res.add_check(
        f"Majumdar-Ghosh ring J2=1/2, N={n_mg}: E_DMRG = -3/8 per site to 1e-8",
        bool(abs(r.energy_per_site + 0.375) < 1e-8),
        f"E_DMRG = {r.energy_per_site:.12f}",
    )
    rows.append(_row("j1j2", f"periodic {n_mg}", "J2=0.5", r, {"value": -0.375, "method": "Majumdar-Ghosh"}))
    # J1-J2 beyond ED
    n = int(config["j1j2_large_sites"])
    if n > 0:
        energies = []
        for d in config["j1j2_large_bond_dims"]:
            op = chain_operator("j1j2", n, False, j2=0.2)
            r = dmrg_ground_state(op, int(d))
            energies.append(r.energy_per_site)
            rows.append(_row("j1j2", f"open {n}", f"J2=0.2, D={d}", r, None))
        res.add_metric(f"j1j2_open_{n}_energy_per_site", energies[-1])
        res.add_check(
            f"J1-J2 open N={n} (beyond ED), J2=0.2: DMRG converged in D, |E(D) - E(D/2)| < 1e-7 per site",
            bool(abs(energies[-1] - energies[-2]) < 1e-7),
            f"energies per site {', '.join(f'{e:.10f}' for e in energies)} "
            f"at D = {config['j1j2_large_bond_dims']}",
        )


def _row(model, lattice, parameter, r, exact):
    return {
        "model": model,
        "lattice": lattice,
        "parameter": parameter,
        "bond_dim": int(r.bond_dimensions.max()),
        "energy_per_site": r.energy_per_site,
        "exact_energy_per_site": None if exact is None else exact["value"],
        "deviation": None if exact is None else r.energy_per_site - exact["value"],
        "truncation_error": r.truncation_error,
        "entanglement_entropy_mid": r.entanglement_entropy_mid,
        "sweeps": r.sweeps,
        "seconds": r.seconds,
    }


def _rbm_to_mps(config, ctx, res):
    """Part 2: exact RBM -> MPS conversion, bond dimensions vs Schmidt ranks, negative control."""
    import jax
    import jax.numpy as jnp

    from nqg.quantum.hilbert import SpinHilbert
    from nqg.quantum.models import RBM
    from nqg.quantum.mps import MPS
    from nqg.quantum.tensor_networks import local_rbm, rbm_to_mps, schmidt_rank

    n, r_, alpha = int(config["rbm_mps_sites"]), int(config["rbm_range"]), int(config["rbm_alpha"])
    rbm = local_rbm(n, r_, alpha, key=jax.random.key(ctx.seed + 100))
    conv = rbm_to_mps(rbm)
    states = jnp.asarray(SpinHilbert(n).all_states(np.int8)).astype(jnp.float64)
    log_rbm = np.asarray(rbm.log_psi(states))
    mps_model = MPS.from_tensors(conv.tensors)
    rel = np.max(np.abs(np.expm1(np.asarray(mps_model.log_psi(states)) - log_rbm)))
    res.add_metric("rbm_mps_max_relative_amplitude_error", float(rel))
    res.add_check(
        f"RBM -> MPS exact (N={n}, range {r_}, {rbm.n_hidden} hidden units): amplitudes equal to 1e-12",
        bool(rel < 1e-12),
        f"max |psi_MPS / psi_RBM - 1| = {rel:.1e}",
    )
    amps = np.exp(log_rbm - log_rbm.max())
    ranks = np.asarray([schmidt_rank(amps, c + 1) for c in range(n - 1)])
    bulk = [c for c in range(n - 1) if r_ - 1 <= c + 1 <= n - (r_ - 1)]
    dims = conv.bond_dimensions
    res.add_table(
        "rbm_mps_bonds",
        [{"cut": c + 1, "bond_dimension": int(dims[c]), "schmidt_rank": int(ranks[c])} for c in range(n - 1)],
    )
    res.add_check(
        f"short-range RBM: MPS bond dimension 2^(r-1) = {2 ** (r_ - 1)} equals the Schmidt rank at every "
        "bulk cut, and bounds it at every cut",
        bool(
            np.all(dims[bulk] == ranks[bulk])
            and np.all(dims >= ranks)
            and np.all(dims[bulk] == 2 ** (r_ - 1))
        ),
        f"bond dims {dims.tolist()}, Schmidt ranks {ranks.tolist()}",
    )
    dense = RBM(n, alpha, key=jax.random.key(ctx.seed + 101), init_std=0.3)
    amps_d = np.exp(np.asarray(dense.log_psi(states)))
    mid = schmidt_rank(amps_d, n // 2)
    res.add_check(
        f"negative control: a dense RBM (all-to-all) exceeds the range-{r_} bound at the middle cut",
        bool(mid > 2 ** (r_ - 1)),
        f"Schmidt rank {mid} > {2 ** (r_ - 1)}",
    )


def _state_vector(model, n):
    import jax.numpy as jnp

    from nqg.quantum.hilbert import SpinHilbert

    states = jnp.asarray(SpinHilbert(n).all_states(np.int8)).astype(model.input_dtype)
    lp = np.asarray(model.log_psi(states))
    v = np.exp(lp - np.max(np.real(lp)))
    return v / np.linalg.norm(v)


def _vmc(model, op, config, ctx, seed, name):
    import jax
    import optax

    from nqg.quantum.hilbert import SpinHilbert
    from nqg.quantum.samplers import MetropolisLocal
    from nqg.quantum.vmc import SR, VMC

    n = op.n_sites
    sampler = MetropolisLocal(SpinHilbert(n), n_chains=16, n_samples=int(config["vmc_samples"]))
    vmc = VMC(op, model, sampler, optax.sgd(0.05), SR(diag_shift=0.01, max_norm=0.1 / 0.05))
    return vmc.run(
        int(config["vmc_iterations"]),
        jax.random.key(seed),
        ctx=ctx,
        progress=False if ctx.quiet else None,
        final_estimate_repeats=4,
        name=name,
    )


def _rbm_vs_mps(config, ctx, res, rows):
    """Parts 3 and 4: RBM and MPS with equal parameter counts, and the entanglement of the trained RBM."""
    import jax

    from nqg.quantum.models import RBM, count_parameters
    from nqg.quantum.mps import MPS, bond_dim_for_parameters
    from nqg.quantum.tensor_networks import (
        dmrg_ground_state,
        entanglement_entropy_of_vector,
        fit_central_charge,
    )

    n, h = int(config["vmc_sites"]), float(config["vmc_h"])
    op = chain_operator("tfim", n, False, h)
    exact = exact_chain_energy("tfim", n, False, h)["value"]
    rbm = RBM(n, int(config["vmc_alpha"]), key=jax.random.key(ctx.seed))
    p_rbm = count_parameters(rbm)
    d = bond_dim_for_parameters(n, p_rbm)
    mps = MPS(n, d, key=jax.random.key(ctx.seed + 1))
    p_mps = count_parameters(mps)
    ref = dmrg_ground_state(op, min(32, 2 ** (n // 2)))
    s_dmrg = ref.entanglement_entropy
    table = []
    curves = [(f"DMRG (D={int(ref.bond_dimensions.max())})", s_dmrg, {"marker": "o", "ms": 3, "color": "k"})]
    entropies = {}
    for label, model, params, seed in (("rbm", rbm, p_rbm, ctx.seed + 2), ("mps", mps, p_mps, ctx.seed + 3)):
        out = _vmc(model, op, config, ctx, seed, f"vmc-{label}")
        e, err = out.energy / n, out.energy_error / n
        vec = _state_vector(out.model, n)
        s_cut = np.asarray([entanglement_entropy_of_vector(vec, c) for c in range(1, n)])
        entropies[label] = s_cut
        res.add_metric(f"{label}_energy_per_site", e, err)
        res.add_metric(f"{label}_relative_error", abs((e - exact) / exact), err / abs(exact))
        res.add_metric(f"{label}_entanglement_entropy_mid", s_cut[n // 2 - 1], unit="nats")
        res.add_metric(f"{label}_n_parameters", params)
        res.add_check(
            f"{label.upper()} variational: E >= E_exact - 4 sigma (TFIM open N={n}, h={h:g})",
            bool(e >= exact - 4 * err),
            f"E = {e:.6f} +- {err:.1e}, exact {exact:.6f}",
        )
        table.append(
            {
                "model": label if label == "rbm" else f"mps D={d}",
                "n_parameters": params,
                "energy_per_site": e,
                "energy_per_site_error": err,
                "relative_error": abs((e - exact) / exact),
                "entanglement_entropy_mid": float(s_cut[n // 2 - 1]),
            }
        )
        curves.append(
            (
                f"{label.upper()} ({params} parameters)",
                s_cut,
                {"marker": "s" if label == "rbm" else "^", "ms": 3},
            )
        )
    table.append(
        {
            "model": f"DMRG D={int(ref.bond_dimensions.max())}",
            "n_parameters": None,
            "energy_per_site": ref.energy_per_site,
            "energy_per_site_error": 0.0,
            "relative_error": abs((ref.energy_per_site - exact) / exact),
            "entanglement_entropy_mid": ref.entanglement_entropy_mid,
        }
    )
    res.add_table("rbm_vs_mps", table)
    res.add_metric("dmrg_entanglement_entropy_mid", ref.entanglement_entropy_mid, unit="nats")
    # entanglement of the trained RBM against DMRG, and the central charge
    gap = abs(entropies["rbm"][n // 2 - 1] - ref.entanglement_entropy_mid)
    res.add_check(
        f"trained RBM's middle-cut entropy within 0.05 nats of DMRG's (N={n})",
        bool(gap < 0.05),
        f"S_RBM = {entropies['rbm'][n // 2 - 1]:.4f}, S_DMRG = {ref.entanglement_entropy_mid:.4f}",
    )
    c_rbm = None
    if n >= 12:  # the Calabrese-Cardy fit needs a few cuts away from the ends
        c_rbm, _ = fit_central_charge(entropies["rbm"], n)
        res.add_metric("central_charge_rbm", c_rbm)
    n_big = int(config["entanglement_dmrg_sites"])
    big = dmrg_ground_state(
        chain_operator("tfim", n_big, False, h), int(config["entanglement_dmrg_bond_dim"])
    )
    c_dmrg, _ = fit_central_charge(big.entanglement_entropy, n_big)
    res.add_metric("central_charge_dmrg", c_dmrg)
    res.add_reference("central_charge_dmrg", 0.5, source="Ising CFT, c = 1/2")
    tol = 0.02 if n_big >= 64 else 0.1  # finite-size corrections of the open chain: ~0.03 at N = 24
    res.add_check(
        f"DMRG critical TFIM open N={n_big}: fitted central charge within {tol} of 1/2",
        bool(abs(c_dmrg - 0.5) < tol),
        f"c = {c_dmrg:.4f}",
    )
    curves.append((f"DMRG N={n_big}", big.entanglement_entropy, {"lw": 1, "color": "gray"}))
    return curves, n, n_big, c_rbm, c_dmrg


def run_tensor_networks(config: dict[str, Any], ctx: RunContext):
    from nqg.quantum.tensor_networks import fit_central_charge  # noqa: F401
    from nqg.results import Result, save_figure

    res = Result("tensor-networks", quick=ctx.quick, seed=ctx.seed, params=dict(config))
    rows: list[dict[str, Any]] = []
    _dmrg_references(config, ctx, res, rows)
    res.add_table("dmrg_references", rows)
    _rbm_to_mps(config, ctx, res)
    curves, n, n_big, c_rbm, c_dmrg = _rbm_vs_mps(config, ctx, res, rows)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, s, style in curves[:-1]:
        axes[0].plot(np.arange(1, n), s, label=label, **style)
    axes[0].set_xlabel("cut l")
    axes[0].set_ylabel("S(l) (nats)")
    fit = "" if c_rbm is None else f" (c_RBM fit {c_rbm:.2f})"
    axes[0].set_title(f"critical TFIM, open N={n}: trained states vs DMRG{fit}")
    axes[0].legend(fontsize=8)
    label, s, style = curves[-1]
    ells = np.arange(1, n_big)
    chord = np.log((2 * n_big / np.pi) * np.sin(np.pi * ells / n_big)) / 6
    axes[1].plot(chord, s, "o", ms=3, label=label)
    axes[1].plot(chord, 0.5 * chord + np.mean(s - 0.5 * chord), "k--", lw=1, label="slope c = 1/2")
    axes[1].set_xlabel("(1/6) ln[(2N/pi) sin(pi l/N)]")
    axes[1].set_ylabel("S(l)")
    axes[1].set_title(f"Calabrese-Cardy: fitted c = {c_dmrg:.3f}")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, ctx.out_dir, "entanglement.png", res)
    return res


EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="tensor-networks",
        description="DMRG references (Bethe ansatz, free fermions, ED), RBM -> MPS exactly, RBM vs MPS "
        "and the entanglement of a trained RBM against DMRG",
        defaults=DEFAULTS,
        quick=QUICK,
        run=run_tensor_networks,
        reference="TeNPy; Chen et al. PRB 97, 085104 (2018), arXiv:1701.04831",
        full_time_s=228,  # measured wall time of the full setting on 2 CPU cores (2026-11-27)
    )
]
