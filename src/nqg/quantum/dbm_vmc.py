"""Variational Monte Carlo for the deep Boltzmann machine, with the deep layer sampled.

The machine (:class:`nqg.quantum.dbm.DeepBoltzmannMachine`) has the amplitude
``Psi(s) = sum_d Psi(s, d)`` with ``Psi(s, d) = C exp(a.s + c.d) prod_j 2 cosh(b_j + (s W)_j + (d V)_j) > 0``
(real parameters). Its starting point is the imaginary-time construction
(:func:`nqg.quantum.dbm.tfim_dbm`), whose parameters are then optimised.

**Sampling.** ``|Psi(s)|^2 = sum_{d1, d2} Psi(s, d1) Psi(s, d2)``: two replicas ``d1, d2`` of the deep
layer share the visible spins, and two-replica block Gibbs (:func:`nqg.quantum.dbm.gibbs_sweep`) samples
``P(s, d1, d2) ∝ Psi(s, d1) Psi(s, d2)``. Given ``s``, the replicas are independent, each distributed as
``p(d | s) = Psi(s, d) / Psi(s)``.

**Energy.** ``E_loc(s, d) = sum_s' <s|H|s'> Psi(s', d) / Psi(s, d)`` has conditional mean
``E[E_loc(s, d) | s] = (H Psi)(s) / Psi(s) = E_loc(s)``, so ``E = mean (E_loc(s, d1) + E_loc(s, d2)) / 2``.

**Gradient.** With ``O_k(s, d) = d log Psi(s, d) / d theta_k``, the conditional mean is
``E[O_k(s, d) | s] = d log Psi(s) / d theta_k = O_k(s)`` (differentiate ``log sum_d Psi(s, d)``). The
energy gradient of a real positive state is ``g_k = 2 <(E_loc(s) - E)(O_k(s) - <O_k>)>``, a product of
two conditional means; because ``d1`` and ``d2`` are independent given ``s``, the product of one
replica's ``O`` and the other's ``E_loc`` has the right conditional mean, and symmetrising over the
replicas gives

    g_k = mean[(E_loc(s, d2) - E)(O_k(s, d1) - <O>_k) + (E_loc(s, d1) - E)(O_k(s, d2) - <O>_k)].

(Using the *same* replica in both factors would add ``2 Cov(E_loc(s, d), O_k(s, d) | s)``: biased.)

**Stochastic reconfiguration.** ``S_kl = <dO_k(s) dO_l(s)>`` with the same conditional means. Two
estimates (:func:`sr_direction`): the cross-covariance ``(dO1^T dO2 + dO2^T dO1) / 2n`` is unbiased but
need not be positive semidefinite (its negative eigenvalues, noise, are clipped to zero); the joint
covariance ``(dO1^T dO1 + dO2^T dO2) / 2n`` is the metric of ``Psi(s, d)``, positive semidefinite, and
exceeds the true ``S`` by ``E[Cov(O | s)]``. Either way ``(S + lambda)`` is positive definite, so
``delta = (S + lambda)^{-1} g`` is a descent direction; the default is ``"joint"`` because with a few
hundred samples the clipped cross estimate leaves near-flat noisy directions along which
``(S + lambda)^{-1}`` takes huge steps (measured on chain(4), sgd(0.1), 256 samples, with the trust
region then measured in ``S`` alone: the state collapsed to E ~ 0). The direction (or
the plain gradient, ``sr_shift=None``) is handed to any optax optimizer.

**Conditional averaging over the deep layer (Rao-Blackwellisation, ``n_conditional = K``).** The
noise that the deep layer adds is ``Var(E_loc(s, d) | s)`` and ``Cov(O(s, d) | s)``: the sampled gradient
of a DBM is far noisier than an RBM's at the same number of visible samples. For each kept sample, each
replica ``r`` is continued by ``K - 1`` block Gibbs sweeps of ``(h, d)`` *with ``s`` clamped*
(``h ~ p(h | s, d)``, then ``d ~ p(d | h)``: :func:`conditional_deep_sweep`), and ``E_loc``, ``O`` are
averaged along that conditional chain: ``E_r = (1/K) sum_t E_loc(s, d_r^t)``, ``O_r = (1/K) sum_t
O(s, d_r^t)``. The conditional kernel leaves ``p(d | s)`` invariant and ``d_r^0 ~ p(d | s)``, so every
``d_r^t ~ p(d | s)`` and ``E[E_r | s] = E_loc(s)``, ``E[O_r | s] = O(s)``; the two conditional chains
start from replicas that are independent given ``s`` and use independent random numbers, so
``(E_1, O_1)`` and ``(E_2, O_2)`` are independent given ``s``, and the two-replica gradient above, with
``E_r, O_r`` in place of ``E_loc(s, d_r), O(s, d_r)``, stays unbiased. Its conditional variance falls
like ``tau_d / K`` (``tau_d`` the conditional chain's autocorrelation time), at ``K`` times the cost
of the local energies and log-derivatives; the joint SR metric's excess ``E[Cov(O_r | s)]`` falls
likewise. ``K = 1`` is the plain two-replica estimator.

**Paired flips (``local_energy="paired"``).** For any bijection ``phi`` of the deep configurations,
``sum_d Psi(s', phi(d)) = Psi(s')``, so

    E_{d ~ p(d|s)}[ Psi(s', phi(d)) / Psi(s, d) ] = sum_d Psi(s', phi(d)) / Psi(s) = Psi(s') / Psi(s)

(every ``Psi(s, d) > 0``): the off-diagonal term of ``E_loc`` may flip, together with ``s_i``, any deep
units chosen *without looking at d*, and stays unbiased. The plain estimator (``phi = id``) is noisy
because a deep unit ``d_k`` tied to ``s_i`` through a hidden unit makes ``Psi(s^i, d) / Psi(s, d)``
swing with ``d_k``; flipping that partner as well leaves such a unit's factor unchanged. The partner of
site ``i`` is the deep unit with the strongest two-step coupling ``sum_j |W_ij V_kj|``
(:func:`deep_partners`; for the construction it is the site's spin one Trotter step earlier, and at
``M = 1`` the paired estimator has no deep-layer noise at all: ``Var(E_loc(s, d) | s) = 0``). The
log-derivatives are unchanged.

**Sparsity.** ``keep_sparsity=True`` trains only the couplings the construction made nonzero (each
hidden unit touches the two spins of its Trotter factor) and all biases; ``False`` trains the dense
``W`` and ``V``. The dense machine contains the RBM with the same hidden units (``V = 0, c = 0``) as a
special case, so it cannot be less expressive than that RBM.

A step whose energy, gradient or update is not finite is skipped (parameters and optimizer state stay).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from nqg.errors import NqgInputError
from nqg.quantum.dbm import (
    DBMSamples,
    DeepBoltzmannMachine,
    GibbsState,
    TrotterDBM,
    check_sampling,
    gibbs_sweep,
    log_2cosh,
    random_spins,
    sample_energy,
    tfim_local_energy,
)
from nqg.quantum.operators import TransverseFieldIsing
from nqg.stats import estimate_jax


def trainable_spec(machine: DeepBoltzmannMachine):
    """Filter spec: every array of the machine except the constant ``log_const``."""
    spec = jax.tree_util.tree_map(lambda _: True, machine)
    return eqx.tree_at(lambda m: m.log_const, spec, False)


def count_dbm_parameters(machine: DeepBoltzmannMachine, keep_sparsity: bool = False) -> int:
    """Trainable scalars: ``N + H + D + N H + D H`` dense; biases plus the nonzero couplings if sparse."""
    biases = machine.n_visible + machine.n_hidden + machine.n_deep
    if keep_sparsity:
        return biases + int(np.count_nonzero(np.asarray(machine.W)) + np.count_nonzero(np.asarray(machine.V)))
    return biases + machine.n_visible * machine.n_hidden + machine.n_deep * machine.n_hidden


def _flat(machine: DeepBoltzmannMachine):
    params, static = eqx.partition(machine, trainable_spec(machine))
    flat, unravel = ravel_pytree(params)
    return flat, unravel, static


def joint_log_derivatives(machine: DeepBoltzmannMachine, s: jax.Array, d: jax.Array) -> jax.Array:
    """``O[a, k] = d log Psi(s_a, d_a) / d theta_k`` (n, P), ``theta = (a, b, c, W, V)`` flattened."""
    flat, unravel, static = _flat(machine)

    def f(p, s1, d1):
        return eqx.combine(unravel(p), static).log_psi_joint(s1, d1)

    return jax.vmap(jax.grad(f), (None, 0, 0))(flat, s, d)


def sparsity_mask(machine: DeepBoltzmannMachine) -> jax.Array:
    """(P,) 1 for trainable entries of the sparse machine (biases and nonzero couplings), else 0."""
    ones = jax.tree_util.tree_map(jnp.ones_like, machine)
    pattern = eqx.tree_at(
        lambda m: (m.W, m.V),
        ones,
        ((machine.W != 0).astype(machine.W.dtype), (machine.V != 0).astype(machine.V.dtype)),
    )
    return _flat(pattern)[0]


def replica_gradient(o1, o2, e1, e2):
    """``(E, g)``: the energy and the unbiased two-replica gradient (module docstring).

    ``o1, o2`` (n, P) are ``O(s, d1), O(s, d2)``; ``e1, e2`` (n,) the local energies."""
    energy = 0.5 * (jnp.mean(e1) + jnp.mean(e2))
    o_mean = 0.5 * (jnp.mean(o1, 0) + jnp.mean(o2, 0))
    n = o1.shape[0]
    grad = ((o1 - o_mean).T @ (e2 - energy) + (o2 - o_mean).T @ (e1 - energy)) / n
    return energy, grad


def sr_direction(o1, o2, grad, diag_shift, max_norm=None, metric: str = "cross"):
    """``(S + lambda)^{-1} g`` with the metric ``S`` estimated from the two replicas:

    * ``"cross"``: ``S = (dO1^T dO2 + dO2^T dO1) / 2n``, unbiased for the metric of ``Psi(s)``, its
      negative eigenvalues (noise) clipped to zero;
    * ``"joint"``: ``S = (dO1^T dO1 + dO2^T dO2) / 2n``, the metric of the joint amplitude ``Psi(s, d)``:
      positive semidefinite by construction, and larger than the true one by the conditional covariance
      ``E[Cov(O | s)]`` (more conservative steps).

    With ``max_norm`` the direction is scaled down to ``sqrt(delta^T (S + lambda) delta) <= max_norm``
    (trust region; the shift is included so that no direction the noise made flat escapes the bound)."""
    o_mean = 0.5 * (jnp.mean(o1, 0) + jnp.mean(o2, 0))
    d1, d2 = o1 - o_mean, o2 - o_mean
    n = o1.shape[0]
    if metric == "cross":
        cross = d1.T @ d2 / n
        s_mat = 0.5 * (cross + cross.T)
    elif metric == "joint":
        s_mat = (d1.T @ d1 + d2.T @ d2) / (2 * n)
    else:
        raise NqgInputError(f"metric must be 'cross' or 'joint', got {metric!r}")
    return shifted_solve(s_mat, grad, diag_shift, max_norm, psd=metric == "joint")[0]


def shifted_solve(s_mat, grad, diag_shift, max_norm=None, *, psd: bool = False):
    """``(delta, norm)``: ``delta = (S_+ + lambda)^{-1} g``, scaled down to the trust region
    ``sqrt(delta^T (S_+ + lambda) delta) <= max_norm`` (None: unbounded); ``norm`` is that norm before
    the scaling.

    ``S_+`` is ``S`` with its negative eigenvalues (noise, rounding) clipped to zero, by a symmetric
    eigendecomposition. ``psd=True`` promises that ``S`` is positive semidefinite by construction (a Gram
    matrix): then ``S_+ = S``, and a Cholesky solve of ``S + lambda`` (``lambda > 0``) gives the same
    ``delta`` at a fraction of the cost (about 1/10 of the flops), with ``norm^2 = g^T delta``."""
    shift = jnp.asarray(diag_shift, s_mat.dtype)
    if psd:
        eye = jnp.eye(s_mat.shape[0], dtype=s_mat.dtype)
        delta = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(s_mat + shift * eye), grad)
        norm = jnp.sqrt(jnp.maximum(jnp.dot(grad, delta), 0.0))
    else:
        evals, evecs = jnp.linalg.eigh(s_mat)
        evals = jnp.maximum(evals, 0.0) + shift
        coeff = (evecs.T @ grad) / evals
        delta = evecs @ coeff
        norm = jnp.sqrt(jnp.sum(evals * coeff**2))
    if max_norm is not None:
        delta = delta * jnp.minimum(1.0, max_norm / jnp.maximum(norm, 1e-300))
    return delta, norm


def deep_partners(machine: DeepBoltzmannMachine) -> jax.Array:
    """(N,) index of each visible spin's partner deep unit: ``argmax_k sum_j |W_ij| |V_kj|``."""
    return jnp.argmax(jnp.abs(machine.W) @ jnp.abs(machine.V).T, axis=1)


