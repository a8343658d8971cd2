"""Checkpoints and ``--resume`` of a 2-process run (``nqg --distributed``, issue #13 §2).

Two processes with 2 CPU devices each, coordinated on 127.0.0.1, run a 20-iteration ``nqg quantum
ground-state`` (VMC, the Markov chains split over the 4 devices of both processes) and are interrupted
(Ctrl-C, as a cluster's time limit would) at iteration 15, after a periodic checkpoint at iteration 10. The
same command with ``--resume`` then continues from that checkpoint to iteration 20, and must give the
energies of one uninterrupted run (1 process x 4 devices, which equals 2 processes x 2 devices: see
test_distributed.py) at every iteration, to 1e-8 relative (issue #13: reductions may reorder sums;
measured 5e-16).

Negative controls: resuming the seed-0 command from a checkpoint written by a seed-1 run continues that
run, far from the seed-0 energies (so the resume really reads the checkpoint rather than starting again;
slow: 4 more processes); and processes that see different checkpoints (``OUT`` not shared between
hosts) stop with one line on stderr and exit code 2 instead of waiting for each other for ever.

The checkpoint cadence and the interruption are set inside the launched processes (a wrapper around
``nqg.train.run_loop`` and ``jax.jit``; the command line itself is the real one), so the test does not
depend on timing. Every launched process is stopped in every case, pass or fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

DEADLINE_S = 600  # each of the two launches, on a loaded 2-core machine (about 30 s each when idle)
CHUNK, SAVED_AT, STOPPED_AT, ITERATIONS = 5, 10, 15, 20

# `nqg` in a fresh interpreter; with NQG_TEST_INTERRUPT set, training runs in chunks of CHUNK steps,
# checkpoints only after step SAVED_AT (every process takes part, process 0 writes) and gets Ctrl-C
# when the chunk starting at STOPPED_AT is launched
DRIVER = textwrap.dedent(
    f"""
    import os, sys
    if os.environ.get("NQG_TEST_INTERRUPT"):
        import jax
        import nqg.train as train

        real_run_loop, real_agreed, real_jit = train.run_loop, train._agreed, jax.jit
        ends = iter(range({CHUNK}, 10**6, {CHUNK}))  # the step at which each periodic save is decided

        def run_loop(step_fn, state, **kwargs):
            kwargs.update(chunk={CHUNK}, checkpoint_every_s=0.0)
            return real_run_loop(step_fn, state, **kwargs)

        def agreed(flag):
            return real_agreed(flag and next(ends) == {SAVED_AT})

        def jit(fn, *args, **kwargs):
            compiled = real_jit(fn, *args, **kwargs)
            if getattr(fn, "__name__", "") != "run_chunk":
                return compiled
            calls = [0]

            def chunk(*a):
                calls[0] += 1
                if (calls[0] - 1) * {CHUNK} >= {STOPPED_AT}:
                    raise KeyboardInterrupt
                return compiled(*a)

            return chunk

        train.run_loop, train._agreed, jax.jit = run_loop, agreed, jit
    from nqg.cli import main
    sys.argv[0] = "nqg"
    main()
    """
)
NQG = [sys.executable, "-c", DRIVER]
GROUND_STATE = [
    "quantum", "ground-state", "--hamiltonian", "heisenberg", "--size", "8", "--alpha", "1", "--chains", "8",
    "--samples", "128", "--iterations", str(ITERATIONS), "--json", "--quiet",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], devices: int, log: Path, cwd: Path, interrupt: bool = False):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    for name in list(env):  # no cluster auto-detection from the environment the tests run in
        if name.startswith(("SLURM_", "OMPI_", "PMI_")) or name == "NQG_TEST_INTERRUPT":
            del env[name]
    if interrupt:
        env["NQG_TEST_INTERRUPT"] = "1"
    out, err = log.with_suffix(".out"), log.with_suffix(".err")
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen([*NQG, *args], stdout=fo, stderr=fe, env=env, cwd=cwd)
    return proc, out, err


def two_processes(procs: dict, name: str, tmp: Path, more: list[str], *, interrupt=False, cwds=None) -> None:
    """Start processes 0 and 1 of a 2-process run (2 devices each) running ``GROUND_STATE + more``."""
    port = free_port()
    for i in (0, 1):
        settings = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)]
        args = ["--distributed", *settings, *GROUND_STATE, *more]
        cwd = tmp if cwds is None else cwds[i]
        procs[f"{name}{i}"] = launch(args, 2, tmp / "logs" / f"{name}{i}", cwd, interrupt)


def wait_all(procs: dict) -> None:
    deadline = time.monotonic() + DEADLINE_S
    for proc, _, _ in procs.values():
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))


def stop_all(procs: dict) -> dict:
    """Kill every process still running (pass or fail) and collect exit codes and outputs."""
    for proc, _, _ in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return {
        name: {"rc": proc.returncode, "stdout": out.read_text(), "stderr": err.read_text()}
        for name, (proc, out, err) in procs.items()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """First launch: the interrupted 2-process run and the uninterrupted reference (1 process x 4 devices);
    second launch: the resumed run, and processes that see different checkpoints."""
    tmp = tmp_path_factory.mktemp("resume")
    (tmp / "logs").mkdir()
    procs: dict = {}
    found: dict = {"tmp": tmp}
    try:
        two_processes(procs, "first", tmp, ["--out", "run"], interrupt=True)
        procs["reference"] = launch([*GROUND_STATE, "--out", "reference"], 4, tmp / "logs" / "reference", tmp)
        wait_all(procs)
        found["run"] = sorted(p.relative_to(tmp / "run").as_posix() for p in (tmp / "run").rglob("*"))
        checkpoint = tmp / "run" / "checkpoints" / "vmc.ckpt"
        if checkpoint.exists():  # process 0 finds the checkpoint, process 1 (another cwd) does not
            (tmp / "host0" / "run" / "checkpoints").mkdir(parents=True)
            (tmp / "host1").mkdir()
            shutil.copy(checkpoint, tmp / "host0" / "run" / "checkpoints")
            with np.load(checkpoint) as saved:
                found["saved_step"] = int(saved["__step__"])
        two_processes(procs, "resumed", tmp, ["--out", "run", "--resume"])
        hosts = [tmp / "host0", tmp / "host1"]
        two_processes(procs, "unshared", tmp, ["--out", "run", "--resume"], cwds=hosts)
        wait_all(procs)
    finally:
        found.update(stop_all(procs))
    return found


@pytest.fixture(scope="module")
def other_seed_runs(runs):
    """A seed-1 2-process run interrupted like the first one, then the seed-0 command resumed from it."""
    tmp = runs["tmp"]
    procs: dict = {}
    try:
        two_processes(procs, "other_first", tmp, ["--seed", "1", "--out", "other"], interrupt=True)
        wait_all(procs)
        two_processes(procs, "other_resumed", tmp, ["--out", "other", "--resume"])
        wait_all(procs)
    finally:
        found = stop_all(procs)
    return found


def history(folder: Path) -> np.ndarray:
    """history.csv: iteration, energy per site, its error, variance, acceptance."""
    return np.loadtxt(folder / "history.csv", delimiter=",", skiprows=1)


_GLOO = re.compile(
    r"(\[Gloo\] )?(Rank )?\d+ is connected to \d+ peer ranks\. "
    r"Expected number of connected peer ranks is : \d+"
)


def errors(stderr: str) -> list[str]:
    """nqg's own lines on stderr. gloo prints its connection messages there too, from several threads at
    once, so they can run into each other mid-line ("...ranks is : 3[Gloo] Rank 3 is...", a line that
    starts "1 is connected to ...", blank lines): those messages are cut out wherever they are."""
    text = _GLOO.sub("", stderr).replace("[Gloo] Rank ", "")
    return [line for line in text.splitlines() if line.strip()]


def test_gloo_chatter_is_cut_out_and_nqg_lines_kept():
    noisy = (
        "[Gloo] Rank 1 is connected to 1 peer ranks. Expected number of connected peer ranks is : 1\n"
        "[Gloo] Rank [Gloo] Rank 2 is connected to 3 peer ranks. "
        "Expected number of connected peer ranks is : 3"
        "[Gloo] Rank 3 is connected to 3 peer ranks. Expected number of connected peer ranks is : 3\n"
        "1 is connected to 1 peer ranks. Expected number of connected peer ranks is : 1\n\n"
        "nqg: error: something\n"
    )
    assert errors(noisy) == ["nqg: error: something"]
    assert errors(noisy + "Traceback (most recent call last):\n") == [
        "nqg: error: something",
        "Traceback (most recent call last):",
    ]


def test_interrupted_run_leaves_its_last_periodic_checkpoint(runs):
    for i in (0, 1):
        run = runs[f"first{i}"]
        assert run["rc"] == 130, run["stderr"][-2000:]
        assert run["stdout"] == ""
        assert errors(run["stderr"]) == [
            f"nqg: error: vmc: interrupted at step {STOPPED_AT}; the last checkpoint is at step {SAVED_AT}, "
            "rerun with --resume"
        ], run["stderr"][-2000:]
    assert runs["run"] == ["checkpoints", "checkpoints/vmc.ckpt"]  # only process 0 wrote, only the checkpoint
    assert runs["saved_step"] == SAVED_AT


def test_resumed_two_process_run_equals_an_uninterrupted_run(runs):
    for name in ("resumed0", "resumed1", "reference"):
        assert runs[name]["rc"] == 0, f"{name}: {runs[name]['stderr'][-2000:]}"
    tmp = runs["tmp"]
    resumed, reference = history(tmp / "run"), history(tmp / "reference")
    assert resumed.shape == reference.shape == (ITERATIONS, 5)
    assert np.array_equal(resumed[:, 0], np.arange(ITERATIONS))
    rel = np.max(np.abs(resumed[:, 1] - reference[:, 1]) / np.abs(reference[:, 1]))
    assert rel <= 1e-8, f"resumed 2-process run vs uninterrupted run: energies differ by {rel} (relative)"
    data0, data1, ref = (json.loads(runs[n]["stdout"]) for n in ("resumed0", "resumed1", "reference"))
    assert data0["params"]["devices"] == ref["params"]["devices"] == 4
    physics = {k: v for k, v in data0["metrics"].items() if not k.startswith("seconds")}
    assert physics == {k: data1["metrics"][k] for k in physics}  # both processes report the same numbers
    for name in ("energy_per_site", "variance"):  # the final estimate, from the resumed final state
        a, b = data0["metrics"][name]["value"], ref["metrics"][name]["value"]
        assert abs(a - b) <= 1e-8 * abs(b), (name, a, b)
    # the physics: 20 iterations from a random RBM lie above the exact ground state (variational bound)
    energy, exact = ref["metrics"]["energy_per_site"], ref["metrics"]["exact_energy_per_site"]["value"]
    assert energy["value"] >= exact - 4 * energy["error"]
    # success: the checkpoint is gone and the folder holds what an uninterrupted run writes, nothing else
    written = sorted(p.relative_to(tmp / "run").as_posix() for p in (tmp / "run").rglob("*"))
    assert written == sorted(
        p.relative_to(tmp / "reference").as_posix() for p in (tmp / "reference").rglob("*")
    )
    assert not [p.name for p in tmp.iterdir() if ".partial-" in p.name]  # no staging folder left


@pytest.mark.slow
def test_resuming_from_another_seeds_checkpoint_continues_that_run(runs, other_seed_runs):
    """The seed-0 command resumed from a seed-1 checkpoint: the first 10 iterations are seed 1's (read from
    the checkpoint), and so are the next 10 (its state); far from the seed-0 energies."""
    found = other_seed_runs
    for name in ("other_first0", "other_first1"):
        assert found[name]["rc"] == 130, f"{name}: {found[name]['stderr'][-2000:]}"
    for name in ("other_resumed0", "other_resumed1"):
        assert found[name]["rc"] == 0, f"{name}: {found[name]['stderr'][-2000:]}"
    tmp = runs["tmp"]
    other, reference = history(tmp / "other"), history(tmp / "reference")
    assert other.shape == (ITERATIONS, 5)
    for part in (slice(0, SAVED_AT), slice(SAVED_AT, ITERATIONS)):
        rel = np.max(np.abs(other[part, 1] - reference[part, 1]) / np.abs(reference[part, 1]))
        assert rel > 1e-3, f"iterations {part}: the seed-1 checkpoint gave the seed-0 energies ({rel})"


def test_processes_that_see_different_checkpoints_stop_with_exit_2(runs):
    """Process 0 finds OUT/checkpoints/vmc.ckpt, process 1 (another working directory: OUT not shared)
    finds none. Both stop before training, with one line on stderr, exit code 2, nothing written."""
    for i in (0, 1):
        run = runs[f"unshared{i}"]
        assert run["rc"] == 2, run["stderr"][-2000:]
        lines = errors(run["stderr"])
        assert len(lines) == 1 and lines[0].startswith(
            "nqg: error: --resume: the processes do not see the same checkpoint vmc.ckpt "
            "(process 0: checksum "
        ), lines
        assert lines[0].count("process 1: none") == 1
        assert run["stdout"] == ""
    tmp = runs["tmp"]
    assert sorted(p.name for p in (tmp / "host0").rglob("*")) == ["checkpoints", "run", "vmc.ckpt"]
    assert not any((tmp / "host1").iterdir())
