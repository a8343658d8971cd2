"""`nqg gravity wilson-loop` and `nqg gravity dilaton`: results and input validation."""

from __future__ import annotations

import json

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from nqg.cli import app
from nqg.gravity.emergent_metric import published_metric_table2
from nqg.gravity.holography import HolographicQCD, save_ensemble
from nqg.gravity.network import DiscreteBulkNetwork

runner = CliRunner()


@pytest.fixture(scope="module")
def black_brane_csv(tmp_path_factory):
    eta = np.linspace(3.0, 0.0, 301)[:-1]
    path = tmp_path_factory.mktemp("metric") / "ads_s.csv"
    rows = "\n".join(
        f"{float(e)!r},{float(np.sinh(2 * e) ** 2 / np.cosh(2 * e))!r},{float(np.cosh(2 * e))!r}" for e in eta
    )
    path.write_text("eta,f,g\n" + rows + "\n")
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Two members: Table II's h and a 5% perturbation of it, L = 3.46 and 3.5 GeV^-1."""
    _, h = published_metric_table2()
    hs = jnp.asarray(np.stack([h, h * 1.05]))

    def make(hk, radius):
        return HolographicQCD(
            DiscreteBulkNetwork(hk, 0.0124, eta_ini=1.0, eta_fin=1.0 / 15.0, m2=-3.0), radius
        )

    ens = eqx.filter_vmap(make)(hs, jnp.asarray([3.46, 3.5]))
    folder = tmp_path_factory.mktemp("model")
    save_ensemble(folder, ens)
    return folder


def test_wilson_loop_of_a_metric_csv(black_brane_csv, tmp_path):
    out = tmp_path / "wl"
    res = runner.invoke(
        app, ["gravity", "wilson-loop", "--metric", str(black_brane_csv), "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["metrics"]["screening_distance"]["value"] == pytest.approx(0.7541, rel=0.005)
    assert data["metrics"]["max_separation"]["value"] == pytest.approx(0.8691, rel=0.005)
    assert "string_tension" not in data["metrics"]
    rows = data["tables"]["wilson_loop"]
    assert len(rows) == 200 and set(rows[0]) == {"d", "V"}
    assert (out / "result.json").is_file() and (out / "wilson_loop.png").is_file()


def test_wilson_loop_and_dilaton_of_a_model(model_dir, tmp_path):
    out = tmp_path / "wl"
    res = runner.invoke(
        app,
        [
            "gravity",
            "wilson-loop",
            "--model",
            str(model_dir),
            "--out",
            str(out),
            "--json",
            "--assumption",
            "cosh",
            "--temperature-GeV",
            "0.2",
            "--separations",
            "50",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["metrics"]["members_with_string_tension"]["value"] == 2
    assert data["metrics"]["screening_distance"]["value"] > 0
    assert len(data["tables"]["wilson_loop"]) == 50
    out2 = tmp_path / "dil"
    res = runner.invoke(app, ["gravity", "dilaton", "--model", str(model_dir), "--out", str(out2), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert 0 < data["metrics"]["nec_fraction"]["value"] < 1  # Table II violates the NEC where h rises
    assert not data["checks"][0]["passed"]
    assert (out2 / "dilaton.png").is_file()


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("eta,f,g\n1,1,1\n0.5,0.5,1\n0.7,0.2,1\n0.1,0.01,1\n", [], "decrease"),
        ("eta,f,g\n1,1,1\n0.5,-0.5,1\n0.3,0.2,1\n0.1,0.01,1\n", [], "f must be > 0"),
        ("eta,f,g\n1,1,1\n0.5,nan,1\n0.3,0.2,1\n0.1,0.01,1\n", [], "NaN"),
        ("eta,f,g\n1,1,1\n0.5,0.5,1\n0.3,0.2,1\n0.1,0.01,1\n", ["--assumption", "exp"], "--model only"),
    ],
)
def test_bad_metric_input(tmp_path, content, args, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    out = tmp_path / "out"
    res = runner.invoke(app, ["gravity", "wilson-loop", "--metric", str(p), "--out", str(out), *args])
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--assumption", "sinh"], "--assumption must be one of exp, cosh"),
        (["--temperature-GeV", "-1"], "--temperature-GeV must be a positive number"),
    ],
)
def test_bad_model_options(model_dir, tmp_path, args, message):
    out = tmp_path / "out"
    res = runner.invoke(app, ["gravity", "wilson-loop", "--model", str(model_dir), "--out", str(out), *args])
    assert res.exit_code == 2 and message in res.stderr
    assert not out.exists()


def test_exactly_one_source_and_a_real_model(tmp_path, black_brane_csv):
    out = tmp_path / "out"
    res = runner.invoke(app, ["gravity", "wilson-loop", "--out", str(out)])
    assert res.exit_code == 2 and "exactly one" in res.stderr
    res = runner.invoke(
        app, ["gravity", "wilson-loop", "--model", str(tmp_path), "--metric", str(black_brane_csv)]
    )
    assert res.exit_code == 2 and "exactly one" in res.stderr
    res = runner.invoke(app, ["gravity", "dilaton", "--model", str(tmp_path / "nothing"), "--out", str(out)])
    assert res.exit_code == 2 and "not a trained model folder" in res.stderr
    assert not out.exists()
