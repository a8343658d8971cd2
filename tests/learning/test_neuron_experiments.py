"""The quick settings of the emergent-spacetime experiments run end to end and pass their checks."""

from __future__ import annotations

import pytest

from nqg.experiments import run_experiment
from nqg.learning.spacetime_experiments import EXPERIMENTS


def test_registry_entries():
    names = {e.name for e in EXPERIMENTS}
    assert names == {"network-light-cone", "network-lorentz", "network-geodesics", "einstein-uniqueness"}
    for e in EXPERIMENTS:
        assert set(e.quick) <= set(e.defaults)


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in EXPERIMENTS])
def test_quick_experiment_passes_its_checks(name, tmp_path):
    result = run_experiment(name, quick=True, out=tmp_path / name)
    assert result.checks and all(c["passed"] for c in result.checks), result.checks
    assert (tmp_path / name / "result.json").exists()
    assert result.figures
