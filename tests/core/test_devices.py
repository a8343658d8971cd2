"""Several devices (nqg.devices): results independent of the device count, the padding rule, ``--devices``.

Several CPU devices need ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` before JAX is imported, so
the multi-device work runs in one subprocess (one JAX start-up) whose findings the tests below read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from nqg.cli import app

SCRIPT = textwrap.dedent(
    r"""
    import json, os, sys, tempfile
    import jax, numpy as np
    import nqg
    from nqg import devices
    from nqg.fields.nnft import architecture, predict_correlators
    from nqg.fields.nnft_ensemble import estimate_correlators
    from typer.testing import CliRunner
    from nqg.cli import app

    out = {"visible": devices.visible_device_count()}
    arch = architecture("erf", 1)
    points = [-0.7, 0.2, 1.1]
    # 587 networks in batches of 16: 37 batches (the last one partly masked), divisible by neither 2 nor 4,
    # more than one compiled call per device at D = 1 and 2: exercises the batch padding rule.
    kw = dict(orders=(2, 4), batch_size=16, n_blocks=8)
    est = {d: estimate_correlators(arch, 6, points, 587, jax.random.key(3), n_devices=d, **kw)
           for d in (1, 2, 4)}
    ref = est[1]
    def rel(a, b):
        return float(np.max(np.abs(a - b) / np.abs(b)))

    out["rel_diff"] = {
        str(d): max(rel(est[d].block_sums[n], ref.block_sums[n]) for n in (2, 4)) for d in (2, 4)
    }
    out["counts"] = {str(d): est[d].block_counts.tolist() for d in est}
    # negative control: another seed changes the correlators far beyond 1e-12
    other = estimate_correlators(arch, 6, points, 587, jax.random.key(4), n_devices=4, **kw)
    out["rel_diff_other_seed"] = float(np.max(np.abs(other.mean(2) - ref.mean(2)) / np.abs(ref.mean(2))))
    # physics: G2 is the exact kernel at any width
    g2 = predict_correlators(arch, 6, points, (2,))[2]["gaussian"]
    out["g2_pull"] = float(np.max(np.abs(est[4].mean(2) - g2) / est[4].error(2)))

    # generic helper: fn(global index) sharded over D devices, 5 items (padded to 6 or 8 and dropped)
    def draw(i, key):
        return jax.random.normal(devices.stream_key(key, i), (3,))

    maps = {d: np.asarray(devices.sharded_map(draw, 5, jax.random.key(0), device_mesh=devices.mesh(d)))
            for d in (1, 2, 4)}
    out["map_shape"] = list(maps[4].shape)
    out["map_equal"] = all(np.array_equal(maps[d], maps[1]) for d in (2, 4))
    one_by_one = np.stack([draw(i, jax.random.key(0)) for i in range(5)])
    out["map_expected"] = bool(np.array_equal(maps[1], one_by_one))
    out["padded_length"] = [devices.padded_length(n, d) for n, d in ((5, 4), (8, 4), (1, 2), (0, 3))]

    runner = CliRunner()
    base = ["fields", "correlators", "--net", "erf", "--width", "3", "--nets", "200", "--inputs", "0,1",
            "--order", "2", "--json"]
    def devices_and_table(r):
        if r.exit_code != 0:
            return [r.exit_code, r.output], None
        data = json.loads(r.stdout)
        return [0, data["params"].get("devices")], [row["measured"] for row in data["tables"]["correlators"]]

    with tempfile.TemporaryDirectory() as tmp:
        r2 = runner.invoke(app, ["--devices", "2", *base, "--out", os.path.join(tmp, "d2")])
        out["cli_d2"], t2 = devices_and_table(r2)
        r_all = runner.invoke(app, [*base, "--out", os.path.join(tmp, "all")])
        out["cli_default"], _ = devices_and_table(r_all)
        r1 = runner.invoke(app, ["--devices", "1", *base, "--out", os.path.join(tmp, "d1")])
        out["cli_d1"], t1 = devices_and_table(r1)
        out["cli_rel_diff"] = rel(np.asarray(t2), np.asarray(t1))
        bad = runner.invoke(app, ["--devices", "5", *base, "--out", os.path.join(tmp, "bad")])
        out["cli_bad"] = [bad.exit_code, bad.stderr, os.path.exists(os.path.join(tmp, "bad"))]
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def four_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    data = json.loads(line[len("RESULT ") :])
    assert data["visible"] == 4
    return data


def test_ensemble_correlators_agree_on_1_2_4_devices(four_devices):
    for d, rel in four_devices["rel_diff"].items():
        assert rel <= 1e-12, f"{d} devices: relative difference {rel}"
    assert four_devices["rel_diff_other_seed"] > 1e-3  # the comparison can fail: another seed differs
    assert four_devices["g2_pull"] < 5.0  # G2 equals the exact kernel within 5 standard errors


def test_padding_adds_nothing(four_devices):
    counts = four_devices["counts"]
    for d in ("1", "2", "4"):
        assert sum(counts[d]) == 587 and counts[d] == counts["1"]  # padded batches count zero networks
    assert four_devices["padded_length"] == [8, 8, 2, 0]
    assert four_devices["map_shape"] == [5, 3]
    assert four_devices["map_equal"] and four_devices["map_expected"]


def test_cli_records_devices(four_devices):
    assert four_devices["cli_d2"] == [0, 2]
    assert four_devices["cli_d1"] == [0, 1]
    assert four_devices["cli_default"] == [0, 4]  # default: every visible device
    assert four_devices["cli_rel_diff"] <= 1e-12
    code, stderr, written = four_devices["cli_bad"]
    assert code == 2 and not written
    assert stderr.count("\n") == 1 and "--devices" in stderr and "5" in stderr


def test_bad_device_count_in_process(tmp_path):
    res = CliRunner().invoke(app, ["--devices", "0", "list"])
    assert res.exit_code == 2
    assert "--devices" in res.stderr and res.stderr.count("\n") == 1
