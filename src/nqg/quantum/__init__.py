"""Quantum vertex: neural-network quantum states optimised by variational Monte Carlo."""
