"""``nqg quantum ground-state``: variational ground state of a spin model with a neural network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import quantum_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, ResumeOpt, SeedOpt, execute


@quantum_app.command("ground-state")
def ground_state_command(
    hamiltonian: Annotated[
        str, typer.Option("--hamiltonian", help="tfim | heisenberg | j1j2")
    ] = "heisenberg",
    h: Annotated[float, typer.Option("--h", help="Transverse field of the TFIM (Pauli units).")] = 1.0,
    j2: Annotated[
        float, typer.Option("--j2", help="Next-nearest coupling of the J1-J2 model (J1 = 1).")
    ] = 0.2,
    lattice: Annotated[str, typer.Option("--lattice", help="chain | square")] = "chain",
    size: Annotated[str, typer.Option("--size", help="Chain length (16) or square sides (4x4).")] = "16",
    open_boundary: Annotated[
        bool, typer.Option("--open", help="Open instead of periodic boundaries.")
    ] = False,
    model: Annotated[
        str, typer.Option("--model", help="rbm | rbm-complex | rbm-symmetric | ffnn | mps")
    ] = "rbm",
    bond_dim: Annotated[
        int | None, typer.Option("--bond-dim", help="Bond dimension D of --model mps (chains only).")
    ] = None,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Hidden-unit density M/N (filters for rbm-symmetric).")
    ] = 2.0,
    samples: Annotated[int, typer.Option("--samples", help="Monte-Carlo samples per iteration.")] = 1024,
    chains: Annotated[int, typer.Option("--chains", help="Parallel Markov chains.")] = 16,
    iterations: Annotated[int, typer.Option("--iterations", help="VMC iterations.")] = 600,
    lr: Annotated[float, typer.Option("--lr", help="SGD learning rate on the SR direction.")] = 0.02,
    lr_final: Annotated[
        float | None,
        typer.Option("--lr-final", help="Cosine-decay the learning rate from --lr to this value."),
    ] = None,
    diag_shift: Annotated[float, typer.Option("--diag-shift", help="SR diagonal shift.")] = 0.01,
    sr_schedule: Annotated[
        str,
        typer.Option(
            "--sr-schedule",
            help="constant (S + diag-shift) | carleo-troyer (S + max(100*0.9^p, 1e-4) diag S).",
        ),
    ] = "constant",
    trust_region: Annotated[
        float,
        typer.Option(
            "--trust-region",
            help="Largest Fubini-Study step lr*sqrt(d^T S d) of one SR update; longer ones are scaled down.",
        ),
    ] = 0.1,
    marshall: Annotated[
        bool | None,
        typer.Option(
            "--marshall/--no-marshall",
            help="Heisenberg/J1-J2: Marshall sign rule (default: on for bipartite lattices).",
        ),
    ] = None,
    float32: Annotated[bool, typer.Option("--float32", help="Single precision parameters.")] = False,
    collapse_guard: Annotated[
        bool,
        typer.Option(
            "--collapse-guard/--no-collapse-guard",
            help="Reject steps whose energy or variance jumps (restore, shrink the step); restart frozen "
            "chains. The rejections are listed in result.json.",
        ),
    ] = True,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    resume: ResumeOpt = False,
) -> None:
    """Find the ground state of a spin model by variational Monte Carlo with a neural-network wave function.

    Writes result.json (energy_per_site with its error, variance, acceptance, and where known the exact
    energy and the relative error) and energy.png (energy against iteration with the exact line).
    """
    from nqg.quantum.ground_state import build_problem, exact_energy_per_site, ground_state_result

    config = {
        "hamiltonian": hamiltonian.lower(),
        "h": h,
        "j2": j2,
        "lattice": lattice.lower(),
        "size": size,
        "pbc": not open_boundary,
        "model": model.lower(),
        "alpha": alpha,
        "samples": samples,
        "chains": chains,
        "iterations": iterations,
        "lr": lr,
        "lr_final": lr_final,
        "diag_shift": diag_shift,
        "sr_schedule": sr_schedule.lower(),
        "trust_region": trust_region,
        "float32": float32,
        "marshall": marshall,
        "collapse_guard": collapse_guard,
    }
    if model.lower() == "mps":
        from nqg.quantum.mps import build_mps_problem

        problem = build_mps_problem(config, 4 if bond_dim is None else bond_dim, seed=seed)
    else:
        if bond_dim is not None:
            from nqg.errors import NqgInputError

            raise NqgInputError(f"--bond-dim applies to --model mps only, got --model {model}")
        problem = build_problem(config, seed=seed)  # validates everything before anything is written
    if out is None:
        out = Path("runs") / f"ground-state-{hamiltonian}-{lattice}-{size}-{model}"
    exact = exact_energy_per_site(problem)  # computed up front: a size ED cannot take fails early

    def body(ctx):
        return ground_state_result(problem, exact, seed=seed, ctx=ctx)

    execute(out, body, seed=seed, quiet=quiet, resume=resume, json_out=json_out)
