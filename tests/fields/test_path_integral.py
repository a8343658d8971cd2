"""Path integrals over network weights: parametrizations, actions, references, sampler physics, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import nqg  # noqa: F401  (float64)
from nqg.errors import NqgInputError
from nqg.fields.path_integral import (
    FourierPath,
    FreeKinkReluPath,
    ReluPath,
    StepPath,
    chi2_against,
    endpoint_distribution,
    fit_correlator,
    ground_state,
    harmonic_discretized_energy,
    make_path_network,
    make_potential,
    sample_path_integral,
    squared_increments,
    thermal_oscillator_energy,
    whitening,
)
from nqg.fields.quantum_mechanics import (
    anharmonic_potential,
    double_well_potential,
    endpoint_density_exact,
    finite_difference_spectrum,
    free_particle_kernel,
    harmonic_potential,
    mehler_kernel,
    oscillator_basis_spectrum,
)

T = 3.0
POT = anharmonic_potential(1.0)


def fine_grid_action(net, theta, potential, n=200_001):
    """Direct evaluation of int [x'^2/2 + V(x)] on a fine grid of the constructed path."""
    t = np.linspace(0.0, net.T, n)
    x = np.asarray(net.path(np.asarray(theta), t))
    dt = np.diff(t)
    kinetic = 0.5 * np.sum(np.diff(x) ** 2 / dt)
    v = potential(x)
    return kinetic + np.sum(0.5 * (v[1:] + v[:-1]) * dt)


def typical_weights(net, seed=0):
    """Weights drawn from the reference Gaussian (typical sampled paths)."""
    m = net.linear_model(tail_correction=False).arrays()
    ref, M = whitening(m, 2.0, 1.0, 1.0)
    return ref + M @ np.random.default_rng(seed).normal(size=len(ref))


# ----------------------------------------------------------------------------- parametrizations
@pytest.mark.parametrize("boundary", ["fixed", "free", "periodic"])
@pytest.mark.parametrize("activation,tol", [("relu", 1e-8), ("free-relu", 2e-5), ("cosine", 1e-7)])
def test_path_and_action_against_direct_evaluation(activation, tol, boundary):
    net = make_path_network(activation, T, 16, boundary, x0=0.3, xf=-0.5, seed=3)
    theta = typical_weights(net)
    model = net.linear_model(tail_correction=False)
    # the model's path at the quadrature points is the network evaluated there
    np.testing.assert_allclose(
        model.path_at_quadrature(theta), np.asarray(net.path(theta, model.quad_times)), atol=1e-12
    )
    # boundary conditions
    x0, xT = np.asarray(net.path(theta, np.array([0.0, T])))
    assert x0 == pytest.approx(0.3 if boundary != "periodic" else xT, abs=1e-12)
    if boundary == "fixed":
        assert xT == pytest.approx(-0.5, abs=1e-12)
    # the action: exact kinetic + quadrature, against a fine-grid evaluation of the same path
    s_model = model.action(theta, POT, tail=False)
    s_direct = fine_grid_action(net, theta, POT)
    assert s_model == pytest.approx(s_direct, rel=tol)


@pytest.mark.parametrize("boundary", ["fixed", "free", "periodic"])
def test_step_network_is_the_lattice_action(boundary):
    net = StepPath(T, 12, boundary, x0=0.2, xf=0.7)
    theta = np.random.default_rng(1).normal(size=net.n_free)
    _, W = net.network_weights(theta)
    nodes = np.asarray(net.path(theta, np.arange(13) * net.dtau))
    np.testing.assert_allclose(np.diff(nodes), net.dtau * np.asarray(W), atol=1e-12)  # W are velocities
    lattice = np.sum(net.dtau * (0.5 * np.asarray(W) ** 2 + POT(nodes[:-1])))
    assert net.linear_model().action(theta, POT) == pytest.approx(lattice, rel=1e-12)
    # the potential term is the exact integral of V over the piecewise-constant path
    t = np.linspace(0, T, 600_001)[:-1] + T / 1_200_000
    assert np.mean(POT(np.asarray(net.path(theta, t)))) * T == pytest.approx(
        net.dtau * POT(nodes[:-1]).sum(), rel=1e-4
    )


def test_free_kink_relu_rescaling_symmetry():
    a = FreeKinkReluPath.random(5, T, 10, "free", x0=0.1)
    scale = np.random.default_rng(2).uniform(0.2, 5.0, 10)
    b = FreeKinkReluPath(T, a.wt * scale, a.bt * scale, "free", 0.1)  # (wt, bt) -> l (wt, bt)
    theta = np.random.default_rng(3).normal(size=a.n_free)
    t = np.linspace(0, T, 101)
    np.testing.assert_allclose(np.asarray(a.path(theta, t)), np.asarray(b.path(theta, t)), atol=1e-12)
    (_, wa), (_, wb) = a.network_weights(theta), b.network_weights(theta)
    np.testing.assert_allclose(np.asarray(wb), np.asarray(wa) / scale, atol=1e-12)  # w -> w / l
    assert np.all(np.diff(np.sort(a.kinks)) < 2 * T / 10) and a.kinks.min() == 0.0


@pytest.mark.parametrize("boundary", ["fixed", "free", "periodic"])
def test_fourier_tail_variance_is_the_omitted_modes(boundary):
    net = FourierPath(2.0, 9, boundary)
    big = FourierPath(2.0, 40_001, boundary)
    t = np.linspace(0.05, 1.95, 7)
    kept_big = big.tail_variance(t)  # remainder beyond 40001 modes, ~1e-5
    k = net.frequencies()
    kb = big.frequencies()
    if boundary == "periodic":
        omitted = np.full_like(t, np.sum(2.0 / (2.0 * kb[net.n_modes :] ** 2)))
    else:
        omitted = (np.sin(np.outer(t, kb[len(k) :])) ** 2) @ (2.0 / (2.0 * kb[len(k) :] ** 2))
    np.testing.assert_allclose(net.tail_variance(t), omitted + kept_big, rtol=1e-6)


def test_invalid_networks():
    with pytest.raises(NqgInputError):
        ReluPath(1.0, 1)
    with pytest.raises(NqgInputError):
        StepPath(-1.0, 8)
    with pytest.raises(NqgInputError):
        FourierPath(1.0, 8, "twisted")
    with pytest.raises(NqgInputError):
        make_path_network("tanh", 1.0, 8)
    with pytest.raises(NqgInputError):
        make_potential("anharmonic", -0.1)
    with pytest.raises(NqgInputError):
        make_potential("double-well", 0.0)
    with pytest.raises(NqgInputError):
        sample_path_integral(
            make_path_network("relu", 4.0, 8, "periodic"), make_potential("free"), n_chains=2, n_samples=10
        )


# ----------------------------------------------------------------------------- references
def test_basis_diagonalization_against_known_values():
    h = oscillator_basis_spectrum(harmonic_potential(), n_basis=60)
    np.testing.assert_allclose(h.energies[:10], np.arange(10) + 0.5, atol=1e-10)
    x = np.linspace(-4, 4, 81)
    np.testing.assert_allclose(h.ground_state_wavefunction(x), np.pi**-0.25 * np.exp(-(x**2) / 2), atol=1e-10)
    a = oscillator_basis_spectrum(anharmonic_potential(1.0), n_basis=200)
    assert a.E0 == pytest.approx(0.80377065, abs=2e-8)  # H = p^2/2 + x^2/2 + x^4
    # = half of E0 of p^2 + x^2 + 2 x^4 (Hioe & Montroll 1975: 1.6075413); anharmonic oscillator g = 0.1
    assert oscillator_basis_spectrum(anharmonic_potential(0.1)).E0 == pytest.approx(0.5591463, abs=1e-6)
    for pot in (anharmonic_potential(1.0), double_well_potential(1.0, 1.0)):
        basis = oscillator_basis_spectrum(pot, n_basis=200).energies[:3]
        fd = finite_difference_spectrum(pot, x_max=7.0, n_grid=7001, n_levels=3)
        np.testing.assert_allclose(basis, fd, rtol=2e-6)  # finite differences: O(h^2) ~ 1e-6
    xx = np.linspace(-6, 6, 4001)
    assert np.trapezoid(a.ground_state_wavefunction(xx) ** 2, xx) == pytest.approx(1.0, abs=1e-10)


def test_kernels():
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(
        mehler_kernel(x, 0.4, 0.7, omega=1e-4), free_particle_kernel(x, 0.4, 0.7), rtol=1e-6
    )
    y = np.linspace(-12, 12, 24001)
    composed = np.trapezoid(
        mehler_kernel(y, 0.3, 0.5)[None, :] * mehler_kernel(x[:, None], y[None, :], 0.8), y, axis=1
    )
    np.testing.assert_allclose(composed, mehler_kernel(x, 0.3, 1.3), rtol=1e-8)  # semigroup
    dens = endpoint_density_exact(y, 0.3, 1.3, "harmonic")
    np.testing.assert_allclose(
        dens, mehler_kernel(y, 0.3, 1.3) / np.trapezoid(mehler_kernel(y, 0.3, 1.3), y), rtol=1e-8
    )


def test_exact_gaussian_discretization_error_scales_as_expected():
    th = thermal_oscillator_energy(8.0)
    err = {
        n: harmonic_discretized_energy(make_path_network("relu", 8.0, n, "periodic")) - th for n in (32, 64)
    }
    assert err[32] / err[64] == pytest.approx(4.0, rel=0.1)  # O(dtau^2) with the tail correction
    step = harmonic_discretized_energy(make_path_network("step", 8.0, 64, "periodic"))
    dt = 8.0 / 64
    assert step == pytest.approx(0.5 / np.sqrt(1 + dt**2 / 4) * np.cosh(4.0) / np.sinh(4.0), rel=2e-3)


# ----------------------------------------------------------------------------- sampler physics
# every sampler test uses the same shapes and static settings: one compilation for the session
RUN = {
    "n_chains": 4,
    "n_samples": 500,
    "n_warmup": 150,
    "block_size": 10,
    "pad_dim": 17,
    "pad_quad": 96,
    "keep_weights": True,
}


def zscore(value, error, exact):
    return abs(value - exact) / error


@pytest.mark.parametrize("activation", ["relu", "cosine", "free-relu", "step"])
def test_oscillator_energy_matches_exact_gaussian_integral(activation):
    net_T, n = 8.0, 16
    run = ground_state(harmonic_potential(), activation, n_neurons=n, T=net_T, seed=11, fit_gap=False, **RUN)
    if activation == "free-relu":
        nets = [FreeKinkReluPath.random([11, i], net_T, n, "periodic") for i in range(RUN["n_chains"])]
        exact_n = np.mean([harmonic_discretized_energy(x) for x in nets])
    else:
        exact_n = harmonic_discretized_energy(make_path_network(activation, net_T, n, "periodic"))
    assert zscore(run.E0.mean, run.E0.error, exact_n) < 4, (run.E0, exact_n)
    assert run.samples.acceptance > 0.6 and run.samples.divergences == 0


def test_oscillator_gap_and_anharmonic_energy():
    run = ground_state(harmonic_potential(), "cosine", n_neurons=16, T=8.0, seed=12, **RUN)
    fit = fit_correlator(run.samples)
    assert zscore(fit.gap, fit.gap_error, 1.0) < 4
    assert zscore(run.E0.mean, run.E0.error, thermal_oscillator_energy(8.0)) < 4
    exact = oscillator_basis_spectrum(POT)
    an = ground_state(POT, "cosine", n_neurons=16, T=8.0 / exact.gap, seed=13, fit_gap=False, **RUN)
    assert zscore(an.E0.mean, an.E0.error, exact.E0) < 4


def test_fixed_and_free_time_divisions_agree():
    a = ground_state(harmonic_potential(), "relu", n_neurons=16, T=8.0, seed=14, fit_gap=False, **RUN).E0
    b = ground_state(harmonic_potential(), "free-relu", n_neurons=16, T=8.0, seed=15, fit_gap=False, **RUN).E0
    assert abs(a.mean - b.mean) / np.hypot(a.error, b.error) < 4


def test_step_network_with_free_particle_weights_is_brownian_motion():
    net = StepPath(2.0, 16, "free", 0.0)
    s = sample_path_integral(net, make_potential("free"), seed=16, **RUN)
    lags = [1, 3, 8]
    for lag, est in zip(lags, squared_increments(s.blocks["weights"], net, lags), strict=True):
        assert zscore(est.mean, est.error, lag * net.dtau) < 4  # <(x(t+s) - x(t))^2> = hbar s / m
    # increments over disjoint intervals are uncorrelated
    w = s.blocks["weights"].reshape(-1, net.n_free)
    c = np.mean(w[:, :8].sum(axis=1) * w[:, 8:].sum(axis=1))
    sd = np.std(w[:, :8].sum(axis=1) * w[:, 8:].sum(axis=1)) / np.sqrt(len(w))
    assert abs(c) < 4 * sd


def test_endpoint_density_matches_mehler_kernel():
    edges = np.linspace(-2.5, 2.5, 21)
    r = endpoint_distribution(
        harmonic_potential(), "relu", n_neurons=16, T=1.0, x0=0.5, bin_edges=edges, seed=17, **RUN
    )
    exact = endpoint_density_exact(r.centres, 0.5, 1.0, "harmonic")
    chi2, dof, p = chi2_against(
        r.density, r.error, exact, bin_width=np.diff(edges), n_samples=r.samples.blocks["x_end"].size
    )
    assert dof >= 10 and p > 1e-4, (chi2, dof)
    assert zscore(r.variance.mean, r.variance.error, np.tanh(1.0)) < 4


# ----------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "args,needle",
    [
        (["--potential", "morse"], "--potential"),
        (["--activation", "tanh"], "--activation"),
        (["--neurons", "1"], "--neurons"),
        (["--samples", "0"], "--samples"),
        (["--potential", "anharmonic", "--g", "-1"], "--g"),
        (["--potential", "double-well", "--g", "0"], "--g"),
    ],
)
def test_cli_rejects_bad_input(tmp_path, args, needle):
    from nqg.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fields", "path-integral", *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0]
    assert not out.exists()