def tfim_local_energy_paired(machine: DeepBoltzmannMachine, ham: TransverseFieldIsing, s, d, partners):
    """``-J sum s_i s_j - Gamma sum_i Psi(s^i, d^{p(i)}) / Psi(s, d)``: visible spin ``i`` flipped together
    with its partner deep unit ``p(i)`` (module docstring: unbiased for ``E_loc(s)`` given ``s``)."""
    theta = machine.theta(s, d)
    dp = d[partners]  # (N,)
    flipped = theta[None, :] - 2.0 * s[:, None] * machine.W - 2.0 * dp[:, None] * machine.V[partners]
    log_ratio = -2.0 * s * machine.a - 2.0 * dp * machine.c[partners]
    log_ratio = log_ratio + jnp.sum(log_2cosh(flipped) - log_2cosh(theta)[None, :], axis=1)
    bonds = jnp.asarray(ham.bonds)
    return -ham.J * jnp.sum(s[bonds[:, 0]] * s[bonds[:, 1]]) - ham.h * jnp.sum(jnp.exp(log_ratio))


def local_energy_fn(machine: DeepBoltzmannMachine, hamiltonian, local_energy: str = "plain"):
    """Batched ``E_loc(s, d)``: ``"plain"`` (:func:`nqg.quantum.dbm.tfim_local_energy`) or ``"paired"``
    (:func:`tfim_local_energy_paired` with :func:`deep_partners` of this machine)."""
    if local_energy == "plain":
        return jax.vmap(lambda x, y: tfim_local_energy(machine, hamiltonian, x, y))
    if local_energy == "paired":
        partners = deep_partners(machine)
        return jax.vmap(lambda x, y: tfim_local_energy_paired(machine, hamiltonian, x, y, partners))
    raise NqgInputError(f"local_energy must be 'plain' or 'paired', got {local_energy!r}")


