"""The quick settings of `network-spacetime` and `neural-geodesic` run through the registry and pass."""

from __future__ import annotations

import json

import pytest

from nqg.experiments import run_experiment
from nqg.networks.spacetime_experiments import EXPERIMENTS


# neural-geodesic's quick run (~60 s on 2 cores) runs under -m slow and in `make demo`; its parts are
# tested in test_net_geodesic.py and test_net_cli_geodesic.py (CI time)
@pytest.mark.parametrize(
    "name", ["network-spacetime", pytest.param("neural-geodesic", marks=pytest.mark.slow)]
)
def test_quick_experiment_passes_its_checks(name, tmp_path):
    result = run_experiment(name, quick=True, seed=0, out=tmp_path / name)
    assert result.checks and all(c["passed"] for c in result.checks), result.checks
    data = json.loads((tmp_path / name / "result.json").read_text())
    assert data["figures"] and all((tmp_path / name / f).exists() for f in data["figures"])


def test_registry_entries():
    assert [e.name for e in EXPERIMENTS] == ["network-spacetime", "neural-geodesic"]
    for e in EXPERIMENTS:
        assert set(e.quick) <= set(e.defaults) and e.reference
