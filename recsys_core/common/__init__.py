"""Plumbing every stage may use: settings, the artifact cache, progress reports, alias
tables and the random-number streams of the numba kernels. Nothing here knows a stage."""
