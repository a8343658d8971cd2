"""Variational Monte Carlo: local energies, stochastic reconfiguration, and the VMC driver.

Energy: ``E = <E_loc>_{|psi|^2}`` with ``E_loc(s) = sum_s' <s|H|s'> psi(s')/psi(s)``; its standard
error accounts for the autocorrelation of each chain (:func:`nqg.stats.estimate_jax`), and the
split R-hat across chains is reported.

Gradient (``O_k(s) = d log psi(s) / d p_k``, centred ``dO = O - <O>``, ``eps = E_loc - E``):
``F_k = <conj(dO_k) eps>``. For complex (holomorphic) parameters the update direction is ``F``
(= dE/d p*); for real parameters it is the true gradient ``2 Re F`` (the NetKet convention).

Stochastic reconfiguration (Sorella; Carleo and Troyer 2017): ``S_kl = <conj(dO_k) dO_l>`` (its real
part for real parameters) and the natural gradient ``delta = (S + lambda D)^{-1} g``, with the
diagonal shift ``lambda`` constant or scheduled (``carleo_troyer_schedule``: ``max(100 0.9^p, 1e-4)``)
and ``D = 1`` ("constant") or ``D = diag(S)`` ("relative", Carleo-Troyer). Solvers:

* ``"dense"``: builds S (P x P), Cholesky; for few parameters;
* ``"cg"``: conjugate gradient (``jax.scipy.sparse.linalg.cg``) with ``S v = dO^dagger (dO v) / n``;
* ``"sample_space"`` (minSR form): ``delta = dO^dagger (dO dO^dagger / n + lambda)^{-1} eps / n`` (push-
  through identity, exact), an n x n system for n samples; the RBM supplies ``dO dO^dagger`` from its
  factorised kernel in O(n^2 (N + M)) and ``dO^dagger x`` comes from one vector-Jacobian product,
  so the P x n Jacobian is never formed.
* ``"onthefly"``: conjugate gradient with ``S v = dO^dagger (dO v) / n`` from one Jacobian-vector and one
  vector-Jacobian product per iteration: neither the P x n Jacobian nor an n x n or P x P matrix is ever
  formed (memory O(n + P)), for many parameters *and* many samples (GPU sizes: a 20x20 RBM at alpha = 4
  has 6.4e5 parameters; 2^16 samples would need a 34 GB sample-space matrix). Constant diagonal shift
  only.

Trust region (``SR(max_norm=r)``): a direction whose S-norm ``sqrt(delta^dagger S delta)`` (the
Fubini-Study length of the step per unit learning rate, from one Jacobian-vector product) exceeds
``r`` is scaled down to ``r``. It bounds the first steps from a near-uniform start, where
``|delta|_S ~ 2 sigma(E_loc)`` is extensive and a fixed learning rate can throw the state into a
configuration the sampler never leaves; near convergence it is inactive.

Collapse guard (``VMC(..., guard=CollapseGuard())``, on by default): a long unattended run can be
thrown by one step into a state the sampler cannot leave (a 10x10 Heisenberg RBM jumped from -0.63 to
-0.19 per site and froze). Iteration ``k`` measures the state ``p_k`` that step ``k - 1`` produced; if
its energy rose above the last accepted one by more than ``n_sigma`` combined standard errors *and* by
more than ``rel_jump |E|``, or its local-energy variance grew ``variance_factor``-fold (a blown-up
state can also read as an absurd energy *drop*), or anything is NaN/inf, the state is rejected: the
parameters, optimizer state and chains of the last accepted iteration are restored and the step is
scaled by ``shrink`` (it grows back by ``grow`` per accepted iteration, up to 1; the optimizer's own
step count is restored with its state, so a schedule replays the rejected step). A non-finite update is
skipped the same way. A chain whose samples of one
iteration are all identical is frozen and is restarted from a fresh random configuration. The history
records ``rejected``, ``step_scale`` and ``frozen_chains`` at every iteration; a run without rejections
follows exactly the path it follows without the guard.

Several devices (:mod:`nqg.devices`): the Markov chains are split over the devices in use (default all,
``VMC(..., n_devices=D)``); each device runs its chains under :func:`jax.shard_map`, a chain's random
stream derived from its global index (see :mod:`nqg.quantum.samplers`), so the samples are those of one
device. Local energies, the gradient, the ``S`` products and the energy statistics then run on the sharded
samples under ``jit``, which reduces across devices (a reordered sum: after 20 iterations the energies of
1, 2 and 4 devices agree to ~1e-12 relative, ``tests/quantum/test_vmc_devices.py``). The number of chains
must be a multiple of ``D`` (no padding: a padded chain would change the sample).

The resulting direction is handed to any optax optimizer (``optax.sgd(lr)`` is plain SR).
One VMC iteration (sampling + local energies + SR + update) is one pure function,
:meth:`VMC.step_fn`, run under :func:`nqg.train.run_loop` (one jit per chunk of iterations,
checkpoint/resume, NaN guard, progress bar).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from nqg import devices as nqg_devices
from nqg.errors import NqgInputError
from nqg.quantum.models import NQSModel, count_parameters
from nqg.quantum.operators import SpinOperator
from nqg.stats import estimate_jax

# ---------------------------------------------------------------------------- local energy


def local_energies(
    operator: SpinOperator, model: NQSModel, samples: jax.Array, batch_size: int | None = None
) -> jax.Array:
    """``E_loc(s)`` for samples (n, N): diagonal plus ``sum_c H_{s,s^(c)} exp(log psi(s^(c)) - log psi(s))``.

    Uses the model cache (``model.as_cached()``), so an RBM needs O(C k M) per sample. Samples are
    processed ``batch_size`` at a time (default: chosen so intermediates stay in CPU cache).
    """
    cmodel = model.as_cached()
    flips = np.asarray(operator.flip_sites)
    masks = np.asarray(operator.flip_mask)
    tables = cmodel.ratio_tables(flips, masks) if operator.n_connections else None

    def one(s):
        diag = operator.diagonal(s)
        if operator.n_connections == 0:
            return diag.astype(jnp.result_type(diag, 1j) if operator.is_complex else diag.dtype)
        cache = cmodel.init_cache(s)
        log_r = cmodel.log_ratios(s, cache, flips, masks, tables)
        off = operator.off_diagonal(s)
        terms = jnp.where(off != 0, off * jnp.exp(log_r), 0.0)
        return diag + jnp.sum(terms)

    flat = samples.reshape(-1, samples.shape[-1])
    if batch_size is None:
        # small batches keep the (batch, C, M) intermediates in cache: ~2^18 elements per batch
        width = max(int(np.prod(jax.eval_shape(cmodel.init_cache, flat[0]).shape)), flat.shape[-1])
        batch_size = max(1, 2**18 // max(1, operator.n_connections * width))
    bs = None if batch_size >= flat.shape[0] else batch_size
    return jax.lax.map(one, flat, batch_size=bs).reshape(samples.shape[:-1])


# ---------------------------------------------------------------------------- SR


def carleo_troyer_schedule(step, start: float = 100.0, decay: float = 0.9, minimum: float = 1e-4):
    """``lambda(p) = max(start decay^p, minimum)`` (Carleo and Troyer, Science 2017)."""
    return jnp.maximum(
        start * decay ** jnp.asarray(step, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32), minimum
    )


@dataclass(frozen=True)
class SR:
    """Stochastic reconfiguration settings (see module docstring).

    Args:
        diag_shift: constant ``lambda`` or a function ``step -> lambda``.
        diag_scale: ``"constant"`` (S + lambda 1, NetKet) or ``"relative"`` (S + lambda diag S, C-T).
        solver: ``"auto"`` (dense if P <= n_samples, else sample-space), ``"dense"``, ``"cg"``,
            ``"sample_space"``, ``"onthefly"`` (matrix-free CG; constant diag_scale).
        cg_tol, cg_maxiter: conjugate-gradient settings.
        max_norm: trust region, the largest S-norm ``sqrt(delta^dagger S delta)`` of the direction
            (None: no bound); the optimizer's learning rate multiplies it afterwards.
    """

    diag_shift: float | Callable = 0.01
    diag_scale: str = "constant"
    solver: str = "auto"
    cg_tol: float = 1e-6
    cg_maxiter: int = 200
    max_norm: float | None = None

    def __post_init__(self) -> None:
        if self.solver not in ("auto", "dense", "cg", "sample_space", "onthefly"):
            raise NqgInputError(f"SR solver must be auto|dense|cg|sample_space|onthefly, got {self.solver!r}")
        if self.diag_scale not in ("constant", "relative"):
            raise NqgInputError(f"diag_scale must be 'constant' or 'relative', got {self.diag_scale!r}")
        if self.solver == "onthefly" and self.diag_scale != "constant":
            raise NqgInputError("the onthefly SR solver needs diag_scale='constant' (diag S is never formed)")
        if not callable(self.diag_shift) and not self.diag_shift > 0:
            raise NqgInputError(f"diag_shift must be > 0, got {self.diag_shift}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise NqgInputError(f"max_norm must be > 0 (or None), got {self.max_norm}")

    def shift(self, step) -> jax.Array:
        return jnp.asarray(self.diag_shift(step) if callable(self.diag_shift) else self.diag_shift)


def _finite_tree(tree) -> jax.Array:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.asarray(True)


def _param_kind(params) -> str:
    leaves = jax.tree_util.tree_leaves(params)
    cplx = [jnp.iscomplexobj(x) for x in leaves]
    if all(cplx):
        return "complex"
    if not any(cplx):
        return "real"
    raise NqgInputError("models must have all-real or all-complex parameters")


def log_derivatives(model: NQSModel, samples: jax.Array) -> jax.Array:
    """Jacobian ``O[a, k] = d log psi(s_a) / d p_k`` (n, P), complex unless params and output are real."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)

    def f(p, s):
        return eqx.combine(unravel(p), static)(s)

    kind = _param_kind(params)
    out_complex = jnp.iscomplexobj(jax.eval_shape(f, flat, samples[0]))
    if kind == "complex":
        return jax.vmap(jax.grad(f, holomorphic=True), (None, 0))(flat, samples)
    if not out_complex:
        return jax.vmap(jax.grad(f), (None, 0))(flat, samples)
    gr = jax.vmap(jax.grad(lambda p, s: jnp.real(f(p, s))), (None, 0))(flat, samples)
    gi = jax.vmap(jax.grad(lambda p, s: jnp.imag(f(p, s))), (None, 0))(flat, samples)
    return gr + 1j * gi


