"""Exact diagonalization against known values and the free-fermion TFIM chain."""

import numpy as np
import pytest

from nqg.quantum.exact import ground_state, tfim_chain_ground_energy
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import chain, square
from nqg.quantum.operators import Heisenberg, TransverseFieldIsing


def test_heisenberg_4x4_known_value():
    e = ground_state(Heisenberg(square(4))).ground_energy / 16
    assert abs(e - (-0.7017802)) < 1e-7  # Schulz, Ziman and Poilblanc; the shipped reference
    e_m = ground_state(Heisenberg(square(4), marshall_sign=True)).ground_energy / 16
    assert abs(e_m - e) < 1e-10  # a basis rotation leaves the spectrum unchanged


@pytest.mark.parametrize(
    ("n", "energy"),
    # periodic Heisenberg chains, total ground energy in S = sigma/2 units (published ED values)
    [(8, -3.651093408937), (12, -5.387390917445), (16, -7.142296360084)],
)
def test_heisenberg_chain_known_values(n, energy):
    assert abs(ground_state(Heisenberg(chain(n))).ground_energy - energy) < 1e-8


@pytest.mark.parametrize("n", [4, 5, 6, 7, 8])
@pytest.mark.parametrize("h", [0.3, 1.0, 2.5])
def test_tfim_free_fermions_vs_ed(n, h):
    """Both fermion-parity sectors matter (ordered phase: near-degenerate; odd N): checked against ED."""
    e_ed = ground_state(TransverseFieldIsing(chain(n), h=h)).ground_energy
    assert abs(e_ed - tfim_chain_ground_energy(n, h)) < 1e-9


def test_tfim_free_fermions_reference_values():
    for h, ref in [(0.5, -1.0635444100), (1.0, -1.2733213607), (2.0, -2.1270888199)]:
        assert abs(tfim_chain_ground_energy(80, h) / 80 - ref) < 1e-9


def test_low_spectrum_sector_and_degeneracy():
    spec = ground_state(Heisenberg(chain(10)), n_levels=3)
    full = np.linalg.eigvalsh(Heisenberg(chain(10)).to_dense(SpinHilbert(10, total_sz=0)))
    np.testing.assert_allclose(spec.energies, full[:3], atol=1e-9)


@pytest.mark.slow
def test_24_spins_sz0_sector():
    """2,704,156 states. Periodic Heisenberg chain, N = 24, against the Bethe-ansatz energy with the
    conformal finite-size correction ``e_N = e_inf - pi^2 v / (6 N^2)``, v = pi/2 (log corrections ~1e-5)."""
    n = 24
    e = ground_state(Heisenberg(chain(n))).ground_energy / n
    e_inf = 0.25 - np.log(2.0)
    assert abs(e - (e_inf - np.pi**2 / (12 * n**2))) < 5e-5
