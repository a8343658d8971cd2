"""Noise-free optimisation of the imaginary-time DBM and of the RBM on their *exact* energies.

Every visible configuration (``2^N``) and, for the DBM, every deep configuration (``2^D``) is enumerated,
so the energy and the stochastic-reconfiguration (SR) metric carry no Monte-Carlo noise. Trained with the
same optimizer and iteration budget, two ansatze then differ only in what they can represent and in how
well the exact SR flow reaches it: this separates *expressivity* from the *statistics* of sampled
estimators (the deep layer of a sampled DBM adds noise that the RBM does not have).

**Energy.** For real, positive amplitudes ``Psi(s) = exp(log Psi(s))`` (the TFIM DBM and a real RBM),

    E(theta) = sum_s Psi(s) (H Psi)(s) / sum_s Psi(s)^2,

differentiable in ``theta`` by automatic differentiation through the enumeration
(:func:`exact_energy`); for the DBM, ``log Psi(s) = logsumexp_d log Psi(s, d)`` (hidden units summed,
deep units enumerated).

**Exact SR.** With ``p(s) = Psi(s)^2 / sum Psi^2``, ``O_k(s) = d log Psi(s) / d theta_k`` (for the DBM
``O_k(s) = sum_d p(d|s) O_k(s, d)``: the derivative of the logsumexp) and ``E_loc = (H Psi) / Psi``,
differentiating ``E`` gives

    g_k = dE/dtheta_k = 2 sum_s p(s) (E_loc(s) - E) (O_k(s) - <O_k>)

(``sum_s p (E_loc - E) = 0`` allows the centring of ``O``), and the SR metric is the covariance
``S_kl = sum_s p(s) (O_k - <O_k>)(O_l - <O_l>)``. The direction ``delta = (S + lambda)^{-1} g`` is scaled
down to ``sqrt(delta^T (S + lambda) delta) <= max_norm`` when a trust region is set (as
:func:`nqg.quantum.dbm_vmc.sr_direction`: with the shift included, no direction in which ``S`` is nearly
flat, e.g. the couplings of an RBM initialised near zero, escapes the bound), and handed to any optax
optimizer (``optax.sgd(lr)``: exact SR, i.e. imaginary-time evolution projected onto the ansatz with step
``lr / 2`` per iteration when ``lambda -> 0``). ``p E_loc`` is evaluated as
``Psi (H Psi) / sum Psi^2``, finite where ``Psi`` underflows.

**Sparsity.** A mask (the DBM's ``keep_sparsity``) zeroes the columns of ``O`` outside the trained
pattern: those rows and columns of ``S`` vanish, ``g`` is zero there, and so is the direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import sparse as jsparse
from jax.flatten_util import ravel_pytree

from nqg.errors import NqgInputError
from nqg.quantum.dbm import DeepBoltzmannMachine
from nqg.quantum.dbm_vmc import shifted_solve
from nqg.quantum.hilbert import SpinHilbert

MAX_ENUMERATED_SITES = 14


@dataclass(frozen=True)
class EnumeratedAnsatz:
    """A variational state as ``log_psi(flat, s)`` of a flat real parameter vector, enumerable over ``s``.

    ``flat`` are the starting parameters, ``rebuild(flat)`` the model they describe, ``mask`` (or None)
    1 for trained and 0 for frozen entries."""

    name: str
    flat: jax.Array
    log_psi: Callable[[jax.Array, jax.Array], jax.Array]
    rebuild: Callable[[jax.Array], eqx.Module]
    mask: jax.Array | None
    n_sites: int

    @property
    def n_parameters(self) -> int:
        """Trained scalars: the entries the mask keeps (all of them without one)."""
        if self.mask is None:
            return int(self.flat.size)
        return int(np.count_nonzero(np.asarray(self.mask)))


def dbm_ansatz(machine: DeepBoltzmannMachine, keep_sparsity: bool = False, name: str | None = None):
    """The DBM ``Psi(s) = sum_d Psi(s, d)`` with ``theta = (a, b, c, W, V)`` (dense, or the construction's
    nonzero couplings and all biases with ``keep_sparsity``); deep units enumerated (``D <= 20``)."""
    from nqg.quantum.dbm_vmc import _flat, sparsity_mask

    if jnp.iscomplexobj(machine.W):
        raise NqgInputError("exact optimisation needs a real machine (the TFIM construction), got complex W")
    if machine.n_deep > 20:
        raise NqgInputError(f"enumerating 2^{machine.n_deep} deep configurations is too many (D <= 20)")
    flat, unravel, static = _flat(machine)

    def rebuild(p):
        return eqx.combine(unravel(p), static)

    def log_psi(p, s):
        return rebuild(p).log_psi_enumerated(s)

    mask = sparsity_mask(machine) if keep_sparsity else None
    kind = "sparse" if keep_sparsity else "dense"
    label = name or f"DBM ({kind}, H={machine.n_hidden}, D={machine.n_deep})"
    return EnumeratedAnsatz(label, flat, log_psi, rebuild, mask, machine.n_visible)


def rbm_ansatz(model, name: str | None = None):
    """Any real nqg model (e.g. :class:`nqg.quantum.RBM`): ``log_psi(flat, s) = model(s)``."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    if jnp.iscomplexobj(flat):
        raise NqgInputError("exact optimisation needs real parameters (a positive state), got complex ones")

    def rebuild(p):
        return eqx.combine(unravel(p), static)

    def log_psi(p, s):
        return rebuild(p)(s)

    hidden = getattr(model, "n_hidden", None)
    label = name or (f"RBM (H={hidden})" if hidden is not None else type(model).__name__)
    return EnumeratedAnsatz(label, flat, log_psi, rebuild, None, int(model.n_sites))