def test_cli_free_particle_reports_the_kernel(tmp_path):
    from nqg.cli import app

    out = tmp_path / "free"
    result = CliRunner().invoke(
        app,
        [
            "fields",
            "path-integral",
            "--potential",
            "free",
            "--activation",
            "step",
            "--neurons",
            "16",
            "--samples",
            "2000",
            "--chains",
            "4",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text())
    v = data["metrics"]["endpoint_variance"]
    assert zscore(v["value"], v["error"], 1.0) < 4


def test_free_scalar_field_on_lattice_matches_dispersion():
    from nqg.fields.path_integral_field import free_scalar_field, lattice_dispersion

    np.testing.assert_allclose(
        lattice_dispersion(4, 0.5), np.sqrt(0.25 + 4 * np.sin(np.pi * np.arange(4) / 4) ** 2)
    )
    r = free_scalar_field(4, 1.0, T=6.0, n_modes=6, n_chains=4, n_samples=600, n_warmup=150, k_max=2, seed=3)
    for w, e, ex in zip(r.omega, r.omega_error, r.omega_exact, strict=True):
        assert zscore(w, e, ex) < 4
    assert zscore(r.E0.mean, r.E0.error, r.E0_exact) < 4


def test_quick_experiment_passes_its_checks(tmp_path):
    from nqg.experiments import run_experiment

    r = run_experiment("nn-path-integral", quick=True, out=tmp_path / "pi")
    failed = [c for c in r.checks if not c["passed"]]
    assert not failed, failed
    for name in ("kernel.png", "wavefunction.png", "e0_vs_neurons.png", "field_dispersion.png"):
        assert (tmp_path / "pi" / name).exists()
