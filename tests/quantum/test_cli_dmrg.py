"""`nqg quantum dmrg` and `nqg quantum ground-state --model mps`: results, exact references, bad input."""

import json

import pytest
from typer.testing import CliRunner

from nqg.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bond-dim", "0"], "--bond-dim must be an integer >= 1, got 0"),
        (["--bond-dim", "-3"], "--bond-dim must be an integer >= 1, got -3"),
        (["--hamiltonian", "hubbard"], "unknown Hamiltonian 'hubbard'"),
        (["--lattice", "square", "--size", "4x4"], "DMRG runs on chains only"),
        (["--size", "1"], "--size must be an integer >= 2"),
        (["--size", "ten"], "--size 'ten' is not valid for a chain"),
        (["--sweeps", "0"], "--sweeps must be an integer >= 1"),
    ],
)
def test_dmrg_bad_arguments_exit_2_with_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["quantum", "dmrg", *args, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert (
        message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("nqg: error:")
    )
    assert "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_dmrg_open_tfim_matches_free_fermions(tmp_path):
    out = tmp_path / "d"
    r = runner.invoke(
        app,
        ["quantum", "dmrg", "--hamiltonian", "tfim", "--h", "1", "--lattice", "chain", "--size", "12",
         "--open",         "--bond-dim", "16", "--json", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data == json.loads((out / "result.json").read_text())
    m = data["metrics"]
    for key in ("energy_per_site", "truncation_error", "entanglement_entropy_mid", "exact_energy_per_site"):
        assert key in m
    assert abs(m["energy_per_site"]["value"] - m["exact_energy_per_site"]["value"]) < 1e-10
    assert "free fermions" in data["references"]["energy_per_site"]["source"]
    assert all(c["passed"] for c in data["checks"])
    assert (out / "entanglement.csv").exists() and (out / "entanglement.png").exists()


def test_ground_state_with_mps_model(tmp_path):
    out = tmp_path / "gs"
    r = runner.invoke(
        app,
        ["quantum", "ground-state", "--hamiltonian", "tfim", "--lattice", "chain", "--size", "6", "--open",
         "--model", "mps", "--bond-dim", "2", "--samples", "128", "--chains", "8", "--iterations", "10",
         "--out", str(out), "--json", "--quiet"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["params"]["model"] == "mps" and data["params"]["bond_dim"] == 2
    assert data["metrics"]["n_parameters"]["value"] == 2 * (2 * 2 + 4 * 4)
    assert data["metrics"]["energy_per_site"]["error"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "mps", "--bond-dim", "0"], "--bond-dim must be an integer >= 1, got 0"),
        (["--model", "mps", "--lattice", "square", "--size", "4x4"], "--model mps needs --lattice chain"),
        (["--model", "rbm", "--bond-dim", "4"], "--bond-dim applies to --model mps only"),
    ],
)
def test_ground_state_mps_bad_arguments(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["quantum", "ground-state", *args, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
