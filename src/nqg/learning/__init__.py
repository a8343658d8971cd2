"""Learning vertex: ensembles of learners and neuron-state networks (Vanchurin, arXiv:2111.00903).

Trainable variables (learning dynamics as Fokker-Planck, Madelung and Schrodinger dynamics):
``ensemble`` (vectorised SGD learners), ``density`` (density and current estimators),
``fokker_planck`` and ``schrodinger`` (reference solvers), ``madelung`` (hydrodynamic residuals and
Madelung learners).

Non-trainable variables (emergent spacetime from neuron states): ``wave_network`` (permutation and local
recurrent networks), ``lorentz`` (dispersion, time dilation), ``optical_geodesic`` (metric measured from
the network, geodesics), ``einstein`` (uniqueness of the Fierz-Pauli action, cosmological constant).
"""
