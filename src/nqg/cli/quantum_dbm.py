"""``nqg quantum dbm``: the deep Boltzmann machine of imaginary-time evolution, exact or sampled."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import quantum_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, SeedOpt, execute
from nqg.errors import NqgInputError


@quantum_app.command("dbm")
def dbm_command(
    hamiltonian: Annotated[
        str,
        typer.Option(
            "--hamiltonian",
            help="tfim (-J sum sz sz - h sum sx, block Gibbs) | heisenberg (J = 1 antiferromagnet, "
            "Marshall-rotated, bipartite lattices; loop sampling)",
        ),
    ] = "tfim",
    lattice: Annotated[str, typer.Option("--lattice", help="chain | square")] = "chain",
    size: Annotated[str, typer.Option("--size", help="Chain length (12) or square sides (3x3).")] = "12",
    open_boundary: Annotated[
        bool, typer.Option("--open", help="Open instead of periodic boundaries.")
    ] = False,
    h: Annotated[
        float, typer.Option("--h", help="Transverse field Gamma (Pauli units, J = 1; TFIM only).")
    ] = 1.0,
    dtau: Annotated[float, typer.Option("--dtau", help="Imaginary-time step.")] = 0.1,
    steps: Annotated[int, typer.Option("--steps", help="Trotter steps M (tau = M dtau).")] = 20,
    exact: Annotated[
        bool, typer.Option("--exact", help="Exact amplitudes only (deep units summed slice by slice).")
    ] = False,
    samples: Annotated[
        int, typer.Option("--samples", help="Monte-Carlo samples for the energy (block Gibbs / loop moves).")
    ] = 10_000,
    chains: Annotated[int, typer.Option("--chains", help="Parallel Markov chains.")] = 32,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build the deep Boltzmann machine that equals (U_zz U_x)^M |+> for the transverse-field Ising model,
    or the Marshall-rotated Heisenberg bond product (prod_<ij> e^{-dtau S_i.S_j})^M |+>, and sample it.

    Writes result.json (energy_per_site, sampled with its error unless --exact; the exact energy of the
    Trotter state where N <= 14; the ground-state energy; n_hidden, n_deep) and energy_vs_tau.png.
    """
    from nqg.quantum.dbm_experiments import build, dbm_result

    if samples < 2 and not exact:
        raise NqgInputError(f"--samples must be >= 2 (or use --exact), got {samples}")
    if chains < 2:
        raise NqgInputError(f"--chains must be >= 2, got {chains}")
    config = {
        "hamiltonian": hamiltonian.lower(),
        "lattice": lattice.lower(),
        "size": size,
        "pbc": not open_boundary,
        "h": h,
        "dtau": dtau,
        "steps": steps,
        "samples": 0 if exact else samples,
        "chains": chains,
    }
    build(config)  # validates everything before anything is written
    out = out or Path("runs") / f"dbm-{hamiltonian}-{lattice}-{size}"
    execute(out, lambda ctx: dbm_result(config, ctx), seed=seed, quiet=quiet, json_out=json_out)
