"""Path-integral chains sharded over devices (issue 13, section 1): the ground-state energy of a fixed seed
is the same on 1, 2 and 4 devices to 1e-10 relative, with the control-variates estimator of
``nqg fields path-integral``.

Several CPU devices need ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` before JAX is imported, so
everything runs in one subprocess whose findings the tests read. The system is the anharmonic oscillator
V = x^2/2 + x^4 on the periodic step network (N = 16, T = 8/gap): its exact expectation is the lattice
path integral's ``Tr(f A^N)/Tr(A^N)`` (transfer matrix A, f = x V'/2 + V) on a fine position grid, so the
sharded E0 is also checked against an exact number. 6 chains are divisible by neither 4 devices (padded
to 8 chains, 2 dropped) nor run one per device.
"""

from __future__ import annotations

import textwrap

import pytest

import nqg  # noqa: F401  (float64)
from nqg.errors import NqgInputError
from nqg.fields.path_integral import make_path_network, make_potential, sample_path_integral

SCRIPT = textwrap.dedent(
    r"""
    import json, os, tempfile
    import numpy as np
    import nqg
    from nqg import devices
    from nqg.errors import NqgInputError
    from nqg.fields.path_integral import (
        ground_state, ground_state_energy_virial, make_path_network, make_potential,
    )
    from nqg.fields.quantum_mechanics import oscillator_basis_spectrum
    from typer.testing import CliRunner
    from nqg.cli import app

    def lattice_virial_expectation(V, T, n):
        # <(1/T) sum_n dtau f(x_n)> = Tr(f A^N)/Tr(A^N) for the periodic lattice action (step network)
        dtau = T / n
        x = np.linspace(-6.0, 6.0, 601)
        kin = np.sqrt(1 / (2 * np.pi * dtau)) * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * dtau))
        half = np.exp(-0.5 * dtau * V(x))
        e, v = np.linalg.eigh((x[1] - x[0]) * half[:, None] * kin * half[None, :])
        w = (e / e.max()) ** n
        return float(np.sum(w * ((v**2).T @ (0.5 * x * V.derivative(x) + V(x)))) / np.sum(w))

    out = {"visible": devices.visible_device_count()}
    V = make_potential("anharmonic", 1.0)
    T = 8.0 / oscillator_basis_spectrum(V, n_basis=200).gap
    n_chains, per_chain, neurons = 6, 500, 16
    # the settings of `nqg fields path-integral --chains 6 --samples 3000 --neurons 16` (400 warm-up steps,
    # blocks of 10), so the CLI run below reuses the compiled sampler
    kw = dict(n_neurons=neurons, T=T, n_chains=n_chains, n_samples=per_chain, block_size=10, fit_gap=False,
              estimator="control-variates")
    runs = {d: ground_state(V, "step", seed=5, n_devices=d, **kw) for d in (1, 2, 4)}
    ref = runs[1]
    out["E0"] = {str(d): [r.E0.mean, r.E0.error] for d, r in runs.items()}
    out["E0_virial"] = {str(d): ground_state_energy_virial(r.samples).mean for d, r in runs.items()}
    out["blocks_equal"] = {
        str(d): all(np.array_equal(r.samples.blocks[k], ref.samples.blocks[k]) for k in ref.samples.blocks)
        for d, r in runs.items()
    }
    out["shapes"] = {str(d): list(r.samples.blocks["virial"].shape) for d, r in runs.items()}
    out["step_sizes_equal"] = all(np.array_equal(r.samples.step_sizes, ref.samples.step_sizes)
                                  for r in runs.values())
    # negative control: another seed on 4 devices
    other = ground_state(V, "step", seed=6, n_devices=4, **kw)
    out["E0_other_seed"] = [other.E0.mean, other.E0.error]
    # physics: the exact expectation of the virial estimator for this network
    out["E0_exact_lattice"] = lattice_virial_expectation(V, T, neurons)
    try:
        ground_state(V, "step", seed=5, n_devices=5, **kw)
        out["bad_devices"] = "no error"
    except NqgInputError as exc:
        out["bad_devices"] = str(exc)

    runner = CliRunner()
    base = ["fields", "path-integral", "--potential", "anharmonic", "--g", "1", "--activation", "step",
            "--neurons", str(neurons), "--chains", str(n_chains), "--samples", str(n_chains * per_chain),
            "--seed", "5", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        r2 = runner.invoke(app, ["--devices", "2", *base, "--out", os.path.join(tmp, "d2")])
        if r2.exit_code == 0:
            data = json.loads(r2.stdout)
            out["cli_d2"] = [data["params"].get("devices"), data["metrics"]["E0"]["value"],
                             data["params"]["T"]]
        else:
            out["cli_d2"] = [r2.exit_code, r2.output[-2000:]]
    out["T"] = T
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def four_devices(device_script):
    data = device_script(SCRIPT, 4)
    assert data["visible"] == 4
    return data


def test_ground_state_energy_agrees_on_1_2_4_devices(four_devices):
    e0 = four_devices["E0"]
    ref, ref_err = e0["1"]
    for d in ("2", "4"):
        value, err = e0[d]
        assert abs(value - ref) <= 1e-10 * abs(ref), (d, value, ref)
        assert abs(err - ref_err) <= 1e-10 * ref_err, (d, err, ref_err)
        assert abs(four_devices["E0_virial"][d] / four_devices["E0_virial"]["1"] - 1) <= 1e-10
    # the chains themselves are the same: every block mean, and the adapted step sizes
    assert all(four_devices["blocks_equal"].values()) and four_devices["step_sizes_equal"]
    # padding (6 chains on 4 devices -> 8): the 2 padded chains are dropped
    assert all(shape == [6, 50] for shape in four_devices["shapes"].values())


def test_another_seed_differs_far_beyond_the_tolerance(four_devices):
    ref, err = four_devices["E0"]["1"]
    other, other_err = four_devices["E0_other_seed"]
    assert abs(other - ref) > 1e4 * 1e-10 * abs(ref)  # the 1e-10 comparison above can fail
    assert abs(other - ref) < 5 * (err**2 + other_err**2) ** 0.5  # yet statistically the same


def test_sharded_ground_state_energy_is_the_exact_lattice_value(four_devices):
    value, err = four_devices["E0"]["4"]
    exact = four_devices["E0_exact_lattice"]
    assert abs(value - exact) < 4 * err, (value, err, exact)
    assert err < 4e-3 * exact  # control variates: at least issue 13's 0.4 % precision, not a loose check


def test_device_count_is_validated(four_devices):
    message = four_devices["bad_devices"]
    assert "n_devices" in message and "4 visible" in message and "5" in message
    net = make_path_network("step", 2.0, 4, "periodic")
    with pytest.raises(NqgInputError, match="n_devices must be an integer between 1 and"):
        sample_path_integral(net, make_potential("harmonic"), n_chains=2, n_samples=10, n_devices=0)


def test_cli_devices_option_is_recorded_and_changes_nothing(four_devices):
    devices, value, T = four_devices["cli_d2"]
    assert devices == 2
    assert T == pytest.approx(four_devices["T"], rel=1e-12)
    ref = four_devices["E0"]["1"][0]
    assert abs(value - ref) <= 1e-10 * abs(ref)
