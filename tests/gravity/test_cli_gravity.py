"""`nqg gravity fit` and `nqg gravity predict`: bad input exits 2 writing nothing; fit -> predict works."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nqg.cli import app
from nqg.gravity import holography as H

runner = CliRunner()

GOOD = (
    "quark_mass_GeV,condensate_GeV3\n"
    "0.000673563,0.006323923\n0.001347125,0.0115084\n0.00269425,0.021364605\n"
    "0.0053885,0.037943538\n0.010777,0.067569123\n0.021554,0.102948908\n"
)


def _invoke(args):
    return runner.invoke(app, args)


def _one_line_error(result):
    err = result.stderr.strip()
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert err.count("\n") == 0 and err.startswith("nqg: error:"), err
    assert "Traceback" not in result.output
    return err


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0.001,0.01\n0.002,0.02\n0.003,0.03\n0.004,0.04\n", "header"),
        ("quark_mass_GeV,condensate_GeV3\n0.001,0.01\n0.002,x\n0.003,0.03\n0.004,0.04\n", "non-numeric"),
        ("quark_mass_GeV,condensate_GeV3\n0.001,0.01\n0.002,NaN\n0.003,0.03\n0.004,0.04\n", "NaN"),
        ("quark_mass_GeV,condensate_GeV3\n-0.001,0.01\n0.002,0.02\n0.003,0.03\n0.004,0.04\n", "negative"),
        ("quark_mass_GeV,condensate_GeV3\n0.001,0.01\n0.002,0.02\n0.003,0.03\n", "at least 4"),
    ],
)
def test_fit_rejects_bad_tables_and_writes_nothing(tmp_path, text, fragment):
    data = tmp_path / "data.csv"
    data.write_text(text)
    out = tmp_path / "out"
    err = _one_line_error(
        _invoke(["gravity", "fit", str(data), "--out", str(out), "--quick", "--seeds", "1"])
    )
    assert fragment in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_fit_rejects_unreadable_file_and_bad_options(tmp_path):
    out = tmp_path / "out"
    err = _one_line_error(_invoke(["gravity", "fit", str(tmp_path / "missing.csv"), "--out", str(out)]))
    assert "cannot read" in err
    err = _one_line_error(_invoke(["gravity", "fit", str(tmp_path), "--out", str(out)]))  # a folder
    assert "cannot read" in err
    data = tmp_path / "data.csv"
    data.write_text(GOOD)
    assert "method" in _one_line_error(
        _invoke(["gravity", "fit", str(data), "--method", "magic", "--out", str(out)])
    )
    assert "seeds" in _one_line_error(
        _invoke(["gravity", "fit", str(data), "--seeds", "0", "--out", str(out)])
    )
    assert not out.exists()


def test_predict_rejects_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "junk.txt").write_text("x")
    err = _one_line_error(_invoke(["gravity", "predict", "--model", str(tmp_path), "--quark-mass", "0.004"]))
    assert "not a trained model" in err
    (tmp_path / "model.npz").write_bytes(b"not an npz")
    err = _one_line_error(_invoke(["gravity", "predict", "--model", str(tmp_path), "--quark-mass", "0.004"]))
    assert "not a readable" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.txt", "model.npz"]


def test_regression_fit_then_predict_interpolates_within_ten_percent(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text(GOOD)
    out = tmp_path / "fit"
    res = _invoke(["gravity", "fit", str(data), "--out", str(out), "--quick", "--seeds", "3", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["experiment"] == "gravity-fit"
    assert result["params"]["member_by_member"] is False
    assert {"inv_L_MeV", "lambda_over_L", "max_abs_F_at_data"} <= set(result["metrics"])
    assert {"result.json", "metric.csv", "model.npz", "metric.png"} <= {p.name for p in out.iterdir()}
    header = (out / "metric.csv").read_text().splitlines()[0]
    assert header == "eta,h_mean,h_std"
    m, s, _ = H.read_condensate_csv(data)
    cubic = H.condensate_curve(m, s)
    masses = np.sqrt(m[:-1] * m[1:])  # between neighbouring data points
    arg = ",".join(f"{x:.6g}" for x in masses)
    res = _invoke(["gravity", "predict", "--model", str(out), "--quark-mass", arg, "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [set(r) for r in rows] == [{"quark_mass_GeV", "condensate_GeV3", "spread_GeV3"}] * len(masses)
    pred = np.array([r["condensate_GeV3"] for r in rows])
    rel = np.abs(pred / cubic(np.array([r["quark_mass_GeV"] for r in rows])) - 1)
    assert np.all(rel < 0.10), rel
    text = _invoke(["gravity", "predict", "--model", str(out), "--quark-mass", "0.004"])
    assert text.exit_code == 0 and "GeV^3" in text.stdout
    bad = _invoke(["gravity", "predict", "--model", str(out), "--quark-mass", "-0.004"])
    assert "must be >= 0" in _one_line_error(bad)


def test_fit_member_by_member_is_recorded(tmp_path):
    """`--member-by-member` reaches the fit and is recorded; the default batch layout is recorded too."""
    data = tmp_path / "data.csv"
    data.write_text(GOOD)
    args = ["gravity", "fit", str(data), "--out", str(tmp_path / "m"), "--quick", "--seeds", "2", "--json"]
    res = _invoke([*args, "--member-by-member"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["params"]["member_by_member"] is True
    assert np.isfinite(result["metrics"]["inv_L_MeV"]["value"])
