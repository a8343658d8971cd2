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


@pytest.mark.slow
def test_geodesics_quick_defers_the_finest_setting_check(tmp_path):
    """network-geodesics at quick: the 3% check is judged at the full setting only (with its last value);
    the sequence check and the controls are evaluated and pass."""
    from nqg.learning.spacetime_experiments import _FINEST_CHECK

    result = run_experiment("network-geodesics", quick=True, out=tmp_path / "geo")
    deferred = {c["name"]: c for c in result.full_setting_only}
    assert deferred[_FINEST_CHECK]["last_full"]["passed"]
    names = [c["name"] for c in result.checks]
    assert any(n.startswith("deviation from the null geodesic decreases") for n in names)
    assert sum("negative control" in n for n in names) == 2
    rows = result.tables["lens"]
    assert [r["wavelength"] for r in rows] == [12.0, 16.0]


@pytest.mark.parametrize(
    "setting",
    [
        "sequence_radii=80",  # one radius for two wavelengths
        "sequence_radii=80,40",  # lambda/R does not decrease
        "control_depth_error=1.5",  # not a fraction
        "width_factor=-1",
    ],
)
def test_geodesics_bad_settings_exit_2_and_write_nothing(setting, tmp_path):
    from typer.testing import CliRunner

    from nqg.cli import app

    out = tmp_path / "geo"
    result = CliRunner().invoke(
        app, ["run", "network-geodesics", "--quick", "--set", setting, "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()
