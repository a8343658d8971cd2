"""Run a computation into a result folder, all or nothing.

:func:`run_into` stages every file of a run in a hidden sibling folder, writes ``result.json``
there, and only when the run has succeeded moves the files into the user's folder (each by an
atomic rename, ``result.json`` last). A failed or interrupted run leaves the user's folder as it
was, apart from ``checkpoints/`` which lets ``--resume`` continue it.

In a multi-process run (``nqg --distributed``) every process computes, but only process 0
(:func:`nqg.devices.is_writer`) writes: the others stage into a private temporary folder, read the
checkpoints of ``out`` when resuming (a copy, so with the same number of processes every process resumes
from the same state), and discard everything at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nqg.devices import device_count, is_writer
from nqg.results import RESULT_FILE, Result, software_versions
from nqg.spec import RunContext

CHECKPOINT_DIR = "checkpoints"


def _publish(staging: Path, out: Path) -> None:
    """Move staged files into ``out`` (atomic rename per file; result.json last)."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == RESULT_FILE)
    for src in files:
        dst = out / src.relative_to(staging)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def run_into(
    out: str | os.PathLike,
    fn: Callable[[RunContext], Result],
    *,
    seed: int = 0,
    quick: bool = False,
    quiet: bool = False,
    resume: bool = False,
) -> Result:
    """Run ``fn(ctx)`` and publish its result and files into ``out``.

    ``fn`` writes figures and arrays into ``ctx.out_dir`` (the staging folder) and returns a
    :class:`Result`; ``elapsed_s`` and ``versions`` are filled in here.
    """
    out = Path(out)
    if not is_writer():
        return _run_without_writing(out, fn, seed=seed, quick=quick, resume=resume)  # quiet: no progress bars
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    checkpoints = out / CHECKPOINT_DIR
    ctx = RunContext(
        out_dir=staging, seed=seed, quick=quick, quiet=quiet, resume=resume, checkpoint_dir=checkpoints
    )
    start = time.perf_counter()
    try:
        result = fn(ctx)
        result.params.setdefault("devices", device_count())
        result.seed = seed
        result.quick = quick
        result.elapsed_s = round(time.perf_counter() - start, 3)
        result.versions = software_versions()
        result.write(staging)
        out.mkdir(parents=True, exist_ok=True)
        _publish(staging, out)
        shutil.rmtree(checkpoints, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if out.exists() and not any(out.iterdir()):
            out.rmdir()
    return result


def _run_without_writing(
    out: Path, fn: Callable[[RunContext], Result], *, seed: int, quick: bool, resume: bool
) -> Result:
    """:func:`run_into` on a process other than 0: the same computation, nothing written under ``out``."""
    with tempfile.TemporaryDirectory(prefix="nqg-process-") as private:
        staging, checkpoints = Path(private) / "staging", Path(private) / CHECKPOINT_DIR
        staging.mkdir()
        if resume and (out / CHECKPOINT_DIR).is_dir():
            shutil.copytree(out / CHECKPOINT_DIR, checkpoints)
        ctx = RunContext(
            out_dir=staging, seed=seed, quick=quick, quiet=True, resume=resume, checkpoint_dir=checkpoints
        )
        start = time.perf_counter()
        result = fn(ctx)
        result.params.setdefault("devices", device_count())
        result.seed = seed
        result.quick = quick
        result.elapsed_s = round(time.perf_counter() - start, 3)
        result.versions = software_versions()
    return result
