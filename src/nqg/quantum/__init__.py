"""Quantum vertex: neural-network quantum states optimised by variational Monte Carlo.

Layers, as in NetKet (swap one without touching the others)::

    lattice   -> chain, square, graph                      (nqg.quantum.lattice)
    hilbert   -> SpinHilbert(N, total_sz=None|0, ...)       (nqg.quantum.hilbert)
    operator  -> TransverseFieldIsing, Heisenberg, J1J2, PauliSum   (flip representation; to_sparse)
    exact     -> ground_state (Lanczos in an S^z sector), tfim_chain_ground_energy (free fermions)
    tensors   -> dmrg_ground_state, mps_energy, rbm_to_mps (TeNPy; nqg.quantum.tensor_networks)
    model     -> RBM, SymmetricRBM, FFNN, MPS              (equinox; real or complex parameters)
    sampler   -> MetropolisLocal, MetropolisExchange, ExactSampler
    driver    -> VMC(hamiltonian, model, sampler, optax optimizer, sr=SR(...)).run(n_iter, key)

Example (the NetKet benchmark configuration)::

    import jax, optax
    from nqg.quantum import *
    lat = square(10)
    ham = Heisenberg(lat, marshall_sign=True)
    hil = SpinHilbert(lat.n_sites, total_sz=0)
    model = RBM(lat.n_sites, alpha=1, key=jax.random.key(0))
    sampler = MetropolisExchange(hil, lat.bonds, n_chains=16, n_samples=1008)
    vmc = VMC(ham, model, sampler, optax.sgd(0.02), sr=SR(diag_shift=0.01))
    result = vmc.run(300, jax.random.key(1))
    print(result.energy / lat.n_sites, result.energy_error / lat.n_sites)
"""

# The submodule nqg.quantum.ground_state (problem set-up of `nqg quantum ground-state`) shares its name with
# the function exported below. Importing it first means a later `from nqg.quantum.ground_state import ...`
# finds it loaded and leaves the package attribute alone: nqg.quantum.ground_state stays the function.
import nqg.quantum.ground_state  # noqa: F401
from nqg.quantum.exact import (
    Spectrum,
    chain_energy_beyond_ed,
    ground_state,
    tfim_chain_ground_energy,
    tfim_open_chain_ground_energy,
)
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import Lattice, chain, graph, square
from nqg.quantum.models import FFNN, RBM, NQSModel, SymmetricRBM, count_parameters, log_cosh
from nqg.quantum.mps import MPS
from nqg.quantum.operators import J1J2, Heisenberg, PauliSum, SpinOperator, TransverseFieldIsing
from nqg.quantum.samplers import (
    ExactSampler,
    ExchangeRule,
    LocalRule,
    MetropolisExchange,
    MetropolisLocal,
    MetropolisSampler,
)
from nqg.quantum.tensor_networks import (
    LATTICE_OPEN_CHORD,
    TFIM_OPEN_CHORD,
    CentralChargeFit,
    DMRGResult,
    dmrg_ground_state,
    entanglement_entropies,
    fit_central_charge,
    heisenberg_open_chain_energy,
    mps_energy,
    open_chain_chord,
    rbm_to_mps,
    tfim_open_entanglement_exact,
    xx_open_entanglement_exact,
)
from nqg.quantum.vmc import (
    SR,
    VMC,
    CollapseGuard,
    VMCResult,
    VMCState,
    carleo_troyer_schedule,
    local_energies,
    log_derivatives,
    sr_direction,
)

__all__ = [
    "FFNN",
    "J1J2",
    "LATTICE_OPEN_CHORD",
    "MPS",
    "RBM",
    "SR",
    "TFIM_OPEN_CHORD",
    "VMC",
    "CentralChargeFit",
    "CollapseGuard",
    "DMRGResult",
    "ExactSampler",
    "ExchangeRule",
    "Heisenberg",
    "Lattice",
    "LocalRule",
    "MetropolisExchange",
    "MetropolisLocal",
    "MetropolisSampler",
    "NQSModel",
    "PauliSum",
    "Spectrum",
    "SpinHilbert",
    "SpinOperator",
    "SymmetricRBM",
    "TransverseFieldIsing",
    "VMCResult",
    "VMCState",
    "carleo_troyer_schedule",
    "chain",
    "chain_energy_beyond_ed",
    "count_parameters",
    "dmrg_ground_state",
    "entanglement_entropies",
    "fit_central_charge",
    "graph",
    "ground_state",
    "heisenberg_open_chain_energy",
    "local_energies",
    "log_cosh",
    "log_derivatives",
    "mps_energy",
    "open_chain_chord",
    "rbm_to_mps",
    "square",
    "sr_direction",
    "tfim_chain_ground_energy",
    "tfim_open_chain_ground_energy",
    "tfim_open_entanglement_exact",
    "xx_open_entanglement_exact",
]