def _chol_solve(a, b):
    c = jax.scipy.linalg.cho_factor(a, lower=True)
    return jax.scipy.linalg.cho_solve(c, b)


def _centred_jvp(logpsi_batch: Callable, flat: jax.Array, delta: jax.Array) -> jax.Array:
    """``dO delta``: the centred change of ``log psi`` over the samples along ``delta`` (one JVP)."""
    _, dlog = jax.jvp(logpsi_batch, (flat,), (delta.astype(flat.dtype),))
    return dlog - jnp.mean(dlog)


def _trust_region(sr: SR | None, centred_change: Callable, n: int, delta: jax.Array, info: dict) -> jax.Array:
    """Scale ``delta`` down to S-norm ``sr.max_norm`` when it is longer; record its S-norm.

    ``centred_change(delta)`` is the centred change of ``log psi`` over the samples along ``delta``
    (``dO delta``, possibly with real and imaginary parts stacked), so ``delta^dagger S delta`` is the
    sum of its squared moduli over ``n``."""
    if sr is None or sr.max_norm is None:
        return delta
    norm = jnp.sqrt(jnp.sum(jnp.abs(centred_change(delta)) ** 2) / n)
    info["s_norm"] = norm
    return delta * jnp.minimum(1.0, sr.max_norm / jnp.maximum(norm, 1e-300))


