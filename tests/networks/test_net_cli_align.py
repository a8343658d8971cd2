"""`nqg networks align`: aligned.npz, metrics, barrier table, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from nqg.cli import app
from nqg.networks.symmetries import (
    permute_neurons,
    random_log_scales,
    random_mlp_params,
    random_permutations,
    rescale_neurons,
)

runner = CliRunner()


def _save(path, pairs, **extra):
    arrays = {k: np.asarray(v) for i, (w, b) in enumerate(pairs) for k, v in ((f"W{i}", w), (f"b{i}", b))}
    arrays.update(extra)
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture
def nets(tmp_path):
    A = random_mlp_params(jax.random.key(0), (3, 12, 8, 2))
    B = rescale_neurons(
        permute_neurons(A, random_permutations(jax.random.key(1), A)), random_log_scales(jax.random.key(2), A)
    )
    C = random_mlp_params(jax.random.key(3), (3, 12, 8, 2))
    x = np.random.default_rng(0).normal(size=(64, 3))
    np.savez(tmp_path / "X.npz", x=x, y=np.sin(x[:, :2]))
    return A, _save(tmp_path / "A.npz", A), _save(tmp_path / "B.npz", B), _save(tmp_path / "C.npz", C)


def test_align_recovers_a_and_writes_result(nets, tmp_path):
    A, a, b, _ = nets
    out = tmp_path / "run"
    res = runner.invoke(app, ["networks", "align", a, b, "--activation", "relu", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads((out / "result.json").read_text())
    assert data["metrics"]["max_param_diff"]["value"] < 1e-10
    assert data["metrics"]["barrier_after"]["value"] < 1e-20 < data["metrics"]["barrier_before"]["value"]
    assert "barrier" not in data.get("tables", {})
    with np.load(out / "aligned.npz") as aligned:
        assert sorted(aligned.files) == ["W0", "W1", "W2", "b0", "b1", "b2"]
        for i, (w, bb) in enumerate(A):
            np.testing.assert_allclose(aligned[f"W{i}"], w, atol=1e-10)
            np.testing.assert_allclose(aligned[f"b{i}"], bb, atol=1e-10)


def test_align_with_data_gives_barrier_table(nets, tmp_path):
    _, a, _, c = nets
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "networks",
            "align",
            a,
            c,
            "--out",
            str(out),
            "--data",
            str(tmp_path / "X.npz"),
            "--points",
            "7",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((out / "result.json").read_text())
    rows = data["tables"]["barrier"]
    assert len(rows) == 7 and set(rows[0]) == {"t", "loss_before", "loss_after"}
    assert rows[0]["loss_before"] == rows[0]["loss_after"]
    assert abs(rows[-1]["loss_before"] - rows[-1]["loss_after"]) < 1e-10  # B and aligned B: same function
    assert set(data["metrics"]) == {"max_param_diff", "barrier_before", "barrier_after"}


@pytest.mark.parametrize(
    "case, message",
    [
        ("chain", "do not chain"),
        ("missing", "missing array 'b1'"),
        ("nan", "NaN"),
        ("arch", "different architectures"),
        ("activation", "unknown activation"),
        ("nofile", "does not exist"),
        ("data", "x has shape"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(nets, tmp_path, case, message):
    A, a, b, _ = nets
    bad = tmp_path / "bad.npz"
    args = [a, str(bad)]
    if case == "chain":
        np.savez(bad, W0=np.ones((4, 3)), b0=np.ones(4), W1=np.ones((2, 5)), b1=np.ones(2))
    elif case == "missing":
        np.savez(bad, W0=np.ones((4, 3)), b0=np.ones(4), W1=np.ones((2, 4)))
    elif case == "nan":
        _save(bad, [(np.full_like(np.asarray(w), np.nan), b) for w, b in A])
    elif case == "arch":
        _save(bad, random_mlp_params(jax.random.key(0), (3, 5, 2)))
    elif case == "activation":
        args = [a, b, "--activation", "swish"]
    elif case == "nofile":
        args = [a, str(tmp_path / "absent.npz")]
    elif case == "data":
        np.savez(bad, x=np.ones((5, 4)), y=np.ones((5, 2)))
        args = [a, b, "--data", str(bad)]
    out = tmp_path / "out"
    res = runner.invoke(app, ["networks", "align", *args, "--out", str(out)])
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()
