"""Lattices, Hilbert spaces and every operator against dense matrices built with numpy kron products."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import chain, graph, parse_lattice, square
from nqg.quantum.operators import (
    J1J2,
    Heisenberg,
    PauliSum,
    TransverseFieldIsing,
    dense_from_site_operators,
)


def tfim_terms(lattice, h, J=1.0):
    terms = [(-J, {int(i): "Z", int(j): "Z"}) for i, j in lattice.bonds]
    terms += [(-h, {i: "X"}) for i in range(lattice.n_sites)]
    return terms


def heisenberg_terms(bonds, J):
    return [(J / 4, {int(i): p, int(j): p}) for i, j in bonds for p in "XYZ"]


# ---------------------------------------------------------------------------- lattices, Hilbert


def test_chain_and_square_bonds():
    c = chain(6)
    assert c.n_bonds == 6 and c.is_bipartite and c.translations.shape == (6, 6)
    assert len(c.next_nearest_bonds) == 6
    assert chain(5).sublattice is None  # odd periodic ring is frustrated
    o = chain(6, pbc=False)
    assert o.n_bonds == 5 and len(o.next_nearest_bonds) == 4 and o.translations.shape == (1, 6)
    sq = square(4)
    assert sq.n_bonds == 32 and len(sq.next_nearest_bonds) == 32 and sq.is_bipartite
    assert square(3, 4, pbc=False).n_bonds == 3 * 3 + 2 * 4
    assert square(2).n_bonds == 4  # duplicates removed
    # translations are permutations that map bonds to bonds
    bonds = {tuple(b) for b in sq.bonds.tolist()}
    for perm in sq.translations:
        assert sorted(perm) == list(range(16))
        assert {tuple(sorted((int(perm[i]), int(perm[j])))) for i, j in sq.bonds} == bonds
    g = graph(3, [(0, 1), (1, 2), (2, 0)])
    assert g.n_bonds == 3 and not g.is_bipartite


@pytest.mark.parametrize(
    ("kind", "size"), [("chain", "1"), ("chain", "4x4"), ("square", "3x"), ("square", "a"), ("hexagon", "4")]
)
def test_bad_lattice_input(kind, size):
    with pytest.raises(NqgInputError):
        parse_lattice(kind, size)


def test_hilbert_sector_enumeration_and_indices():
    hil = SpinHilbert(6, total_sz=0)
    states = hil.all_states()
    assert states.shape == (20, 6) and np.all(states.sum(1) == 0)
    np.testing.assert_array_equal(hil.states_to_indices(states), np.arange(20))
    full = SpinHilbert(4)
    np.testing.assert_array_equal(full.states_to_integers(full.all_states()), np.arange(16))
    assert full.all_states()[0].tolist() == [1, 1, 1, 1]  # index 0 = all up = kron basis (1,0)^N
    # the recursive generator used for N > 26 agrees with the popcount filter
    from nqg.quantum.hilbert import _combinations_as_integers

    np.testing.assert_array_equal(
        _combinations_as_integers(10, 4), SpinHilbert(10, total_sz=1).basis_integers()
    )
    with pytest.raises(NqgInputError):
        SpinHilbert(5, total_sz=0)


# ---------------------------------------------------------------------------- operators vs dense


@pytest.mark.parametrize("lattice", [chain(5), chain(4, pbc=False), square(2, 3, pbc=False)], ids=str)
def test_tfim_matches_kron(lattice):
    op = TransverseFieldIsing(lattice, h=0.7, J=1.3)
    ref = dense_from_site_operators(lattice.n_sites, tfim_terms(lattice, 0.7, 1.3))
    np.testing.assert_allclose(op.to_dense(), ref.real, atol=1e-12)


@pytest.mark.parametrize("lattice", [chain(6), chain(5, pbc=False), square(2, 3)], ids=str)
def test_heisenberg_j1j2_matches_kron(lattice):
    op = J1J2(lattice, J2=0.4, J1=1.1)
    ref = dense_from_site_operators(
        lattice.n_sites,
        heisenberg_terms(lattice.bonds, 1.1) + heisenberg_terms(lattice.next_nearest_bonds, 0.4),
    )
    np.testing.assert_allclose(op.to_dense(), ref.real, atol=1e-12)
    # the S^z = 0 block equals the corresponding sub-matrix of the full matrix
    hil = SpinHilbert(lattice.n_sites, total_sz=0 if lattice.n_sites % 2 == 0 else 0.5)
    idx = hil.basis_integers()
    np.testing.assert_allclose(op.to_dense(hil), ref.real[np.ix_(idx, idx)], atol=1e-12)


def test_marshall_sign_is_the_sublattice_rotation():
    lat = square(2, 4)
    plain = Heisenberg(lat).to_dense()
    rotated = Heisenberg(lat, marshall_sign=True).to_dense()
    states = SpinHilbert(8).all_states()
    # U = prod_{i in B} sz_i is diagonal with entries prod_{i in B} s_i
    u = np.prod(np.where(lat.sublattice[None, :] == 1, states, 1), axis=1).astype(float)
    np.testing.assert_allclose(rotated, u[:, None] * plain * u[None, :], atol=1e-12)
    assert np.all(rotated[~np.eye(256, dtype=bool)] <= 0)  # stoquastic after the rotation
    with pytest.raises(NqgInputError):
        Heisenberg(chain(5), marshall_sign=True)


def test_pauli_sum_complex_matches_kron():
    terms = [
        (0.3 + 0.2j, {0: "X", 2: "Y"}),
        (-1.1, {1: "Z", 3: "Z"}),
        (0.5j, {0: "Y", 1: "Y", 3: "X"}),
        (0.7, {2: "Y", 0: "X"}),  # same flip set as the first: grouped
        (0.25, {}),
    ]
    op = PauliSum(4, [(c, t) for c, t in terms])
    assert op.is_complex and op.n_connections == 2
    np.testing.assert_allclose(op.to_dense(), dense_from_site_operators(4, terms), atol=1e-12)
    same = PauliSum(4, [(0.3 + 0.2j, "XIYI"), (-1.1, "Z1 Z3")])
    np.testing.assert_allclose(same.to_dense(), dense_from_site_operators(4, terms[:2]), atol=1e-12)


pauli_string = st.lists(st.sampled_from("IXYZ"), min_size=4, max_size=4).map("".join)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-2, 2, allow_nan=False), st.floats(-2, 2, allow_nan=False), pauli_string),
        min_size=1,
        max_size=5,
    )
)
def test_pauli_sum_random_strings(items):
    terms = [(a + 1j * b, {i: p for i, p in enumerate(s) if p != "I"}) for a, b, s in items]
    op = PauliSum(4, [(a + 1j * b, s) for a, b, s in items])
    np.testing.assert_allclose(op.to_dense(), dense_from_site_operators(4, terms), atol=1e-10)


@pytest.mark.parametrize("bad", ["XQZI", "X9", "X0 X0"])
def test_pauli_sum_bad_strings(bad):
    with pytest.raises(NqgInputError):
        PauliSum(4, [(1.0, bad)])
