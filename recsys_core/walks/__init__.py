"""Random walks over the product graph: weighted first-order walks and node2vec walks.

Kernels are compiled with numba over plain CSR arrays, one module per walk family
(``first_order``, ``node2vec``); :func:`generate_walks` picks one from the settings.
"""

from recsys_core.walks.generate import WalkSettings, generate_walks, start_nodes, visit_counts

__all__ = ["WalkSettings", "generate_walks", "start_nodes", "visit_counts"]
