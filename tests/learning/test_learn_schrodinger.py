"""Schrodinger reference solvers: eigenvalues with Dirichlet, periodic and twisted ends; split operator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.learning.schrodinger import gaussian_wavepacket, grid_eigenvalues, split_operator

RING = np.arange(64) * 2 * np.pi / 64


def test_harmonic_oscillator_levels():
    length, n, hbar = 20.0, 400, 0.5
    x = np.linspace(-length / 2, length / 2, n + 2)[1:-1]
    vals = grid_eigenvalues(0.5 * x**2, length, hbar=hbar, n_levels=4)
    np.testing.assert_allclose(vals, hbar * (np.arange(4) + 0.5), rtol=2e-3)


def test_free_ring_periodic_and_twisted():
    hbar, mass = 0.7, 2.0
    vals = grid_eigenvalues(0 * RING, 2 * np.pi, hbar=hbar, mass=mass, boundary="periodic", n_levels=5)
    np.testing.assert_allclose(vals, hbar**2 * np.array([0, 1, 1, 4, 4]) / (2 * mass), atol=1e-12)
    twist = 0.3 * 2 * np.pi
    vals = grid_eigenvalues(
        0 * RING, 2 * np.pi, hbar=hbar, mass=mass, boundary="twisted", twist=twist, n_levels=3
    )
    np.testing.assert_allclose(vals, hbar**2 * np.array([0.3, 0.7, 1.3]) ** 2 / (2 * mass), atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(twist=st.floats(-np.pi, np.pi), v0=st.floats(0.0, 2.0))
def test_twisted_spectrum_is_2pi_periodic_and_even_in_the_twist(twist, v0):
    v = v0 * np.cos(RING)
    e = grid_eigenvalues(v, 2 * np.pi, hbar=1.0, boundary="twisted", twist=twist, n_levels=4)
    e_shift = grid_eigenvalues(
        v, 2 * np.pi, hbar=1.0, boundary="twisted", twist=twist + 2 * np.pi, n_levels=4
    )
    e_minus = grid_eigenvalues(v, 2 * np.pi, hbar=1.0, boundary="twisted", twist=-twist, n_levels=4)
    np.testing.assert_allclose(e_shift, e, atol=1e-9)
    np.testing.assert_allclose(e_minus, e, atol=1e-9)


def test_split_operator_coherent_state():
    length, n, hbar = 20.0, 512, 0.2
    x = np.arange(n) * (length / n) - length / 2
    psi = split_operator(
        gaussian_wavepacket(x, 1.0, np.sqrt(hbar / 2)),
        0.5 * x**2,
        length,
        hbar=hbar,
        dt=np.pi / 1000,
        steps=1000,
        save_every=500,
    )
    p = np.abs(np.asarray(psi)) ** 2
    dx = length / n
    assert p[-1].sum() * dx == pytest.approx(1.0, abs=1e-10)  # unitary
    assert (p[0] * x).sum() * dx == pytest.approx(0.0, abs=1e-4)  # t = pi/2
    assert (p[-1] * x).sum() * dx == pytest.approx(-1.0, abs=1e-4)  # t = pi
    assert (p[-1] * x**2).sum() * dx - 1.0 == pytest.approx(hbar / 2, abs=1e-4)  # width unchanged


def test_bad_input():
    with pytest.raises(NqgInputError, match="boundary"):
        grid_eigenvalues(0 * RING, 1.0, hbar=1.0, boundary="open")
    with pytest.raises(NqgInputError, match="hbar"):
        grid_eigenvalues(0 * RING, 1.0, hbar=-1.0)
