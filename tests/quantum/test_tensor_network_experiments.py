"""The `tensor-networks` experiment at its quick setting: every check passes."""

from nqg.experiments import run_experiment


def test_tensor_networks_quick(tmp_path):
    res = run_experiment("tensor-networks", quick=True, out=tmp_path / "tn")
    failed = [c for c in res.checks if not c["passed"]]
    assert not failed, failed
    assert len(res.checks) >= 8
    m = res.metrics
    for key in (
        "rbm_energy_per_site",
        "mps_energy_per_site",
        "central_charge_dmrg",
        "rbm_entanglement_entropy_mid",
    ):
        assert key in m
    assert (tmp_path / "tn" / "entanglement.png").exists()
