"""`nqg networks geodesic-fit`: outputs on sphere geodesics, and bad input (exit 2, one line, nothing
written)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from nqg.cli import app
from nqg.networks.geodesic import sphere_geodesics

runner = CliRunner()


def _write_csv(path, traj, shuffle=True):
    rows = []
    for i in range(len(traj)):
        for j in range(int(traj.lengths[i])):
            rows.append(
                [f"arc{i}", repr(float(traj.times[i, j]))] + [repr(float(v)) for v in traj.positions[i, j]]
            )
    if shuffle:  # rows in any order: the reader groups by trajectory and sorts by t
        rows = [rows[k] for k in np.random.default_rng(0).permutation(len(rows))]
    dim = traj.positions.shape[-1]
    header = ",".join(["trajectory", "t"] + [f"x{k + 1}" for k in range(dim)])
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_geodesic_fit_writes_metrics_metric_and_figure(tmp_path):
    traj = sphere_geodesics(jax.random.key(0), 30, 20)
    traj.lengths[3], traj.lengths[5] = 12, 7  # trajectories of different lengths (times are uneven already)
    csv = _write_csv(tmp_path / "traj.csv", traj)
    out = tmp_path / "fit"
    res = runner.invoke(
        app,
        ["networks", "geodesic-fit", str(csv), "--out", str(out), "--steps", "300", "--json", "--seed", "1"],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads((out / "result.json").read_text())
    m = data["metrics"]
    assert {"curvature_mean", "curvature_std", "heldout_rms"} <= set(m)
    # a short fit already sees positive curvature (exact K = 1) and beats the flat-metric prediction
    assert 0.5 < m["curvature_mean"]["value"] < 1.5
    assert m["heldout_rms"]["value"] < 0.2 * m["heldout_rms_flat_control"]["value"]
    assert data["params"]["n_heldout"] == 3
    assert (out / "curvature.png").exists() and data["figures"] == ["curvature.png"]
    with np.load(out / "metric.npz") as npz:
        assert npz["K_grid"].shape == (40, 40) and npz["g_grid"].shape == (40, 40, 2, 2)
        assert npz["metric_points"].shape[1:] == (2, 2)
        assert np.all(np.linalg.eigvalsh(npz["metric_points"]) > 0)


GOOD = "trajectory,t,x1,x2\n" + "".join(f"a,{t},{t},{t * t}\nb,{t},{-t},{t}\n" for t in (0.0, 0.1, 0.25, 0.3))


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("traj,t,x,y\na,0,1,2\n", "header"),
        ("trajectory,t,x1\na,0,1\n", "header"),
        ("trajectory,t,x1,x2\n", "no data"),
        (GOOD + "a,0.5,1.0\n", "columns"),
        (GOOD + "a,0.5,1.0,2.0,3.0\n", "columns"),
        (GOOD + "a,0.5,nan,2.0\n", "not finite"),
        (GOOD + "a,0.5,abc,2.0\n", "not a number"),
        (GOOD + "c,0.0,1,1\nc,0.1,1,2\n", "at least 3"),
        (GOOD + "a,0.1,5,5\n", "same time"),
        ("trajectory,t,x1,x2\n" + "".join(f"a,{t},{t},{t}\n" for t in range(4)), "at least 2"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, content, message):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    out = tmp_path / "never"
    res = runner.invoke(app, ["networks", "geodesic-fit", str(csv), "--out", str(out), "--steps", "5"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("--steps", "0"), ("--heldout", "1.5"), ("--learning-rate", "-1")])
def test_bad_options_exit_2(tmp_path, option, value):
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD)
    res = runner.invoke(
        app, ["networks", "geodesic-fit", str(csv), "--out", str(tmp_path / "o"), option, value]
    )
    assert res.exit_code == 2 and option in res.stderr
    assert not (tmp_path / "o").exists()


def test_missing_file_exits_2(tmp_path):
    res = runner.invoke(
        app, ["networks", "geodesic-fit", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "does not exist" in res.stderr
