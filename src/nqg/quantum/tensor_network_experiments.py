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
4. **Entanglement and the central charge**: the trained RBM's S(l) (exact Schmidt decomposition of
   its state vector) beside DMRG's and the exact free-fermion S(l); for the critical chain of
   ``entanglement_dmrg_sites`` sites, DMRG's S(l) against the exact one at every cut and the central
   charge of both by the Calabrese-Cardy fit with the open chain's boundary corrections
   (``fit_central_charge`` with the TFIM's Majorana chord), with negative controls (the gapped chain
   h = 1.5 and the c = 1 XX chain through the same fit).
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


def plot_entanglement(
    curves: list[tuple[str, np.ndarray, dict]],
    n_sites: int,
    title: str,
    periodic: bool = False,
    chord: dict | None = None,
):
    """Figure: entanglement entropy S(l) against the cut and against the Calabrese-Cardy chord.

    Open chains: ``(1/6) ln x_l`` with :func:`~nqg.quantum.tensor_networks.open_chain_chord` (``chord``
    gives its ``length_shift`` and ``cut_offset``); periodic: ``(1/3) ln[(N/pi) sin(pi l/N)]``.
    """
    import matplotlib.pyplot as plt

    from nqg.quantum.tensor_networks import LATTICE_OPEN_CHORD, open_chain_chord

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ells = np.arange(1, n_sites)
    if periodic:
        lx = np.log((n_sites / np.pi) * np.sin(np.pi * ells / n_sites)) / 3
        xlabel = "(1/3) ln[(N/pi) sin(pi l/N)]"
    else:
        params = dict(LATTICE_OPEN_CHORD if chord is None else chord)
        lx = np.log(open_chain_chord(n_sites, **params)) / 6
        xlabel = f"(1/6) ln[(2L/pi) sin(pi(l+{params['cut_offset']:g})/L)], L = N+{params['length_shift']:g}"
    for label, s, style in curves:
        axes[0].plot(ells[: len(s)], s, label=label, **style)
        axes[1].plot(lx[: len(s)], s, label=label, **style)
    axes[0].set_xlabel("cut l (sites left of the cut)")
    axes[0].set_ylabel("S(l) (von Neumann, nats)")
    axes[1].set_xlabel(xlabel)
    axes[1].set_ylabel("S(l)")
    axes[0].set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def dmrg_result(config: dict[str, Any], ctx: RunContext, name: str = "quantum-dmrg"):
    """Run DMRG for one chain and assemble the Result (used by ``nqg quantum dmrg``)."""
    from nqg.quantum.tensor_networks import (
        LATTICE_OPEN_CHORD,
        TFIM_OPEN_CHORD,
        dmrg_ground_state,
        fit_central_charge,
        tfim_open_entanglement_exact,
    )
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
    if n >= 10:  # the open-chain fit has four parameters and leaves out two cuts at each end
        # the chord and the decay of the parity term depend on the model (see fit_central_charge):
        # the TFIM's Majorana chain; the Heisenberg / J1-J2 chain is a Luttinger liquid with K = 1/2
        chord = TFIM_OPEN_CHORD if c["hamiltonian"] == "tfim" else LATTICE_OPEN_CHORD
        k = 1.0 if c["hamiltonian"] == "tfim" else 0.5
        fit = fit_central_charge(r.entanglement_entropy, n, periodic=pbc, luttinger_k=k, **chord)
        res.add_metric("central_charge_fit", fit.c)
    s_exact = None
    if c["hamiltonian"] == "tfim" and not pbc:
        try:
            s_exact = tfim_open_entanglement_exact(n, float(c["h"]))
        except NqgInputError:  # a degenerate (ordered, h -> 0) ground state has no unique entropy
            pass
        if s_exact is not None:
            dev = float(np.max(np.abs(r.entanglement_entropy - s_exact)))
            res.add_metric("entanglement_max_abs_deviation_exact", dev, unit="nats")
            res.add_reference(
                "entanglement_entropy_mid",
                float(s_exact[n // 2 - 1]),
                unit="nats",
                source="free fermions (Majorana correlation matrix, Peschel), computed",
            )
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
    curves = [("DMRG", r.entanglement_entropy, {"marker": "o", "ms": 3})]
    if s_exact is not None:
        curves.append(("exact (free fermions)", s_exact, {"color": "k", "lw": 1}))
    chord = TFIM_OPEN_CHORD if c["hamiltonian"] == "tfim" else LATTICE_OPEN_CHORD
    fig = plot_entanglement(curves, n, op.__repr__(), periodic=pbc, chord=chord)
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
    "vmc_collapse_guard": True,
    "entanglement_dmrg_sites": 80,
    "entanglement_dmrg_bond_dim": 64,
}
QUICK: dict[str, Any] = {
    "heisenberg_sites": 12,
    "heisenberg_bond_dim": 24,
    "tfim_sites": 16,  # the same DMRG run as the central charge's (run once)
    "tfim_bond_dim": 16,
    "j1j2_ed_sites": 8,
    "j1j2_large_sites": 0,
    "rbm_mps_sites": 8,
    "vmc_sites": 6,
    "vmc_iterations": 40,
    "vmc_samples": 128,
    "vmc_collapse_guard": False,  # 40 steps on 6 spins: nothing to guard; saves ~1.5 s compiling per model
    "entanglement_dmrg_sites": 16,
    "entanglement_dmrg_bond_dim": 16,
}


def _critical_tfim_dmrg(n_sites: int, h: float, bond_dim: int, runs: dict):
    """DMRG of the open TFIM chain, run once per (N, h, D) within an experiment (``runs`` caches it)."""
    from nqg.quantum.tensor_networks import dmrg_ground_state

    key = (int(n_sites), float(h), int(bond_dim))
    if key not in runs:
        runs[key] = dmrg_ground_state(chain_operator("tfim", key[0], False, key[1]), key[2])
    return runs[key]


def _dmrg_references(config, ctx, res, rows, runs):
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
    r = _critical_tfim_dmrg(n, 1.0, int(config["tfim_bond_dim"]), runs)
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
        r = dmrg_ground_state(op, min(64, 2 ** (n // 2)))  # D = 2^(N/2) is exact
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


def _rbm_log_amplitudes(rbm, n_sites: int) -> np.ndarray:
    """``ln psi(s) = a.s + sum_j ln cosh(b_j + (W s)_j)`` of a real RBM, all 2^N configurations (numpy)."""
    from nqg.quantum.hilbert import SpinHilbert

    s = SpinHilbert(n_sites).all_states(np.int8).astype(float)
    w, a, b = (np.asarray(x, float) for x in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    theta = b + s @ w.T
    # ln cosh(t) = |t| + ln(1 + e^{-2|t|}) - ln 2, stable for large |t|
    return s @ a + np.sum(np.abs(theta) + np.log1p(np.exp(-2 * np.abs(theta))) - np.log(2), axis=1)


def _rbm_to_mps(config, ctx, res):
    """Part 2: exact RBM -> MPS conversion, bond dimensions vs Schmidt ranks, negative control."""
    import jax

    from nqg.quantum.models import RBM
    from nqg.quantum.tensor_networks import local_rbm, rbm_to_mps, schmidt_rank

    n, r_, alpha = int(config["rbm_mps_sites"]), int(config["rbm_range"]), int(config["rbm_alpha"])
    rbm = local_rbm(n, r_, alpha, key=jax.random.key(ctx.seed + 100))
    conv = rbm_to_mps(rbm)
    # both sides in numpy: the RBM formula over all 2^N configurations, the MPS contracted exactly
    log_rbm = _rbm_log_amplitudes(rbm, n)
    rel = np.max(np.abs(conv.amplitudes() / np.exp(log_rbm) - 1))
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
    amps_d = np.exp(_rbm_log_amplitudes(dense, n))
    mid = schmidt_rank(amps_d, n // 2)
    res.add_check(
        f"negative control: a dense RBM (all-to-all) exceeds the range-{r_} bound at the middle cut",
        bool(mid > 2 ** (r_ - 1)),
        f"Schmidt rank {mid} > {2 ** (r_ - 1)}",
    )


def _state_vector(model, n):
    """The normalised state vector of a trained model over all 2^N configurations (nqg's basis order).

    An open MPS is contracted and a real RBM evaluated in numpy (no compilation); other models go
    through ``model.log_psi``.
    """
    import jax.numpy as jnp

    from nqg.quantum.hilbert import SpinHilbert
    from nqg.quantum.models import RBM
    from nqg.quantum.mps import MPS

    if isinstance(model, MPS):
        tensors = model.open_tensors()
        v = tensors[0][:, 0, :]
        for a in tensors[1:]:
            v = np.einsum("xa,sab->xsb", v, a).reshape(-1, a.shape[2])
        v = v[:, 0]
    elif type(model) is RBM and not np.iscomplexobj(np.asarray(model.weights)):
        lp = _rbm_log_amplitudes(model, n)
        v = np.exp(lp - lp.max())
    else:
        states = jnp.asarray(SpinHilbert(n).all_states(np.int8)).astype(model.input_dtype)
        lp = np.asarray(model.log_psi(states))
        v = np.exp(lp - np.max(np.real(lp)))
    return v / np.linalg.norm(v)


def _vmc(model, op, config, ctx, seed, name):
    import jax
    import optax

    from nqg.quantum.hilbert import SpinHilbert
    from nqg.quantum.samplers import MetropolisLocal
    from nqg.quantum.vmc import SR, VMC, CollapseGuard

    n = op.n_sites
    sampler = MetropolisLocal(SpinHilbert(n), n_chains=16, n_samples=int(config["vmc_samples"]))
    guard = CollapseGuard() if config.get("vmc_collapse_guard", True) else None
    vmc = VMC(op, model, sampler, optax.sgd(0.05), SR(diag_shift=0.01, max_norm=0.1 / 0.05), guard=guard)
    return vmc.run(
        int(config["vmc_iterations"]),
        jax.random.key(seed),
        ctx=ctx,
        progress=False if ctx.quiet else None,
        final_estimate_repeats=0,  # the energy of the trained state is computed exactly (_rbm_vs_mps)
        name=name,
    )


def _rbm_vs_mps(config, ctx, res, rows):
    """Parts 3 and 4: RBM and MPS with equal parameter counts, and the entanglement of the trained RBM."""
    import jax

    from nqg.quantum.models import RBM, count_parameters
    from nqg.quantum.mps import MPS, bond_dim_for_parameters
    from nqg.quantum.tensor_networks import (
        TFIM_OPEN_CHORD,
        dmrg_ground_state,
        entanglement_entropy_of_vector,
        fit_central_charge,
        tfim_open_entanglement_exact,
    )

    n, h = int(config["vmc_sites"]), float(config["vmc_h"])
    op = chain_operator("tfim", n, False, h)
    exact = exact_chain_energy("tfim", n, False, h)["value"]
    hamiltonian = op.to_sparse()
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
        vec = _state_vector(out.model, n)
        # <psi|H|psi> of the trained state, exactly (no sampling error): the state vector is at hand
        e = float(np.real(np.vdot(vec, hamiltonian @ vec))) / n
        e_mc = float(out.history["energy"][-1]) / n  # VMC's estimate at the last iteration
        err_mc = float(out.history["energy_error"][-1]) / n
        s_cut = np.asarray([entanglement_entropy_of_vector(vec, c) for c in range(1, n)])
        entropies[label] = s_cut
        res.add_metric(f"{label}_energy_per_site", e)
        res.add_metric(f"{label}_energy_per_site_vmc_last_iteration", e_mc, err_mc)
        res.add_metric(f"{label}_relative_error", abs((e - exact) / exact))
        res.add_metric(f"{label}_entanglement_entropy_mid", s_cut[n // 2 - 1], unit="nats")
        res.add_metric(f"{label}_n_parameters", params)
        res.add_check(
            f"{label.upper()} variational: <psi|H|psi> >= E_exact - 1e-12 per site (trained state, "
            f"TFIM open N={n}, h={h:g})",
            bool(e >= exact - 1e-12),
            f"<H>/N = {e:.8f}, exact {exact:.8f}; VMC estimate at the last iteration "
            f"{e_mc:.6f} +- {err_mc:.1e}",
        )
        table.append(
            {
                "model": label if label == "rbm" else f"mps D={d}",
                "n_parameters": params,
                "energy_per_site": e,
                "energy_per_site_vmc_last_iteration": e_mc,
                "energy_per_site_vmc_error": err_mc,
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
            "energy_per_site_vmc_last_iteration": None,
            "energy_per_site_vmc_error": None,
            "relative_error": abs((ref.energy_per_site - exact) / exact),
            "entanglement_entropy_mid": ref.entanglement_entropy_mid,
        }
    )
    res.add_table("rbm_vs_mps", table)
    res.add_metric("dmrg_entanglement_entropy_mid", ref.entanglement_entropy_mid, unit="nats")
    # entanglement of the trained RBM against DMRG and the exact entropies
    s_exact = tfim_open_entanglement_exact(n, h)
    res.add_metric(
        "rbm_entanglement_max_abs_deviation_exact",
        float(np.max(np.abs(entropies["rbm"] - s_exact))),
        unit="nats",
    )
    gap = abs(entropies["rbm"][n // 2 - 1] - ref.entanglement_entropy_mid)
    res.add_check(
        f"trained RBM's middle-cut entropy within 0.05 nats of DMRG's (N={n})",
        bool(gap < 0.05),
        f"S_RBM = {entropies['rbm'][n // 2 - 1]:.4f}, S_DMRG = {ref.entanglement_entropy_mid:.4f}, "
        f"S_exact = {s_exact[n // 2 - 1]:.4f}",
    )
    c_rbm = None
    if n >= 12:  # the four-parameter fit needs a few cuts away from the ends
        c_rbm = fit_central_charge(entropies["rbm"], n, **TFIM_OPEN_CHORD).c
        res.add_metric("central_charge_rbm", c_rbm)
        res.add_metric("central_charge_exact_vmc_size", fit_central_charge(s_exact, n, **TFIM_OPEN_CHORD).c)
    curves.append(("exact (free fermions)", s_exact, {"lw": 1, "color": "gray", "ls": "--"}))
    return curves, n, c_rbm


def _central_charge(config, ctx, res, runs):
    """Part 4: the Calabrese-Cardy central charge of DMRG's S(l), against the exact free-fermion S(l).

    Fit (``fit_central_charge`` with the TFIM's Majorana chord, ``TFIM_OPEN_CHORD``):
    ``S(l) = (c/6) ln x_l + s_0 + b/x_l + b_alt (-1)^l/x_l``, ``x_l = (2L/pi) sin(pi (l + 1/4)/L)``,
    ``L = N + 1/2``. Negative controls with the same fit: the gapped chain (h = 1.5, S saturates: c -> 0)
    and the open XX chain (c = 1, with its own lattice chord).
    """
    from nqg.quantum.tensor_networks import (
        LATTICE_OPEN_CHORD,
        TFIM_OPEN_CHORD,
        fit_central_charge,
        tfim_open_entanglement_exact,
        xx_open_entanglement_exact,
    )

    n, h, d = (
        int(config["entanglement_dmrg_sites"]),
        float(config["vmc_h"]),
        int(config["entanglement_dmrg_bond_dim"]),
    )
    tol = 0.02
    big = _critical_tfim_dmrg(n, h, d, runs)
    s_dmrg = big.entanglement_entropy
    s_exact = tfim_open_entanglement_exact(n, h)
    dev = float(np.max(np.abs(s_dmrg - s_exact)))
    res.add_metric("entanglement_max_abs_deviation_dmrg_exact", dev, unit="nats")
    res.add_check(
        f"DMRG S(l) of the critical open TFIM (N={n}, D={d}) equals the exact free-fermion S(l) to 1e-8 "
        "at every cut",
        bool(dev < 1e-8),
        f"max_l |S_DMRG - S_exact| = {dev:.1e} nats, truncation error {big.truncation_error:.1e}",
    )
    fit_dmrg = fit_central_charge(s_dmrg, n, **TFIM_OPEN_CHORD)
    fit_exact = fit_central_charge(s_exact, n, **TFIM_OPEN_CHORD)
    fit_plain = fit_central_charge(s_exact, n, length_shift=0.0, cut_offset=0.0, boundary_correction=False)
    res.add_metric("central_charge_dmrg", fit_dmrg.c)
    res.add_metric("central_charge_exact", fit_exact.c)
    res.add_metric("central_charge_exact_without_boundary_terms", fit_plain.c)
    res.add_metric("calabrese_cardy_boundary_coefficient", fit_exact.boundary, unit="nats")
    res.add_reference("central_charge_dmrg", 0.5, source="Ising CFT, c = 1/2")
    res.add_reference("central_charge_exact", 0.5, source="Ising CFT, c = 1/2")
    res.add_check(
        f"DMRG critical TFIM open N={n}: fitted central charge within {tol} of 1/2",
        bool(abs(fit_dmrg.c - 0.5) < tol),
        f"c = {fit_dmrg.c:.4f} (fit residual {fit_dmrg.max_residual:.1e} nats over {fit_dmrg.n_cuts} cuts)",
    )
    res.add_check(
        f"exact free-fermion S(l), N={n}: fitted central charge within {tol} of 1/2",
        bool(abs(fit_exact.c - 0.5) < tol),
        f"c = {fit_exact.c:.5f}; without the boundary terms (chord with N, no 1/x) c = {fit_plain.c:.4f}",
    )
    gapped = fit_central_charge(tfim_open_entanglement_exact(n, 1.5), n, **TFIM_OPEN_CHORD).c
    xx = fit_central_charge(xx_open_entanglement_exact(n + n % 2), n + n % 2, **LATTICE_OPEN_CHORD).c
    res.add_metric("central_charge_control_gapped_h_1_5", gapped)
    res.add_metric("central_charge_control_xx", xx)
    res.add_check(
        f"negative controls, same fit, N={n}: the gapped TFIM (h=1.5) and the XX chain (c=1) both fail "
        f"|c - 1/2| < {tol}",
        bool(abs(gapped - 0.5) >= tol and abs(xx - 0.5) >= tol),
        f"c(h=1.5) = {gapped:.4f}, c(XX) = {xx:.4f}",
    )
    return s_dmrg, s_exact, fit_dmrg, n


def _entanglement_figure(curves, n, c_rbm, s_dmrg, s_exact, fit, n_big):
    import matplotlib.pyplot as plt

    from nqg.quantum.tensor_networks import TFIM_OPEN_CHORD, open_chain_chord

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for label, s, style in curves:
        axes[0].plot(np.arange(1, n), s, label=label, **style)
    axes[0].set_xlabel("cut l")
    axes[0].set_ylabel("S(l) (nats)")
    title = "" if c_rbm is None else f" (c_RBM fit {c_rbm:.2f})"
    axes[0].set_title(f"critical TFIM, open N={n}: trained states vs DMRG{title}", fontsize=9)
    axes[0].legend(fontsize=8)
    ells = np.arange(1, n_big)
    x = open_chain_chord(n_big, **TFIM_OPEN_CHORD)
    lx = np.log(x) / 6
    axes[1].plot(lx, s_dmrg, "o", ms=3, label=f"DMRG N={n_big}")
    axes[1].plot(lx, s_exact, "k-", lw=0.8, label="exact (free fermions)")
    model = fit.c * lx + fit.const + fit.boundary / x + fit.alternating * (-1.0) ** ells / x
    axes[1].plot(lx, model, "r--", lw=1, label=f"fit: c = {fit.c:.4f}, b = {fit.boundary:.3f}")
    axes[1].plot(lx, fit.c * lx + fit.const, "g:", lw=1, label="(c/6) ln x + s0 (without b/x)")
    axes[1].set_xlabel("(1/6) ln x,  x = (2L/pi) sin(pi(l+1/4)/L),  L = N+1/2")
    axes[1].set_ylabel("S(l)")
    axes[1].set_title("Calabrese-Cardy with the 1/x boundary term", fontsize=9)
    axes[1].legend(fontsize=8)
    axes[2].semilogy(ells, np.maximum(np.abs(s_dmrg - s_exact), 1e-17), "o", ms=3)
    axes[2].set_xlabel("cut l")
    axes[2].set_ylabel("|S_DMRG - S_exact| (nats)")
    axes[2].set_title(f"DMRG vs exact, N={n_big}", fontsize=9)
    fig.tight_layout()
    return fig


def run_tensor_networks(config: dict[str, Any], ctx: RunContext):
    from nqg.results import Result, save_figure

    res = Result("tensor-networks", quick=ctx.quick, seed=ctx.seed, params=dict(config))
    rows: list[dict[str, Any]] = []
    runs: dict = {}  # DMRG runs shared by the parts (the critical TFIM chain appears in parts 1 and 4)
    _dmrg_references(config, ctx, res, rows, runs)
    res.add_table("dmrg_references", rows)
    _rbm_to_mps(config, ctx, res)
    curves, n, c_rbm = _rbm_vs_mps(config, ctx, res, rows)
    s_dmrg, s_exact, fit, n_big = _central_charge(config, ctx, res, runs)
    fig = _entanglement_figure(curves, n, c_rbm, s_dmrg, s_exact, fit, n_big)
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
        full_time_s=228,  # measured wall time of the full setting on 2 CPU cores (2026-11-27, light load)
    )
]
