"""`nqg quantum ground-state`: bad arguments exit 2 with one line; a tiny run writes result.json."""

import json

import pytest
from typer.testing import CliRunner

from nqg.cli import app
from nqg.quantum.experiments import EXPERIMENTS

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hamiltonian", "hubbard"], "unknown Hamiltonian 'hubbard'"),
        (["--lattice", "square", "--size", "3x"], "--size '3x' is not valid for a square lattice"),
        (["--lattice", "chain", "--size", "4x4"], "--size '4x4' is not valid for a chain lattice"),
        (["--lattice", "chain", "--size", "1"], "--size '1' is not valid"),
        (["--lattice", "triangle"], "unknown lattice 'triangle'"),
        (["--alpha", "0"], "--alpha must be > 0"),
        (["--alpha", "-1"], "--alpha must be > 0"),
        (["--samples", "8", "--chains", "16"], "--samples (8) must be >= --chains (16)"),
        (["--model", "transformer"], "unknown model 'transformer'"),
        (["--lattice", "chain", "--size", "7"], "even number of sites"),
        (["--lattice", "square", "--size", "3x4", "--marshall"], "Marshall sign rule needs a bipartite"),
        (["--lr", "0.02", "--lr-final", "0.05"], "--lr-final must be in (0, --lr = 0.02]"),
        (["--sr-schedule", "linear"], "unknown --sr-schedule 'linear'"),
        (["--trust-region", "0"], "--trust-region must be > 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["quantum", "ground-state", *args, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert (
        message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("nqg: error:")
    )
    assert "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_tiny_ground_state_run(tmp_path):
    out = tmp_path / "gs"
    r = runner.invoke(
        app,
        [
            "quantum", "ground-state", "--hamiltonian", "tfim", "--h", "1.0", "--lattice", "chain",
            "--size", "6", "--alpha", "1", "--samples", "128", "--chains", "8", "--iterations", "20",
            "--out", str(out), "--json", "--quiet",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data == json.loads((out / "result.json").read_text())
    m = data["metrics"]
    for key in ("energy_per_site", "variance", "acceptance", "exact_energy_per_site", "relative_error"):
        assert key in m
    assert m["energy_per_site"]["error"] > 0
    assert abs(m["exact_energy_per_site"]["value"] - (-1.2879)) < 1e-3  # free fermions, N = 6, h = 1
    assert (
        data["figures"] == ["energy.png"] and (out / "energy.png").exists() and (out / "history.csv").exists()
    )


def test_experiments_registered_with_quick_settings():
    names = {e.name for e in EXPERIMENTS}
    assert names == {"carleo-troyer-1d", "carleo-troyer-2d"}
    for e in EXPERIMENTS:
        assert set(e.quick) <= set(e.defaults) and e.reference


@pytest.mark.parametrize("name", ["carleo-troyer-1d", "carleo-troyer-2d"])
def test_quick_experiment_runs_and_respects_the_variational_bound(tmp_path, name):
    from nqg.experiments import run_experiment

    result = run_experiment(name, quick=True, out=tmp_path / name)
    assert result.checks and all(c["passed"] for c in result.checks), result.checks
    energies = {k: v for k, v in result.metrics.items() if k.startswith("energy_per_site[")}
    assert energies and all(k in result.references for k in energies)
    for fig in result.figures:
        assert (tmp_path / name / fig).is_file()


def test_learning_rate_and_sr_schedules():
    from nqg.quantum.ground_state import build_problem, learning_rate, sr_settings, validate

    c = validate({"lr": 0.04, "lr_final": 0.004, "iterations": 100})
    sched = learning_rate(c)
    assert float(sched(0)) == pytest.approx(0.04) and float(sched(100)) == pytest.approx(0.004)
    assert float(sched(50)) == pytest.approx(0.004 + 0.036 * 0.5)  # cosine midpoint
    assert learning_rate(validate({"lr": 0.04})) == 0.04
    sr = sr_settings(validate({"sr_schedule": "carleo-troyer", "lr": 0.02, "trust_region": 0.1}))
    assert sr.diag_scale == "relative" and sr.max_norm == pytest.approx(5.0)  # lr |delta|_S <= 0.1
    assert float(sr.shift(0)) == pytest.approx(100.0) and float(sr.shift(10)) == pytest.approx(100 * 0.9**10)
    assert float(sr.shift(10_000)) == pytest.approx(1e-4)
    # the schedule reaches the optimizer: one SGD update of size lr(step) * direction
    problem = build_problem({"hamiltonian": "tfim", "size": "6", "alpha": 1, "lr": 0.04, "lr_final": 0.004,
                             "samples": 64, "chains": 8, "iterations": 10})  # fmt: skip
    opt = problem.vmc.optimizer
    import jax.numpy as jnp

    params = {"x": jnp.zeros(())}
    state = opt.init(params)
    upd, state = opt.update({"x": jnp.ones(())}, state, params)
    assert float(upd["x"]) == pytest.approx(-0.04)
