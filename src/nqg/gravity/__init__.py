"""Gravity vertex: a bulk scalar field's equation of motion as a deep network (AdS/DL).

Submodules: ``network`` (discrete residual network and neural ODE of the bulk equation),
``holography`` (holographic QCD boundary map, data, fitting), ``schwarzschild`` (AdS-Schwarzschild
toy), ``mechanics`` (friction inverse problem).
"""
