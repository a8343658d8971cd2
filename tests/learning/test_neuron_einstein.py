"""Uniqueness of the gauge-invariant quadratic action (Fierz-Pauli) and the linearised Einstein tensor."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from nqg.learning.einstein import (
    FIERZ_PAULI,
    TOTAL_DERIVATIVE,
    allowed_functionals,
    einstein_operator_check,
    gauge_mode,
    linearised_einstein,
    volume_multiplier_demo,
    volume_variation_check,
)


@pytest.mark.parametrize("dim", [3, 4])
def test_gauge_invariant_space_is_fierz_pauli(dim):
    a = allowed_functionals(dim, jax.random.key(dim), samples=30)
    assert a["allowed_dimension"] == 2  # Fierz-Pauli and the total derivative I_2 - I_5
    assert a["trivial_dimension"] == 1
    assert a["dimension_mod_total_derivatives"] == 1
    assert a["fierz_pauli_angle"] < 1e-6
    t = a["trivial"][:, 0]
    assert abs(abs(t @ TOTAL_DERIVATIVE) / np.linalg.norm(TOTAL_DERIVATIVE) - 1) < 1e-10


@pytest.mark.parametrize("dim", [3, 4])
def test_fierz_pauli_euler_lagrange_is_the_linearised_einstein_tensor(dim):
    r = einstein_operator_check(FIERZ_PAULI, dim, jax.random.key(7))
    assert r["max_relative_residual"] < 1e-12
    assert r["lambda"] == pytest.approx(-2.0, abs=1e-12)
    # adding a total derivative changes nothing; a non-invariant action is not Einstein
    r2 = einstein_operator_check(FIERZ_PAULI + 0.7 * TOTAL_DERIVATIVE, dim, jax.random.key(7))
    assert r2["max_relative_residual"] < 1e-12
    r3 = einstein_operator_check(np.array([1.0, 0.0, 0.0, 0.0, 0.0]), dim, jax.random.key(7))
    assert r3["max_relative_residual"] > 0.1


def test_linearised_einstein_tensor_is_gauge_invariant_and_divergence_free():
    key = jax.random.key(3)
    k = jax.random.normal(key, (4,))
    xi = jax.random.normal(jax.random.key(4), (4,))
    h = jax.random.normal(jax.random.key(5), (4, 4))
    g1 = linearised_einstein(k, h)
    g2 = linearised_einstein(k, h + gauge_mode(k, xi))
    np.testing.assert_allclose(g1, g2, atol=1e-12)
    eta = np.diag([-1.0, 1, 1, 1])
    np.testing.assert_allclose(np.asarray(g1) @ eta @ np.asarray(k), 0.0, atol=1e-12)  # Bianchi


@pytest.mark.parametrize("dim", [pytest.param(3, marks=pytest.mark.slow), 4])
def test_volume_variation(dim):
    assert volume_variation_check(dim, jax.random.key(11)) < 1e-12


def test_cosmological_constant_is_the_volume_multiplier():
    d = volume_multiplier_demo(1.3)
    assert d["stationarity_residual"] < 1e-4
    assert d["lambda_stationarity"] == pytest.approx(d["lambda_envelope"], rel=1e-5)
