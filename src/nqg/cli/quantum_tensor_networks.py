"""``nqg quantum dmrg``: DMRG ground state of a spin chain (TeNPy): energy, truncation, entanglement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import quantum_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, SeedOpt, execute


@quantum_app.command("dmrg")
def dmrg_command(
    hamiltonian: Annotated[
        str, typer.Option("--hamiltonian", help="tfim | heisenberg | j1j2")
    ] = "heisenberg",
    h: Annotated[float, typer.Option("--h", help="Transverse field of the TFIM (Pauli units).")] = 1.0,
    j2: Annotated[
        float, typer.Option("--j2", help="Next-nearest coupling of the J1-J2 model (J1 = 1).")
    ] = 0.2,
    lattice: Annotated[str, typer.Option("--lattice", help="chain (DMRG runs on chains)")] = "chain",
    size: Annotated[str, typer.Option("--size", help="Chain length N.")] = "80",
    open_boundary: Annotated[
        bool, typer.Option("--open", help="Open instead of periodic boundaries.")
    ] = False,
    bond_dim: Annotated[int, typer.Option("--bond-dim", help="Largest MPS bond dimension D.")] = 64,
    sweeps: Annotated[int, typer.Option("--sweeps", help="Largest number of DMRG sweeps.")] = 40,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Find the ground state of a spin chain by DMRG (TeNPy) as a matrix-product state.

    Writes result.json (energy_per_site, truncation_error, entanglement_entropy_mid, the fitted central
    charge, and the exact energy where known: free fermions, Bethe ansatz, exact diagonalization),
    entanglement.csv (S at every cut) and entanglement.png.
    """
    from nqg.quantum.tensor_network_experiments import dmrg_result, validate_dmrg

    config = {
        "hamiltonian": hamiltonian.lower(),
        "h": h,
        "j2": j2,
        "lattice": lattice.lower(),
        "size": size,
        "pbc": not open_boundary,
        "bond_dim": bond_dim,
        "sweeps": sweeps,
    }
    config = validate_dmrg(config)  # before anything is written
    if out is None:
        boundary = "open" if open_boundary else "periodic"
        out = Path("runs") / f"dmrg-{config['hamiltonian']}-chain-{config['size']}-{boundary}-D{bond_dim}"

    def body(ctx):
        return dmrg_result(config, ctx)

    execute(out, body, seed=seed, quiet=quiet, json_out=json_out)
