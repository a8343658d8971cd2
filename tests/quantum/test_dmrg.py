"""DMRG (TeNPy) against exact results: ED, free fermions (open TFIM), Bethe ansatz (open XXX)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.quantum.exact import ground_state, tfim_open_chain_ground_energy
from nqg.quantum.lattice import chain
from nqg.quantum.operators import J1J2, Heisenberg, PauliSum, TransverseFieldIsing
from nqg.quantum.tensor_networks import (
    dmrg_ground_state,
    dmrg_reference_energy_per_site,
    entanglement_entropy_of_vector,
    fit_central_charge,
    heisenberg_open_chain_energy,
)


@pytest.mark.parametrize(
    "operator",
    [
        TransverseFieldIsing(chain(8, pbc=False), h=0.7, J=1.3),
        TransverseFieldIsing(chain(8), h=1.0),
        Heisenberg(chain(8), marshall_sign=True),
        J1J2(chain(8, pbc=False), J2=0.3),
    ],
    ids=repr,
)
def test_dmrg_matches_exact_diagonalization(operator):
    """Same Hamiltonian in TeNPy and in nqg's ED (bonds, signs, S = sigma/2, the Marshall rotation)."""
    r = dmrg_ground_state(operator, 16, max_sweeps=10, min_sweeps=3)  # D = 16 = 2^(N/2): exact
    e_ed = ground_state(operator).ground_energy
    assert abs(r.energy - e_ed) < 1e-9
    assert r.truncation_error < 1e-12


def test_entanglement_entropy_equals_exact_schmidt_decomposition():
    op = TransverseFieldIsing(chain(10, pbc=False), h=1.0)
    r = dmrg_ground_state(op, 32, max_sweeps=10)
    spec = ground_state(op, return_vectors=True)
    vec = spec.vectors[:, 0]
    exact = [entanglement_entropy_of_vector(vec, c) for c in range(1, 10)]
    np.testing.assert_allclose(r.entanglement_entropy, exact, atol=1e-8)
    assert r.entanglement_entropy_mid == pytest.approx(exact[4], abs=1e-8)
    # a product state has no entanglement: the h = 0 limit with a tiny field is nearly a product
    assert (
        dmrg_ground_state(TransverseFieldIsing(chain(6, pbc=False), h=1e-6), 8).entanglement_entropy_mid
        < 1e-3
    )


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 10), h=st.floats(-3, 3), J=st.floats(-2, 2))
def test_open_tfim_free_fermions_equals_ed(n, h, J):
    e = ground_state(TransverseFieldIsing(chain(n, pbc=False), h=h, J=J)).ground_energy
    assert tfim_open_chain_ground_energy(n, h, J) == pytest.approx(e, abs=1e-9)


def test_open_tfim_free_fermions_limits():
    assert tfim_open_chain_ground_energy(7, 0.0, 1.5) == pytest.approx(-6 * 1.5)  # classical: (N-1)|J|
    assert tfim_open_chain_ground_energy(7, 2.0, 0.0) == pytest.approx(-14.0)  # paramagnet: N|h|


@pytest.mark.parametrize("n", [2, 4, 8, 12, 16])
def test_open_chain_bethe_ansatz_equals_ed(n):
    e = ground_state(Heisenberg(chain(n, pbc=False))).ground_energy
    assert heisenberg_open_chain_energy(n) == pytest.approx(e, abs=1e-11)
    # negative control: the periodic chain (one more bond) has a different energy
    assert (
        abs(heisenberg_open_chain_energy(n) - ground_state(Heisenberg(chain(n))).ground_energy) > 1e-3
        or n == 2
    )


def test_dmrg_open_heisenberg_against_bethe_ansatz_small():
    n = 16
    r = dmrg_ground_state(Heisenberg(chain(n, pbc=False)), 32)
    assert abs(r.energy_per_site - heisenberg_open_chain_energy(n) / n) < 1e-9


def test_dmrg_open_tfim_against_free_fermions_small():
    n = 16
    r = dmrg_ground_state(TransverseFieldIsing(chain(n, pbc=False), h=1.0), 16)
    assert abs(r.energy_per_site - tfim_open_chain_ground_energy(n, 1.0) / n) < 1e-10


@pytest.mark.slow
def test_dmrg_heisenberg_open_80_against_bethe_ansatz():
    """Issue 12: N = 80 open Heisenberg chain to 1e-8 (per site) against the Bethe ansatz."""
    r = dmrg_ground_state(Heisenberg(chain(80, pbc=False)), 128)
    assert abs(r.energy_per_site - heisenberg_open_chain_energy(80) / 80) < 1e-8


@pytest.mark.slow
def test_dmrg_tfim_80_against_free_fermions():
    """Issue 12: TFIM N = 80 (open, critical) to 1e-10 per site against free fermions."""
    r = dmrg_ground_state(TransverseFieldIsing(chain(80, pbc=False), h=1.0), 64)
    assert abs(r.energy_per_site - tfim_open_chain_ground_energy(80, 1.0) / 80) < 1e-10


def test_majumdar_ghosh_point():
    """J2 = J1/2: the dimer product is the exact ground state, E = -3N/8 (periodic, even N)."""
    r = dmrg_ground_state(J1J2(chain(8), J2=0.5), 8)
    assert r.energy_per_site == pytest.approx(-0.375, abs=1e-9)


def test_fit_central_charge_recovers_synthetic_c():
    """A pure Calabrese-Cardy law with a decaying parity term (lattice chord, L = N + 1)."""
    n = 60
    ells = np.arange(1, n)
    x = (2 * (n + 1) / np.pi) * np.sin(np.pi * (ells + 0.5) / (n + 1))
    s = (0.37 / 6) * np.log(x) + 0.4 + 0.05 * (-1) ** ells / x
    fit = fit_central_charge(s, n)
    assert fit.c == pytest.approx(0.37, abs=1e-10)
    assert fit.const == pytest.approx(0.4, abs=1e-10)
    assert fit.alternating == pytest.approx(0.05, abs=1e-9)


def test_dmrg_reference_is_for_chains_only():
    from nqg.quantum.lattice import square

    assert dmrg_reference_energy_per_site(Heisenberg(square(4)), square(4)) is None


def test_bad_input():
    op = Heisenberg(chain(6))
    with pytest.raises(NqgInputError, match="bond_dim must be an integer >= 1, got 0"):
        dmrg_ground_state(op, 0)
    with pytest.raises(NqgInputError, match="support TransverseFieldIsing and Heisenberg"):
        dmrg_ground_state(PauliSum(4, [(1.0, "XXII")]), 4)
    with pytest.raises(NqgInputError, match="even N"):
        heisenberg_open_chain_energy(7)


def test_chain_energy_beyond_ed_lookup():
    from nqg.quantum.exact import chain_energy_beyond_ed

    lat = chain(40, pbc=False)
    ref = chain_energy_beyond_ed(TransverseFieldIsing(lat, h=0.5), lat)
    assert ref["method"] == "free fermions"
    assert ref["value"] == pytest.approx(tfim_open_chain_ground_energy(40, 0.5) / 40)
    ref = chain_energy_beyond_ed(Heisenberg(lat, marshall_sign=True), lat)
    assert ref["method"] == "Bethe ansatz"
    lat = chain(10, pbc=False)
    ref = chain_energy_beyond_ed(J1J2(lat, J2=0.3), lat, dmrg_bond_dim=32)
    assert ref["method"] == "DMRG"
    assert ref["value"] == pytest.approx(ground_state(J1J2(lat, J2=0.3)).ground_energy / 10, abs=1e-10)