def sr_direction(
    model: NQSModel, samples: jax.Array, e_loc: jax.Array, sr: SR | None, step
) -> tuple[Any, dict]:
    """Update direction (a pytree like the model's parameters) and diagnostics.

    Without ``sr``: the energy gradient (``2 Re F`` real / ``F`` complex). With ``sr``: the SR solution
    ``(S + lambda D)^{-1} g`` (see module docstring). ``samples`` (n, N), ``e_loc`` (n,).
    """
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    kind = _param_kind(params)
    n = samples.shape[0]
    p_count = flat.shape[0]
    eps = (e_loc - jnp.mean(e_loc)) / n
    lam = sr.shift(step) if sr is not None else jnp.asarray(0.0)
    solver = sr.solver if sr is not None else "none"
    kernel = model.log_derivative_kernel(samples) if solver in ("auto", "sample_space") else None
    if solver == "auto":
        solver = "dense" if p_count <= n else "sample_space"
    if sr is not None and sr.diag_scale == "relative":
        kernel = None
    real_params = kind == "real"
    scale = 2.0 if real_params else 1.0

    def logpsi_batch(p):
        m = eqx.combine(unravel(p), static)
        return m.log_psi(samples)

    if solver == "sample_space" and kernel is not None:
        # uncentered Gram K = O O^dagger; centred T = P K P with P = 1 - 11^T/n
        t = kernel - jnp.mean(kernel, 0, keepdims=True)
        t = t - jnp.mean(t, 1, keepdims=True)
        if real_params:
            if jnp.iscomplexobj(t):
                raise NqgInputError("real parameters with a complex log-amplitude need the generic solver")
            rhs = jnp.real(eps)
        else:
            rhs = eps
        x = _chol_solve(t / n + lam * jnp.eye(n, dtype=t.dtype), rhs)
        x = x - jnp.mean(x)
        _, vjp = jax.vjp(logpsi_batch, flat)
        if real_params:
            delta = vjp(x.astype(jnp.result_type(flat)))[0]
        else:
            delta = jnp.conj(vjp(jnp.conj(x))[0])
        delta = scale * delta
        eps_c = (eps - jnp.mean(eps)).astype(jnp.result_type(eps, t))  # complex for complex parameters
        if real_params:
            grad = scale * vjp(jnp.real(eps_c).astype(jnp.result_type(flat)))[0]
        else:
            grad = jnp.conj(vjp(jnp.conj(eps_c))[0])
        info = {"grad_norm": jnp.linalg.norm(grad)}
        delta = _trust_region(sr, lambda d: _centred_jvp(logpsi_batch, flat, d), n, delta, info)
        return unravel(delta.astype(flat.dtype)), info

    if solver == "onthefly":
        return _sr_onthefly(sr, logpsi_batch, flat, unravel, eps, lam, real_params, n)

    o = log_derivatives(model, samples)
    do = o - jnp.mean(o, 0, keepdims=True)
    if real_params and jnp.iscomplexobj(do):
        q = jnp.concatenate([jnp.real(do), jnp.imag(do)], 0)  # (2n, P)
        e = jnp.concatenate([jnp.real(eps), jnp.imag(eps)])
    elif real_params:
        q, e = do, jnp.real(eps)
    else:
        q, e = do, eps
    force = jnp.conj(q).T @ e  # F (per 1/n already inside eps)
    grad = scale * force
    grad_norm = jnp.linalg.norm(grad)
    if sr is None:
        return unravel(grad.astype(flat.dtype)), {"grad_norm": grad_norm}
    diag = jnp.sum(jnp.abs(q) ** 2, 0) / n
    d = diag if sr.diag_scale == "relative" else jnp.ones_like(diag)
    if solver == "dense":
        s_mat = jnp.conj(q).T @ q / n
        delta = _chol_solve(s_mat + lam * jnp.diag(d).astype(s_mat.dtype), grad)
    elif solver == "cg":

        def matvec(v):
            return jnp.conj(q).T @ (q @ v) / n + lam * d * v

        delta, _ = jax.scipy.sparse.linalg.cg(matvec, grad, tol=sr.cg_tol, maxiter=sr.cg_maxiter)
    else:  # generic sample space: rescale columns by D^{-1/2}
        r = 1.0 / jnp.sqrt(d)
        qs = q * r
        t = qs @ jnp.conj(qs).T / n
        x = _chol_solve(t + lam * jnp.eye(t.shape[0], dtype=t.dtype), scale * e)
        delta = r * (jnp.conj(qs).T @ x)
    info = {"grad_norm": grad_norm}
    delta = _trust_region(sr, lambda d: q @ d, n, delta, info)  # q: the centred Jacobian at hand
    return unravel(delta.astype(flat.dtype)), info


