"""Meson spectra of AdS/QCD (nqg.gravity.mesons): the spectral solver against exact results."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import eigh_tridiagonal

from nqg.errors import NqgInputError
from nqg.gravity import mesons as M

KAPPA = 0.3875


@pytest.mark.parametrize("spin", [1, 2, 3])
@pytest.mark.parametrize("basis_ratio", [0.8, 1.0, 1.3])
def test_soft_wall_towers_to_1e6(spin, basis_ratio):
    """m_{n,S}^2 = 4 kappa^2 (n + S) (vector: 4 kappa^2 (n+1)), also with a basis of another scale."""
    prof = M.soft_wall_profiles(KAPPA, scale=basis_ratio * KAPPA)
    m2 = np.asarray(M.spectrum(prof, M.LaguerreBasis.build(spin, prof.scale, 24)))[:6]
    exact = 4 * KAPPA**2 * (np.arange(6) + spin)
    np.testing.assert_allclose(m2, exact, rtol=1e-6)


def _finite_difference_masses(a2, phi1, phi2, spin, n, z_max=12.0, points=6000):
    """Independent reference: V_S from the analytic derivatives of B_S, -u'' + V u = m^2 u by second-
    order finite differences with Dirichlet ends, Richardson-extrapolated in the grid spacing."""

    def levels(npts):
        h = z_max / (npts + 1)
        z = h * np.arange(1, npts + 1)
        c = 2 * spin - 1
        # A = -log z + a2 z^2, Phi = phi1 z^2 + phi2 z^4  ->  b = Phi - c a, B = b + c log z
        b1 = 2 * phi1 * z + 4 * phi2 * z**3 - c * 2 * a2 * z
        b2 = 2 * phi1 + 12 * phi2 * z**2 - c * 2 * a2
        bp = b1 + c / z
        bpp = b2 - c / z**2
        v = bp**2 / 4 - bpp / 2
        return eigh_tridiagonal(2 / h**2 + v, -np.ones(npts - 1) / h**2, select="i", select_range=(0, n - 1))[
            0
        ]

    coarse, fine = levels(points), levels(2 * points)
    return (4 * fine - coarse) / 3


@pytest.mark.parametrize("spin", [1, 2])
def test_spectral_solver_matches_finite_differences_off_the_soft_wall(spin):
    a2, phi1, phi2 = 0.02, 0.16, 0.01  # GeV^2, GeV^2, GeV^4
    scale = 0.6  # the quartic dilaton localises the modes more than a soft wall of kappa0 = 0.4 would
    prof = M.PolynomialProfiles(
        warp=jnp.asarray([a2 / scale**2, 0.0]),
        dilaton=jnp.asarray([phi1 / scale**2, phi2 / scale**4]),
        scale=scale,
    )
    ours = np.asarray(M.spectrum(prof, M.LaguerreBasis.build(spin, scale, 30)))[:4]
    ref = _finite_difference_masses(a2, phi1, phi2, spin, 4)
    np.testing.assert_allclose(ours, ref, rtol=2e-6)
    soft = 4 * phi1 * (np.arange(4) + spin)  # and it is NOT the soft-wall tower (negative control)
    assert np.max(np.abs(ours / soft - 1)) > 0.05


def test_rayleigh_ritz_upper_bounds_decrease_with_the_basis():
    prof = M.PolynomialProfiles(warp=jnp.asarray([0.3, 0.02]), dilaton=jnp.asarray([0.7, 0.05]), scale=0.5)
    levels = [np.asarray(M.spectrum(prof, M.LaguerreBasis.build(1, 0.5, n)))[:3] for n in (8, 14, 20)]
    for coarse, fine in itertools.pairwise(levels):
        assert np.all(fine <= coarse + 1e-10)


def test_masses_are_differentiable_in_the_dilaton():
    basis = M.LaguerreBasis.build(1, KAPPA, 20)

    def m0(c):
        prof = M.PolynomialProfiles(warp=jnp.zeros(2), dilaton=jnp.asarray([c, 0.05]), scale=KAPPA)
        return M.spectrum(prof, basis)[1]

    g = float(jax.grad(m0)(1.0))
    fd = float((m0(1.0 + 1e-5) - m0(1.0 - 1e-5)) / 2e-5)
    assert g == pytest.approx(fd, rel=1e-6)
    assert g > 0  # a steeper dilaton raises the masses


@settings(max_examples=3, deadline=None)  # each example compiles a new basis
@given(
    lam=st.floats(0.5, 2.0),
    a1=st.floats(-0.3, 0.3),
    p1=st.floats(0.5, 1.5),
    p2=st.floats(0.0, 0.2),
)
def test_dilatation_z_to_z_over_lambda_scales_every_mass_by_lambda(lam, a1, p1, p2):
    """AdS conformal symmetry: profiles f(kappa0 z) at kappa0 -> lam kappa0 give masses times lam."""
    warp, dil = jnp.asarray([a1, 0.0]), jnp.asarray([p1, p2])
    m = M.tower_masses(M.PolynomialProfiles(warp, dil, 0.4), 2, 3, 16)
    m_scaled = M.tower_masses(M.PolynomialProfiles(warp, dil, 0.4 * lam), 2, 3, 16)
    np.testing.assert_allclose(m_scaled, lam * m, rtol=1e-9)


def test_probe_range_brackets_the_modes():
    lo, hi = M.probe_range(M.soft_wall_profiles(KAPPA), {1: 4, 2: 4}, n_basis=20)
    assert 0 < lo < 1 / KAPPA < hi < 10 / KAPPA


def test_confining_parametrization_keeps_the_top_coefficient_positive():
    raw = M.ConfiningParametrization.init(jax.random.key(3), 2, KAPPA, (1, 2))
    raw = M.ConfiningParametrization(raw.warp_low, raw.dilaton_low, jnp.asarray([-2.0, 1.0]), (1, 2), KAPPA)
    p = raw.profiles()
    for s, expected in ((1, jax.nn.softplus(-2.0)), (2, jax.nn.softplus(1.0))):
        top = p.dilaton[-1] - (2 * s - 1) * p.warp[-1]
        assert float(top) == pytest.approx(float(expected), rel=1e-12)


def test_packaged_masses_are_the_pdg_values():
    data = M.load_meson_masses()
    np.testing.assert_allclose(data.masses[1], [0.77526, 1.465, 1.720])
    np.testing.assert_allclose(data.masses[2], [1.3182, 1.706])
    assert data.names[1][0] == "rho(770)" and data.errors[2][1] == pytest.approx(0.014)
    # the inputs (rho 0.775, 1.465, 1.720; a2 1.318, 1.706 GeV) agree to 1 MeV
    np.testing.assert_allclose(
        np.concatenate([data.masses[1], data.masses[2]]), [0.775, 1.465, 1.720, 1.318, 1.706], atol=1e-3
    )


@pytest.mark.parametrize(
    "text, match",
    [
        ("spin,mass_GeV\n1,1.4\n1,0.7\n", "must increase"),
        ("spin,mass\n1,0.7\n1,1.4\n", "header"),
        ("spin,mass_GeV\n1,-0.7\n1,1.4\n", "> 0"),
        ("spin,mass_GeV\n1,nan\n1,1.4\n", "> 0"),
        ("spin,mass_GeV\n0,0.7\n0,1.4\n", "1..4"),
        ("spin,mass_GeV\nnan,0.7\n1,1.4\n", "1..4"),
        ("spin,mass_GeV\n1,0.7\n2,1.4\n2,1.7\n", "at least two"),
        ("spin,mass_GeV\n1,abc\n", "not spin,mass_GeV"),
        ("", "empty"),
    ],
)
def test_bad_meson_csv(tmp_path, text, match):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(NqgInputError, match=match):
        M.read_meson_csv(path)


def test_float32_spectrum():
    prof = M.soft_wall_profiles(KAPPA)
    basis = M.LaguerreBasis.build(1, KAPPA, 12, dtype=jnp.float32)
    prof32 = M.PolynomialProfiles(prof.warp.astype(jnp.float32), prof.dilaton.astype(jnp.float32), KAPPA)
    m2 = M.spectrum(prof32, basis)
    assert m2.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(m2)[:3], 4 * KAPPA**2 * np.arange(1, 4), rtol=1e-4)
    assert math.isfinite(float(m2[0]))
