"""Ground states of named spin models by VMC, with exact or published references.

:func:`build_problem` turns plain settings (the CLI's and the experiments') into the building blocks
(lattice, Hilbert space, Hamiltonian, model, sampler, SR, optimizer), validating every value once.
:func:`solve_ground_state` runs the VMC and compares with the exact energy: free fermions for the
periodic TFIM chain, Lanczos for N <= 24 (S^z sector for Heisenberg models), or the shipped
reference table (``nqg/data/ground_state_energies.csv``).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nqg.errors import NqgInputError
from nqg.quantum.exact import chain_energy_beyond_ed, ground_state, tfim_chain_ground_energy
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import Lattice, parse_lattice
from nqg.quantum.models import FFNN, RBM, NQSModel, SymmetricRBM, count_parameters
from nqg.quantum.operators import Heisenberg, SpinOperator, TransverseFieldIsing
from nqg.quantum.samplers import MetropolisExchange, MetropolisLocal
from nqg.quantum.vmc import SR, VMC, CollapseGuard, VMCResult, carleo_troyer_schedule

HAMILTONIANS = ("tfim", "heisenberg", "j1j2")
LATTICES = ("chain", "square")
MODELS = ("rbm", "rbm-complex", "rbm-symmetric", "ffnn")
SR_SCHEDULES = ("constant", "carleo-troyer")
ED_MAX_SITES = 24
ED_MAX_FULL_SPACE_SITES = 20  # TFIM does not conserve S^z: full 2^N space

DEFAULTS: dict[str, Any] = {
    "hamiltonian": "heisenberg",
    "h": 1.0,
    "j2": 0.2,
    "lattice": "chain",
    "size": "16",
    "pbc": True,
    "model": "rbm",
    "alpha": 2.0,
    "samples": 1024,
    "chains": 16,
    "iterations": 600,
    "lr": 0.02,
    "lr_final": None,
    "diag_shift": 0.01,
    "sr_schedule": "constant",
    "trust_region": 0.1,
    "sweep_size": None,
    "burn_in": None,
    "marshall": None,
    "final_repeats": 4,
    "float32": False,
    "collapse_guard": True,
}


def reference_table() -> list[dict[str, str]]:
    """Rows of the shipped reference energies (model, lattice, boundary, parameter, energy_per_site, ...)."""
    text = (resources.files("nqg") / "data" / "ground_state_energies.csv").read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    header = ["model", "lattice", "boundary", "parameter", "energy_per_site", "method", "source"]
    return [dict(zip(header, row, strict=False)) for row in csv.reader(lines)]


def lookup_reference(hamiltonian: str, lattice: Lattice, h: float | None = None) -> dict[str, Any] | None:
    """The table entry for this model and lattice, if any (periodic lattices only)."""
    if not lattice.pbc:
        return None
    shape = "x".join(map(str, lattice.shape))
    name = f"chain {shape}" if len(lattice.shape) == 1 else f"square {shape}"
    for row in reference_table():
        if row["model"] != hamiltonian or row["lattice"] != name:
            continue
        if hamiltonian == "tfim" and (h is None or not np.isclose(float(row["parameter"].split("=")[1]), h)):
            continue
        return {"value": float(row["energy_per_site"]), "method": row["method"], "source": row["source"]}
    return None


@dataclass
class Problem:
    """The assembled building blocks of one ground-state calculation."""

    lattice: Lattice
    hilbert: SpinHilbert
    hamiltonian: SpinOperator
    model: NQSModel
    vmc: VMC
    config: dict[str, Any]


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every setting; NqgInputError names the bad value and what is allowed."""
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise NqgInputError(f"unknown setting(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
    c = {**DEFAULTS, **config}
    if c["hamiltonian"] not in HAMILTONIANS:
        raise NqgInputError(
            f"unknown Hamiltonian {c['hamiltonian']!r}; choose from {', '.join(HAMILTONIANS)}"
        )
    if c["lattice"] not in LATTICES:
        raise NqgInputError(f"unknown lattice {c['lattice']!r}; choose from {', '.join(LATTICES)}")
    if c["model"] not in MODELS:
        raise NqgInputError(f"unknown model {c['model']!r}; choose from {', '.join(MODELS)}")
    if not float(c["alpha"]) > 0:
        raise NqgInputError(f"--alpha must be > 0, got {c['alpha']}")
    if c["model"] == "rbm-symmetric" and float(c["alpha"]) != int(float(c["alpha"])):
        raise NqgInputError(f"--alpha of rbm-symmetric must be a positive integer, got {c['alpha']}")
    for key in ("samples", "chains", "iterations"):
        if int(c[key]) != c[key] or c[key] < (0 if key == "iterations" else 1):
            raise NqgInputError(
                f"--{key} must be a {'non-negative' if key == 'iterations' else 'positive'} integer, "
                f"got {c[key]}"
            )
    if c["samples"] < c["chains"]:
        raise NqgInputError(f"--samples ({c['samples']}) must be >= --chains ({c['chains']})")
    for key in ("lr", "diag_shift"):
        if not float(c[key]) > 0:
            raise NqgInputError(f"--{key.replace('_', '-')} must be > 0, got {c[key]}")
    if c["lr_final"] is not None and not 0 < float(c["lr_final"]) <= float(c["lr"]):
        raise NqgInputError(f"--lr-final must be in (0, --lr = {c['lr']}], got {c['lr_final']}")
    if c["trust_region"] is not None and not float(c["trust_region"]) > 0:
        raise NqgInputError(f"--trust-region must be > 0, got {c['trust_region']}")
    if c["sr_schedule"] not in SR_SCHEDULES:
        raise NqgInputError(
            f"unknown --sr-schedule {c['sr_schedule']!r}; choose from {', '.join(SR_SCHEDULES)}"
        )
    if not np.isfinite(float(c["h"])) or not np.isfinite(float(c["j2"])):
        raise NqgInputError("--h and --j2 must be finite numbers")
    return c


def build_problem(config: dict[str, Any], seed: int = 0) -> Problem:
    """Lattice -> Hilbert space -> Hamiltonian -> model -> sampler -> VMC driver from settings."""
    c = validate(config)
    lattice = parse_lattice(c["lattice"], str(c["size"]), bool(c["pbc"]))
    n = lattice.n_sites
    dtype = jnp.float32 if c["float32"] else jnp.float64
    if c["hamiltonian"] == "tfim":
        hamiltonian: SpinOperator = TransverseFieldIsing(lattice, h=float(c["h"]))
        hilbert = SpinHilbert(n)
    else:
        j2 = float(c["j2"]) if c["hamiltonian"] == "j1j2" else 0.0
        marshall = c["marshall"] if c["marshall"] is not None else lattice.is_bipartite
        if marshall and not lattice.is_bipartite:
            raise NqgInputError(f"the Marshall sign rule needs a bipartite lattice; {lattice.name} is not")
        hamiltonian = Heisenberg(lattice, J1=1.0, J2=j2, marshall_sign=bool(marshall))
        if n % 2:
            raise NqgInputError(
                f"Heisenberg runs use the S^z = 0 sector and need an even number of sites, got {n}"
            )
        hilbert = SpinHilbert(n, total_sz=0.0)
    key = jax.random.key(seed)
    alpha = float(c["alpha"])
    if c["model"] in ("rbm", "rbm-complex"):
        model: NQSModel = RBM(n, alpha, key=key, complex_params=c["model"] == "rbm-complex", dtype=dtype)
    elif c["model"] == "rbm-symmetric":
        model = SymmetricRBM(lattice.translations, int(alpha), key=key, dtype=dtype)
    else:
        model = FFNN(n, max(1, round(alpha * n)), key=key, dtype=dtype)
    kw = {
        "n_chains": int(c["chains"]),
        "n_samples": int(c["samples"]),
        "sweep_size": c["sweep_size"],
        "n_burn_in": c["burn_in"],
    }
    sampler = (
        MetropolisLocal(hilbert, **kw)
        if c["hamiltonian"] == "tfim"
        else MetropolisExchange(hilbert, lattice.bonds, **kw)
    )
    guard = CollapseGuard() if c["collapse_guard"] else None
    vmc = VMC(hamiltonian, model, sampler, optax.sgd(learning_rate(c)), sr_settings(c), guard=guard)
    return Problem(lattice, hilbert, hamiltonian, model, vmc, c)


def learning_rate(config: dict[str, Any]):
    """Constant ``lr``, or (with ``lr_final``) a cosine decay from ``lr`` to ``lr_final`` over the run."""
    lr = float(config["lr"])
    if config["lr_final"] is None or float(config["lr_final"]) == lr:
        return lr
    steps = max(1, int(config["iterations"]))
    return optax.cosine_decay_schedule(lr, steps, alpha=float(config["lr_final"]) / lr)


def sr_settings(config: dict[str, Any]) -> SR:
    """SR with a constant diagonal shift (``diag_shift``, NetKet's convention ``S + lambda 1``) or the
    Carleo-Troyer schedule ``S + max(100 0.9^p, 1e-4) diag(S)``; ``trust_region`` bounds the
    Fubini-Study length ``lr |delta|_S`` of a step (at the initial learning rate; None: unbounded)."""
    tr = config["trust_region"]
    max_norm = None if tr is None else float(tr) / float(config["lr"])
    if config["sr_schedule"] == "carleo-troyer":
        return SR(diag_shift=carleo_troyer_schedule, diag_scale="relative", max_norm=max_norm)
    return SR(diag_shift=float(config["diag_shift"]), max_norm=max_norm)


def exact_energy_per_site(problem: Problem) -> dict[str, Any] | None:
    """Exact (free fermions, Lanczos, Bethe ansatz), tabulated, or DMRG ground energy per site, with its
    method and source (None for 2D lattices beyond ED without a table entry)."""
    c, lat, n = problem.config, problem.lattice, problem.lattice.n_sites
    if c["hamiltonian"] == "tfim" and len(lat.shape) == 1 and lat.pbc:
        e = tfim_chain_ground_energy(n, float(c["h"])) / n
        return {
            "value": e,
            "method": "free fermions",
            "source": "Jordan-Wigner, computed (nqg.quantum.exact)",
        }
    limit = ED_MAX_FULL_SPACE_SITES if c["hamiltonian"] == "tfim" else ED_MAX_SITES
    if n <= limit:
        e = ground_state(
            problem.hamiltonian, problem.hilbert if problem.hilbert.total_sz is not None else None
        )
        return {
            "value": e.ground_energy / n,
            "method": "exact diagonalization",
            "source": "Lanczos, computed (nqg.quantum.exact)",
        }
    if c["hamiltonian"] in ("tfim", "heisenberg"):
        found = lookup_reference(c["hamiltonian"], lat, float(c["h"]) if c["hamiltonian"] == "tfim" else None)
        if found is not None:
            return found
    # chains beyond ED: free fermions (open TFIM), Bethe ansatz (open Heisenberg), else TeNPy's DMRG
    return chain_energy_beyond_ed(problem.hamiltonian, lat)


def solve_ground_state(
    problem: Problem,
    *,
    seed: int = 0,
    ctx=None,
    progress: bool | None = None,
    name: str = "vmc",
    exact: dict[str, Any] | str | None = "compute",
) -> dict[str, Any]:
    """Run the VMC of ``problem``; return energies per site, statistics, timing and the reference."""
    c = problem.config
    n = problem.lattice.n_sites
    t0 = time.perf_counter()
    result: VMCResult = problem.vmc.run(
        int(c["iterations"]),
        jax.random.key(seed + 1),
        ctx=ctx,
        progress=progress,
        final_estimate_repeats=int(c["final_repeats"]),
        name=name,
    )
    elapsed = time.perf_counter() - t0
    if exact == "compute":  # the caller may pass a reference it already has (or None: none)
        exact = exact_energy_per_site(problem)
    out: dict[str, Any] = {
        "n_sites": n,
        "n_parameters": count_parameters(problem.model),
        "energy_per_site": result.energy / n,
        "energy_per_site_error": result.energy_error / n,
        "variance": result.variance,
        "acceptance": result.acceptance,
        "rhat": result.rhat,
        "tau": result.tau,
        "seconds": elapsed,
        "seconds_per_iteration": elapsed / max(1, int(c["iterations"])),
        "history": result.history,
        "rejections": result.rejections,
        "exact": exact,
        "result": result,
    }
    if exact is not None:
        e0 = exact["value"]
        out["relative_error"] = abs((out["energy_per_site"] - e0) / e0)
        out["relative_error_error"] = out["energy_per_site_error"] / abs(e0)
    return out


def plot_energy_history(history: dict[str, np.ndarray], n_sites: int, exact: float | None, title: str):
    """Figure: energy per site against iteration (with its standard error band) and the exact line."""
    import matplotlib.pyplot as plt

    e = np.asarray(history["energy"]) / n_sites
    err = np.asarray(history["energy_error"]) / n_sites
    it = np.arange(e.size)
    fig, axes = plt.subplots(1, 2 if exact is not None else 1, figsize=(10 if exact is not None else 5.5, 4))
    axes = np.atleast_1d(axes)
    axes[0].plot(it, e, lw=1, label="VMC")
    axes[0].fill_between(it, e - err, e + err, alpha=0.3)
    rejected = np.flatnonzero(np.asarray(history.get("rejected", np.zeros(e.size))) > 0)
    if rejected.size:
        axes[0].plot(rejected, e[rejected], "rx", ms=5, label=f"rejected ({rejected.size})")
    if exact is not None:
        axes[0].axhline(exact, color="k", ls="--", label="exact")
        lo = exact - 0.05 * abs(exact)
        axes[0].set_ylim(
            lo, max(np.nanmax(e[e.size // 5 :]) if e.size > 5 else exact, exact) + 0.02 * abs(exact)
        )
        rel = np.abs((e - exact) / exact)
        axes[1].semilogy(it, np.maximum(rel, 1e-8), lw=1)
        axes[1].set_xlabel("iteration")
        axes[1].set_ylabel("|E - E_exact| / |E_exact|")
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("energy per site")
    axes[0].set_title(title)
    axes[0].legend()
    fig.tight_layout()
    return fig


def ground_state_result(
    problem: Problem, exact: dict | None, *, seed: int, ctx, name: str = "quantum-ground-state"
):
    """Run the problem and assemble the Result (shared by the CLI and the experiments)."""
    from nqg.results import Result, save_figure, write_csv

    c = problem.config
    params = {k: v for k, v in c.items() if v is not None}
    params["lattice_name"] = problem.lattice.name
    res = Result(name, seed=seed, params=params)
    sol = solve_ground_state(
        problem, seed=seed, ctx=ctx, progress=None if not ctx.quiet else False, exact=exact
    )
    n = problem.lattice.n_sites
    res.add_metric("energy_per_site", sol["energy_per_site"], sol["energy_per_site_error"])
    res.add_metric("variance", sol["variance"])
    res.add_metric("acceptance", sol["acceptance"])
    res.add_metric("r_hat", sol["rhat"])
    res.add_metric("autocorrelation_time", sol["tau"])
    res.add_metric("seconds_per_iteration", sol["seconds_per_iteration"], unit="s")
    res.add_metric("n_parameters", sol["n_parameters"])
    if exact is not None:
        e0 = exact["value"]
        rel = abs((sol["energy_per_site"] - e0) / e0)
        res.add_metric("exact_energy_per_site", e0)
        res.add_metric("relative_error", rel, sol["energy_per_site_error"] / abs(e0))
        res.add_reference("energy_per_site", e0, source=f"{exact['method']}: {exact['source']}")
        z = abs(sol["energy_per_site"] - e0) / max(sol["energy_per_site_error"], 1e-300)
        res.add_check(
            "variational: E_VMC >= E_exact - 4 sigma",
            bool(sol["energy_per_site"] >= e0 - 4 * sol["energy_per_site_error"]),
            f"E = {sol['energy_per_site']:.7f} +- {sol['energy_per_site_error']:.1e}, "
            f"exact {e0:.7f} ({z:.1f} sigma)",
        )
    rejections = sol["rejections"]
    if problem.vmc.guard is not None:
        res.add_metric("rejected_steps", len(rejections))
        res.add_table(
            "rejections",
            [{**r, "energy_per_site": r["energy"] / n} for r in rejections],
        )
    hist = sol["history"]
    write_csv(
        ctx.out_dir / "history.csv",
        ["iteration", "energy_per_site", "energy_error_per_site", "variance", "acceptance"],
        np.column_stack(
            [
                np.arange(len(hist["energy"])),
                hist["energy"] / n,
                hist["energy_error"] / n,
                hist["variance"],
                hist["acceptance"],
            ]
        ),
    )
    fig = plot_energy_history(hist, n, None if exact is None else exact["value"], problem.lattice.name)
    save_figure(fig, ctx.out_dir, "energy.png", res)
    return res