def rbm_hidden_for_parameters(n_sites: int, n_parameters: int) -> int:
    """The hidden-unit count ``H >= 1`` whose RBM (``N + H + N H`` parameters) is closest to
    ``n_parameters`` (the smaller ``H`` on a tie)."""
    h_real = (n_parameters - n_sites) / (n_sites + 1)
    candidates = {max(1, int(np.floor(h_real))), max(1, int(np.ceil(h_real)))}
    return min(sorted(candidates), key=lambda h: abs(n_sites + h + n_sites * h - n_parameters))


@dataclass(frozen=True)
class EnumeratedProblem:
    """All ``2^N`` spin configurations (in the order of ``hamiltonian.to_sparse()``) and ``H`` as BCOO."""

    states: jax.Array
    h_matrix: jsparse.BCOO

    @classmethod
    def from_hamiltonian(cls, hamiltonian, dtype=jnp.float64) -> EnumeratedProblem:
        n = hamiltonian.n_sites
        if n > MAX_ENUMERATED_SITES:
            raise NqgInputError(f"exact enumeration needs N <= {MAX_ENUMERATED_SITES} sites, got {n}")
        mat = hamiltonian.to_sparse()
        if np.iscomplexobj(mat.data) and np.any(mat.data.imag != 0):
            raise NqgInputError("exact optimisation needs a real Hamiltonian matrix")
        mat = mat.real.astype(np.dtype(dtype)).tocoo()
        states = jnp.asarray(SpinHilbert(n).all_states(np.float64), dtype)
        return cls(states, jsparse.BCOO.from_scipy_sparse(mat))


def enumerated_log_psi(ansatz: EnumeratedAnsatz, flat, states, batch_size: int = 64) -> jax.Array:
    """``log Psi(s)`` for every row of ``states`` (``lax.map`` in batches: memory ``batch 2^D H``)."""
    return jax.lax.map(lambda s: ansatz.log_psi(flat, s), states, batch_size=batch_size)


def exact_energy(ansatz: EnumeratedAnsatz, flat, problem: EnumeratedProblem, batch_size: int = 64):
    """``E = <Psi|H|Psi> / <Psi|Psi>``, differentiable in ``flat`` (``jax.grad`` gives ``g`` exactly)."""
    log_psi = enumerated_log_psi(ansatz, flat, problem.states, batch_size)
    psi = jnp.exp(log_psi - jax.lax.stop_gradient(jnp.max(log_psi)))
    return psi @ (problem.h_matrix @ psi) / (psi @ psi)


