"""Zero-variance control variates for the path-integral E0 (issue 13, section 4).

The reference for the anharmonic oscillator is exact for the network itself: the periodic step network
is the lattice path integral ``Z = Tr A^N`` with the transfer matrix
``A(x, x') = sqrt(m/(2 pi hbar dtau)) exp(-m (x' - x)^2/(2 hbar dtau) - dtau V(x)/hbar)``, and by
cyclicity its virial estimator has the expectation ``Tr(f A^N)/Tr(A^N)``, f = x V'/2 + V, which a fine
position grid gives to ~1e-12 (trapezoid rule on a Gaussian kernel of width sqrt(dtau) >> grid step).
"""

import numpy as np
import pytest

from nqg.errors import NqgInputError
from nqg.fields.path_integral import (
    ground_state,
    ground_state_energy_control_variates,
    ground_state_energy_virial,
    harmonic_discretized_energy,
    make_path_network,
    make_potential,
    sample_path_integral,
)
from nqg.fields.quantum_mechanics import oscillator_basis_spectrum
from nqg.stats import estimate

RUN = {"n_chains": 4, "n_samples": 1000, "n_warmup": 150, "block_size": 5}


def lattice_virial_expectation(potential, T: float, n_neurons: int, mass: float = 1.0, hbar: float = 1.0):
    """<(1/T) sum_n dtau f(x_n)> = Tr(f A^N)/Tr(A^N) for the periodic lattice (step network) action
    ``sum_n dtau [m ((x_{n+1} - x_n)/dtau)^2/2 + V(x_n)]``, on a position grid."""
    dtau = T / n_neurons
    x = np.linspace(-6.0, 6.0, 601)
    h = x[1] - x[0]
    kin = np.sqrt(mass / (2 * np.pi * hbar * dtau)) * np.exp(
        -mass * (x[:, None] - x[None, :]) ** 2 / (2 * hbar * dtau)
    )
    half = np.exp(-0.5 * dtau * potential(x) / hbar)
    A = h * half[:, None] * kin * half[None, :]  # similar to the left-point transfer matrix: same traces
    e, v = np.linalg.eigh(A)
    w = (e / e.max()) ** n_neurons
    f = 0.5 * x * potential.derivative(x) + potential(x)
    return float(np.sum(w * ((v**2).T @ f)) / np.sum(w))


def test_lattice_reference_reproduces_the_discretized_oscillator():
    # V = x^2/2: the same lattice average from the Gaussian weight integral (harmonic_discretized_energy)
    V = make_potential("harmonic")
    net = make_path_network("step", 6.0, 12, "periodic")
    exact = harmonic_discretized_energy(net)
    assert lattice_virial_expectation(V, 6.0, 12) == pytest.approx(exact, rel=1e-10)


def test_control_variates_are_unbiased_and_beat_the_virial_estimator():
    V = make_potential("anharmonic", 1.0)
    T, n = 8.0 / oscillator_basis_spectrum(V, n_basis=120).gap, 16
    exact = lattice_virial_expectation(V, T, n)
    s = sample_path_integral(make_path_network("step", T, n, "periodic"), V, seed=3, **RUN)
    old, new = ground_state_energy_virial(s), ground_state_energy_control_variates(s)
    assert abs(old.mean - exact) / old.error < 4, (old, exact)
    assert abs(new.mean - exact) / new.error < 4, (new, exact)
    # the same samples, the same block means: the control variates cut the error at least 3-fold
    assert new.error < old.error / 3, (new.error, old.error)
    # each scaling identity u_i has mean zero (what makes the correction unbiased): chi^2 over the modes
    u = s.blocks["scaling_identities"][..., : s.info["dim"]]
    z = np.array([(lambda e: e.mean / e.error)(estimate(u[..., i])) for i in range(u.shape[-1])])
    assert np.sum(z**2) < u.shape[-1] + 5 * np.sqrt(2 * u.shape[-1]), z
    # negative control: a regressor with a nonzero mean biases the estimate by many of its errors
    shifted = dict(s.blocks, scaling_identities=s.blocks["scaling_identities"] + 0.05)
    s.blocks = shifted
    assert abs(ground_state_energy_control_variates(s).mean - exact) / new.error > 10


def test_harmonic_oscillator_has_zero_variance():
    # V = x^2/2: the virial estimator minus sum lambda_i u_i / T is a constant (see scaling_rotation)
    V = make_potential("harmonic")
    net = make_path_network("relu", 8.0, 16, "periodic")
    s = sample_path_integral(net, V, seed=4, **RUN)
    exact = harmonic_discretized_energy(net)
    assert ground_state_energy_virial(s).error > 1e-3 * exact  # the plain estimator fluctuates
    cv = ground_state_energy_control_variates(s, n_groups=1)
    assert cv.mean == pytest.approx(exact, rel=1e-8) and cv.error < 1e-8 * exact


def test_ground_state_rejects_an_unknown_estimator():
    message = "estimator must be one of virial, control-variates, got 'thermo'"
    with pytest.raises(NqgInputError, match=message):
        ground_state(make_potential("harmonic"), "relu", n_neurons=8, estimator="thermo")
