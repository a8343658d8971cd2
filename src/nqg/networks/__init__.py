"""Networks vertex: symmetries of neural networks as gauge symmetries and diffeomorphisms, and networks
as spacetime (Hirono, Sannai, Hashimoto, arXiv:2402.02362).

Submodules: ``symmetries`` (permutation, rescaling, sign-flip and attention symmetries of parameter
PyTrees), ``neural_ode`` (linear neural ODEs, Wilson lines, gauge transformations and
reparametrisations), ``gauge_fixing`` (the linear-transport regulariser and weight decay as gauge
conditions), ``canonical`` (permutation alignment, ReLU norm balancing, loss barriers), ``spacetime``
(convolution as a derivative, depth as time), ``geodesic`` (neural geodesic equation, curvature by
autodiff).
"""