def conditional_deep_sweep(machine: DeepBoltzmannMachine, s: jax.Array, d: jax.Array, key: jax.Array):
    """One block Gibbs sweep of ``(h, d)`` with the visible spins ``s`` clamped (batched, (n, N), (n, D)):
    ``P(h_j = 1 | s, d) = sigmoid(2 theta_j)``, then ``P(d_k = 1 | h) = sigmoid(2 (c_k + (V h)_k))``. Its
    stationary distribution is ``p(d | s) = Psi(s, d) / Psi(s)``."""
    k_h, k_d = jax.random.split(key)
    h = random_spins(k_h, jax.nn.sigmoid(2.0 * machine.theta(s, d)))
    return random_spins(k_d, jax.nn.sigmoid(2.0 * (machine.c + h @ machine.V.T)))


def conditional_means(
    machine: DeepBoltzmannMachine,
    hamiltonian,
    s,
    d,
    key: jax.Array,
    n_conditional: int,
    local_energy: str = "plain",
):
    """``(E_r, O_r)``: ``E_loc(s, d^t)`` (n,) and ``O(s, d^t)`` (n, P) averaged over ``t = 0 .. K - 1``
    along the conditional chain ``d^0 = d``, ``d^{t+1} = conditional_deep_sweep(d^t)`` (module docstring)."""
    e_loc = local_energy_fn(machine, hamiltonian, local_energy)

    def measure(dd):
        return e_loc(s, dd), joint_log_derivatives(machine, s, dd)

    e_sum, o_sum = measure(d)
    if n_conditional == 1:
        return e_sum, o_sum

    def body(carry, k):
        dd, e_acc, o_acc = carry
        dd = conditional_deep_sweep(machine, s, dd, k)
        e, o = measure(dd)
        return (dd, e_acc + e, o_acc + o), None

    (_, e_sum, o_sum), _ = jax.lax.scan(body, (d, e_sum, o_sum), jax.random.split(key, n_conditional - 1))
    return e_sum / n_conditional, o_sum / n_conditional