def _enumerated_moments(log_psi, problem: EnumeratedProblem):
    """``(psi, H psi, <psi|psi>, E, <H^2> - E^2)`` from ``log Psi`` on every configuration (``psi`` scaled by
    its largest entry; ``<E_loc^2> - E^2 = <H^2> - E^2``)."""
    psi = jnp.exp(log_psi - jnp.max(log_psi))
    h_psi = problem.h_matrix @ psi
    norm2 = psi @ psi
    energy = psi @ h_psi / norm2
    return psi, h_psi, norm2, energy, jnp.sum(h_psi**2) / norm2 - energy**2


def exact_sr_quantities(ansatz: EnumeratedAnsatz, flat, problem: EnumeratedProblem, batch_size: int = 64):
    """``(E, g, S, var)``: the exact energy, gradient ``g = 2 <(E_loc - E)(O - <O>)>``, SR metric
    ``S = <(O - <O>)(O - <O>)^T>`` (masked columns zero) and ``<H^2> - E^2`` (module docstring)."""

    def value_and_jac(s):
        return jax.value_and_grad(ansatz.log_psi)(flat, s)

    log_psi, jac = jax.lax.map(value_and_jac, problem.states, batch_size=batch_size)
    if ansatz.mask is not None:
        jac = jac * ansatz.mask
    psi, h_psi, norm2, energy, variance = _enumerated_moments(log_psi, problem)
    p = psi**2 / norm2
    p_eloc = psi * h_psi / norm2  # p(s) E_loc(s), finite where Psi underflows
    do = jac - p @ jac
    grad = 2.0 * do.T @ (p_eloc - p * energy)
    s_mat = (do * p[:, None]).T @ do
    return energy, grad, s_mat, variance


def exact_sr_direction(
    ansatz: EnumeratedAnsatz,
    flat,
    problem: EnumeratedProblem,
    diag_shift,
    max_norm: float | None = None,
    batch_size: int = 64,
):
    """``(delta, info)``: the exact SR direction ``(S + lambda)^{-1} g`` (module docstring) and the exact
    energy, gradient norm, variance ``<(E_loc - E)^2>`` and ``(S + lambda)``-norm of the direction."""
    energy, grad, s_mat, variance = exact_sr_quantities(ansatz, flat, problem, batch_size)
    delta, s_norm = shifted_solve(s_mat, grad, diag_shift, max_norm)
    if ansatz.mask is not None:  # exactly zero on frozen entries (eigh mixes in rounding errors)
        delta = delta * ansatz.mask
    info = {"energy": energy, "grad_norm": jnp.linalg.norm(grad), "variance": variance, "s_norm": s_norm}
    return delta, info


class ExactOptState(eqx.Module):
    flat: jax.Array
    opt_state: object


@dataclass
class ExactOptResult:
    """Trained parameters, per-iteration history (exact energy before each step) and the final exact
    energy, variance and parameter count."""

    ansatz: EnumeratedAnsatz
    flat: jax.Array
    history: dict[str, np.ndarray]
    energy: float
    variance: float

    @property
    def model(self):
        return self.ansatz.rebuild(self.flat)

    @property
    def n_parameters(self) -> int:
        return self.ansatz.n_parameters


