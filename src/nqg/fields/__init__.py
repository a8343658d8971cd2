"""Fields vertex: network ensembles as field theories (``nnft``) and path integrals as sums over
network weights (``path_integral``)."""
