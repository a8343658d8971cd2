"""Pieces shared by every CLI command: option aliases, error mapping, running and printing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from nqg.errors import NqgInputError, TrainingDivergedError, TrainingInterrupted
from nqg.report import check_rows, comparison_rows
from nqg.results import Result
from nqg.runner import run_into
from nqg.spec import RunContext

SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same result.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output folder (result.json and figures).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print result.json on stdout and nothing else there.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="Small, fast setting.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its checkpoint.")]

EXIT_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_INPUT) -> None:
    """Print ``nqg: error: message`` as one line on stderr and exit with ``code``."""
    one_line = " ".join(str(message).split())
    print(f"nqg: error: {one_line}", file=sys.stderr)
    raise typer.Exit(code)


class NqgGroup(TyperGroup):
    """Root command group: maps nqg's errors and usage errors to one line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except NqgInputError as exc:
            fail(str(exc), EXIT_INPUT)
        except TrainingDivergedError as exc:
            fail(str(exc), EXIT_DIVERGED)
        except TrainingInterrupted as exc:
            fail(str(exc), EXIT_INTERRUPTED)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `nqg` or `nqg gravity`: show the help
                print(exc.format_message())
                code = 0
            else:
                message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                print(f"nqg: error: {' '.join(message.split())}", file=sys.stderr)
                code = getattr(exc, "exit_code", EXIT_INPUT)
            if standalone_mode:
                sys.exit(code)
            return code
        except typer.Abort:
            print("nqg: aborted", file=sys.stderr)
            if standalone_mode:
                sys.exit(EXIT_INTERRUPTED)
            return EXIT_INTERRUPTED
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


def print_summary(result: Result, out: Path | None = None) -> None:
    """A short human-readable summary of a result on stdout."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title=result.experiment, show_lines=False)
    for col in ("quantity", "ours", "reference", "source"):
        table.add_column(col)
    for row in comparison_rows(result):
        table.add_row(row["quantity"], row["ours"], row["reference"], row["source"])
    console.print(table)
    marks = {"PASS": "[green]PASS[/green]", "FAIL": "[red]FAIL[/red]"}
    for row in check_rows(result):
        mark = marks.get(row["result"], f"[dim]{row['result']}[/dim]")
        console.print(f"{mark} {escape(row['check'])}  {escape(row['detail'])}", highlight=False)
    if out is not None:
        console.print(f"wrote {out / 'result.json'}")


def emit(result: Result, out: Path | None, *, json_out: bool, quiet: bool) -> None:
    """Print the result JSON (``--json``), or a summary unless ``--quiet``; in a multi-process run only
    process 0 (the one that wrote ``out``) prints the summary."""
    from nqg.devices import is_writer

    if not json_out and not is_writer():
        return
    if json_out:
        sys.stdout.write(result.to_json() + "\n")
    elif not quiet:
        print_summary(result, out)


def execute(
    out: Path,
    fn: Callable[[RunContext], Result],
    *,
    seed: int,
    quick: bool = False,
    quiet: bool = False,
    resume: bool = False,
    json_out: bool = False,
) -> Result:
    """Run ``fn`` into ``out`` (all or nothing, see :func:`nqg.runner.run_into`) and print it."""
    result = run_into(out, fn, seed=seed, quick=quick, quiet=quiet, resume=resume)
    emit(result, out, json_out=json_out, quiet=quiet)
    return result


def parse_float_list(text: str, what: str) -> list[float]:
    """Parse '0.004,0.008' into floats; NqgInputError naming ``what`` otherwise."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise NqgInputError(f"{what}: expected comma-separated numbers, got {text!r}")
    values = []
    for s in items:
        try:
            v = float(s)
        except ValueError:
            raise NqgInputError(f"{what}: {s!r} is not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise NqgInputError(f"{what}: {s!r} is not a finite number")
        values.append(v)
    return values