def sample_replicas(
    machine: DeepBoltzmannMachine,
    chains: GibbsState,
    key: jax.Array,
    n_samples: int,
    thin: int,
    n_burn_in: int,
) -> tuple[GibbsState, tuple[jax.Array, jax.Array, jax.Array]]:
    """``n_burn_in`` block Gibbs sweeps, then ``n_samples`` states ``thin`` sweeps apart from every chain:
    ``(chains, (s, d1, d2))`` with ``s`` (n_chains * n_samples, N) ordered chain-major."""
    k_burn, k_keep = jax.random.split(key)

    def sweeps(st, k, count):
        return jax.lax.fori_loop(0, count, lambda i, x: gibbs_sweep(machine, x, jax.random.fold_in(k, i)), st)

    chains = sweeps(chains, k_burn, n_burn_in)

    def body(st, k):
        st = sweeps(st, k, thin)
        return st, st

    chains, traj = jax.lax.scan(body, chains, jax.random.split(k_keep, n_samples))

    def flat(x):  # (n_samples, n_chains, .) -> (n_chains * n_samples, .)
        return jnp.swapaxes(x, 0, 1).reshape(-1, x.shape[-1])

    return chains, (flat(traj.s), flat(traj.d1), flat(traj.d2))


def enumerated_energy(machine: DeepBoltzmannMachine, hamiltonian) -> float:
    """``<Psi|H|Psi> / <Psi|Psi>`` with ``Psi(s)`` from enumerating every visible and deep configuration
    (:meth:`DeepBoltzmannMachine.log_psi_enumerated`; small ``N`` and ``D`` only)."""
    from nqg.quantum.dbm import energy_of_vector
    from nqg.quantum.hilbert import SpinHilbert

    states = jnp.asarray(SpinHilbert(machine.n_visible).all_states(np.float64), machine.W.dtype)
    # one visible configuration at a time: memory 2^D H, not 2^(N + D) H
    log_psi = np.asarray(jax.lax.map(machine.log_psi_enumerated, states), np.float64)
    return energy_of_vector(hamiltonian, np.exp(log_psi - log_psi.max()))


