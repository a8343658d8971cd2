"""Deep Boltzmann machines built exactly from imaginary time (Carleo, Nomura, Imada, arXiv:1802.09558).

A deep Boltzmann machine (DBM) has visible spins ``s`` (N), hidden units ``h`` (H) and deep units
``d`` (D), all ``+-1``, with no couplings inside a layer and none between the visible and deep layers:

    Psi(s) = C sum_{h,d} exp(a.s + b.h + c.d + s^T W h + d^T V h)
           = C sum_d exp(a.s + c.d) prod_j 2 cosh(b_j + (s W)_j + (d V)_j).

**Imaginary time for the transverse-field Ising model** ``H = -J sum_<ij> sz_i sz_j - Gamma sum_i sx_i``.
Start from ``|+>^N`` (every amplitude 1) and apply ``M`` first-order Trotter steps,
``|psi_M> = (U_zz U_x)^M |+>`` with ``U_x = exp(dtau Gamma sum sx)`` and ``U_zz = exp(dtau J sum sz sz)``.
Writing the spins after step ``k`` as ``s^k`` (``s^M = s`` visible, ``s^0 .. s^{M-1}`` deep), every factor
of the path sum is a coupling between two spins, and each becomes one hidden unit:

* transverse field, per site and step: ``<s'|exp(dtau Gamma sx)|s> = A exp(K s s')`` with
  ``A = sqrt(sinh(dtau Gamma) cosh(dtau Gamma))`` and ``K = (1/2) ln coth(dtau Gamma)`` (check: s = s' gives
  ``A e^K = cosh``, s = -s' gives ``A e^-K = sinh``);
* any Ising factor ``exp(G u v)`` equals ``(e^{-|G|} / 2) sum_{h=+-1} exp(w h (u + sign(G) v))`` with
  ``w = (1/2) arccosh(e^{2|G|})``: summing ``h`` gives ``2 cosh(w (u + sign(G) v))``, which is
  ``2 cosh 2w = 2 e^{2|G|}`` when ``u = sign(G) v`` and ``2`` otherwise, so the ratio is ``e^{2|G|}`` as
  required, and the prefactor ``e^{-|G|}/2`` fixes the scale.

So a bond of step ``k`` is a hidden unit with weights ``W_b = (1/2) arccosh(e^{2 dtau |J|})`` on ``s^k_i``
and ``sign(J) W_b`` on ``s^k_j`` (constant ``e^{-dtau |J|} / 2``), and the transverse factor of site ``i``
a hidden unit with weight ``W_K = (1/2) arccosh(e^{2K})`` on ``s^{k-1}_i`` and on ``s^k_i`` (``K > 0``;
constant ``A e^{-K} / 2``). All biases vanish, and

    log C = M n_bonds log(e^{-dtau |J|} / 2) + M N log(A e^{-K} / 2).

The machine has ``H = M (n_bonds + N)`` hidden and ``D = M N`` deep units. Every weight is real and every
summand positive, so ``Psi(s, d) = C e^{a.s + c.d} prod_j 2 cosh(theta_j) > 0`` is a probability weight
for the deep units given ``s``.

**Exact evaluation.** Summing the deep units one imaginary-time slice at a time (the transfer matrix of
the DBM's own factors: intra-slice units are diagonal, inter-slice units act site by site) gives every
amplitude for ``N <= 14``; :func:`trotter_product` is the independent reference
``(U_zz U_x)^M |+>`` from sparse matrix exponentials.

**Sampling.** ``|Psi(s)|^2 = sum_{d,d'} Psi(s, d) Psi(s, d')``: two replicas of the deep layer share the
visible spins. Block Gibbs sampling alternates ``(h, h') | (s, d, d')`` (independent,
``P(h_j = 1) = sigmoid(2 theta_j)``) and ``(s, d, d') | (h, h')`` (independent too: ``s`` feels both
replicas' hidden units, ``2 a + W (h + h')``; each ``d`` feels its own). The energy is the mean of
``E_loc(s, d) = sum_s' <s|H|s'> Psi(s', d) / Psi(s, d)`` over both replicas, which is unbiased because
``E[Psi(s', d) / Psi(s, d) | s] = Psi(s') / Psi(s)`` for ``d ~ Psi(s, d) / Psi(s)``.

**Trotter error.** ``e^{dtau X} e^{dtau Y} = e^{dtau (X + Y) + (dtau^2 / 2) [X, Y] + ...}``: the first
correction is anti-Hermitian, and its expectation in the real ground state vanishes, so the energy of the
long-time state converges to the ground-state energy at *second* order in ``dtau``.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import Lattice
from nqg.quantum.operators import TransverseFieldIsing
from nqg.stats import estimate

MAX_EXACT_SITES = 14


def log_2cosh(x):
    """``log(2 cosh x)``, stable for large ``|x|``."""
    ax = jnp.abs(x)
    return ax + jnp.log1p(jnp.exp(-2.0 * ax))


def ising_as_hidden_unit(coupling: float) -> tuple[float, float]:
    """``exp(G u v) = c sum_h exp(w h (u + sign(G) v))``: returns ``(w, log c)`` for ``G = coupling``."""
    g = abs(float(coupling))
    w = 0.5 * float(np.arccosh(np.exp(2.0 * g)))
    return w, -g - float(np.log(2.0))


class DeepBoltzmannMachine(eqx.Module):
    """``Psi(s) = exp(log_const) sum_{h,d} exp(a.s + b.h + c.d + s^T W h + d^T V h)`` (module docstring)."""

    a: jax.Array  # (N,) visible biases
    b: jax.Array  # (H,) hidden biases
    c: jax.Array  # (D,) deep biases
    W: jax.Array  # (N, H) visible-hidden
    V: jax.Array  # (D, H) deep-hidden
    log_const: jax.Array

    @property
    def n_visible(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.b.shape[0])

    @property
    def n_deep(self) -> int:
        return int(self.c.shape[0])

    def theta(self, s, d):
        """Hidden-unit fields ``b + s W + d V`` (..., H)."""
        return self.b + s @ self.W + d @ self.V

    def log_psi_joint(self, s, d):
        """``log Psi(s, d)``: hidden units summed, deep units fixed."""
        return self.log_const + s @ self.a + d @ self.c + jnp.sum(log_2cosh(self.theta(s, d)), axis=-1)

    def log_psi_enumerated(self, s):
        """``log Psi(s)`` by enumerating all ``2^D`` deep configurations (D <= 20)."""
        if self.n_deep > 20:
            raise NqgInputError(f"enumerating 2^{self.n_deep} deep configurations is too many (D <= 20)")
        deep = jnp.asarray(SpinHilbert(self.n_deep).all_states(np.float64), self.a.dtype)
        joint = jax.vmap(lambda d: self.log_psi_joint(s, d))(deep)
        return jax.scipy.special.logsumexp(joint, axis=0)


@dataclass(frozen=True)
class TrotterDBM:
    """A DBM built from ``M`` Trotter steps on ``N`` sites: the machine and its imaginary-time layout.

    Deep unit ``k N + i`` is the spin of site ``i`` after step ``k`` (``k < M``); the visible spins are
    the spins after step ``M``.
    """

    machine: DeepBoltzmannMachine
    n_sites: int
    n_steps: int
    hamiltonian: TransverseFieldIsing
    dtau: float

    @property
    def tau(self) -> float:
        return self.n_steps * self.dtau


def tfim_dbm(lattice: Lattice, h: float, dtau: float, n_steps: int, J: float = 1.0) -> TrotterDBM:
    """The DBM of ``(U_zz U_x)^M |+>`` for ``H = -J sum sz sz - h sum sx`` (module docstring)."""
    if not dtau > 0:
        raise NqgInputError(f"dtau must be > 0, got {dtau}")
    if not h > 0:
        raise NqgInputError(f"the construction needs a transverse field h > 0, got {h}")
    if int(n_steps) != n_steps or n_steps < 1:
        raise NqgInputError(f"the number of Trotter steps must be a positive integer, got {n_steps}")
    n, m = lattice.n_sites, int(n_steps)
    bonds = np.asarray(lattice.bonds, np.int64)
    x = dtau * h
    k_field = 0.5 * np.log(1.0 / np.tanh(x))
    log_a = 0.5 * np.log(np.sinh(x) * np.cosh(x))
    w_k, log_ck = ising_as_hidden_unit(k_field)
    w_b, log_cb = ising_as_hidden_unit(dtau * J)
    sign_j = 1.0 if J >= 0 else -1.0

    n_hidden = m * (n + len(bonds))
    W = np.zeros((n, n_hidden))
    V = np.zeros((m * n, n_hidden))

    def spin_column(step: int):  # the weight matrix and row offset holding the spins after `step`
        return (W, 0) if step == m else (V, step * n)

    j = 0
    for step in range(1, m + 1):
        old, old_off = spin_column(step - 1)
        new, new_off = spin_column(step)
        for i in range(n):  # transverse field between step-1 and step, same site
            old[old_off + i, j] += w_k
            new[new_off + i, j] += w_k
            j += 1
        for p, q in bonds:  # the bonds of U_zz after step
            new[new_off + p, j] += w_b
            new[new_off + q, j] += sign_j * w_b
            j += 1
    log_const = m * len(bonds) * log_cb + m * n * (log_a + log_ck)
    machine = DeepBoltzmannMachine(
        jnp.zeros(n),
        jnp.zeros(n_hidden),
        jnp.zeros(m * n),
        jnp.asarray(W),
        jnp.asarray(V),
        jnp.asarray(log_const),
    )
    return TrotterDBM(machine, n, m, TransverseFieldIsing(lattice, h=h, J=J), float(dtau))


# ---------------------------------------------------------------------------------------- exact


def _site_transfer(values: np.ndarray, b: np.ndarray, w_new: np.ndarray, w_old: np.ndarray) -> np.ndarray:
    """2x2 matrix ``prod_units 2 cosh(b + w_new s' + w_old s)`` over one site's inter-slice units."""
    t = np.ones((2, 2))
    for bj, wn, wo in zip(b, w_new, w_old, strict=True):
        t *= 2.0 * np.cosh(bj + wn * values[:, None] + wo * values[None, :])
    return t


def exact_log_amplitudes(dbm: TrotterDBM) -> tuple[np.ndarray, np.ndarray]:
    """``(states, log Psi(states))`` for every visible configuration, summing the deep units slice by slice.

    Works from the machine's weights alone: hidden units must touch spins of one slice, or one site in
    two adjacent slices (true of the imaginary-time construction). ``N <= 14``.
    """
    states, logs = slice_log_amplitudes(dbm)
    return states, logs[-1]


def slice_log_amplitudes(dbm: TrotterDBM) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(states, [log psi_0, ..., log psi_M])``: the slice-by-slice sums of :func:`exact_log_amplitudes`.

    ``psi_k`` (up to a constant) is the state after ``k`` Trotter steps, ``(U_zz U_x)^k |+>``; the last
    one carries the machine's constant and is ``log Psi``.
    """
    n, m = dbm.n_sites, dbm.n_steps
    if n > MAX_EXACT_SITES:
        raise NqgInputError(f"exact DBM amplitudes need N <= {MAX_EXACT_SITES} sites, got {n}")
    mach = dbm.machine
    weights = np.concatenate([np.asarray(mach.V), np.asarray(mach.W)])  # rows: slices 0..M, site-major
    biases = np.concatenate([np.asarray(mach.c), np.asarray(mach.a)])
    b = np.asarray(mach.b)
    states = SpinHilbert(n).all_states(np.float64)
    values = SpinHilbert(1).all_states(np.float64)[:, 0]  # spin value of index 0 and 1 of one site
    touched = weights != 0
    if not touched.any(0).all():
        raise NqgInputError("every hidden unit must couple to at least one spin")
    slice_of = np.repeat(np.arange(m + 1), n)
    rows = [np.flatnonzero(touched[:, j]) for j in range(len(b))]
    lo = np.array([slice_of[r].min() for r in rows])
    hi = np.array([slice_of[r].max() for r in rows])
    if np.any(hi - lo > 1):
        raise NqgInputError("exact evaluation needs units within a slice or between adjacent slices")
    for j in np.flatnonzero(hi > lo):
        if len(set((rows[j] % n).tolist())) != 1:
            raise NqgInputError("exact evaluation needs inter-slice units on a single site")

    def intra_factor(k: int) -> np.ndarray:
        units = np.flatnonzero((lo == k) & (hi == k))
        fields = b[units] + states @ weights[k * n : (k + 1) * n][:, units]
        return np.sum(np.log(2.0 * np.cosh(fields)), axis=1) + states @ biases[k * n : (k + 1) * n]

    log_vec = intra_factor(0)
    log_norm = 0.0
    out = [log_vec]
    for k in range(1, m + 1):
        inter = np.flatnonzero((lo == k - 1) & (hi == k))
        shift = log_vec.max()
        psi = np.exp(log_vec - shift).reshape((2,) * n)
        log_norm += shift
        for i in range(n):  # inter-slice units act site by site: a 2x2 transfer on axis i
            js = inter[touched[k * n + i, inter]]
            t = _site_transfer(values, b[js], weights[k * n + i, js], weights[(k - 1) * n + i, js])
            psi = np.moveaxis(np.tensordot(t, psi, axes=([1], [i])), 0, i)
        with np.errstate(divide="ignore"):
            log_vec = np.log(psi.reshape(-1)) + intra_factor(k)
        out.append(log_vec + log_norm)
    out[-1] = out[-1] + float(mach.log_const)
    return states, out


def trotter_product(hamiltonian: TransverseFieldIsing, dtau: float, n_steps: int) -> np.ndarray:
    """The reference ``(U_zz U_x)^M |+>`` (unnormalised, ``|+>`` with all amplitudes 1) from sparse
    matrix exponentials, in the basis order of ``SpinHilbert(N).all_states()``."""
    from scipy.sparse.linalg import expm_multiply

    n = hamiltonian.n_sites
    lat = hamiltonian.lattice
    h_x = TransverseFieldIsing(lat, h=hamiltonian.h, J=0.0).to_sparse()  # -Gamma sum sx
    zz = TransverseFieldIsing(lat, h=0.0, J=hamiltonian.J).to_sparse().diagonal()  # -J sum sz sz
    psi = np.ones(2**n)
    for _ in range(int(n_steps)):
        psi = expm_multiply(-dtau * h_x, psi)
        psi = np.exp(-dtau * zz) * psi
    return psi


def energy_of_vector(hamiltonian, psi: np.ndarray) -> float:
    """``<psi|H|psi> / <psi|psi>`` for a real vector in the full basis."""
    h = hamiltonian.to_sparse()
    return float(psi @ (h @ psi) / (psi @ psi))


def exact_trotter_energy(dbm: TrotterDBM) -> float:
    """The energy of the DBM's state, from its exact amplitudes."""
    _, log_psi = exact_log_amplitudes(dbm)
    return energy_of_vector(dbm.hamiltonian, np.exp(log_psi - log_psi.max()))


def exact_energy_vs_tau(dbm: TrotterDBM) -> tuple[np.ndarray, np.ndarray]:
    """``(tau_k, E_k)`` for ``k = 0 .. M``: the energy after each Trotter step, from the DBM's slices."""
    _, logs = slice_log_amplitudes(dbm)
    energies = [energy_of_vector(dbm.hamiltonian, np.exp(lv - lv.max())) for lv in logs]
    return dbm.dtau * np.arange(len(logs)), np.asarray(energies)


# -------------------------------------------------------------------------------------- sampling


class GibbsState(eqx.Module):
    """Chains of the two-replica block Gibbs sampler: visible ``s`` (chains, N), deep ``d1, d2``."""

    s: jax.Array
    d1: jax.Array
    d2: jax.Array


def _spins(key, p_up):
    return jnp.where(jax.random.uniform(key, p_up.shape) < p_up, 1.0, -1.0).astype(p_up.dtype)


def gibbs_sweep(machine: DeepBoltzmannMachine, state: GibbsState, key: jax.Array) -> GibbsState:
    """One block Gibbs sweep: hidden units of both replicas given the spins, then all spins given them."""
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    h1 = _spins(k1, jax.nn.sigmoid(2.0 * machine.theta(state.s, state.d1)))
    h2 = _spins(k2, jax.nn.sigmoid(2.0 * machine.theta(state.s, state.d2)))
    s = _spins(k3, jax.nn.sigmoid(2.0 * (2.0 * machine.a + (h1 + h2) @ machine.W.T)))
    d1 = _spins(k4, jax.nn.sigmoid(2.0 * (machine.c + h1 @ machine.V.T)))
    d2 = _spins(k5, jax.nn.sigmoid(2.0 * (machine.c + h2 @ machine.V.T)))
    return GibbsState(s, d1, d2)


def tfim_local_energy(machine: DeepBoltzmannMachine, ham: TransverseFieldIsing, s, d):
    """``E_loc(s, d) = -J sum s_i s_j - Gamma sum_i Psi(s^(i), d) / Psi(s, d)`` for one (s, d)."""
    theta = machine.theta(s, d)
    flipped = theta[None, :] - 2.0 * s[:, None] * machine.W  # (N, H): site i flipped
    log_ratio = -2.0 * s * machine.a + jnp.sum(log_2cosh(flipped) - log_2cosh(theta)[None, :], axis=1)
    bonds = jnp.asarray(ham.bonds)
    return -ham.J * jnp.sum(s[bonds[:, 0]] * s[bonds[:, 1]]) - ham.h * jnp.sum(jnp.exp(log_ratio))


@dataclass
class DBMSamples:
    """Per-chain series of the local energy (both replicas averaged) and the estimate."""

    local_energy: np.ndarray  # (chains, samples)
    energy: float
    energy_error: float
    tau: float
    rhat: float


def sample_energy(
    dbm: TrotterDBM,
    key: jax.Array,
    *,
    n_chains: int = 32,
    n_samples: int = 400,
    n_burn_in: int = 200,
    thin: int = 2,
) -> DBMSamples:
    """Energy of the DBM state by two-replica block Gibbs sampling (``n_chains * n_samples`` samples)."""
    if n_chains < 2 or n_samples < 2 or thin < 1 or n_burn_in < 0:
        raise NqgInputError(
            f"need n_chains >= 2, n_samples >= 2, thin >= 1, n_burn_in >= 0; got {n_chains}, {n_samples}, "
            f"{thin}, {n_burn_in}"
        )
    mach, ham = dbm.machine, dbm.hamiltonian
    dtype = mach.W.dtype
    k_init, k_run = jax.random.split(key)
    ks, k1, k2 = jax.random.split(k_init, 3)

    def rand(k, shape):
        return jnp.where(jax.random.bernoulli(k, 0.5, shape), 1.0, -1.0).astype(dtype)

    state = GibbsState(
        rand(ks, (n_chains, mach.n_visible)),
        rand(k1, (n_chains, mach.n_deep)),
        rand(k2, (n_chains, mach.n_deep)),
    )
    e_loc = jax.vmap(lambda s, d: tfim_local_energy(mach, ham, s, d))

    @jax.jit
    def run(state, key):
        def sweeps(st, k, count):
            return jax.lax.fori_loop(
                0, count, lambda i, x: gibbs_sweep(mach, x, jax.random.fold_in(k, i)), st
            )

        k_burn, k_keep = jax.random.split(key)
        state = sweeps(state, k_burn, n_burn_in)

        def body(st, k):
            st = sweeps(st, k, thin)
            return st, 0.5 * (e_loc(st.s, st.d1) + e_loc(st.s, st.d2))

        _, series = jax.lax.scan(body, state, jax.random.split(k_keep, n_samples))
        return series.T  # (chains, samples)

    series = np.asarray(run(state, k_run))
    est = estimate(series)
    return DBMSamples(series, float(est.mean), float(est.error), float(est.tau), float(est.rhat))


def fit_trotter_order(dtaus, energies, e_exact) -> tuple[float, float]:
    """Fit ``|E(dtau) - E_exact| = A dtau^p`` in log-log: ``(p, A)``."""
    x = np.log(np.asarray(dtaus, float))
    y = np.log(np.abs(np.asarray(energies, float) - e_exact))
    p, log_a = np.polyfit(x, y, 1)
    return float(p), float(np.exp(log_a))
