"""`nqg learning wave-network`: result format, deflection towards a slow region, input validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nqg.cli import app
from nqg.cli.learning_wave import parse_packet
from nqg.errors import NqgInputError

runner = CliRunner()


def _profile(tmp_path, array, name="c.npy"):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def _lens(ny=64, nx=96, R=14.0):
    y, x = np.mgrid[0:ny, 0:nx]
    return np.sqrt(1 - 0.3 * np.exp(-((x - nx / 2) ** 2 + (y - ny / 2) ** 2) / R**2))


def test_packet_through_a_lens(tmp_path):
    prof = _profile(tmp_path, _lens())
    out = tmp_path / "run"
    args = ["--speed-profile", prof, "--steps", "120", "--packet", "16,20,0.5,0,6", "--out", str(out)]
    res = runner.invoke(app, ["learning", "wave-network", *args, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads((out / "result.json").read_text())
    traj = data["tables"]["trajectory"]
    assert set(traj[0]) == {"t", "x", "y"}
    assert traj[0]["t"] == 0.0 and abs(traj[0]["x"] - 16) < 1 and abs(traj[0]["y"] - 20) < 0.5
    assert traj[-1]["x"] > traj[0]["x"] + 20  # moved along +x at about c sqrt(kappa) sites per step
    # the packet passes below the slow centre (y = 32) and bends towards it: y grows, angle > 0
    m = data["metrics"]
    assert m["deflection_angle"]["value"] > 0.02
    assert m["deflection_angle_geodesic"]["value"] > 0.02


@pytest.mark.slow
def test_uniform_medium_has_no_deflection(tmp_path):
    # same shape and steps as above (compiled once); the start is far enough from the edges that the small
    # backward-moving part of the initial packet does not wrap around the periodic lattice
    prof = _profile(tmp_path, np.full((64, 96), 0.9))
    out = tmp_path / "flat"
    args = ["--speed-profile", prof, "--steps", "120", "--packet", "48,24,0.5,0.2,6", "--kappa", "0.1"]
    res = runner.invoke(app, ["learning", "wave-network", *args, "--out", str(out), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    assert abs(m["deflection_angle"]["value"]) < 1e-3
    assert abs(m["deflection_angle_geodesic"]["value"]) < 1e-9


@pytest.mark.parametrize(
    "profile,extra,needle",
    [
        (np.full((32, 32), -0.5), [], "c = -0.5"),
        (np.full((32, 32), 1.0), ["--kappa", "0.6"], "CFL"),
        (np.full((32,), 1.0), [], "2D"),
        (np.full((32, 32, 3), 1.0), [], "2D"),
        (np.where(np.eye(32) > 0, np.nan, 1.0), [], "NaN"),
        (np.full((32, 32), 1.0), ["--packet", "40,3,0.5,0,4"], "outside"),
        (np.full((32, 32), 1.0), ["--packet", "3,3,0.5,0"], "five"),
        (np.full((32, 32), 1.0), ["--packet", "3,3,0.5,0,-1"], "width"),
        (np.full((32, 32), 1.0), ["--steps", "0"], "--steps"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, profile, extra, needle):
    prof = _profile(tmp_path, profile)
    out = tmp_path / "out"
    args = ["--speed-profile", prof, "--steps", "10", "--packet", "8,8,0.5,0,3", "--out", str(out)]
    # later options win in typer: append the override
    res = runner.invoke(app, ["learning", "wave-network", *args, *extra])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not out.exists()


def test_missing_profile_file(tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "learning",
            "wave-network",
            "--speed-profile",
            str(tmp_path / "nope.npy"),
            "--steps",
            "5",
            "--packet",
            "1,1,0.5,0,2",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 2 and "no such file" in res.stderr
    assert not out.exists()


def test_parse_packet():
    assert parse_packet("1,2,0.3,-0.1,4") == (1.0, 2.0, 0.3, -0.1, 4.0)
    with pytest.raises(NqgInputError, match="ky"):
        parse_packet("1,2,0.3,x,4")