def sample_energy_conditional(
    dbm: TrotterDBM,
    key: jax.Array,
    *,
    n_chains: int = 32,
    n_samples: int = 400,
    n_burn_in: int = 200,
    thin: int = 2,
    n_conditional: int = 4,
    local_energy: str = "plain",
) -> DBMSamples:
    """The TFIM DBM's energy from two-replica block Gibbs with each kept sample's replicas averaged over
    ``n_conditional`` conditional sweeps (``E = mean (E_1 + E_2) / 2``, unbiased: module docstring); the
    error accounts for the autocorrelation along each chain (:func:`nqg.stats.estimate`); ``local_energy``:
    ``"plain"`` or ``"paired"`` (:func:`local_energy_fn`)."""
    from nqg.stats import estimate

    if not isinstance(dbm.hamiltonian, TransverseFieldIsing):
        raise NqgInputError("conditional averaging is implemented for the transverse-field Ising DBM only")
    local_energy_fn(dbm.machine, dbm.hamiltonian, local_energy)  # validates the name
    check_sampling(n_chains, n_samples, n_burn_in, thin)
    if n_conditional < 1:
        raise NqgInputError(f"n_conditional must be >= 1, got {n_conditional}")
    mach, ham = dbm.machine, dbm.hamiltonian
    k_init, k_run, k_cond = jax.random.split(key, 3)
    chains = GibbsState.random(mach, k_init, n_chains)
    e_loc = local_energy_fn(mach, ham, local_energy)

    def replica_mean(s, d, k):
        def body(carry, kk):
            dd, acc = carry
            dd = conditional_deep_sweep(mach, s, dd, kk)
            return (dd, acc + e_loc(s, dd)), None

        (_, total), _ = jax.lax.scan(body, (d, e_loc(s, d)), jax.random.split(k, n_conditional - 1))
        return total / n_conditional

    @jax.jit
    def run(chains):
        _, (s, d1, d2) = sample_replicas(mach, chains, k_run, n_samples, thin, n_burn_in)
        ka, kb = jax.random.split(k_cond)
        return 0.5 * (replica_mean(s, d1, ka) + replica_mean(s, d2, kb))

    series = np.asarray(run(chains)).reshape(n_chains, n_samples)
    est = estimate(series)
    return DBMSamples(series, float(est.mean), float(est.error), float(est.tau), float(est.rhat))


