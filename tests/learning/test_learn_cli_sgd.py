"""`nqg learning sgd-ensemble`: result.json contents and input validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nqg.cli import app

runner = CliRunner()


def _run(args):
    return runner.invoke(app, ["learning", "sgd-ensemble", *args])


def test_quadratic_result(tmp_path):
    out = tmp_path / "run"
    n = 20_000
    res = _run(
        [
            "--potential",
            "quadratic",
            "--curvature",
            "2",
            "--noise",
            "1",
            "--lr",
            "0.4",
            "--batch",
            "2",
            "--learners",
            str(n),
            "--steps",
            "100",
            "--seed",
            "1",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads((out / "result.json").read_text())
    m = data["metrics"]
    assert {
        "temperature",
        "temperature_continuum",
        "hbar_eff",
        "variance",
        "temperature_exact_discrete",
    } <= set(m)
    eta, a, s, b = 0.4, 2.0, 1.0, 2
    assert m["temperature_exact_discrete"]["value"] == pytest.approx(eta * s**2 / (b * (2 - eta * a)))
    assert m["temperature_continuum"]["value"] == pytest.approx(eta * s**2 / (2 * b))
    t = m["temperature"]
    assert abs(t["value"] / m["temperature_exact_discrete"]["value"] - 1) < 4 * np.sqrt(2 / n)
    assert m["hbar_eff"]["value"] == pytest.approx(2 * t["value"])
    rows = data["tables"]["density"]
    assert set(rows[0]) == {"q", "p", "p_error"}
    dq = rows[1]["q"] - rows[0]["q"]
    assert sum(r["p"] for r in rows) * dq == pytest.approx(1.0, abs=0.01)
    assert (out / "density.png").exists() and "density.png" in data["figures"]


def test_double_well_virial_temperature(tmp_path):
    res = _run(
        [
            "--potential",
            "double-well",
            "--noise",
            "10",
            "--lr",
            "0.002",
            "--learners",
            "20000",
            "--steps",
            "1500",
            "--out",
            str(tmp_path / "dw"),
            "--json",
        ]
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    assert "temperature_exact_discrete" not in m
    assert abs(m["temperature"]["value"] - 0.1) < 4 * m["temperature"]["error"] + 0.005


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "-0.1"], "--lr"),
        (["--batch", "0"], "--batch"),
        (["--lr", "2.5"], "diverges"),
        (["--potential", "sextic"], "unknown potential"),
        (["--learners", "1"], "--learners"),
        (["--momentum", "1.0"], "--momentum"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "bad"
    res = _run([*args, "--out", str(out)])
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()
