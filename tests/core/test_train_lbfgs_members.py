"""minimize_members_lbfgs: each member minimised on its own data; a non-finite step is rejected."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from nqg.train import minimize_members_lbfgs


def test_members_reach_their_own_minima_and_a_bad_member_stays_put():
    # member i: f(p) = (p - c_i) A (p - c_i) with its own centre; the last member's loss is NaN beyond
    # p_0 = 0.5 (its minimum lies behind that wall): its steps into the wall must be rejected
    a = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    centres = jnp.array([[1.0, -2.0], [0.5, 0.25], [4.0, 4.0]])
    start = jnp.zeros((3, 2))

    def loss(p, c):
        d = p - c
        value = d @ a @ d
        return jnp.where((c[0] == 4.0) & (p[0] > 0.5), jnp.nan, value)

    out = minimize_members_lbfgs(loss, start, centres, steps=30, progress=False)
    p = np.asarray(out.state[0])
    np.testing.assert_allclose(p[:2], np.asarray(centres[:2]), atol=1e-10)
    assert np.all(np.isfinite(p[2])) and p[2, 0] <= 0.5  # never entered the NaN region
    hist = np.asarray(out.history["member_loss"])
    assert hist.shape == (30, 3) and np.any(hist[:, 2] == 0.0)  # some of its steps were rejected
    assert hist[0, 0] > 1.0 and hist[-1, 0] < 1e-20
