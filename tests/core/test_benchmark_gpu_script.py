"""``benchmarks/gpu.sh --cpu`` keeps working: the GPU workload script runs its small CPU sizes and prints
a figure for every workload (issue #13 §3: "the script also runs on the CPU so that it is kept working")."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    cmd = ["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--cpu", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FAILED" not in proc.stdout, proc.stdout
    return proc.stdout


@pytest.mark.slow  # ~50 s on 2 cores: run with `make test-slow` (CI time)
def test_gpu_script_vmc_section_on_the_cpu():
    out = run("--sections", "vmc", "--iterations", "3", "--warmup", "1")
    rows = re.findall(r"nqg +VMC +(\d+)x\d+ .* ([0-9.]+) s/iteration, ([0-9.e+]+) samples/s \[cpu", out)
    assert [r[0] for r in rows] == ["4", "6"], out
    assert all(float(r[1]) > 0 and float(r[2]) > 0 for r in rows)


@pytest.mark.slow
def test_gpu_script_every_section_on_the_cpu():
    out = run("--iterations", "3", "--warmup", "1")
    labels = ("ensemble 1e+04 networks", "ensemble 1e+05 networks", "path integral", "holographic ensemble")
    for label in labels:
        assert re.search(rf"{re.escape(label)}.*: [0-9.]+ s wall", out), out