def _sr_onthefly(sr: SR, logpsi_batch: Callable, flat, unravel, eps, lam, real_params: bool, n: int):
    """Matrix-free SR: CG on ``(S + lambda) delta = g`` with ``S v`` from one JVP and one VJP.

    Real parameters: with ``y = (Re log psi, Im log psi)`` over the samples (a real (2, n) array; one row
    when ``log psi`` is real), ``Re(dO^dagger u) = J_y^T (Re u, Im u)``, so ``S v = J_y^T c(J_y v) / n``
    (``c``: centring over the samples) and ``g = 2 Re F = 2 J_y^T (Re eps, Im eps)`` (``eps`` is centred, so
    the centring of ``O`` drops out). Complex (holomorphic) parameters: ``dO^dagger u = conj(vjp(conj u))``.
    """

    if real_params:

        def y_fn(p):
            y = logpsi_batch(p)
            return jnp.stack([jnp.real(y), jnp.imag(y)]) if jnp.iscomplexobj(y) else y[None]

        _, vjp = jax.vjp(y_fn, flat)
        two_rows = jax.eval_shape(y_fn, flat).shape[0] == 2
        e = jnp.stack([jnp.real(eps), jnp.imag(eps)]) if two_rows else jnp.real(eps)[None]
        grad = 2.0 * vjp(e.astype(flat.dtype))[0]

        def centred(v):
            _, t = jax.jvp(y_fn, (flat,), (v.astype(flat.dtype),))
            return t - jnp.mean(t, axis=-1, keepdims=True)

        def matvec(v):
            return vjp(centred(v))[0] / n + lam * v

    else:
        _, vjp_c = jax.vjp(logpsi_batch, flat)
        grad = jnp.conj(vjp_c(jnp.conj(eps.astype(flat.dtype)))[0])

        def centred(v):
            return _centred_jvp(logpsi_batch, flat, v)

        def matvec(v):
            return jnp.conj(vjp_c(jnp.conj(centred(v)))[0]) / n + lam * v

    delta, _ = jax.scipy.sparse.linalg.cg(matvec, grad, tol=sr.cg_tol, maxiter=sr.cg_maxiter)
    info = {"grad_norm": jnp.linalg.norm(grad)}
    delta = _trust_region(sr, centred, n, delta, info)
    return unravel(delta.astype(flat.dtype)), info


