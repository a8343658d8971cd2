"""Every file nqg writes gets the mode the user's umask gives a new file (0644 under umask 022)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nqg.report import Outcome, write_reports
from nqg.results import Result, save_figure, write_csv
from nqg.runner import run_into
from nqg.train import save_checkpoint


@pytest.fixture
def umask():
    old = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def _write_everything(out: Path) -> list[Path]:
    def body(ctx):
        result = Result("modes", quick=True)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        save_figure(fig, ctx.out_dir, "line.png", result)
        write_csv(ctx.out_dir / "table.csv", ["x", "y"], np.eye(2))
        result.add_metric("x", 1.0)
        return result

    result = run_into(out / "run", body)
    save_checkpoint(out / "ckpt" / "loop.ckpt", {"w": np.ones(3)}, 5, {"loss": np.zeros(5)})
    write_reports([Outcome("modes", result, None, 0.1)], out / "run", quick=True, seed=0)
    return [p for p in out.rglob("*") if p.is_file()]


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    files = _write_everything(tmp_path)
    names = {p.name for p in files}
    assert {"result.json", "line.png", "table.csv", "loop.ckpt", "report.html", "report.md"} <= names
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == expected, f"{path.name}: {oct(path.stat().st_mode)}"
