"""Friction inverse problem: dynamics network vs ODE, rest condition, data, losses, quick experiment."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import nqg  # noqa: F401  (float64)
from nqg.errors import NqgInputError
from nqg.gravity import mechanics as Mx

SETUP = Mx.FrictionSetup()


def euler_numpy(h, x, v, dt, k=1.0, g=1.0, mass=1.0):
    """Independent reference: explicit Euler of m x'' = -h x' - k x - g x^3."""
    x = np.array(x, dtype=float)
    v = np.array(v, dtype=float)
    for hn in h:
        x, v = x + dt * v, v + dt * (-hn * v - k * x - g * x**3) / mass
    return x, v


def rest_numpy(x, v, v_tol=0.05, f_tol=1.0):
    return np.sqrt((v / v_tol) ** 2 + ((x + x**3) / f_tol) ** 2)


def test_setup_grid_and_potential():
    assert SETUP.dt == pytest.approx(0.05)
    times = np.asarray(SETUP.times)
    assert times[0] == 0.0 and times[-1] == pytest.approx(9.95) and len(times) == 200
    assert float(SETUP.potential(2.0)) == pytest.approx(2.0 + 4.0)
    assert float(SETUP.potential_gradient(2.0)) == pytest.approx(2.0 + 8.0)
    with pytest.raises(NqgInputError):
        Mx.FrictionSetup(k=0.0, g=0.0)
    with pytest.raises(NqgInputError):
        Mx.FrictionSetup(v_tol=-1.0)


def test_sinusoidal_friction_values():
    h = np.asarray(Mx.sinusoidal_friction(np.array([0.0, np.pi])))
    np.testing.assert_allclose(h, [0.3, 0.45], rtol=1e-14)


def test_network_matches_independent_loop_and_mass_scaling():
    rng = np.random.default_rng(0)
    x0, v0 = rng.uniform(-2, 2, 20), rng.uniform(-2, 2, 20)
    h = np.asarray(Mx.sinusoidal_friction(SETUP.times))
    x, v = Mx.propagate_particle(h, x0, v0, SETUP)
    xr, vr = euler_numpy(h, x0, v0, SETUP.dt)
    np.testing.assert_allclose(np.asarray(x), xr, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.asarray(v), vr, rtol=1e-11, atol=1e-12)
    heavy = Mx.FrictionSetup(mass=2.0)
    xh, vh = Mx.propagate_particle(h, x0, v0, heavy)
    xr, vr = euler_numpy(h, x0, v0, heavy.dt, mass=2.0)
    np.testing.assert_allclose(np.asarray(xh), xr, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.asarray(vh), vr, rtol=1e-11, atol=1e-12)


def test_network_converges_to_ode_solution():
    """The explicit-Euler network approaches m x'' = -h(t) x' - V'(x) (solve_ivp) as N grows."""
    x0, v0 = 1.5, -0.5

    def rhs(t, y):
        x, v = y
        return [v, -float(Mx.sinusoidal_friction(t)) * v - x - x**3]

    ode = solve_ivp(rhs, (0.0, 10.0), [x0, v0], rtol=1e-11, atol=1e-12, method="DOP853")
    exact = ode.y[:, -1]
    errors = []
    for n in (200, 800, 3200):
        setup = Mx.FrictionSetup(n_layers=n)
        x, v = Mx.propagate_particle(Mx.sinusoidal_friction(setup.times), x0, v0, setup)
        errors.append(np.hypot(float(x) - exact[0], float(v) - exact[1]))
    errors = np.array(errors)
    assert np.all(np.diff(errors) < 0)
    # explicit Euler is first order: each 4x refinement cuts the error by ~4
    assert 2.5 < errors[0] / errors[1] < 6.0 and 2.5 < errors[1] / errors[2] < 6.0
    assert errors[-1] < 0.03


