"""The typer sub-applications that the domain command modules register on."""

from __future__ import annotations

import typer

_SETTINGS = {"no_args_is_help": True, "pretty_exceptions_enable": False, "add_completion": False}

gravity_app = typer.Typer(help="Emergent bulk geometry from your boundary data (AdS/DL).", **_SETTINGS)
quantum_app = typer.Typer(help="Neural-network quantum states: variational ground states.", **_SETTINGS)
fields_app = typer.Typer(
    help="Network ensembles as field theories; path integrals over weights.", **_SETTINGS
)
networks_app = typer.Typer(
    help="Symmetries of networks as gauge symmetries; networks as spacetime.", **_SETTINGS
)
learning_app = typer.Typer(
    help="Ensembles of learners: learning dynamics as Fokker-Planck, Madelung, Schrodinger; neuron-state "
    "networks as spacetime.",
    **_SETTINGS,
)
