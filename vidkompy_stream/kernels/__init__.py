"""Numba kernels: array-in/array-out, no I/O, kept apart from the streaming layer."""