def optimise_exact_energy(
    ansatz: EnumeratedAnsatz,
    hamiltonian,
    optimizer: optax.GradientTransformation,
    n_iter: int,
    *,
    diag_shift: float = 1e-3,
    max_norm: float | None = None,
    batch_size: int = 64,
    progress: bool | None = False,
    ctx=None,
) -> ExactOptResult:
    """``n_iter`` steps of exact SR (``diag_shift = lambda``) fed to ``optimizer`` (nqg.train.run_loop);
    returns the exact energy of the final parameters. ``diag_shift=None`` uses the exact gradient."""
    from nqg.train import run_loop

    if n_iter < 0:
        raise NqgInputError(f"n_iter must be >= 0, got {n_iter}")
    if diag_shift is not None and not diag_shift > 0:
        raise NqgInputError(f"diag_shift must be > 0 (or None for the plain gradient), got {diag_shift}")
    if hamiltonian.n_sites != ansatz.n_sites:
        raise NqgInputError(f"ansatz has {ansatz.n_sites} sites, Hamiltonian {hamiltonian.n_sites}")
    dtype = ansatz.flat.dtype
    problem = EnumeratedProblem.from_hamiltonian(hamiltonian, dtype)

    def step_fn(state: ExactOptState, step):
        if diag_shift is None:  # the plain exact gradient
            energy, delta, _, variance = exact_sr_quantities(ansatz, state.flat, problem, batch_size)
            info = {"energy": energy, "grad_norm": jnp.linalg.norm(delta), "variance": variance}
        else:
            shift = jnp.asarray(diag_shift, dtype)
            delta, info = exact_sr_direction(ansatz, state.flat, problem, shift, max_norm, batch_size)
        updates, opt_state = optimizer.update(delta.astype(dtype), state.opt_state, state.flat)
        return ExactOptState(optax.apply_updates(state.flat, updates), opt_state), info

    state = ExactOptState(ansatz.flat, optimizer.init(ansatz.flat))
    chunk = min(max(n_iter, 1), 50)
    out = run_loop(
        step_fn,
        state,
        steps=n_iter,
        name="exact_sr",
        ctx=ctx,
        chunk=chunk,
        primary="energy",
        progress=progress,
        description=f"exact SR: {ansatz.name}",
    )
    final_flat = out.state.flat
    log_psi = jax.jit(lambda f: enumerated_log_psi(ansatz, f, problem.states, batch_size))(final_flat)
    *_, energy, variance = _enumerated_moments(log_psi, problem)
    return ExactOptResult(ansatz, final_flat, out.history, float(energy), float(variance))


def deep_layer_noise(
    machine: DeepBoltzmannMachine, hamiltonian, local_energy: str = "plain", batch_size: int = 16
) -> dict[str, float]:
    """Where the sampled DBM's noise comes from, by enumeration (small ``N`` and ``D``).

    With ``p(s) = Psi(s)^2 / Z``, ``p(d | s) = Psi(s, d) / Psi(s)``, the deep-sampled local energy
    ``E_loc(s, d) = sum_s' H_ss' Psi(s', d) / Psi(s, d)`` has conditional mean ``E_loc(s)``, and by the law
    of total variance

        Var E_loc(s, d) = Var_p E_loc(s) + E_p[ Var(E_loc(s, d) | s) ].

    The first term is what a sampler of ``s`` alone would see; it vanishes in an eigenstate (zero-variance
    principle). The second is the price of sampling the deep layer and does *not* vanish there. Returns
    ``energy``, ``var_visible`` (first term), ``var_deep`` (second) and ``var_total``, for the
    ``"plain"`` or the ``"paired"`` local energy (:func:`nqg.quantum.dbm_vmc.local_energy_fn`)."""
    from nqg.quantum.dbm_vmc import local_energy_fn

    e_loc_fn = local_energy_fn(machine, hamiltonian, local_energy)

    n = machine.n_visible
    if n > MAX_ENUMERATED_SITES or machine.n_deep > 16:
        raise NqgInputError(
            f"enumeration needs N <= {MAX_ENUMERATED_SITES} and D <= 16, got N = {n}, D = {machine.n_deep}"
        )
    states = jnp.asarray(SpinHilbert(n).all_states(np.float64), machine.W.dtype)
    deep = jnp.asarray(SpinHilbert(machine.n_deep).all_states(np.float64), machine.W.dtype)

    def per_visible(s):
        log_joint = jax.vmap(lambda d: machine.log_psi_joint(s, d))(deep)
        e_loc = e_loc_fn(jnp.broadcast_to(s, (deep.shape[0], n)), deep)
        log_psi = jax.scipy.special.logsumexp(log_joint)
        p_d = jnp.exp(log_joint - log_psi)
        mean = p_d @ e_loc
        return log_psi, mean, p_d @ (e_loc - mean) ** 2

    log_psi, e_vis, var_cond = jax.lax.map(per_visible, states, batch_size=batch_size)
    p = jnp.exp(2.0 * (log_psi - jnp.max(log_psi)))
    p = p / jnp.sum(p)
    energy = p @ e_vis
    var_visible = p @ (e_vis - energy) ** 2
    var_deep = p @ var_cond
    return {
        "energy": float(energy),
        "var_visible": float(var_visible),
        "var_deep": float(var_deep),
        "var_total": float(var_visible + var_deep),
    }