# ---------------------------------------------------------------------------- collapse guard


@dataclass(frozen=True)
class CollapseGuard:
    """Reject VMC steps that make the state jump, and restart frozen chains (see module docstring).

    Args:
        n_sigma: an energy rise beyond ``n_sigma * sqrt(err_k^2 + err_ref^2)`` can reject a state.
        rel_jump: ... if it is also larger than ``rel_jump * |E_ref|`` (keeps noise-level rises).
        variance_factor: a state whose local-energy variance grew by this factor (over the larger of the
            last accepted variance and ``(rel_jump E_ref)^2``) is rejected too, whichever way its energy
            moved: a blown-up state can read as a huge energy drop (None: energy and finiteness only).
        shrink: the step scale is multiplied by this after a rejection ...
        grow: ... and by this after each accepted iteration (capped at 1).
        min_scale: the step scale never goes below this.
        reseed_frozen: restart chains whose samples of one iteration are all identical.
    """

    n_sigma: float = 8.0
    rel_jump: float = 0.01
    variance_factor: float | None = 25.0
    shrink: float = 0.5
    grow: float = 1.02
    min_scale: float = 1e-3
    reseed_frozen: bool = True

    def __post_init__(self) -> None:
        if not self.n_sigma > 0 or not self.rel_jump >= 0:
            raise NqgInputError(f"n_sigma must be > 0 and rel_jump >= 0, got {self.n_sigma}, {self.rel_jump}")
        if self.variance_factor is not None and not self.variance_factor > 1:
            raise NqgInputError(f"variance_factor must be > 1 (or None), got {self.variance_factor}")
        if not 0 < self.shrink < 1 or not self.grow >= 1 or not 0 < self.min_scale <= 1:
            raise NqgInputError(
                f"need 0 < shrink < 1, grow >= 1, 0 < min_scale <= 1; got {self.shrink}, {self.grow}, "
                f"{self.min_scale}"
            )

    def state_rejected(self, energy, error, variance, ref: GuardState) -> jax.Array:
        """Whether the measured state jumped away from the last accepted one."""
        rise = energy - ref.energy
        jump = (rise > self.n_sigma * jnp.sqrt(error**2 + ref.error**2)) & (
            rise > self.rel_jump * jnp.abs(ref.energy)
        )
        if self.variance_factor is not None:  # a blown-up estimate can also read as a huge energy *drop*
            floor = (self.rel_jump * ref.energy) ** 2  # variances below this cannot hide a collapse
            jump = jump | (variance > self.variance_factor * jnp.maximum(ref.variance, floor))
        finite = jnp.isfinite(energy) & jnp.isfinite(error) & jnp.isfinite(variance)
        return ~finite | (ref.has_reference & jump)


