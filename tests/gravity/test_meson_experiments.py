"""The experiments ads-qcd-mesons and dbm-ads-cft at their quick settings: every check passes."""

from __future__ import annotations

import pytest

from nqg.experiments import run_experiment


# ads-qcd-mesons at --quick compiles two L-BFGS ensembles (~50 s CPU): slow, to keep the suite fast
@pytest.mark.parametrize("name", [pytest.param("ads-qcd-mesons", marks=pytest.mark.slow), "dbm-ads-cft"])
def test_quick_setting_passes_every_check(tmp_path, name):
    result = run_experiment(name, quick=True, out=tmp_path / name)
    failed = [c for c in result.checks if not c["passed"]]
    assert result.checks and not failed, failed
    assert (tmp_path / name / "result.json").is_file() and result.figures
    if name == "ads-qcd-mesons":
        assert (tmp_path / name / "profiles.csv").is_file()
        assert any(not r["input"] for r in result.tables["masses"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ads-qcd-mesons", "dbm-ads-cft"])
def test_full_setting_passes_every_check(tmp_path, name):
    result = run_experiment(name, quick=False, out=tmp_path / name)
    failed = [c for c in result.checks if not c["passed"]]
    assert not failed, failed
