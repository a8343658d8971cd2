"""Random draws outside ``jit`` without one XLA compilation per array shape.

``jax.random.normal(key, shape)`` called eagerly compiles the Threefry cipher and the normal transform once
per distinct ``shape`` (about 0.3 s each on a CPU core). Initialising networks of many widths, or drawing
test inputs of many sizes, then spends most of a short run compiling. With JAX's partitionable Threefry
(``jax_threefry_partitionable``, the default) element ``i`` of a draw of shape ``(m,)`` depends only on the
key and ``i``, so

    normal(key, shape) == normal(key, (m,))[:prod(shape)].reshape(shape)      for every m >= prod(shape)

bit for bit. :func:`normal` and :func:`uniform` draw ``m`` = the smallest of 2^12, 2^15, 2^18 that holds
the shape and slice on the host: the same numbers as ``jax.random``, with at most three compilations per
dtype (a draw of 2^18 numbers takes a few milliseconds). Inside a trace (a traced key), with the flag off, or
above 2^18 elements they call ``jax.random`` directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_SMALLEST_BUCKET, _BUCKET_RATIO, _LARGEST_BUCKET = 1 << 12, 8, 1 << 18


def _bucketed(draw: Callable[[Any, tuple[int, ...]], jax.Array], key: Any, shape: Sequence[int]) -> jax.Array:
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    if (
        isinstance(key, jax.core.Tracer)
        or not jax.config.jax_threefry_partitionable
        or n == 0
        or n > _LARGEST_BUCKET
    ):
        return draw(key, shape)
    size = _SMALLEST_BUCKET
    while size < n:
        size *= _BUCKET_RATIO
    flat = np.asarray(draw(key, (size,)))
    return jax.device_put(flat[:n].reshape(shape))


def normal(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> jax.Array:
    """Standard normals, equal to ``jax.random.normal(key, shape, dtype)`` (see the module docstring)."""
    dtype = jnp.zeros((), dtype).dtype  # None -> the default float (float64 in nqg)
    return _bucketed(lambda k, s: jax.random.normal(k, s, dtype), key, shape)


def uniform(
    key: Any, shape: Sequence[int] = (), dtype: Any = None, minval: float = 0.0, maxval: float = 1.0
) -> jax.Array:
    """Uniforms on ``[minval, maxval)``: ``jax.random.uniform(key, shape, dtype, minval, maxval)``."""
    dtype = jnp.zeros((), dtype).dtype
    return _bucketed(lambda k, s: jax.random.uniform(k, s, dtype, minval, maxval), key, shape)
