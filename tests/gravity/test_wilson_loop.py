"""Nambu-Goto Wilson loop: pure AdS and AdS-Schwarzschild exact values, Table II, string tension."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.gravity.emergent_metric import (
    PUBLISHED_C5,
    ads_schwarzschild_metric,
    published_metric_table2,
    pure_ads_metric,
    reconstruct_metric,
    smooth_metric_h,
    table2_metric,
)
from nqg.gravity.wilson_loop import (
    ADS_D_COEFF,
    ADS_DV,
    connected_branches,
    separation_and_energy,
    wilson_loop,
)


def test_ads_constants_are_the_quoted_numbers():
    assert ADS_D_COEFF == pytest.approx(1.19814, abs=1e-5)
    assert ADS_DV == pytest.approx(-1.43554, abs=1e-5)


def test_pure_ads_separation_and_energy_to_1e_4():
    eta0 = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    d, e = separation_and_energy(pure_ads_metric(), eta0)
    np.testing.assert_allclose(d * np.exp(eta0), 1.19814, atol=1e-4)
    np.testing.assert_allclose(d * e, -1.43554, atol=1e-4)
    # and far better than that with 64 nodes
    np.testing.assert_allclose(d * np.exp(eta0), ADS_D_COEFF, rtol=1e-10)
    np.testing.assert_allclose(d * e, ADS_DV, rtol=1e-10)


def test_float32_follows_the_input():
    d, e = separation_and_energy(pure_ads_metric(), np.array([0.0, 1.0], dtype=np.float32))
    assert d.dtype == np.float32
    np.testing.assert_allclose(d * e, ADS_DV, rtol=1e-4)


def test_no_screening_and_no_tension_in_pure_ads():
    curve = wilson_loop(pure_ads_metric(), np.linspace(0.1, 2.0, 20))
    assert curve.screening_distance is None and curve.string_tension is None
    assert np.all(curve.potential < 0)
    np.testing.assert_allclose(curve.potential * curve.separations, ADS_DV, rtol=1e-3)


def test_ads_schwarzschild_at_t_1_over_pi():
    curve = wilson_loop(ads_schwarzschild_metric(1.0 / math.pi))
    assert curve.max_separation == pytest.approx(0.8691, rel=0.01)
    assert curve.screening_distance == pytest.approx(0.756, rel=0.01)
    assert curve.string_tension is None  # F = f g is monotonic: deconfined
    # screened: V = 0 beyond the zero, negative below
    below = curve.separations < curve.screening_distance * 0.99
    assert np.all(curve.potential[below] < 0) and np.all(
        curve.potential[~below & (curve.separations > 0.77)] == 0
    )


@settings(max_examples=8, deadline=None)
@given(st.floats(0.1, 3.0))
def test_ads_schwarzschild_scales_as_one_over_temperature(T):
    """Conformal invariance: d_max and the zero of V scale as 1/T (0.8691/(pi T), 0.7541/(pi T))."""
    curve = wilson_loop(ads_schwarzschild_metric(T), np.array([0.1]))
    assert curve.max_separation * math.pi * T == pytest.approx(0.86907, rel=1e-3)
    assert curve.screening_distance * math.pi * T == pytest.approx(0.75410, rel=1e-3)


def _paper_c5_metric():
    import dataclasses

    eta, h = published_metric_table2()
    unit = reconstruct_metric(smooth_metric_h(eta, h), "exp", None)
    lc = math.log(PUBLISHED_C5)
    return dataclasses.replace(unit, log_f=lambda e: lc + unit.log_f(e), log_g=lambda e: lc + unit.log_g(e))


def test_table2_case_i_zero_near_0_26_L_and_string_tension():
    curve = wilson_loop(_paper_c5_metric())
    assert curve.screening_distance == pytest.approx(0.26, rel=0.10)
    assert curve.string_tension is not None and 0.8 < curve.eta_c < 1.0
    # V ~ sqrt(F(eta_c)) d at large d on the branch that reaches the largest d
    k = curve.branch[np.argmax(curve.d_samples)]
    sel = curve.branch == k
    d, e = curve.d_samples[sel], curve.e_samples[sel]
    far = d > np.quantile(d, 0.9)
    slope = np.polyfit(d[far], e[far], 1)[0]
    assert slope == pytest.approx(curve.string_tension, rel=0.01)


def test_table2_has_two_connected_branches_bounded_by_the_minimum_of_F():
    branches, eta_c = connected_branches(table2_metric("exp"))
    assert len(branches) == 2
    assert branches[0].hi_critical and branches[1].lo_critical
    assert branches[1].lo == pytest.approx(eta_c, abs=1e-6)


def test_f_scaling_moves_the_zero_as_one_over_sqrt_c():
    """d ∝ c^{-1/2} under f, g -> c f, c g: the zero with our c (from the temperature) vs the paper's."""
    ours = table2_metric("exp")
    z_ours = wilson_loop(ours, np.array([0.1])).screening_distance
    z_paper = wilson_loop(_paper_c5_metric(), np.array([0.1])).screening_distance
    assert z_ours / z_paper == pytest.approx(math.sqrt(PUBLISHED_C5 / ours.info["c"]), rel=1e-6)


def test_200_separations_in_under_2_seconds():
    m = table2_metric("cosh")
    wilson_loop(m, np.linspace(0.01, 0.1, 5))  # warm-up
    t0 = time.perf_counter()
    curve = wilson_loop(m, n_separations=200)
    elapsed = time.perf_counter() - t0
    assert curve.potential.shape == (200,) and np.all(np.isfinite(curve.potential))
    assert elapsed < 2.0, elapsed
