"""``nqg learning wave-network``: a wave packet in a neuron-state network with the user's ``c(sigma)``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from nqg.cli.apps import learning_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, execute
from nqg.errors import NqgInputError

MAX_SITES = 4096 * 4096


def parse_packet(text: str) -> tuple[float, float, float, float, float]:
    """'x,y,kx,ky,width' -> five finite numbers (width > 0); NqgInputError otherwise."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 5:
        raise NqgInputError(f"--packet: expected five numbers 'x,y,kx,ky,width', got {text!r}")
    values = []
    for name, p in zip(("x", "y", "kx", "ky", "width"), parts, strict=True):
        try:
            v = float(p)
        except ValueError:
            raise NqgInputError(f"--packet: {name} = {p!r} is not a number") from None
        if not math.isfinite(v):
            raise NqgInputError(f"--packet: {name} = {p!r} is not a finite number")
        values.append(v)
    if values[4] <= 0:
        raise NqgInputError(f"--packet: width must be > 0 sites, got {values[4]:g}")
    return tuple(values)  # type: ignore[return-value]


def load_speed_profile(path: Path) -> Any:
    """Read an ``(ny, nx)`` array of ``c`` (lattice units) from a .npy file; NqgInputError if unusable."""
    import numpy as np

    if not path.is_file():
        raise NqgInputError(f"--speed-profile: no such file {str(path)!r}")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # any unreadable file is bad input
        raise NqgInputError(f"--speed-profile: {str(path)!r} is not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or min(arr.shape) < 8:
        shape = getattr(arr, "shape", None)
        raise NqgInputError(
            f"--speed-profile: expected a 2D (ny, nx) array with at least 8 sites per axis, got shape {shape}"
        )
    if arr.size > MAX_SITES:
        raise NqgInputError(f"--speed-profile: {arr.size} sites; at most {MAX_SITES} are allowed")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise NqgInputError(f"--speed-profile: expected real numbers, got dtype {arr.dtype}")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise NqgInputError("--speed-profile: contains NaN or inf; allowed: finite c > 0")
    if np.min(arr) <= 0:
        raise NqgInputError(f"--speed-profile: c = {np.min(arr):g} <= 0 somewhere; allowed: c > 0 everywhere")
    return arr


def validate(profile, kappa: float, mass: float, steps: int, packet) -> None:
    """Check the options against the profile (CFL, packet inside the grid)."""
    import numpy as np

    if not (math.isfinite(kappa) and kappa > 0):
        raise NqgInputError(f"--kappa must be a positive number, got {kappa}")
    if not (math.isfinite(mass) and mass >= 0):
        raise NqgInputError(f"--mass must be a number >= 0, got {mass}")
    if steps < 1:
        raise NqgInputError(f"--steps must be a positive integer, got {steps}")
    cmax = float(np.max(profile))
    if kappa * cmax**2 * 2 + kappa * mass**2 / 4 > 1:
        raise NqgInputError(
            f"CFL-unstable: kappa c^2 = {kappa * cmax**2:.4g} (max c = {cmax:.4g}, mass {mass:g}) "
            "exceeds 1/D = 0.5 "
            "(less kappa m^2/8); lower --kappa or the speed profile"
        )
    x, y, kx, ky, _ = packet
    ny, nx = profile.shape
    if not (0 <= x <= nx - 1 and 0 <= y <= ny - 1):
        raise NqgInputError(f"--packet: site ({x:g}, {y:g}) is outside the grid 0..{nx - 1} x 0..{ny - 1}")
    if abs(kx) > math.pi or abs(ky) > math.pi:
        raise NqgInputError(f"--packet: wavevector ({kx:g}, {ky:g}) must lie in [-pi, pi] radians per site")
    if kx == 0 and ky == 0 and mass == 0:
        raise NqgInputError("--packet: a massless packet needs a nonzero wavevector (kx, ky)")


@learning_app.command("wave-network")
def wave_network_command(
    speed_profile: Annotated[
        Path, typer.Option("--speed-profile", help="(ny, nx) .npy array of c in lattice units.")
    ],
    steps: Annotated[int, typer.Option("--steps", help="Number of network steps.")],
    packet: Annotated[
        str,
        typer.Option("--packet", help="x,y,kx,ky,width: start site, carrier (rad/site), envelope (sites)."),
    ],
    kappa: Annotated[
        float, typer.Option("--kappa", help="kappa of the update (time step dt = sqrt(kappa)).")
    ] = 0.25,
    mass: Annotated[float, typer.Option("--mass", help="Mass m of the update (kappa m^2 x term).")] = 0.0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a wave packet in the network x(t+1) = 2x - x(t-1) + kappa c^2 Lap x - kappa m^2 x with your
    c(sigma); write its energy centroid (table trajectory), its deflection angle, and that of the
    geodesic of the metric measured from the network."""
    profile = load_speed_profile(speed_profile)
    pk = parse_packet(packet)
    validate(profile, kappa, mass, steps, pk)
    out_dir = Path(out) if out is not None else Path("nqg-out") / "learning-wave-network"

    def run(ctx):
        return wave_network_result(profile, kappa, mass, steps, pk, str(speed_profile), ctx)

    execute(out_dir, run, seed=0, quiet=quiet, json_out=json_out)


def wave_network_result(profile, kappa, mass, steps, packet, source, ctx):
    """Run the packet and the geodesic; build the Result."""
    import jax.numpy as jnp
    import numpy as np

    from nqg.learning.optical_geodesic import (
        OpticalMetric,
        deflection_angle,
        geodesic,
        measure_local_speed,
        run_packet,
    )
    from nqg.learning.wave_network import wave_network
    from nqg.results import Result

    x, y, kx, ky, width = packet
    net = wave_network(jnp.asarray(profile), kappa=kappa, mass=mass)
    every = max(1, steps // 200)
    steps_run = int(math.ceil(steps / every) * every)
    start = (y, x)
    kvec = (ky, kx)
    # the carrier frequency is the network's local frequency at the start (measured, not assumed)
    times, cent = run_packet(net, start, kvec, width, steps_run, every=every, mass=mass)
    metric = OpticalMetric(measure_local_speed(net))
    c_start = float(jnp.sqrt(metric.c2(jnp.asarray(cent[0]))))
    k = np.array(kvec)
    knorm = float(np.linalg.norm(k))
    if knorm == 0:
        velocity = np.zeros(2)
    elif mass == 0:
        velocity = c_start * k / knorm
    else:  # group velocity of omega^2 = c^2 k^2 + m^2
        velocity = c_start**2 * k / np.sqrt(c_start**2 * knorm**2 + mass**2)
    geo = geodesic(metric, cent[0], velocity, times)
    res = Result("learning-wave-network", seed=ctx.seed)
    res.params = {
        "speed_profile": source,
        "shape": list(profile.shape),
        "kappa": kappa,
        "mass": mass,
        "steps": steps_run,
        "packet": {"x": x, "y": y, "kx": kx, "ky": ky, "width": width},
        "record_every": every,
    }
    res.add_table(
        "trajectory",
        [{"t": float(t), "x": float(p[1]), "y": float(p[0])} for t, p in zip(times, cent, strict=True)],
    )
    res.add_table(
        "geodesic",
        [{"t": float(t), "x": float(p[1]), "y": float(p[0])} for t, p in zip(times, geo, strict=True)],
    )
    # deflection_angle works in (row, column) = (y, x) order; report it in the (x, y) plane
    res.add_metric("deflection_angle", -deflection_angle(cent), unit="rad")
    res.add_metric("deflection_angle_geodesic", -deflection_angle(geo), unit="rad")
    res.add_metric("c_measured_at_start", c_start, unit="sites per unit time")
    return res
