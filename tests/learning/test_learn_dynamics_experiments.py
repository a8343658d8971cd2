"""Every trainable-variable experiment at its quick setting: all checks pass."""

from __future__ import annotations

import pytest

from nqg.experiments import run_experiment


def _run(name, tmp_path):
    result = run_experiment(name, quick=True, seed=0, out=tmp_path / name)
    failed = [c for c in result.checks if not c["passed"]]
    assert result.checks and not failed, failed
    assert result.figures
    return result


def test_sgd_temperature_quick(tmp_path):
    result = _run("sgd-temperature", tmp_path)
    assert "hbar_eff" in result.metrics


@pytest.mark.slow
def test_fokker_planck_quick(tmp_path):
    _run("fokker-planck", tmp_path)


@pytest.mark.slow
def test_entropy_balance_quick(tmp_path):
    _run("entropy-balance", tmp_path)


@pytest.mark.slow
def test_madelung_quick(tmp_path):
    _run("madelung", tmp_path)


@pytest.mark.slow
def test_schrodinger_quantization_quick(tmp_path):
    _run("schrodinger-quantization", tmp_path)
