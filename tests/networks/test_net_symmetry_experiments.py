"""The quick settings of `nn-symmetries` and `neural-ode-gauge` run end to end and pass their checks."""

from __future__ import annotations

import pytest

from nqg.experiments import run_experiment
from nqg.networks.symmetry_experiments import EXPERIMENTS


# the quick runs (~30 s each on 2 cores) run under -m slow and in `make demo`; their parts are tested in
# test_net_symmetries.py, test_net_neural_ode.py, test_net_gauge_fixing.py and test_net_canonical.py
@pytest.mark.slow
@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.name)
def test_quick_experiment_passes_its_checks(exp, tmp_path):
    result = run_experiment(exp.name, quick=True, seed=0, out=tmp_path / exp.name, quiet=True)
    assert result.checks and all(c["passed"] for c in result.checks), result.checks
    assert (tmp_path / exp.name / "result.json").exists()
    assert result.figures and all((tmp_path / exp.name / f).exists() for f in result.figures)


def test_registry_entries():
    assert {e.name for e in EXPERIMENTS} == {"nn-symmetries", "neural-ode-gauge"}
    for e in EXPERIMENTS:
        assert set(e.quick) <= set(e.defaults)
        assert "2402.02362" in e.reference
