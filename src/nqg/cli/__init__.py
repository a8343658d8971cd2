"""The ``nqg`` command line: ``list``, ``run``, ``reproduce`` and the domain commands.

The CLI parses and validates, calls library functions and prints; no physics lives here.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import fields_app, gravity_app, learning_app, networks_app, quantum_app
from nqg.cli.common import (
    JsonOpt,
    NqgGroup,
    QuickOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    emit,
    fail,
)

app = typer.Typer(
    cls=NqgGroup,
    help="nqg: neural networks, quantum systems and gravity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(gravity_app, name="gravity")
app.add_typer(quantum_app, name="quantum")
app.add_typer(fields_app, name="fields")
app.add_typer(networks_app, name="networks")
app.add_typer(learning_app, name="learning")

for _module in (
    "gravity",
    "gravity_observables",
    "gravity_mesons",
    "quantum",
    "quantum_tensor_networks",
    "quantum_dbm",
    "fields_correlators",
    "fields_path_integral",
    "networks_align",
    "networks_geodesic",
    "learning_sgd",
    "learning_wave",
):
    importlib.import_module(f"nqg.cli.{_module}")  # registers the domain commands


@app.callback()
def _root(
    float32: Annotated[
        bool, typer.Option("--float32", help="Compute in float32 instead of float64.")
    ] = False,
    devices: Annotated[
        int | None,
        typer.Option(
            "--devices",
            help="Shard work over the first N visible devices [default: all]; recorded as params.devices.",
        ),
    ] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="Join a multi-process run (jax.distributed): every process runs the same command and only "
            "process 0 writes. Settings left out are detected from the cluster (SLURM, Open MPI).",
        ),
    ] = False,
    coordinator: Annotated[
        str | None,
        typer.Option("--coordinator", help="With --distributed: HOST:PORT of process 0's coordinator."),
    ] = None,
    num_processes: Annotated[
        int | None, typer.Option("--num-processes", help="With --distributed: number of processes.")
    ] = None,
    process_id: Annotated[
        int | None, typer.Option("--process-id", help="With --distributed: this process's index, 0..N-1.")
    ] = None,
    coordinator_timeout: Annotated[
        float,
        typer.Option(
            "--coordinator-timeout",
            help="With --distributed: seconds to wait for the coordinator and the other processes.",
        ),
    ] = 60.0,
) -> None:
    from nqg import devices as nqg_devices
    from nqg.errors import NqgInputError

    if distributed:  # first: before anything touches a JAX device
        nqg_devices.initialize_distributed(
            coordinator, num_processes, process_id, timeout_s=coordinator_timeout
        )
    elif coordinator is not None or num_processes is not None or process_id is not None:
        raise NqgInputError("--coordinator, --num-processes and --process-id need --distributed")
    if float32:
        from nqg import set_precision

        set_precision("float32")

    if distributed and devices is not None and devices != nqg_devices.visible_device_count():
        raise NqgInputError(
            f"--devices {devices} with --distributed: a multi-process run uses all "
            f"{nqg_devices.visible_device_count()} devices of its processes; leave --devices out"
        )
    nqg_devices.set_device_count(devices)  # None: all visible devices; NqgInputError (exit 2) if out of range


@app.command("list")
def list_experiments() -> None:
    """List the experiments, one line each, with the full setting's measured time on 2 CPU cores."""
    from nqg.experiments import registry
    from nqg.spec import format_duration

    print(f"{'experiment':<26} {'full setting':<13} description [reference]")
    for exp in registry().values():
        ref = f" [{exp.reference}]" if exp.reference else ""
        print(f"{exp.name:<26} {format_duration(exp.full_time_s):<13} {exp.description}{ref}")


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="Experiment name (see `nqg list`).")],
    quick: QuickOpt = False,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder [default: results/NAME].")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a parameter: key=value.")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    resume: ResumeOpt = False,
) -> None:
    """Run one experiment and write OUT/result.json with its figures."""
    from nqg import experiments

    exp = experiments.get(name)
    overrides = experiments.parse_overrides(exp, set_ or [], quick)
    out = out or Path("results") / name
    result = experiments.run_experiment(
        name, quick=quick, seed=seed, out=out, overrides=overrides, quiet=quiet or json_out, resume=resume
    )
    emit(result, out, json_out=json_out, quiet=quiet)


@app.command("reproduce")
def reproduce(
    quick: QuickOpt = False,
    only: Annotated[str | None, typer.Option("--only", help="Comma-separated experiment names.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("results"),
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Experiments run at a time, each in its own process.")
    ] = 1,
) -> None:
    """Run the experiments and write OUT/report.html, OUT/report.md and OUT/NAME/result.json."""
    from rich.console import Console

    from nqg.report import check_counts
    from nqg.report import reproduce as run_all

    console = Console(stderr=True, quiet=quiet)
    names = [s.strip() for s in only.split(",") if s.strip()] if only else None
    if not quick:
        console.print(full_setting_estimate(names))

    def on_start(name: str, i: int, n: int) -> None:
        console.print(f"[bold][{i + 1}/{n}][/bold] {name} ...")

    outcomes = run_all(names, quick=quick, seed=seed, out=out, quiet=quiet, on_start=on_start, jobs=jobs)
    for o in outcomes:
        if o.error is not None:
            console.print(f"[red]ERROR[/red] {o.name}: {o.error}")
        else:
            assert o.result is not None
            n_pass, n_eval, n_full = check_counts(o.result)
            colour = "green" if n_pass == n_eval else "yellow"
            full = f", {n_full} full setting only" if n_full else ""
            counted = f"[{colour}]{n_pass}/{n_eval} checks[/{colour}]{full}"
            console.print(f"{counted} {o.name} ({o.elapsed_s:.1f} s)")
    console.print(f"wrote {out / 'report.html'} and {out / 'report.md'}")
    if any(o.error is not None for o in outcomes):
        fail(f"{sum(o.error is not None for o in outcomes)} experiment(s) failed; see {out / 'report.md'}", 1)


def full_setting_estimate(names: list[str] | None) -> str:
    """One line: the summed measured full-setting time of the experiments ``names`` (None: all)."""
    from nqg import experiments
    from nqg.spec import format_duration

    chosen = [experiments.get(n) for n in names] if names else list(experiments.registry().values())
    measured = [e.full_time_s for e in chosen if e.full_time_s is not None]
    missing = len(chosen) - len(measured)
    line = (
        f"full settings of {len(chosen)} experiment(s): about {format_duration(sum(measured))} on 2 CPU cores"
    )
    if missing:
        line += f" plus {missing} not yet timed"
    return line + " (--quick: a few minutes in all)"


def main() -> None:
    """Console-script entry point."""
    app(prog_name="nqg")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
