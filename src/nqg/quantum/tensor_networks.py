"""Tensor-network references from TeNPy: DMRG ground states, MPS energies, entanglement; RBM -> MPS.

nqg's spin operators are mapped one-to-one onto TeNPy models (:func:`tenpy_model`): the same bonds,
the same couplings, the same basis. TeNPy's ``SpinHalfSite`` orders its basis (up, down), which is
nqg's order (``s = +1`` first), so an MPS tensor ``A[s]`` of nqg (:class:`nqg.quantum.mps.MPS`) is a
TeNPy tensor with physical index ``(1 - s) / 2`` and no basis change:

* :class:`~nqg.quantum.operators.TransverseFieldIsing`:
  ``H = -J sum_<ij> sigma^z_i sigma^z_j - h sum_i sigma^x_i`` (Pauli matrices);
* :class:`~nqg.quantum.operators.Heisenberg` (and J1-J2), ``S = sigma / 2``:
  ``H = sum_b J_b S^z_i S^z_j + sum_b e_b (S^+_i S^-_j + S^-_i S^+_j)`` with ``e_b = J_b / 2``, or
  ``-J_b / 2`` across the sublattices when the Marshall rotation is on (the rotated basis of nqg).

Bonds of any range (the closing bond of a periodic chain, next-nearest J2 bonds) become MPO terms
with identity strings; DMRG of a periodic chain as a finite MPS needs about the square of the open
chain's bond dimension for the same accuracy.

:func:`dmrg_ground_state` runs TeNPy's two-site DMRG (with the subspace-expansion mixer) and returns
energy, truncation error and von Neumann entanglement entropies ``S = -sum_a lambda_a^2 ln lambda_a^2``
(natural logarithm) at every bond. :func:`mps_energy` evaluates ``<psi|H|psi> / <psi|psi>`` of any
MPS, including an nqg :class:`~nqg.quantum.mps.MPS` model. :func:`heisenberg_open_chain_energy`
solves the Bethe equations of the open XXX chain (the N = 80 check's exact value);
:func:`rbm_to_mps` writes an RBM exactly as an MPS (Chen, Cheng, Xie, Wang, Xiang, PRB 97, 085104
(2018), arXiv:1701.04831).

Entanglement references and the central charge: :func:`tfim_open_entanglement_exact` gives the exact
entropy of the open TFIM ground state at every cut (free fermions, Peschel's correlation-matrix
formula), :func:`xx_open_entanglement_exact` that of the open XX chain (c = 1), and
:func:`fit_central_charge` fits Calabrese-Cardy with the leading lattice corrections of an open chain
(the chord of :func:`open_chain_chord`, a smooth ``1/x`` boundary term and a decaying parity term).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.optimize as so

from nqg.errors import NqgInputError
from nqg.quantum.lattice import Lattice
from nqg.quantum.operators import Heisenberg, SpinOperator, TransverseFieldIsing

# ---------------------------------------------------------------------------- model mapping


def _coupling_model_class():
    from tenpy.models.lattice import Chain
    from tenpy.models.model import CouplingMPOModel
    from tenpy.networks.site import SpinHalfSite

    class NqgSpinChainModel(CouplingMPOModel):
        """A TeNPy model with the bonds and couplings of one nqg operator (see module docstring)."""

        def init_sites(self, model_params):
            conserve = model_params.get("conserve", None)
            return SpinHalfSite(conserve=conserve)

        def init_lattice(self, model_params):
            site = self.init_sites(model_params)
            n = model_params.get("L", 2)
            return Chain(n, site, bc="open", bc_MPS="finite")

        def init_terms(self, model_params):
            op: SpinOperator = model_params.get("operator", None)
            if isinstance(op, TransverseFieldIsing):
                for i, j in op.bonds:
                    self.add_coupling_term(-op.J, int(i), int(j), "Sigmaz", "Sigmaz")
                if op.h != 0.0:
                    for i in range(op.n_sites):
                        self.add_onsite_term(-op.h, i, "Sigmax")
            else:
                for (i, j), jb, eb in zip(op.bonds, op.couplings, op.exchange, strict=True):
                    i, j = int(i), int(j)
                    self.add_coupling_term(float(jb), i, j, "Sz", "Sz")
                    self.add_coupling_term(float(eb), i, j, "Sp", "Sm")
                    self.add_coupling_term(float(eb), i, j, "Sm", "Sp")

    return NqgSpinChainModel


def _check_supported(operator: SpinOperator) -> None:
    if not isinstance(operator, (TransverseFieldIsing, Heisenberg)):
        raise NqgInputError(
            f"tensor-network references support TransverseFieldIsing and Heisenberg/J1J2 operators, "
            f"got {type(operator).__name__}"
        )
    bonds = np.asarray(operator.bonds)
    if bonds.size and np.any(bonds[:, 0] == bonds[:, 1]):
        raise NqgInputError("an operator with a bond from a site to itself cannot be mapped onto an MPO")


def tenpy_model(operator: SpinOperator, conserve: str | None = None):
    """The TeNPy ``CouplingMPOModel`` of ``operator`` on a chain of ``operator.n_sites`` sites in nqg's basis.

    Sites are nqg's sites in their order (the MPS order); every bond of the operator's lattice is one
    term. ``conserve="Sz"`` (Heisenberg models only) makes TeNPy keep the U(1) charge of S^z.
    """
    _check_supported(operator)
    if conserve not in (None, "Sz"):
        raise NqgInputError(f"conserve must be None or 'Sz', got {conserve!r}")
    if conserve == "Sz" and not operator.conserves_sz:
        raise NqgInputError(f"{operator!r} does not conserve S^z: use conserve=None")
    cls = _coupling_model_class()
    return cls({"L": operator.n_sites, "operator": operator, "conserve": conserve})


# ---------------------------------------------------------------------------- DMRG


@dataclass
class DMRGResult:
    """A DMRG ground state.

    Attributes:
        energy: ground energy (total).
        energy_per_site: ``energy / N``.
        truncation_error: largest discarded weight ``sum of dropped lambda^2`` in the last sweep.
        entanglement_entropy: (N - 1,) von Neumann entropies (natural log) at the bonds; entry ``b`` is
            the cut between sites ``b`` and ``b + 1`` (the middle cut is ``N // 2 - 1``).
        bond_dimensions: (N - 1,) bond dimensions of the final MPS.
        energy_change: change of the energy in the last sweep (convergence).
        sweeps: number of sweeps run.
        seconds: wall time.
        psi: the TeNPy MPS (canonical form).
    """

    energy: float
    energy_per_site: float
    truncation_error: float
    entanglement_entropy: np.ndarray
    bond_dimensions: np.ndarray
    energy_change: float
    sweeps: int
    seconds: float
    psi: Any = field(repr=False, default=None)

    @property
    def n_sites(self) -> int:
        return int(self.entanglement_entropy.size + 1)

    @property
    def entanglement_entropy_mid(self) -> float:
        """Entropy of the half chain: the cut between sites ``N//2 - 1`` and ``N//2``."""
        return float(self.entanglement_entropy[self.n_sites // 2 - 1])


def _initial_product_state(operator: SpinOperator) -> list[str]:
    """Neel state (S^z = 0, or 1/2 for odd N) for Heisenberg models; all up for the TFIM."""
    n = operator.n_sites
    if isinstance(operator, Heisenberg):
        return ["up" if i % 2 == 0 else "down" for i in range(n)]
    return ["up"] * n


def dmrg_ground_state(
    operator: SpinOperator,
    bond_dim: int,
    *,
    max_sweeps: int = 40,
    min_sweeps: int = 4,
    energy_tol: float = 1e-10,
    svd_min: float = 1e-14,
    conserve: str | None = "auto",
    chi_ramp: bool = True,
) -> DMRGResult:
    """Ground state of ``operator`` (a chain in nqg's site order) by TeNPy's two-site DMRG.

    ``bond_dim`` is the largest bond dimension ``chi_max``; singular values below ``svd_min`` are
    dropped. ``conserve="auto"`` keeps S^z (the sector of the Neel start, S^z = 0 for even N) for
    Heisenberg models and no charge for the TFIM. Sweeps stop when the energy changes by less than
    ``energy_tol`` (absolute) between sweeps, after at least ``min_sweeps``; with ``chi_ramp`` the
    bond dimension is D/4, D/2 in the first two sweeps, then ``bond_dim``. TeNPy's subspace-expansion mixer
    is on for the first 2 (3 with the ramp) sweeps; at least two sweeps without it follow.
    """
    from tenpy.algorithms import dmrg
    from tenpy.networks.mps import MPS as TenpyMPS

    if int(bond_dim) != bond_dim or bond_dim < 1:
        raise NqgInputError(f"bond_dim must be an integer >= 1, got {bond_dim}")
    if max_sweeps < 1 or min_sweeps < 1:
        raise NqgInputError(f"max_sweeps and min_sweeps must be >= 1, got {max_sweeps}, {min_sweeps}")
    _check_supported(operator)
    n = operator.n_sites
    if n < 2:
        raise NqgInputError(f"DMRG needs a chain of at least 2 sites, got {n}")
    if conserve == "auto":
        conserve = "Sz" if isinstance(operator, Heisenberg) else None
    model = tenpy_model(operator, conserve=conserve)
    sites = model.lat.mps_sites()
    psi = TenpyMPS.from_product_state(
        sites, _initial_product_state(operator), bc="finite", unit_cell_width=len(sites)
    )
    chi = int(bond_dim)
    options: dict[str, Any] = {
        "mixer": True,
        "max_E_err": float(energy_tol),
        "max_S_err": 1e-5,
        "max_trunc_err": 1.0,  # a small D is the user's choice: report the truncation, do not raise
        "max_sweeps": int(max_sweeps),
        "min_sweeps": int(min(min_sweeps, max_sweeps)),
        "trunc_params": {"chi_max": chi, "svd_min": float(svd_min)},
        "combine": True,
        "diag_method": "lanczos",
    }
    mixer_sweeps = 2
    if chi_ramp and chi > 32:  # short ramp: one sweep at D/4 and D/2 each, then D until converged
        options["chi_list"] = {0: max(16, chi // 4), 1: chi // 2, 2: chi}
        mixer_sweeps = 3
    # the subspace-expansion mixer perturbs the state: the last sweeps (and the reported truncation
    # error, the discarded weight) are without it
    options["mixer_params"] = {"amplitude": 1e-5, "decay": 2.0, "disable_after": mixer_sweeps}
    options["min_sweeps"] = max(options["min_sweeps"], mixer_sweeps + 2)
    options["max_sweeps"] = max(options["max_sweeps"], options["min_sweeps"])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = dmrg.TwoSiteDMRGEngine(psi, model, options)
        energy, psi = engine.run()
    seconds = time.perf_counter() - t0
    stats = engine.sweep_stats
    energies = np.asarray(stats["E"], float)
    change = float(abs(energies[-1] - energies[-2])) if energies.size > 1 else float("nan")
    trunc = float(np.asarray(stats["max_trunc_err"])[-1])
    return DMRGResult(
        energy=float(energy),
        energy_per_site=float(energy) / n,
        truncation_error=trunc,
        entanglement_entropy=np.asarray(psi.entanglement_entropy(), float),
        bond_dimensions=np.asarray(psi.chi, int),
        energy_change=change,
        sweeps=int(energies.size),
        seconds=seconds,
        psi=psi,
    )


# ---------------------------------------------------------------------------- MPS energies, entropies


def tenpy_mps_from_tensors(tensors: list[np.ndarray], normalize: bool = True):
    """A finite TeNPy MPS from open-boundary tensors ``A_i`` of shape (2, D_{i-1}, D_i), D_0 = D_N = 1.

    Index 0 of the physical leg is spin up (``s = +1``). The MPS is brought to canonical form (exact:
    only singular values below 1e-15 relative are dropped), which also normalises it.
    """
    from tenpy.networks.mps import MPS as TenpyMPS
    from tenpy.networks.site import SpinHalfSite

    tensors = [np.asarray(a) for a in tensors]
    if tensors[0].shape[1] != 1 or tensors[-1].shape[2] != 1:
        raise NqgInputError("open-boundary MPS tensors need D = 1 on the outer bonds")
    dtype = np.result_type(*tensors)
    sites = [SpinHalfSite(conserve=None) for _ in tensors]
    psi = TenpyMPS.from_Bflat(
        sites, [a.astype(dtype) for a in tensors], form=None, unit_cell_width=len(sites)
    )
    psi.canonical_form_finite(renormalize=normalize)
    return psi


def as_tenpy_mps(state):
    """A TeNPy MPS from an nqg :class:`~nqg.quantum.mps.MPS` model, a list of open tensors, or a TeNPy MPS."""
    from tenpy.networks.mps import MPS as TenpyMPS

    from nqg.quantum.mps import MPS

    if isinstance(state, TenpyMPS):
        return state
    if isinstance(state, MPS):
        return tenpy_mps_from_tensors(state.open_tensors())
    if isinstance(state, (list, tuple)):
        return tenpy_mps_from_tensors(list(state))
    raise NqgInputError(f"cannot read {type(state).__name__} as an MPS")


def mps_energy(state, operator: SpinOperator) -> float:
    """``<psi|H|psi> / <psi|psi>`` of an MPS (nqg model, open tensors or TeNPy MPS) through the MPO."""
    psi = as_tenpy_mps(state)
    if psi.L != operator.n_sites:
        raise NqgInputError(f"the MPS has {psi.L} sites, the operator {operator.n_sites}")
    model = tenpy_model(operator)
    if psi.sites[0].conserve not in (None, "None"):
        model = tenpy_model(operator, conserve=psi.sites[0].conserve)
    return float(np.real(model.H_MPO.expectation_value(psi)))


def entanglement_entropies(state) -> np.ndarray:
    """Von Neumann entropies (natural log) at every bond of an MPS: (N - 1,), entry b cuts after site b."""
    return np.asarray(as_tenpy_mps(state).entanglement_entropy(), float)


def schmidt_values(amplitudes: np.ndarray, cut: int) -> np.ndarray:
    """Schmidt coefficients ``lambda_a`` (descending, normalised) of a state vector across ``cut``.

    ``amplitudes`` has 2^N entries in nqg's basis order (site 0 most significant); the cut separates
    sites ``0..cut-1`` from ``cut..N-1``.
    """
    psi = np.asarray(amplitudes)
    n = round(np.log2(psi.size))
    if 2**n != psi.size or not 0 < cut < n:
        raise NqgInputError(f"need 2^N amplitudes and 0 < cut < N, got {psi.size} amplitudes, cut {cut}")
    sv = np.linalg.svd(psi.reshape(2**cut, 2 ** (n - cut)), compute_uv=False)
    return sv / np.linalg.norm(sv)


def entanglement_entropy_of_vector(amplitudes: np.ndarray, cut: int) -> float:
    """``S = -sum_a lambda_a^2 ln lambda_a^2`` of a state vector across ``cut`` (exact Schmidt values)."""
    p = schmidt_values(amplitudes, cut) ** 2
    p = p[p > 1e-300]
    return float(-np.sum(p * np.log(p)))


def schmidt_rank(amplitudes: np.ndarray, cut: int, rtol: float = 1e-10) -> int:
    """Number of Schmidt values above ``rtol`` times the largest."""
    sv = schmidt_values(amplitudes, cut)
    return int(np.sum(sv > rtol * sv[0]))


class CentralChargeFit(NamedTuple):
    """A Calabrese-Cardy fit (see :func:`fit_central_charge`).

    Attributes:
        c: the central charge.
        const: the non-universal constant ``s_0``.
        boundary: coefficient ``b`` of the smooth ``1/x`` boundary correction (0 for periodic chains).
        alternating: coefficient ``b_alt`` of the parity term ``(-1)^l / x^K`` (``/ x^{2K}`` periodic).
        max_residual: largest |fit - S| over the fitted cuts (nats).
        n_cuts: number of cuts fitted.
    """

    c: float
    const: float
    boundary: float
    alternating: float
    max_residual: float
    n_cuts: int


#: Chord of the open TFIM chain from its Majorana chain (see :func:`open_chain_chord`).
TFIM_OPEN_CHORD = {"length_shift": 0.5, "cut_offset": 0.25}
#: Chord of an open chain of N sites with its boundaries one lattice spacing beyond the end sites.
LATTICE_OPEN_CHORD = {"length_shift": 1.0, "cut_offset": 0.5}


def open_chain_chord(n_sites: int, length_shift: float = 1.0, cut_offset: float = 0.5) -> np.ndarray:
    """Conformal chord ``x_l = (2L/pi) sin(pi (l + delta) / L)``, ``L = N + length_shift``, cuts l = 1..N-1.

    Boundary CFT of an open chain (Calabrese-Cardy): a cut at distance ``y`` from the left boundary of a
    strip of width ``L`` has ``S = (c/6) ln[(2L/pi) sin(pi y/L)] + s_0``. On a lattice the positions
    of the effective boundaries are fixed to O(1) only. For a chain of sites 1..N whose boundaries sit at
    0 and N + 1 (a hopping chain with hard walls, as the XX chain), ``L = N + 1`` and the cut after
    site ``l`` is at ``y = l + 1/2`` (:data:`LATTICE_OPEN_CHORD`). The open TFIM of N spins is a chain of
    2N Majoranas with hopping ``h, J, h, J, ...`` (one complex hopping chain of 2N sites is two copies
    of it, ``S_TFIM(l; N) = S_XX(2l; 2N) / 2`` at ``h = J``); in Majorana units ``L = 2N + 1`` and
    ``y = 2l + 1/2``, i.e. ``L = N + 1/2``, ``delta = 1/4`` in spin units (:data:`TFIM_OPEN_CHORD`).
    Every such chord is symmetric under ``l -> N - l``, as ``S(l) = S(N - l)`` of a reflection-symmetric
    pure state is.
    """
    n = int(n_sites)
    length = n + float(length_shift)
    ells = np.arange(1, n)
    return (2 * length / np.pi) * np.sin(np.pi * (ells + float(cut_offset)) / length)


def fit_central_charge(
    entropies: np.ndarray,
    n_sites: int,
    periodic: bool = False,
    skip: int = 2,
    *,
    length_shift: float = 1.0,
    cut_offset: float = 0.5,
    luttinger_k: float = 1.0,
    boundary_correction: bool = True,
) -> CentralChargeFit:
    """Fit the Calabrese-Cardy law with its leading lattice corrections to ``S(l)``, l = 1..N-1.

    Open chain (linear least squares over the cuts ``skip < l < N - skip``):

    ``S(l) = (c/6) ln x_l + s_0 + b / x_l + b_alt (-1)^l / x_l^K``,

    with the chord ``x_l`` of :func:`open_chain_chord` (``length_shift``, ``cut_offset``; use
    :data:`TFIM_OPEN_CHORD` for the TFIM). ``b / x`` is the leading smooth boundary correction (the
    open TFIM has one: in the Majorana picture it is the parity term of the XX chain, ``(-1)^ell / x``
    with ``ell = 2l`` always even, Fagotti & Calabrese, J. Stat. Mech. P01017 (2011)); the alternating
    term decays as ``x^-K`` with the Luttinger parameter K (1 for free fermions, 1/2 for the Heisenberg
    chain; Laflorencie, Sorensen, Chang, Affleck, PRL 96, 100603 (2006); Calabrese, Campostrini,
    Essler, Nienhuis, PRL 104, 095701 (2010)). Without the ``1/x`` term (``boundary_correction=False``)
    the fit of the exact critical TFIM at N = 80 gives c = 0.524: the corrections, not the entropies,
    bias it.

    Periodic chain: ``S(l) = (c/3) ln[(N/pi) sin(pi l/N)] + s_0 + b_alt (-1)^l / x_l^{2K}``.
    """
    s = np.asarray(entropies, float)
    n = int(n_sites)
    if s.shape != (n - 1,):
        raise NqgInputError(f"need N - 1 = {n - 1} entropies (cuts l = 1..N-1), got shape {s.shape}")
    ells = np.arange(1, n)
    keep = (ells > skip) & (ells < n - skip)
    if periodic:
        x = (n / np.pi) * np.sin(np.pi * ells / n)
        cols = [np.log(x) / 3, np.ones_like(x), (-1.0) ** ells / x ** (2 * luttinger_k)]
    else:
        x = open_chain_chord(n, length_shift, cut_offset)
        cols = [np.log(x) / 6, np.ones_like(x), (-1.0) ** ells / x**luttinger_k]
        if boundary_correction:
            cols.append(1 / x)
    design = np.column_stack(cols)[keep]
    if int(keep.sum()) <= design.shape[1]:
        raise NqgInputError(
            f"the Calabrese-Cardy fit needs more than {design.shape[1]} cuts with skip < l < N - skip; "
            f"N = {n}, skip = {skip} leaves {int(keep.sum())}"
        )
    coef, *_ = np.linalg.lstsq(design, s[keep], rcond=None)
    residual = float(np.max(np.abs(design @ coef - s[keep])))
    boundary = float(coef[3]) if (not periodic and boundary_correction) else 0.0
    return CentralChargeFit(
        float(coef[0]), float(coef[1]), boundary, float(coef[2]), residual, int(keep.sum())
    )


# ---------------------------------------------------------------------------- free fermions


def _binary_entropy(nu: np.ndarray) -> np.ndarray:
    """``-p ln p - (1-p) ln(1-p)`` with ``p = (1 + nu)/2``, ``0 <= nu <= 1``."""
    nu = np.clip(nu, 0.0, 1.0)
    p, q = (1 + nu) / 2, (1 - nu) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(np.where(p > 0, p * np.log(p), 0.0) + np.where(q > 0, q * np.log(q), 0.0))


def tfim_majorana_correlation(n_sites: int, h: float, J: float = 1.0) -> np.ndarray:
    """Ground-state Majorana correlations ``G_ij = -i <a_{2i} a_{2j+1}>`` (N x N, real) of the open TFIM.

    Jordan-Wigner with ``a_{2j} = (prod_{k<j} sigma^x_k) sigma^z_j``, ``a_{2j+1} = (prod_{k<j}
    sigma^x_k) sigma^y_j`` (``{a_m, a_n} = 2 delta_mn``) gives ``sigma^x_j = i a_{2j} a_{2j+1}`` and
    ``sigma^z_j sigma^z_{j+1} = i a_{2j+1} a_{2j+2}``, so ``H = -J sum z z - h sum x = (i/4) a^T A a``
    with the real antisymmetric ``A_{2j,2j+1} = -2h``, ``A_{2j+1,2j+2} = -2J`` (no boundary term on an
    open chain). The ground state has ``<a_m a_n> = delta_mn + i Gamma_mn`` with
    ``i Gamma = -sign(iA)^T``, i.e. ``Gamma = A |A|^{-1}`` (``|A| = (A^T A)^{1/2}``), the orthogonal
    polar factor of A. A couples even to odd Majoranas only: ``A = [[0, M], [-M^T, 0]]`` (even, odd
    blocks) with the N x N ``M = -2h 1 + 2J (subdiagonal)``, so ``Gamma = [[0, G], [-G^T, 0]]`` with
    ``G = U V^T`` from the SVD ``M = U Sigma V^T`` (the singular values ``Sigma/2`` are the mode
    energies ``Lambda_k`` of :func:`nqg.quantum.exact.tfim_open_chain_ground_energy`). The overall sign
    of G does not enter entropies. The ground state must be non-degenerate: in the ordered phase
    ``|h| < |J|`` the edge-mode energy ``~ |h/J|^N`` must stay above round-off (NqgInputError otherwise).
    """
    if int(n_sites) != n_sites or n_sites < 1:
        raise NqgInputError(f"n_sites must be a positive integer, got {n_sites}")
    n = int(n_sites)
    h, J = float(h), float(J)
    if not (np.isfinite(h) and np.isfinite(J)):
        raise NqgInputError(f"h and J must be finite numbers, got h = {h}, J = {J}")
    m = np.diag(np.full(n, -2 * h)) + np.diag(np.full(n - 1, 2 * J), -1)
    u, sv, vt = np.linalg.svd(m)
    scale = max(abs(h), abs(J), 1e-300)
    if sv[-1] < 1e-11 * scale:
        raise NqgInputError(
            f"the open TFIM with N = {n}, h = {h}, J = {J} has a (nearly) degenerate ground state "
            f"(smallest mode energy {sv[-1] / 2:.1e}): its entanglement is not unique"
        )
    return u @ vt


def tfim_open_entanglement_exact(n_sites: int, h: float, J: float = 1.0) -> np.ndarray:
    """Exact von Neumann entropies (nats) of the open TFIM ground state at every cut, shape (N - 1,).

    Entry ``l - 1`` is the entropy of sites ``0..l-1`` (the DMRG convention). The Jordan-Wigner
    strings of the first l sites stay inside them, so the reduced state is the Gaussian state of the
    Majoranas ``a_0..a_{2l-1}``: restrict the correlation matrix to them (Peschel, J. Phys. A 36, L205
    (2003)). With G of :func:`tfim_majorana_correlation`, the restriction is
    ``[[0, G_l], [-G_l^T, 0]]``, ``G_l = G[:l, :l]``; its singular values ``nu_k`` (k = 1..l) give one
    fermion mode each with occupation ``(1 + nu_k)/2``, so
    ``S(l) = sum_{k=1}^{l} H2((1 + nu_k)/2)``, ``H2(p) = -p ln p - (1-p) ln(1-p)``.
    Cost O(l^3) per cut: N = 400 in a few seconds.
    """
    g = tfim_majorana_correlation(n_sites, h, J)
    n = int(n_sites)
    out = np.empty(n - 1)
    for ell in range(1, n):
        nu = np.linalg.svd(g[:ell, :ell], compute_uv=False)
        out[ell - 1] = np.sum(_binary_entropy(nu))
    return out


def xx_open_entanglement_exact(n_sites: int) -> np.ndarray:
    """Exact entropies of the open XX chain ``H = sum_i (S^x_i S^x_{i+1} + S^y_i S^y_{i+1})`` (c = 1).

    Jordan-Wigner: hopping ``(1/2)(c^dag_i c_{i+1} + h.c.)``; the ground state fills the modes of
    negative energy (half filling; N even, so no zero mode). With ``C_ij = <c^dag_i c_j>`` restricted
    to sites ``0..l-1`` (eigenvalues ``n_k``), ``S(l) = sum_k H2(n_k)`` (Peschel). The c = 1 control
    of :func:`fit_central_charge`.
    """
    if int(n_sites) != n_sites or n_sites < 2 or n_sites % 2:
        raise NqgInputError(f"the open XX chain needs an even N >= 2 (no zero mode), got {n_sites}")
    n = int(n_sites)
    hop = np.diag(np.full(n - 1, 0.5), 1)
    e, v = np.linalg.eigh(hop + hop.T)
    occupied = v[:, e < 0]
    corr = occupied @ occupied.T
    out = np.empty(n - 1)
    for ell in range(1, n):
        occ = np.linalg.eigvalsh(corr[:ell, :ell])
        out[ell - 1] = np.sum(_binary_entropy(np.abs(2 * occ - 1)))
    return out


# ---------------------------------------------------------------------------- Bethe ansatz


def heisenberg_open_chain_energy(n_sites: int, J: float = 1.0) -> float:
    """Exact ground energy (total) of the open XXX chain ``H = J sum_{i<N} S_i.S_{i+1}`` (J > 0, even N).

    Bethe ansatz with free ends (Alcaraz, Barber, Batchelor, Baxter, Quispel, J. Phys. A 20, 6397
    (1987)): M = N/2 rapidities with
    ``[(l_j + i/2)/(l_j - i/2)]^{2N}
    = prod_{k != j} [(l_j - l_k + i)/(l_j - l_k - i)] [(l_j + l_k + i)/(l_j + l_k - i)]``,
    in logarithmic form ``4N arctan 2l_j = 2 pi I_j + sum_{k != j} 2[arctan(l_j - l_k) + arctan(l_j + l_k)]``
    with ``I_j = 1..M`` in the ground state, and
    ``E = J (N - 1)/4 - J sum_j 1 / (2 (l_j^2 + 1/4))`` (each magnon lowers ``J(S.S - 1/4)`` by
    ``2 J sin^2(k/2)``, ``l = cot(k/2)/2``). Solved by damped fixed-point iteration, then Newton
    (``scipy.optimize.root``). Agrees with exact diagonalization to 1e-13 (tests).
    """
    if int(n_sites) != n_sites or n_sites < 2 or n_sites % 2:
        raise NqgInputError(f"the Bethe-ansatz ground state needs an even N >= 2, got {n_sites}")
    if not J > 0:
        raise NqgInputError(f"the antiferromagnetic Bethe ground state needs J > 0, got {J}")
    n = int(n_sites)
    m = n // 2
    quantum_numbers = np.arange(1, m + 1)

    def phase_sum(lam):
        mat = 2 * np.arctan(lam[:, None] - lam[None, :]) + 2 * np.arctan(lam[:, None] + lam[None, :])
        np.fill_diagonal(mat, 0.0)
        return mat.sum(1)

    def residual(lam):
        return 4 * n * np.arctan(2 * lam) - 2 * np.pi * quantum_numbers - phase_sum(lam)

    lam = 0.5 * np.tan(np.pi * quantum_numbers / (2 * n + 2))
    for _ in range(400):
        lam = 0.5 * lam + 0.25 * np.tan((2 * np.pi * quantum_numbers + phase_sum(lam)) / (4 * n))
    sol = so.root(residual, lam, tol=1e-15)
    lam = sol.x
    if np.max(np.abs(residual(lam))) > 1e-9:
        raise RuntimeError(f"Bethe equations did not converge for N = {n}")
    return float(J * ((n - 1) / 4 - np.sum(1.0 / (2.0 * (lam**2 + 0.25)))))


# ---------------------------------------------------------------------------- RBM -> MPS


@dataclass
class RBMAsMPS:
    """The exact MPS of an RBM: tensors (2, D_{i-1}, D_i), the bond dimensions, and the copied spins.

    ``carried[b]`` lists the visible sites whose spins live on bond ``b`` (between sites b and b+1).
    """

    tensors: list[np.ndarray]
    bond_dimensions: np.ndarray
    carried: list[list[int]]

    def amplitudes(self) -> np.ndarray:
        """All 2^N amplitudes in nqg's basis order (small N)."""
        out = self.tensors[0][:, 0, :]  # (2, D1)
        for a in self.tensors[1:]:
            out = np.einsum("xa,sab->xsb", out, a).reshape(-1, a.shape[2])
        return out[:, 0]


def rbm_to_mps(rbm, max_bond_dim: int = 4096, weight_tol: float = 0.0) -> RBMAsMPS:
    """Write ``psi(s) = exp(sum_i a_i s_i) prod_j cosh(b_j + sum_i W_ji s_i)`` exactly as an open MPS.

    Chen, Cheng, Xie, Wang, Xiang (arXiv:1701.04831), with the visible spins as the bond variables:
    each hidden unit j is attached to the last visible site ``r_j`` it couples to (``|W_ji| > weight_tol``),
    so ``psi = prod_i f_i`` with ``f_i = exp(a_i s_i) prod_{j: r_j = i} cosh(theta_j)``. The factor ``f_i``
    needs the spins left of ``i`` that its hidden units touch, so the bond after site ``c`` carries
    ``S_c = {k <= c : some unit with r_j > c couples to k}`` (the left ends of the units that cross
    the cut), and ``A_i[s_i]`` maps a configuration of ``S_{i-1}`` to the one of ``S_i`` (copying
    the spins that stay, adding ``s_i`` if it is needed later) times ``f_i``. The bond dimension is
    ``2^{|S_c|}``: for an RBM whose units each touch r consecutive sites it is ``2^{r-1}`` in the bulk,
    whatever the number of hidden units, the Schmidt-rank bound of the paper.

    Accepts :class:`~nqg.quantum.models.RBM` (or any model with ``as_cached()`` giving one).
    """
    cached = rbm.as_cached() if hasattr(rbm, "as_cached") else rbm
    w = np.asarray(cached.weights)
    a = np.asarray(cached.visible_bias)
    b = np.asarray(cached.hidden_bias)
    n = w.shape[1]
    touches = np.abs(w) > weight_tol
    last = np.where(touches.any(1), n - 1 - np.argmax(touches[:, ::-1], axis=1), 0)
    carried: list[list[int]] = []
    for c in range(n - 1):
        crossing = last > c
        carried.append(sorted(int(k) for k in np.nonzero(touches[crossing][:, : c + 1].any(0))[0]))
    dims = np.asarray([2 ** len(s) for s in carried], np.int64)
    if dims.size and dims.max() > max_bond_dim:
        raise NqgInputError(
            f"the exact MPS of this RBM needs bond dimension {int(dims.max())} > max_bond_dim={max_bond_dim}"
            " (its hidden units couple distant sites)"
        )
    dtype = np.result_type(w, a, b, np.float64)
    tensors = []
    bonds = [[], *carried, []]
    for i in range(n):
        left_sites, right_sites = bonds[i], bonds[i + 1]
        dl, dr = 2 ** len(left_sites), 2 ** len(right_sites)
        units = np.nonzero(last == i)[0]
        t = np.zeros((2, dl, dr), dtype)
        for si, s_val in enumerate((1.0, -1.0)):
            for li in range(dl):
                # spins on the left bond: bit (len-1-q) of li is site left_sites[q] (0 -> up)
                spins = {
                    k: 1.0 - 2.0 * ((li >> (len(left_sites) - 1 - q)) & 1) for q, k in enumerate(left_sites)
                }
                spins[i] = s_val
                ri = 0
                for k in right_sites:
                    ri = (ri << 1) | (0 if spins[k] > 0 else 1)
                factor = np.exp(a[i] * s_val)
                for j in units:
                    cols = np.nonzero(touches[j])[0]
                    theta = b[j] + sum(w[j, k] * spins[k] for k in cols)
                    factor = factor * np.cosh(theta)
                t[si, li, ri] = factor
        tensors.append(t)
    return RBMAsMPS(tensors, dims, carried)


def local_rbm(n_sites: int, range_: int, alpha: int = 1, *, key, std: float = 0.3, periodic: bool = False):
    """An RBM whose hidden units each couple to ``range_`` consecutive sites (``alpha`` units per start site).

    Unit (f, i) couples to sites ``i, ..., i + range_ - 1`` (open: only starts with the whole window
    inside the chain; periodic: windows wrap). Weights and biases are normal with ``std``.
    """
    import jax

    from nqg.quantum.models import RBM

    if range_ < 1 or range_ > n_sites:
        raise NqgInputError(f"range must be in [1, {n_sites}], got {range_}")
    starts = range(n_sites) if periodic else range(n_sites - range_ + 1)
    rows = []
    for _ in range(int(alpha)):
        for i in starts:
            rows.append([(i + d) % n_sites for d in range(range_)])
    k1, k2, k3 = jax.random.split(key, 3)
    mask = np.zeros((len(rows), n_sites))
    for r, sites in enumerate(rows):
        mask[r, sites] = 1.0
    model = RBM(n_sites, len(rows) / n_sites, key=k1, init_std=std)
    w = np.asarray(jax.random.normal(k2, mask.shape)) * std * mask
    import equinox as eqx
    import jax.numpy as jnp

    model = eqx.tree_at(lambda r: r.weights, model, jnp.asarray(w))
    model = eqx.tree_at(lambda r: r.hidden_bias, model, std * jax.random.normal(k3, (len(rows),)))
    return model


def dmrg_reference_energy_per_site(
    operator: SpinOperator, lattice: Lattice, bond_dim: int = 64
) -> dict[str, Any] | None:
    """DMRG ground energy per site for chains that exact diagonalization cannot reach (None otherwise).

    The fallback of the exact-energy lookup where ED cannot reach: open chains, J1-J2 chains of any
    length (periodic chains work too, at lower accuracy for the same ``bond_dim``). Lattices that
    are not chains return None.
    """
    if len(lattice.shape) != 1:
        return None
    res = dmrg_ground_state(operator, bond_dim, max_sweeps=30)
    return {
        "value": res.energy_per_site,
        "method": "DMRG",
        "source": f"TeNPy two-site DMRG, chi = {bond_dim}, truncation error {res.truncation_error:.1e}, "
        "computed (nqg.quantum.tensor_networks)",
    }
