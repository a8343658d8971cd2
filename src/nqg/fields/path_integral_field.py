"""Free scalar field on a 1+1-dimensional lattice, each site's Euclidean history a Fourier network.

Lattice: L sites (spacing 1, periodic), Euclidean time [0, T) periodic, mass mu. Site j's history is
``phi_j(tau) = a_j0 + sum_{n=1}^K [a_jn cos(w_n tau) + b_jn sin(w_n tau)]``, w_n = 2 pi n / T, and the
weights (L x (2K+1)) are the integration variables of

    S = int_0^T dtau sum_j [ phi_j'^2/2 + (phi_{j+1} - phi_j)^2/2 + mu^2 phi_j^2/2 ].

By Fourier orthogonality ``int phi_i phi_j = T [a_i0 a_j0 + (1/2) sum_n (a_in a_jn + b_in b_jn)]``, so the
action is an exact quadratic form in the weights. Momentum modes phi_q = L^-1/2 sum_j e^{-i q j} phi_j have
the lattice dispersion ``w_q^2 = mu^2 + 4 sin^2(q/2)``, q = 2 pi k/L, so ``<phi_q(t) phi_-q(0)>`` decays
with w_q (``A [e^{-w_q t} + e^{-w_q (T - t)}]``), and the ground-state energy is ``E0 = sum_q w_q/2``,
which the virial estimator gives as ``E0 = <(1/T) int sum_j [(phi_{j+1} - phi_j)^2 + mu^2 phi_j^2]>``
(twice the potential energy of a harmonic system) plus the omitted modes' contribution
``sum_q sum_{n>K} (2/T) w_q^2 / (w_n^2 + w_q^2)`` (added analytically).
Sampling: blackjax HMC on whitened weights (the whitening is the exact Hessian here), many chains.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import blackjax
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.fields.path_integral import CorrelatorFit, PathIntegralSamples, fit_correlator
from nqg.stats import Estimate, estimate


def lattice_dispersion(n_sites: int, mass: float) -> np.ndarray:
    """w_q = sqrt(mu^2 + 4 sin^2(q/2)), q = 2 pi k / L, k = 0..L-1."""
    q = 2 * np.pi * np.arange(n_sites) / n_sites
    return np.sqrt(mass**2 + 4 * np.sin(q / 2) ** 2)


@dataclass(frozen=True)
class LatticeFieldResult:
    """Energies w_q from the correlator decay of momentum modes k = 0..k_max, E0 from the virial."""

    momenta: np.ndarray
    omega: np.ndarray
    omega_error: np.ndarray
    omega_exact: np.ndarray
    E0: Estimate
    E0_exact: float
    fits: list[CorrelatorFit]


def _field_hessian(n_sites: int, n_modes: int, T: float, mass: float) -> np.ndarray:
    """Hessian of S in the weights ordered (site, [a_0, a_1..a_K, b_1..b_K])."""
    w = 2 * np.pi * np.arange(1, n_modes + 1) / T
    norm = np.concatenate([[T], np.full(2 * n_modes, T / 2)])  # int basis^2
    kin = np.concatenate([[0.0], w**2, w**2]) * norm
    lap = 2 * np.eye(n_sites) - np.roll(np.eye(n_sites), 1, axis=1) - np.roll(np.eye(n_sites), -1, axis=1)
    spatial = lap + mass**2 * np.eye(n_sites)
    return np.kron(np.eye(n_sites), np.diag(kin)) + np.kron(spatial, np.diag(norm))


@partial(jax.jit, static_argnames=("n_sites", "n_modes", "n_grid", "num_warmup", "n_blocks", "block_size"))
def _sample_field(keys, z_init, H, M, T, mass, *, n_sites, n_modes, n_grid, num_warmup, n_blocks, block_size):
    d = n_sites * (2 * n_modes + 1)
    t = jnp.arange(n_grid) * T / n_grid
    w = 2 * jnp.pi * jnp.arange(1, n_modes + 1) / T
    basis = jnp.concatenate([jnp.ones((n_grid, 1)), jnp.cos(t[:, None] * w), jnp.sin(t[:, None] * w)], axis=1)
    norm = jnp.concatenate([jnp.array([T]), jnp.full(2 * n_modes, T / 2)])
    spatial = (
        (2 + mass**2) * jnp.eye(n_sites)
        - jnp.roll(jnp.eye(n_sites), 1, 1)
        - jnp.roll(jnp.eye(n_sites), -1, 1)
    )

    def logdensity(z):
        theta = M @ z
        return -0.5 * theta @ (H @ theta)

    def observables(z):
        coef = (M @ z).reshape(n_sites, 2 * n_modes + 1)
        phi = coef @ basis.T  # (sites, times)
        phik = jnp.fft.fft(phi, axis=0) / jnp.sqrt(n_sites)  # momentum modes
        f = jnp.fft.fft(phik, axis=1)
        corr = jnp.real(jnp.fft.ifft(jnp.abs(f) ** 2, axis=1))[:, : n_grid // 2 + 1] / n_grid
        potential = jnp.sum((coef.T @ spatial @ coef).diagonal() * norm) / T  # (1/T) int sum [..]
        return {"correlator": corr, "virial": potential}

    def one_chain(key, z0):
        k_warm, k_run = jax.random.split(key)
        warmup = blackjax.window_adaptation(
            blackjax.hmc,
            logdensity,
            initial_step_size=0.5,
            adaptation_info_fn=blackjax.adaptation.base.get_filter_adapt_info_fn(),
            num_integration_steps=3,
        )
        (state, params), _ = warmup.run(k_warm, z0, num_steps=num_warmup)
        kernel = blackjax.hmc.build_kernel()

        def one_step(carry, k):
            st, acc = carry
            k1, k2 = jax.random.split(k)
            eps = params["step_size"] * jax.random.uniform(k2, minval=0.8, maxval=1.2)
            st, info = kernel(k1, st, logdensity, eps, params["inverse_mass_matrix"], 3)
            acc = jax.tree.map(jnp.add, acc, observables(st.position))
            return (st, acc), info.acceptance_rate

        zero = jax.tree.map(jnp.zeros_like, observables(z0))

        def one_block(st, k):
            (st, acc), accept = jax.lax.scan(one_step, (st, zero), jax.random.split(k, block_size))
            return st, (jax.tree.map(lambda a: a / block_size, acc), jnp.mean(accept))

        _, (blocks, accept) = jax.lax.scan(one_block, state, jax.random.split(k_run, n_blocks))
        return blocks, accept

    del d
    return jax.vmap(one_chain)(keys, z_init)


def free_scalar_field(
    n_sites: int = 8,
    mass: float = 1.0,
    *,
    T: float = 8.0,
    n_modes: int = 16,
    n_chains: int = 4,
    n_samples: int = 1000,
    n_warmup: int = 200,
    block_size: int = 10,
    n_grid: int = 32,
    k_max: int = 2,
    seed: int = 0,
    t_min: float = 0.5,
) -> LatticeFieldResult:
    """Sample the field's Fourier-network weights with HMC; fit w_q for k = 0..k_max from the decay of
    the momentum-mode correlators; E0 from the virial estimator (+ omitted-mode correction)."""
    if n_sites < 2 or n_modes < 1 or not (mass > 0) or not (T > 0):
        raise NqgInputError("free_scalar_field needs n_sites >= 2, n_modes >= 1, mass > 0, T > 0")
    if not 0 <= k_max <= n_sites // 2:
        raise NqgInputError(f"k_max must be in [0, L/2], got {k_max}")
    H = _field_hessian(n_sites, n_modes, T, mass)
    L = np.linalg.cholesky(H)
    M = np.linalg.inv(L).T  # theta = M z, z ~ N(0, 1)
    d = H.shape[0]
    key = jax.random.PRNGKey(seed)
    k1, k2 = jax.random.split(key)
    n_blocks = max(1, n_samples // block_size)
    blocks, accept = _sample_field(
        jax.random.split(k2, n_chains),
        jax.random.normal(k1, (n_chains, d)),
        jnp.asarray(H),
        jnp.asarray(M),
        jnp.asarray(T),
        jnp.asarray(mass),
        n_sites=n_sites,
        n_modes=n_modes,
        n_grid=n_grid,
        num_warmup=int(n_warmup),
        n_blocks=n_blocks,
        block_size=int(block_size),
    )
    blocks = {k: np.asarray(v) for k, v in blocks.items()}
    omega_exact = lattice_dispersion(n_sites, mass)
    fits, om, err = [], [], []
    for k in range(k_max + 1):
        # modes k and L - k are degenerate (real field): average their correlators
        corr_k = 0.5 * (blocks["correlator"][:, :, k, :] + blocks["correlator"][:, :, (-k) % n_sites, :])
        samples = PathIntegralSamples(
            blocks={
                "correlator": corr_k,
                "potential": np.zeros(blocks["virial"].shape),
                "virial": blocks["virial"],
            },
            T=T,
            grid_dt=T / n_grid,
            end_tail_variance=0.0,
            acceptance=float(np.mean(accept)),
            divergences=0,
            mean_leapfrog_steps=3.0,
            step_sizes=np.zeros(n_chains),
            samples_per_chain=n_blocks * block_size,
        )
        fit = fit_correlator(samples, t_min=t_min)
        fits.append(fit)
        om.append(fit.gap)
        err.append(fit.gap_error)
    wn = 2 * np.pi * np.arange(n_modes + 1, 200_000) / T
    tail = float(sum(np.sum(2.0 / T * wq**2 / (wn**2 + wq**2)) for wq in omega_exact))
    vir = estimate(blocks["virial"] + tail)
    exact_e0 = float(np.sum(omega_exact / 2 / np.tanh(omega_exact * T / 2)))  # thermal at 1/T (-> sum w/2)
    return LatticeFieldResult(
        np.arange(k_max + 1), np.array(om), np.array(err), omega_exact[: k_max + 1], vir, exact_e0, fits
    )