class DBMVMCState(eqx.Module):
    """What one iteration carries: the machine, the optimizer state, the Gibbs chains, the base key."""

    machine: DeepBoltzmannMachine
    opt_state: object
    chains: GibbsState
    key: jax.Array


@dataclass
class DBMVMCResult:
    """Trained machine, per-iteration history, and the final energy from fresh samples (with its error)."""

    state: DBMVMCState
    history: dict[str, np.ndarray]
    final: DBMSamples | None
    n_parameters: int

    @property
    def machine(self) -> DeepBoltzmannMachine:
        return self.state.machine

    @property
    def energy(self) -> float | None:
        return None if self.final is None else self.final.energy

    @property
    def energy_error(self) -> float | None:
        return None if self.final is None else self.final.energy_error


class DBMVMC:
    """VMC of a real DBM for the transverse-field Ising model, deep layer sampled (module docstring).

    >>> dbm = tfim_dbm(chain(8), h=1.0, dtau=0.3, n_steps=2)
    >>> res = DBMVMC(dbm, optax.sgd(0.05), sr_shift=0.01).run(200, jax.random.key(0))
    >>> res.energy, res.energy_error

    Args:
        dbm: the starting machine and its Hamiltonian (a :class:`TrotterDBM` from the construction).
        optimizer: any optax optimizer (``optax.sgd(lr)`` on the SR direction is plain SR).
        sr_shift: diagonal shift ``lambda`` of SR; None: the plain gradient.
        max_norm: SR trust region, the largest ``(S + lambda)``-norm of the direction (None: no bound).
        metric: ``"joint"`` (PSD, conservative) or ``"cross"`` (unbiased, clipped): :func:`sr_direction`.
        keep_sparsity: train only the construction's nonzero couplings (and all biases).
        n_chains, n_samples, thin: samples per iteration = ``n_chains * n_samples``, ``thin`` sweeps apart.
        n_burn_in: sweeps after each update before sampling (the chains persist across iterations).
        n_conditional: ``K``, conditional ``(h, d)`` sweeps averaged per replica and kept sample (1: the
            plain two-replica estimator; module docstring); also used for the final energy.
        local_energy: ``"plain"`` or ``"paired"`` (deep partners flipped with the visible spin; module
            docstring), for the training and the final energy.
    """

    def __init__(
        self,
        dbm: TrotterDBM,
        optimizer: optax.GradientTransformation,
        *,
        sr_shift: float | None = 0.01,
        max_norm: float | None = 1.0,
        metric: str = "joint",
        keep_sparsity: bool = False,
        n_chains: int = 32,
        n_samples: int = 32,
        thin: int = 2,
        n_burn_in: int = 10,
        n_conditional: int = 1,
        local_energy: str = "plain",
    ):
        if not isinstance(dbm.hamiltonian, TransverseFieldIsing):
            raise NqgInputError("DBM VMC is implemented for the transverse-field Ising model only")
        if jnp.iscomplexobj(dbm.machine.W):
            raise NqgInputError("DBM VMC needs a real machine (the TFIM construction), got complex weights")
        check_sampling(n_chains, n_samples, n_burn_in, thin)
        if sr_shift is not None and not sr_shift > 0:
            raise NqgInputError(f"sr_shift must be > 0 (or None), got {sr_shift}")
        if int(n_conditional) != n_conditional or n_conditional < 1:
            raise NqgInputError(f"n_conditional must be an integer >= 1, got {n_conditional}")
        self.n_conditional = int(n_conditional)
        if local_energy not in ("plain", "paired"):
            raise NqgInputError(f"local_energy must be 'plain' or 'paired', got {local_energy!r}")
        self.local_energy = local_energy
        self.dbm = dbm
        self.optimizer = optimizer
        self.sr_shift = sr_shift
        self.max_norm = max_norm
        if metric not in ("cross", "joint"):
            raise NqgInputError(f"metric must be 'cross' or 'joint', got {metric!r}")
        self.metric = metric
        self.keep_sparsity = keep_sparsity
        self.n_chains, self.n_samples, self.thin, self.n_burn_in = n_chains, n_samples, thin, n_burn_in
        self.mask = sparsity_mask(dbm.machine) if keep_sparsity else None

    @property
    def n_parameters(self) -> int:
        return count_dbm_parameters(self.dbm.machine, self.keep_sparsity)

    def init_state(self, key: jax.Array) -> DBMVMCState:
        mach = self.dbm.machine
        chains = GibbsState.random(mach, jax.random.fold_in(key, 10**6), self.n_chains)
        params = eqx.filter(mach, trainable_spec(mach))
        return DBMVMCState(mach, self.optimizer.init(params), chains, key)

    def step_fn(self, state: DBMVMCState, step) -> tuple[DBMVMCState, dict[str, jax.Array]]:
        """Sample (two replicas), local energies, log-derivatives, gradient / SR direction, optax update."""
        mach = state.machine
        ham = self.dbm.hamiltonian
        key = jax.random.fold_in(state.key, step)
        chains, (s, d1, d2) = sample_replicas(
            mach, state.chains, key, self.n_samples, self.thin, self.n_burn_in
        )
        k1, k2 = jax.random.split(jax.random.fold_in(key, 2**20))
        e1, o1 = conditional_means(mach, ham, s, d1, k1, self.n_conditional, self.local_energy)
        e2, o2 = conditional_means(mach, ham, s, d2, k2, self.n_conditional, self.local_energy)
        stats = estimate_jax((0.5 * (e1 + e2)).reshape(self.n_chains, self.n_samples))
        if self.mask is not None:
            o1, o2 = o1 * self.mask, o2 * self.mask
        _, grad = replica_gradient(o1, o2, e1, e2)
        if self.sr_shift is None:
            direction = grad
        else:
            shift = jnp.asarray(self.sr_shift, grad.dtype)
            direction = sr_direction(o1, o2, grad, shift, self.max_norm, self.metric)
            if self.mask is not None:  # exactly zero on frozen couplings (eigh mixes in rounding)
                direction = direction * self.mask
        flat, unravel, static = _flat(mach)
        params = unravel(flat)
        updates, opt_state = self.optimizer.update(
            unravel(direction.astype(flat.dtype)), state.opt_state, params
        )
        new_params = optax.apply_updates(params, updates)
        new_flat = ravel_pytree(new_params)[0]
        ok = jnp.isfinite(stats["mean"]) & jnp.all(jnp.isfinite(new_flat))
        new_params = unravel(jnp.where(ok, new_flat, flat))
        opt_state = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), opt_state, state.opt_state)
        metrics = {
            "energy": stats["mean"],
            "energy_error": stats["error"],
            "variance": stats["variance"],
            "grad_norm": jnp.linalg.norm(grad),
            "skipped": (~ok).astype(jnp.int32),
        }
        return DBMVMCState(eqx.combine(new_params, static), opt_state, chains, state.key), metrics

    def run(
        self,
        n_iter: int,
        key: jax.Array,
        *,
        ctx=None,
        progress: bool | None = None,
        final_samples: int = 200,
        final_burn_in: int = 100,
    ) -> DBMVMCResult:
        """Optimise for ``n_iter`` iterations (:func:`nqg.train.run_loop`), then estimate the energy of the
        final machine by :func:`nqg.quantum.dbm.sample_energy` (``n_chains * final_samples`` fresh samples;
        ``final_samples = 0`` skips it)."""
        from nqg.train import run_loop

        if n_iter < 0:
            raise NqgInputError(f"n_iter must be >= 0, got {n_iter}")
        state = self.init_state(key)
        divisors = [d for d in range(10, 51) if n_iter % d == 0]
        chunk = n_iter if 0 < n_iter <= 50 else (max(divisors) if divisors else 25)
        out = run_loop(
            self.step_fn,
            state,
            steps=n_iter,
            name="dbm_vmc",
            ctx=ctx,
            chunk=max(chunk, 1),
            primary="energy",
            progress=progress,
            description="DBM VMC",
        )
        final = None
        if final_samples > 0:
            trained = dataclasses.replace(self.dbm, machine=out.state.machine)
            plain = self.n_conditional == 1 and self.local_energy == "plain"
            sampler = sample_energy if plain else sample_energy_conditional
            extra = {} if plain else {"n_conditional": self.n_conditional, "local_energy": self.local_energy}
            final = sampler(
                trained,
                jax.random.fold_in(key, 2**30),
                n_chains=self.n_chains,
                n_samples=final_samples,
                n_burn_in=final_burn_in,
                thin=self.thin,
                **extra,
            )
        return DBMVMCResult(out.state, out.history, final, self.n_parameters)


