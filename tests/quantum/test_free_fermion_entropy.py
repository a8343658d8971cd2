"""Exact entanglement of the open TFIM (free fermions) and the Calabrese-Cardy fit of the central charge.

References: ED (Schmidt decomposition of the dense ground state), the free-fermion ground energy,
the symmetries of the chain, and DMRG (N = 80, slow); the fit against the exact entropies at several N,
with the negative controls (gapped chain, c = 1 XX chain, the fit without boundary terms).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.quantum.exact import ground_state, tfim_open_chain_ground_energy
from nqg.quantum.lattice import chain
from nqg.quantum.operators import PauliSum, TransverseFieldIsing
from nqg.quantum.tensor_networks import (
    LATTICE_OPEN_CHORD,
    TFIM_OPEN_CHORD,
    entanglement_entropy_of_vector,
    fit_central_charge,
    open_chain_chord,
    tfim_majorana_correlation,
    tfim_open_entanglement_exact,
    xx_open_entanglement_exact,
)


def ed_entropies(operator):
    vec = ground_state(operator, return_vectors=True).vectors[:, 0]
    n = operator.n_sites
    return np.asarray([entanglement_entropy_of_vector(vec, c) for c in range(1, n)])


@pytest.mark.parametrize(
    ("n", "h", "J"),
    [
        (2, 1.0, 1.0),
        (6, 0.6, 1.0),
        (9, 1.0, 1.0),
        (10, 1.7, 1.0),
        (11, -0.8, 1.3),
        (12, 1.0, 1.0),
        (8, 2.0, -0.5),
    ],
)
def test_exact_entropies_equal_ed_schmidt_decomposition(n, h, J):
    exact = tfim_open_entanglement_exact(n, h, J)
    np.testing.assert_allclose(
        exact, ed_entropies(TransverseFieldIsing(chain(n, pbc=False), h=h, J=J)), atol=1e-10
    )


@pytest.mark.parametrize(("n", "h", "J"), [(1, 0.7, 1.0), (7, 0.5, 1.0), (30, 1.0, 1.0), (25, 1.4, -0.9)])
def test_majorana_correlations_give_the_free_fermion_energy(n, h, J):
    """<sigma^x_j> = -G_jj, <sigma^z_j sigma^z_{j+1}> = G_{j+1,j}: E = h tr G - J sum_j G_{j+1,j}.

    Pins the signs of the Jordan-Wigner map (the entropies alone do not see the sign of G).
    """
    g = tfim_majorana_correlation(n, h, J)
    energy = h * np.trace(g) - J * np.sum(np.diag(g, -1))
    assert energy == pytest.approx(tfim_open_chain_ground_energy(n, h, J), abs=1e-10 * n)
    np.testing.assert_allclose(g @ g.T, np.eye(n), atol=1e-12)  # a pure Gaussian state


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(2, 40),
    h=st.floats(0.3, 3.0),
    J=st.floats(0.3, 3.0),
    flip_h=st.booleans(),
    flip_j=st.booleans(),
)
def test_exact_entropies_symmetries(n, h, J, flip_h, flip_j):
    """Reflection S(l) = S(N - l) (pure state, mirror-symmetric chain); h -> -h (prod sigma^z) and
    J -> -J (sigma^x on every other site) are local unitaries that leave every S(l) unchanged."""
    if h < J and (h / J) ** n < 1e-9:  # ordered phase: the edge modes must stay resolved
        n = max(2, int(np.log(1e-9) / np.log(h / J)))
    s = tfim_open_entanglement_exact(n, h, J)
    np.testing.assert_allclose(s, s[::-1], atol=1e-9)
    s2 = tfim_open_entanglement_exact(n, -h if flip_h else h, -J if flip_j else J)
    np.testing.assert_allclose(s2, s, atol=1e-9)
    assert np.all(s >= -1e-12) and np.all(
        s <= np.log(2) * np.minimum(np.arange(1, n), np.arange(n - 1, 0, -1)) + 1e-12
    )


def test_exact_entropy_limits():
    # paramagnet: product state; deep ordered phase: the GHZ-like ground state has S = ln 2 at every cut
    assert np.max(tfim_open_entanglement_exact(20, 50.0)) < 1e-3
    np.testing.assert_allclose(tfim_open_entanglement_exact(4, 0.02), np.log(2), atol=1e-3)


def test_xx_chain_entropies_equal_ed():
    """The c = 1 control: the open XX chain sum_i (S^x S^x + S^y S^y)_{i,i+1} equals ED."""
    n = 10
    terms = [(0.25, {i: "X", i + 1: "X"}) for i in range(n - 1)] + [
        (0.25, {i: "Y", i + 1: "Y"}) for i in range(n - 1)
    ]
    op = PauliSum(n, terms)
    np.testing.assert_allclose(xx_open_entanglement_exact(n), ed_entropies(op), atol=1e-10)


@pytest.mark.parametrize("n", [80, 160])
def test_fit_of_exact_entropies_gives_c_one_half(n):
    s = tfim_open_entanglement_exact(n, 1.0)
    fit = fit_central_charge(s, n, **TFIM_OPEN_CHORD)
    assert abs(fit.c - 0.5) < 1e-3
    assert fit.max_residual < 1e-4  # the four-parameter law describes every fitted cut
    # the generic lattice chord (L = N + 1) with the same corrections is also within a few 1e-3
    assert abs(fit_central_charge(s, n, **LATTICE_OPEN_CHORD).c - 0.5) < 3e-3


def test_fit_converges_with_n():
    cs = [
        fit_central_charge(tfim_open_entanglement_exact(n, 1.0), n, **TFIM_OPEN_CHORD).c
        for n in (40, 80, 160)
    ]
    errs = np.abs(np.asarray(cs) - 0.5)
    assert np.all(np.diff(errs) < 0) and errs[-1] < 3e-4, cs


def test_negative_controls_fail_the_one_half_test():
    n = 80
    # the fit without the boundary terms (chord with N, constant only) is what gave c = 0.524
    plain = fit_central_charge(
        tfim_open_entanglement_exact(n, 1.0), n, length_shift=0.0, cut_offset=0.0, boundary_correction=False
    )
    assert abs(plain.c - 0.5) > 0.02
    # gapped chain: S(l) saturates, c -> 0
    gapped = fit_central_charge(tfim_open_entanglement_exact(n, 1.5), n, **TFIM_OPEN_CHORD)
    assert abs(gapped.c) < 0.02
    # c = 1: the open XX chain with the same fit (its own lattice chord)
    xx = fit_central_charge(xx_open_entanglement_exact(n), n, **LATTICE_OPEN_CHORD)
    assert abs(xx.c - 1.0) < 0.01


def test_fit_recovers_synthetic_parameters():
    n = 60
    ells = np.arange(1, n)
    x = open_chain_chord(n, **TFIM_OPEN_CHORD)
    s = 0.37 / 6 * np.log(x) + 0.4 - 0.12 / x + 0.05 * (-1.0) ** ells / x
    fit = fit_central_charge(s, n, **TFIM_OPEN_CHORD)
    assert fit.c == pytest.approx(0.37, abs=1e-10)
    assert fit.const == pytest.approx(0.4, abs=1e-10)
    assert fit.boundary == pytest.approx(-0.12, abs=1e-9)
    assert fit.alternating == pytest.approx(0.05, abs=1e-9)
    # periodic: (c/3) ln[(N/pi) sin(pi l/N)]
    xp = (n / np.pi) * np.sin(np.pi * ells / n)
    assert fit_central_charge(np.log(xp) / 3 + 0.1, n, periodic=True).c == pytest.approx(1.0, abs=1e-10)


def test_chords_are_reflection_symmetric():
    for params in (TFIM_OPEN_CHORD, LATTICE_OPEN_CHORD):
        x = open_chain_chord(31, **params)
        np.testing.assert_allclose(x, x[::-1], rtol=1e-13)


def test_bad_input():
    with pytest.raises(NqgInputError, match="n_sites must be a positive integer, got 0"):
        tfim_open_entanglement_exact(0, 1.0)
    with pytest.raises(NqgInputError, match="degenerate ground state"):
        tfim_open_entanglement_exact(10, 0.0)
    with pytest.raises(NqgInputError, match="even N"):
        xx_open_entanglement_exact(9)
    with pytest.raises(NqgInputError, match="need N - 1 = 9 entropies"):
        fit_central_charge(np.zeros(5), 10)
    with pytest.raises(NqgInputError, match="needs more than 4 cuts"):
        fit_central_charge(np.zeros(8), 9)


@pytest.mark.slow
def test_dmrg_entropies_equal_exact_at_n80():
    """DMRG (D = 64) of the critical open chain N = 80 reproduces the exact S(l) at every cut."""
    from nqg.quantum.tensor_networks import dmrg_ground_state

    r = dmrg_ground_state(TransverseFieldIsing(chain(80, pbc=False), h=1.0), 64)
    exact = tfim_open_entanglement_exact(80, 1.0)
    assert np.max(np.abs(r.entanglement_entropy - exact)) < 1e-8
    assert abs(fit_central_charge(r.entanglement_entropy, 80, **TFIM_OPEN_CHORD).c - 0.5) < 1e-3


@pytest.mark.slow
def test_fit_at_n320():
    c = fit_central_charge(tfim_open_entanglement_exact(320, 1.0), 320, **TFIM_OPEN_CHORD).c
    assert abs(c - 0.5) < 2e-4