def test_rest_measure_and_output():
    assert float(Mx.rest_measure(0.0, 0.0, SETUP)) == 0.0
    # v at the threshold, x = 0 -> F = 1; V'(0.5) = 0.625 with f_tol = 1 and v = 0.03 -> sqrt(0.36 + 0.390625)
    assert float(Mx.rest_measure(0.0, 0.05, SETUP)) == pytest.approx(1.0)
    assert float(Mx.rest_measure(0.5, 0.03, SETUP)) == pytest.approx(np.sqrt(0.36 + 0.390625))
    t = np.asarray(Mx.rest_output(jnp.array([1.0, 0.0, 3.0]), 0.05))
    np.testing.assert_allclose(t, [0.5, 0.0, 1.0], atol=1e-8)


def test_smoothness_penalty_and_loss_hand_case():
    assert float(Mx.smoothness_penalty(jnp.array([0.1, 0.3, 0.2]), 2.0)) == pytest.approx(2.0 * (0.04 + 0.01))
    h = np.asarray(Mx.sinusoidal_friction(SETUP.times)) * 1.05
    x0 = np.array([0.3, -1.2, 2.0, 0.0])
    v0 = np.array([0.1, 0.4, -1.0, 0.0])
    labels = np.array([0.0, 1.0, 1.0, 0.0])
    F = rest_numpy(*euler_numpy(h, x0, v0, SETUP.dt))
    t = (np.tanh((F - 1) / 0.02) + 1) / 2
    expected = np.mean(np.abs(t - labels)) + 0.1 * np.sum(np.diff(h) ** 2)
    got = Mx.classification_loss(h, x0, v0, labels, SETUP, width=0.02, c_reg=0.1)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_rms_relative_error():
    truth = jnp.array([0.2, 0.4])
    assert float(Mx.rms_relative_error(jnp.array([0.22, 0.36]), truth)) == pytest.approx(0.1)


def test_generate_data_balanced_and_labels_true():
    h = np.asarray(Mx.sinusoidal_friction(SETUP.times))
    data = Mx.generate_data(jax.random.PRNGKey(0), SETUP, h, 300, box=2.5, chunk=1 << 14)
    assert data["x"].shape == (600,) and data["label"].sum() == 300
    assert np.all(np.abs(data["x"]) <= 2.5) and np.all(np.abs(data["v"]) <= 2.5)
    F = rest_numpy(*euler_numpy(h, data["x"], data["v"], SETUP.dt))
    rest = data["label"] == 0
    assert np.all(F[rest] < 1.0) and np.all(F[~rest] >= 1.0)
    # the positives really are at rest: small final velocity and force
    x, v = euler_numpy(h, data["x"][rest], data["v"][rest], SETUP.dt)
    assert np.all(np.abs(v) < 0.05) and np.all(np.abs(x + x**3) < 1.0)
    assert 0.01 < float(data["acceptance"]) < 0.2


def test_rest_labels_carry_information_about_h():
    """Well-posedness: the constant friction with the true mean mislabels a large part of the positives."""
    h = np.asarray(Mx.sinusoidal_friction(SETUP.times))
    data = Mx.generate_data(jax.random.PRNGKey(1), SETUP, h, 500, box=2.5, chunk=1 << 14)
    rest = data["label"] == 0
    F_const = rest_numpy(*euler_numpy(np.full_like(h, h.mean()), data["x"][rest], data["v"][rest], SETUP.dt))
    assert np.mean(F_const >= 1.0) > 0.25


def test_quick_experiment(tmp_path):
    from nqg.experiments import run_experiment

    run_experiment("friction-inverse", quick=True, out=tmp_path)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["experiment"] == "friction-inverse" and result["quick"] is True
    rms = result["metrics"]["rms_rel_error"]
    assert rms["value"] <= 0.30 and rms["error"] > 0
    assert rms["value"] < result["metrics"]["rms_rel_error_constant_baseline"]["value"]
    assert all(check["passed"] for check in result["checks"]), result["checks"]
    assert (tmp_path / "friction.png").exists() and "friction.png" in result["figures"]
    assert "V(x)" in result["params"]["potential"] and "sin" in result["params"]["true_friction"]
    assert (tmp_path / "friction.csv").exists()