class GuardState(eqx.Module):
    """What the collapse guard carries: the last accepted state and its measured energy."""

    prev_params: Any
    prev_opt_state: Any
    prev_chains: jax.Array
    energy: jax.Array
    error: jax.Array
    variance: jax.Array
    scale: jax.Array
    has_reference: jax.Array


def _select(flag, on_true, on_false):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), on_true, on_false)


def frozen_chains(samples: jax.Array) -> jax.Array:
    """(n_chains,) bool: chains whose samples of this iteration (n_chains, n_per_chain, N) are identical."""
    if samples.shape[1] < 2:
        return jnp.zeros(samples.shape[0], bool)
    return jnp.all(samples == samples[:, :1], axis=(1, 2))


# ---------------------------------------------------------------------------- driver


class VMCState(eqx.Module):
    """Everything a VMC iteration carries: the model (parameters), optimizer state, chains, base key."""

    model: NQSModel
    opt_state: Any
    chains: jax.Array
    key: jax.Array
    guard: GuardState | None = None


@dataclass
class VMCResult:
    """Final state, per-iteration history (energy, energy_error, variance, ...) and a final estimate."""

    state: VMCState
    history: dict[str, np.ndarray]
    energy: float | None = None
    energy_error: float | None = None
    variance: float | None = None
    acceptance: float | None = None
    rhat: float | None = None
    tau: float | None = None

    @property
    def model(self) -> NQSModel:
        return self.state.model

    @property
    def rejections(self) -> list[dict[str, float]]:
        """Every iteration whose state the collapse guard rejected: its energy and the step scale after."""
        rejected = self.history.get("rejected")
        if rejected is None:
            return []
        return [
            {
                "iteration": int(i),
                "energy": float(self.history["energy"][i]),
                "variance": float(self.history["variance"][i]),
                "step_scale": float(self.history["step_scale"][i]),
            }
            for i in np.flatnonzero(np.asarray(rejected) > 0)
        ]