@dataclass
class TrainedEnergy:
    """One optimised machine of :func:`compare_with_rbm`: its final energy per site from fresh samples
    (with the standard error), its size, the sampled energy per site of every iteration, and the time."""

    name: str
    energy_per_site: float
    error_per_site: float
    n_parameters: int
    n_hidden: int
    history: np.ndarray
    seconds: float
    result: object = None


def compare_with_rbm(
    dbm: TrotterDBM,
    rbm_hidden: tuple[int, ...] | list[int],
    *,
    iterations: int,
    learning_rate: float = 0.05,
    sr_shift: float = 0.01,
    max_norm: float | None = 1.0,
    n_chains: int = 32,
    n_samples: int = 32,
    n_conditional: int = 1,
    local_energy: str = "plain",
    keep_sparsity: bool = False,
    final_samples: int = 200,
    seed: int = 0,
    train_dbm: bool = True,
) -> list[TrainedEnergy]:
    """Optimise the DBM (:class:`DBMVMC`, deep layer sampled) and nqg's RBMs with ``rbm_hidden`` hidden
    units on the same Hamiltonian, with the same optimizer (SR with ``sr_shift`` and trust region
    ``max_norm``, then ``optax.sgd(learning_rate)``) and iterations; the DBM first (unless
    ``train_dbm=False``), then one row per RBM.

    The DBM draws ``n_chains * n_samples`` visible samples per iteration and ``n_conditional`` conditional
    sweeps for each; every RBM draws ``n_conditional`` times as many samples (the same number of local
    energies). Final energies come from fresh samples: ``n_chains * final_samples`` for the DBM, nqg's
    12 repeated estimates for the RBMs."""
    import time

    from nqg.quantum.hilbert import SpinHilbert
    from nqg.quantum.models import RBM, count_parameters
    from nqg.quantum.samplers import MetropolisLocal
    from nqg.quantum.vmc import SR, VMC

    n = dbm.n_sites
    rows = []
    if train_dbm:
        t0 = time.perf_counter()
        driver = DBMVMC(
            dbm,
            optax.sgd(learning_rate),
            sr_shift=sr_shift,
            max_norm=max_norm,
            keep_sparsity=keep_sparsity,
            n_chains=n_chains,
            n_samples=n_samples,
            n_conditional=n_conditional,
            local_energy=local_energy,
        )
        res = driver.run(iterations, jax.random.key(seed), progress=False, final_samples=final_samples)
        kind = "sparse" if keep_sparsity else "dense"
        rows.append(
            TrainedEnergy(
                f"DBM ({kind}, K = {n_conditional})",
                res.energy / n,
                res.energy_error / n,
                driver.n_parameters,
                dbm.machine.n_hidden,
                np.asarray(res.history["energy"]) / n,
                time.perf_counter() - t0,
                res,
            )
        )
    for n_hidden in rbm_hidden:
        t0 = time.perf_counter()
        model = RBM(n, alpha=n_hidden / n, key=jax.random.key(seed))
        sampler = MetropolisLocal(
            SpinHilbert(n), n_chains=n_chains, n_samples=n_chains * n_samples * n_conditional
        )
        vmc = VMC(
            dbm.hamiltonian,
            model,
            sampler,
            optax.sgd(learning_rate),
            sr=SR(diag_shift=sr_shift, max_norm=max_norm),
        )
        out = vmc.run(iterations, jax.random.key(seed + 1), progress=False, final_estimate_repeats=12)
        rows.append(
            TrainedEnergy(
                f"RBM (H = {n_hidden})",
                out.energy / n,
                out.energy_error / n,
                count_parameters(model),
                n_hidden,
                np.asarray(out.history["energy"]) / n,
                time.perf_counter() - t0,
                out,
            )
        )
    return rows


def three_sigma_verdict(diff: float, sigma: float) -> str:
    """``"lower"``, ``"higher"`` or ``"indistinguishable"``: ``diff`` against ``3 sigma``."""
    return "lower" if diff < -3 * sigma else ("higher" if diff > 3 * sigma else "indistinguishable")
