"""Monte-Carlo statistics: means with autocorrelation-aware standard errors, split R-hat,
and batch means. Written in ``jax.numpy`` so the same code runs inside jitted loops and on
numpy arrays after the fact.

Conventions. For a chain x_t with normalised autocorrelation rho(t), the integrated
autocorrelation time is ``tau = 1 + 2 sum_{t=1}^{W} rho(t)`` with Sokal's automatic window
(the smallest W with W >= c tau(W), c = 5), rho averaged over chains. The standard error of the
mean of ``C`` chains of ``n`` samples is ``sqrt(var * tau / (C n))`` with tau floored at 1 (anti-
correlated chains are not credited with more than independent samples: conservative).
Split R-hat follows Gelman et al. (BDA3, eq. 11.4) on chains cut in halves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

SOKAL_C = 5.0


@dataclass(frozen=True)
class Estimate:
    """Mean with one standard error, sample variance, integrated autocorrelation time, split R-hat."""

    mean: float
    error: float
    variance: float
    tau: float
    rhat: float

    def as_metric(self, unit: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"value": float(np.real(self.mean)), "error": float(self.error)}
        if unit:
            out["unit"] = unit
        return out

    def __str__(self) -> str:
        return f"{np.real(self.mean):.8g} +- {self.error:.2g} (tau={self.tau:.2f}, R-hat={self.rhat:.3f})"


def _as_chains(samples: Any) -> jnp.ndarray:
    x = jnp.asarray(samples)
    if x.ndim == 1:
        return x[None, :]
    if x.ndim != 2:
        raise ValueError(f"samples must have shape (n_chains, n_samples) or (n_samples,), got {x.shape}")
    return x


def autocorrelation(samples: Any) -> jnp.ndarray:
    """Normalised autocorrelation rho(t), t = 0..n-1, of the real part, averaged over chains (FFT)."""
    x = jnp.real(_as_chains(samples))
    n = x.shape[-1]
    xc = x - jnp.mean(x, axis=-1, keepdims=True)
    f = jnp.fft.rfft(xc, n=2 * n, axis=-1)
    acov = jnp.fft.irfft(f * jnp.conj(f), n=2 * n, axis=-1)[..., :n]
    acov = jnp.mean(acov, axis=0)
    return jnp.where(
        acov[0] > 0, acov / jnp.where(acov[0] > 0, acov[0], 1.0), jnp.zeros_like(acov).at[0].set(1.0)
    )


def integrated_autocorrelation_time(samples: Any, c: float = SOKAL_C) -> jnp.ndarray:
    """``tau = 1 + 2 sum_{t=1}^{W} rho(t)`` with Sokal's window W (smallest W >= c tau(W))."""
    rho = autocorrelation(samples)
    taus = 2.0 * jnp.cumsum(rho) - 1.0
    window_ok = jnp.arange(rho.shape[0]) >= c * taus
    w = jnp.where(jnp.any(window_ok), jnp.argmax(window_ok), rho.shape[0] - 1)
    return taus[w]


def split_rhat(samples: Any) -> jnp.ndarray:
    """Split R-hat of the real part: chains cut in halves, BDA3 eq. (11.4). NaN if n < 4."""
    x = jnp.real(_as_chains(samples))
    half = x.shape[-1] // 2
    if half < 2:
        return jnp.asarray(jnp.nan)
    parts = jnp.concatenate([x[:, :half], x[:, half : 2 * half]], axis=0)
    n = parts.shape[-1]
    w = jnp.mean(jnp.var(parts, axis=-1, ddof=1))
    b_over_n = jnp.var(jnp.mean(parts, axis=-1), ddof=1)
    var_plus = (n - 1) / n * w + b_over_n
    return jnp.where(w > 0, jnp.sqrt(var_plus / jnp.where(w > 0, w, 1.0)), 1.0)


def estimate_jax(samples: Any) -> dict[str, jnp.ndarray]:
    """Jittable :func:`estimate`: dict with mean, error, variance, tau, rhat."""
    x = _as_chains(samples)
    total = x.shape[0] * x.shape[1]
    mean = jnp.mean(x)
    variance = jnp.mean(jnp.abs(x - mean) ** 2)
    tau = jnp.maximum(integrated_autocorrelation_time(x), 1.0)
    error = jnp.sqrt(variance * tau / total)
    return {"mean": mean, "error": error, "variance": variance, "tau": tau, "rhat": split_rhat(x)}


def estimate(samples: Any) -> Estimate:
    """Mean of Monte-Carlo samples (n_chains, n_samples) or (n_samples,) with its standard error."""
    out = estimate_jax(samples)
    mean = complex(out["mean"]) if jnp.iscomplexobj(out["mean"]) else float(out["mean"])
    return Estimate(
        mean=mean,
        error=float(out["error"]),
        variance=float(out["variance"]),
        tau=float(out["tau"]),
        rhat=float(out["rhat"]),
    )


def batch_means(means: Any, axis: int = 0) -> tuple[Any, Any]:
    """Mean and standard error of independent batch means along ``axis`` (needs >= 2 batches)."""
    m = jnp.asarray(means)
    nb = m.shape[axis]
    if nb < 2:
        raise ValueError("batch_means needs at least two batches for an error estimate")
    return jnp.mean(m, axis=axis), jnp.std(m, axis=axis, ddof=1) / jnp.sqrt(nb)
