"""The discretised Einstein-Hilbert action: its gradient converges to -sqrt(g) G^ab at second order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nqg.errors import NqgInputError
from nqg.learning.einstein_hilbert import (
    action_gradient,
    discrete_action,
    einstein_tensor_upper,
    gradient_convergence,
    grid_points,
    perturbed_metric,
    ricci_tensor,
)


def test_ricci_scalar_of_a_conformally_flat_metric():
    """g = e^{2 phi} delta in 3D: R = -e^{-2 phi} (4 lap phi + 2 |grad phi|^2) (analytic)."""

    def phi(x):
        return 0.3 * jnp.sin(x[0]) * jnp.cos(2 * x[1]) + 0.2 * jnp.sin(x[2] + 0.4)

    def metric(x):
        return jnp.exp(2 * phi(x)) * jnp.eye(3, dtype=x.dtype)

    for x in (jnp.array([0.3, 1.1, -0.7]), jnp.array([2.0, -0.4, 0.9])):
        scalar = jnp.einsum("ab,ab->", jnp.linalg.inv(metric(x)), ricci_tensor(metric, x))
        lap = jnp.trace(jax.hessian(phi)(x))
        grad2 = jnp.sum(jax.grad(phi)(x) ** 2)
        expected = -jnp.exp(-2 * phi(x)) * (4 * lap + 2 * grad2)
        assert float(scalar) == pytest.approx(float(expected), rel=1e-12, abs=1e-13)
        # the contracted Bianchi-type identity in 3D: g_ab G^ab = -R/2
        g_up, _ = einstein_tensor_upper(metric, x)
        trace = jnp.einsum("ab,ab->", metric(x), g_up) / jnp.sqrt(jnp.linalg.det(metric(x)))
        assert float(trace) == pytest.approx(-0.5 * float(scalar), rel=1e-12, abs=1e-13)


@pytest.mark.slow
def test_flat_metric_has_zero_action_and_gradient():
    n, length = 6, 2 * np.pi
    x = grid_points(n, length)
    flat = jnp.broadcast_to(jnp.eye(3), (*x.shape[:-1], 3, 3))
    assert abs(float(discrete_action(flat, length / n))) < 1e-14
    grad, _ = action_gradient(lambda y: jnp.eye(3, dtype=y.dtype), n, length)
    assert float(jnp.max(jnp.abs(grad))) < 1e-14


@pytest.mark.slow
def test_gradient_approaches_minus_sqrt_g_einstein_and_not_ricci():
    out = gradient_convergence(perturbed_metric(0.2), sizes=(8, 12, 16))
    err, ctrl = out["relative_error"], out["control_relative_error"]
    assert err[0] > err[1] > err[2]  # converging
    assert out["order"] > 1.0
    assert min(ctrl) > 1.0  # the Ricci tensor (no trace term) is not the gradient: no convergence
    assert out["control_order"] < 0.5


def test_bad_grid_is_rejected():
    with pytest.raises(NqgInputError, match="grid size"):
        action_gradient(perturbed_metric(), 3, 1.0)
    with pytest.raises(NqgInputError, match="need at least two"):
        gradient_convergence(perturbed_metric(), sizes=(8,))


@pytest.mark.slow
def test_second_order_convergence():
    """Local order between the two finest grids within 0.15 of 2 (measured 1.92 for 32 -> 48)."""
    out = gradient_convergence(perturbed_metric(0.2), sizes=(16, 24, 32, 48))
    e, h = out["relative_error"], out["h"]
    local = np.log(e[-2] / e[-1]) / np.log(h[-2] / h[-1])
    assert abs(local - 2.0) < 0.15, (out, local)