class VMC:
    """Variational Monte Carlo driver (NetKet-like):

    >>> vmc = VMC(hamiltonian, model, sampler, optax.sgd(0.02), sr=SR(diag_shift=0.01))
    >>> result = vmc.run(300, jax.random.key(0))
    >>> result.energy, result.energy_error

    ``step_fn(state, step)`` is the pure VMC iteration; ``jit_step`` is it under ``jax.jit``.
    Parameters keep the dtype they were created with (float64 default, float32 if the model was
    built with ``dtype=jnp.float32``). ``guard`` (default :class:`CollapseGuard()`; None: off) rejects
    steps that make the state collapse and restarts frozen chains; ``result.rejections`` lists them.
    """

    def __init__(
        self,
        hamiltonian: SpinOperator,
        model: NQSModel,
        sampler,
        optimizer: optax.GradientTransformation | None = None,
        sr: SR | None = None,
        *,
        local_energy_batch: int | None = None,
        guard: CollapseGuard | None = CollapseGuard(),
        n_devices: int | None = None,
    ):
        if hamiltonian.n_sites != model.n_sites or sampler.hilbert.n_sites != model.n_sites:
            raise NqgInputError(
                f"sizes disagree: Hamiltonian {hamiltonian.n_sites}, model {model.n_sites}, "
                f"sampler {sampler.hilbert.n_sites} sites"
            )
        self.hamiltonian = hamiltonian
        self.model = model
        self.sampler = sampler
        self.optimizer = optimizer if optimizer is not None else optax.sgd(0.01)
        self.sr = sr
        self.local_energy_batch = local_energy_batch
        self.guard = guard
        self.n_devices = nqg_devices.resolve_device_count(n_devices)
        if sampler.n_chains % self.n_devices:
            raise NqgInputError(
                f"{sampler.n_chains} Markov chains cannot be split evenly over {self.n_devices} devices: "
                f"use a multiple of {self.n_devices} chains, or fewer devices (--devices)"
            )
        self.jit_step = jax.jit(self.step_fn)

    @property
    def n_parameters(self) -> int:
        return count_parameters(self.model)

    def init_state(self, key: jax.Array, model: NQSModel | None = None) -> VMCState:
        model = self.model if model is None else model
        params = eqx.filter(model, eqx.is_inexact_array)
        chains = self.sampler.init_chains(jax.random.fold_in(key, 10**6), model.input_dtype)
        if self.n_devices > 1:
            chains = nqg_devices.shard_leading_axis(chains, nqg_devices.mesh(self.n_devices))
        opt_state = self.optimizer.init(params)
        guard = None
        if self.guard is not None:
            real = jnp.finfo(jnp.result_type(*jax.tree_util.tree_leaves(params))).dtype
            zero = jnp.zeros((), real)
            guard = GuardState(
                params, opt_state, chains, zero, zero, zero, jnp.ones((), real), jnp.asarray(False)
            )
        return VMCState(model, opt_state, chains, key, guard)

    def sample(self, model: NQSModel, chains: jax.Array, key: jax.Array):
        """``(samples (n_chains, n_per_chain, N), chains, acceptance)``: the sampler over all chains, split
        over ``n_devices`` devices (chain ``c`` draws from ``fold_in(key, c)`` on whichever device)."""
        cached = model.as_cached()
        if self.n_devices == 1:
            return self.sampler.sample(cached, chains, key)
        params, static = eqx.partition(cached, eqx.is_array)
        n_local = chains.shape[0] // self.n_devices
        work, whole = jax.sharding.PartitionSpec(nqg_devices.WORK_AXIS), jax.sharding.PartitionSpec()

        def local(p, c, k):
            first = jax.lax.axis_index(nqg_devices.WORK_AXIS) * n_local
            samples, c, acc = self.sampler.sample(eqx.combine(p, static), c, k, first + jnp.arange(n_local))
            return samples, c, jax.lax.pmean(acc, nqg_devices.WORK_AXIS)  # equal chains per device

        return jax.shard_map(
            local,
            mesh=nqg_devices.mesh(self.n_devices),
            in_specs=(whole, work, whole),
            out_specs=(work, work, whole),
        )(params, chains, key)

    def step_fn(self, state: VMCState, step) -> tuple[VMCState, dict[str, jax.Array]]:
        """One VMC iteration: sample, local energies, statistics, SR direction, optax update."""
        key = jax.random.fold_in(state.key, step)
        model = state.model
        samples, chains, acceptance = self.sample(model, state.chains, key)
        e_loc = local_energies(self.hamiltonian, model, samples, self.local_energy_batch)
        stats = estimate_jax(e_loc)
        flat_s = samples.reshape(-1, samples.shape[-1])
        direction, info = sr_direction(model, flat_s, e_loc.reshape(-1), self.sr, step)
        params, static = eqx.partition(model, eqx.is_inexact_array)
        updates, opt_state = self.optimizer.update(direction, state.opt_state, params)
        guard_metrics: dict[str, jax.Array] = {}
        guard = state.guard
        if self.guard is not None and guard is not None:
            updates = jax.tree_util.tree_map(lambda u: u * guard.scale.astype(u.dtype), updates)
        new_params = optax.apply_updates(params, updates)
        if self.guard is not None and guard is not None:
            energy = jnp.real(stats["mean"])
            bad_state = self.guard.state_rejected(energy, stats["error"], stats["variance"], guard)
            bad_update = ~_finite_tree((new_params, opt_state))
            keep = bad_state | bad_update
            scale = jnp.where(
                keep,
                jnp.maximum(guard.scale * self.guard.shrink, self.guard.min_scale),
                jnp.minimum(guard.scale * self.guard.grow, 1.0),
            )
            # a rejected state goes back to the last accepted one; a rejected update stays where it is
            back_params = _select(bad_state, guard.prev_params, params)
            back_opt = _select(bad_state, guard.prev_opt_state, state.opt_state)
            new_params = _select(keep, back_params, new_params)
            opt_state = _select(keep, back_opt, opt_state)
            accepted = ~bad_state
            # the chains that sampled a rejected state have followed it: restart them where they were
            chains = jnp.where(bad_state, guard.prev_chains, chains)
            guard = GuardState(
                _select(accepted, params, guard.prev_params),
                _select(accepted, state.opt_state, guard.prev_opt_state),
                jnp.where(accepted, state.chains, guard.prev_chains),
                jnp.where(accepted, energy, guard.energy),
                jnp.where(accepted, stats["error"], guard.error),
                jnp.where(accepted, stats["variance"], guard.variance),
                scale,
                guard.has_reference | accepted,
            )
            frozen = frozen_chains(samples) if self.guard.reseed_frozen else jnp.zeros(chains.shape[0], bool)
            fresh = self.sampler.init_chains(jax.random.fold_in(key, 7), chains.dtype)
            chains = jnp.where(frozen.reshape((-1,) + (1,) * (chains.ndim - 1)), fresh, chains)
            guard_metrics = {
                "rejected": bad_state.astype(jnp.int32),
                "update_skipped": (bad_update & ~bad_state).astype(jnp.int32),
                "step_scale": scale,
                "frozen_chains": jnp.sum(frozen).astype(jnp.int32),
            }
            # a rejected NaN measurement is reported as the last accepted one (flagged above)
            refs = {"mean": guard.energy, "error": guard.error, "variance": guard.variance}
            stats = {**stats, **{k: jnp.where(jnp.isfinite(stats[k]), stats[k], r) for k, r in refs.items()}}
        new_model = eqx.combine(new_params, static)
        metrics = {
            "energy": jnp.real(stats["mean"]),
            "energy_error": stats["error"],
            "variance": stats["variance"],
            "tau": stats["tau"],
            "rhat": jnp.where(jnp.isfinite(stats["rhat"]), stats["rhat"], -1.0),  # -1: undefined
            "acceptance": acceptance,
            "grad_norm": info["grad_norm"],
            "diag_shift": self.sr.shift(step) if self.sr is not None else jnp.asarray(0.0),
        }
        if "s_norm" in info:  # S-norm of the SR direction before the trust region scaled it
            metrics["s_norm"] = info["s_norm"]
        if jnp.iscomplexobj(stats["mean"]):
            metrics["energy_imag"] = jnp.imag(stats["mean"])
        if guard_metrics:  # a rejected state may leave undefined diagnostics: -1, as for R-hat
            metrics = {k: jnp.where(jnp.isfinite(v), v, -1.0) for k, v in metrics.items()}
        metrics.update(guard_metrics)
        return VMCState(new_model, opt_state, chains, state.key, guard), metrics

    def estimate(self, state: VMCState, key: jax.Array, n_repeats: int = 1) -> dict[str, float]:
        """Energy of the current state from ``n_repeats`` fresh sampler calls (no update)."""

        @jax.jit
        def sample_eloc(chains, k):
            samples, chains, acc = self.sample(state.model, chains, k)
            return (
                local_energies(self.hamiltonian, state.model, samples, self.local_energy_batch),
                chains,
                acc,
            )

        chains = state.chains
        parts, accs = [], []
        for r in range(n_repeats):
            e, chains, acc = sample_eloc(chains, jax.random.fold_in(key, r))
            parts.append(e)
            accs.append(acc)
        e_all = jnp.concatenate(parts, axis=1)
        st = estimate_jax(e_all)
        return {
            "energy": float(jnp.real(st["mean"])),
            "energy_error": float(st["error"]),
            "variance": float(st["variance"]),
            "tau": float(st["tau"]),
            "rhat": float(st["rhat"]),
            "acceptance": float(np.mean(accs)),
        }

    def run(
        self,
        n_iter: int,
        key: jax.Array | None = None,
        *,
        state: VMCState | None = None,
        ctx=None,
        chunk: int | None = None,
        progress: bool | None = None,
        final_estimate_repeats: int = 4,
        name: str = "vmc",
    ) -> VMCResult:
        """Optimise for ``n_iter`` iterations (through :func:`nqg.train.run_loop`), then estimate the energy
        from ``final_estimate_repeats`` fresh sampler calls with the final parameters."""
        from nqg.train import run_loop

        if n_iter < 0:
            raise NqgInputError(f"n_iter must be >= 0, got {n_iter}")
        if state is None:
            if key is None:
                raise NqgInputError("VMC.run needs a PRNG key or an initial state")
            state = self.init_state(key)
        if chunk is None:  # a divisor of n_iter: every chunk has the same length, one compilation
            divisors = [d for d in range(10, 51) if n_iter % d == 0]
            chunk = n_iter if 0 < n_iter <= 50 else (max(divisors) if divisors else 25)
        out = run_loop(
            self.step_fn,
            state,
            steps=n_iter,
            name=name,
            ctx=ctx,
            chunk=chunk,
            primary="energy",
            progress=progress,
            description="VMC",
        )
        final = out.state
        res = VMCResult(final, out.history)
        if final_estimate_repeats > 0:
            est = self.estimate(final, jax.random.fold_in(final.key, 2**30), final_estimate_repeats)
            res.energy, res.energy_error, res.variance = est["energy"], est["energy_error"], est["variance"]
            res.acceptance, res.rhat, res.tau = est["acceptance"], est["rhat"], est["tau"]
        return res
