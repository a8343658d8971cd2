"""Networks as spacetime: convolution kernels learn finite-difference stencils (their moments are the
operator's coefficients), and a residual network's depth is time (the learned field is Euler's modified
vector field, error ~ dt)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.networks import spacetime as sp


@settings(max_examples=20, deadline=None)
@given(a=st.floats(-2, 2), b=st.floats(-2, 2), c=st.floats(-2, 2), dx=st.floats(0.01, 0.5))
def test_moments_of_the_textbook_stencil_are_its_coefficients(a, b, c, dx):
    kernel = a * np.array([0, 1, 0]) + b * np.array([-1, 0, 1]) / (2 * dx) + c * np.array([1, -2, 1]) / dx**2
    np.testing.assert_allclose(sp.stencil_moments_1d(kernel, dx), [a, b, c], atol=1e-9 * (1 + abs(c) / dx**2))


def test_convolution_of_the_stencil_is_the_derivative():
    dx = 0.01
    _, phi, _, d2 = sp.random_smooth_functions_1d(jax.random.key(0), 4, 50, dx)
    kernel = jnp.array([1.0, -2.0, 1.0]) / dx**2
    np.testing.assert_allclose(sp.convolve_valid_1d(kernel, phi), d2[:, 1:-1], atol=1e-3)
    lap = jnp.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]) / dx**2
    phi2, lap2 = sp.random_smooth_functions_2d(jax.random.key(1), 2, 12, dx)
    np.testing.assert_allclose(sp.convolve_valid_2d(lap, phi2), lap2[:, 1:-1, 1:-1], atol=1e-3)
    moments = sp.stencil_moments_2d(lap, dx)
    assert moments["M20"] == pytest.approx(1) and moments["M02"] == pytest.approx(1)
    assert abs(moments["M00"]) < 1e-9 and abs(moments["M11"]) < 1e-9


@pytest.mark.parametrize("size", [3, 5])
def test_trained_kernel_learns_the_stencil(size):
    coeffs = (0.5, -1.2, 0.8)
    fit = sp.fit_derivative_stencil(jax.random.key(size), coeffs, size=size, n_functions=32, steps=40)
    np.testing.assert_allclose(fit.moments[:3], coeffs, rtol=1e-2)
    assert fit.heldout_relative_error < 1e-2
    # negative control: the untrained (zero) kernel is far from the operator
    assert fit.history["loss"][0] == pytest.approx(1.0)
    with pytest.raises(NqgInputError, match="3 or 5"):
        sp.fit_derivative_stencil(jax.random.key(0), coeffs, size=4)


def test_trained_3x3_kernel_is_a_laplacian():
    _, moments, err = sp.fit_laplacian_stencil(jax.random.key(2), n_functions=16, steps=40)
    assert moments["M20"] == pytest.approx(1, rel=1e-2) and moments["M02"] == pytest.approx(1, rel=1e-2)
    for k in ("M00", "M10", "M01", "M11"):
        assert abs(moments[k]) < 1e-2
    assert err < 1e-2


def test_modified_field_is_what_euler_follows():
    """One Euler step of the modified field matches the exact flow to O(dt^3); of f only to O(dt^2)."""
    x = jnp.array([[0.7, -0.4], [1.2, 0.9]])
    errs_f, errs_mod = [], []
    for dt in (0.1, 0.05):
        exact = sp.exact_flow(sp.pendulum_vector_field, x, dt)
        errs_f.append(float(jnp.max(jnp.abs(x + dt * sp.pendulum_vector_field(x) - exact))))
        errs_mod.append(float(jnp.max(jnp.abs(x + dt * sp.pendulum_modified_field(x, dt) - exact))))
    assert np.log2(errs_f[0] / errs_f[1]) == pytest.approx(2, abs=0.15)
    assert np.log2(errs_mod[0] / errs_mod[1]) == pytest.approx(3, abs=0.2)


def test_residual_network_is_an_euler_scheme():
    net = sp.ResidualFlowNetwork(2, 4, 1.0, jax.random.key(0), width=8)
    x = jnp.array([[0.1, 0.2]])
    y = x
    for _ in range(4):
        y = y + 0.25 * net.vector_field(y)
    np.testing.assert_allclose(net(x), y, rtol=1e-12)


@pytest.mark.slow
def test_depth_as_time_slope_is_one():
    fit = sp.depth_as_time(jax.random.key(0), [2, 4, 8, 16], steps=4000)
    assert 0.8 <= fit.slope <= 1.2
