"""Walk settings and the one entry point, :func:`generate_walks`.

Row order of the result is pass-major: row ``r * n_start + s`` is walk number ``r`` of the
``s``-th start node, where start nodes are the products with at least one train edge, in
increasing id order. The first ``n_start`` rows therefore hold one walk per product, and
walk ``r`` of a product depends only on (seed, row), not on threads.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import scipy.sparse as sp

from recsys_core.common.progress import Progress, report
from recsys_core.common.rng import seed_state
from recsys_core.common.settings import Settings, require
from recsys_core.walks.first_order import build_alias_tables, first_order_pass
from recsys_core.walks.node2vec import build_edge_set, node2vec_pass, row_totals

logger = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
# Upper bounds like the model settings': the method walks 10 x 10, and more or longer
# walks already over-train at 30 (see WalkSettings), so these leave room for studies while
# keeping a typo from asking for a corpus no machine holds.
MAX_WALKS_PER_NODE = 10_000
MAX_LENGTH = 1_000
# One corpus holds at most this many walk positions (int32: 8 GiB), whatever the graph.
MAX_WALK_TOKENS = 2**31 - 1


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_positive_number(value: object) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and float(value) > 0
    )


@dataclasses.dataclass(frozen=True)
class WalkSettings(Settings):
    """How to walk the product graph.

    Attributes
    ----------
    walks_per_node:
        Walks started from every product that has a train edge.
    length:
        Nodes per walk, start node included.
    p:
        node2vec return parameter: a step back to the previous product is weighted 1/p.
    q:
        node2vec in-out parameter: a step to a product that is not a neighbour of the
        previous one is weighted 1/q. p = q = 1 is the plain weighted walk.
    seed:
        Same seed, same walks (independent of the number of threads).

    The defaults are the method's 10 walks of 10 nodes per product (:meth:`method`), kept
    on purpose. The corpus already scales with the graph (about 100 tokens per product),
    and what a skip-gram learns from it depends on how often each product is updated, not
    on the corpus size: on MovieLens-100k (1.7k products) more or longer walks at the same
    epochs over-train and lower AUC (30 walks per node: 0.753 -> 0.657 uniform, 0.781 ->
    0.744 degree-matched), and shorter walks help skip-gram but hurt MF on sequences.
    Measured by ``python -m bench.defaults --study one-at-a-time`` (bench/README.md,
    "MovieLens-100k defaults").
    """

    walks_per_node: int = 10
    length: int = 10
    p: float = 1.0
    q: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        require(
            _is_int(self.walks_per_node) and 1 <= self.walks_per_node <= MAX_WALKS_PER_NODE,
            f"walks_per_node must be an integer in 1..{MAX_WALKS_PER_NODE}, "
            f"got {self.walks_per_node!r}",
        )
        require(
            _is_int(self.length) and 2 <= self.length <= MAX_LENGTH,
            f"length (nodes per walk, start included) must be an integer in 2..{MAX_LENGTH}, "
            f"got {self.length!r}",
        )
        require(
            _is_positive_number(self.p),
            f"p (return parameter) must be a finite number > 0, got {self.p!r}; use 1 for "
            "plain weighted walks",
        )
        require(
            _is_positive_number(self.q),
            f"q (in-out parameter) must be a finite number > 0, got {self.q!r}; use 1 for "
            "plain weighted walks",
        )
        require(
            _is_int(self.seed) and 0 <= self.seed <= MAX_SEED,
            f"seed must be an integer in 0..{MAX_SEED}, got {self.seed!r}",
        )

    @classmethod
    def method(cls, **changes: object) -> WalkSettings:
        """The method's walks: 10 walks of 10 nodes from every product, plain weighted."""
        return cls(**{"walks_per_node": 10, "length": 10, "p": 1.0, "q": 1.0, **changes})

    @property
    def first_order(self) -> bool:
        """True when p = q = 1, where node2vec reduces to the plain weighted walk."""
        return float(self.p) == 1.0 and float(self.q) == 1.0


def start_nodes(graph: sp.csr_matrix) -> np.ndarray:
    """Products with at least one edge, in id order (int32): the walks' start nodes."""
    return np.flatnonzero(np.diff(graph.indptr) > 0).astype(np.int32)


def _walk_arrays(graph: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = graph.shape[0]
    require(graph.shape[0] == graph.shape[1], f"graph must be square, got {graph.shape}")
    require(n <= np.iinfo(np.int32).max, "walks are int32: at most 2**31 - 1 products")
    require(
        graph.nnz <= np.iinfo(np.int32).max,
        "alias tables hold int32 edge positions: at most 2**31 - 1 stored edges",
    )
    if not graph.has_sorted_indices:
        graph = graph.sorted_indices()  # a copy: the caller's matrix is not modified
    indices = graph.indices.astype(np.int32, copy=False)
    data = graph.data.astype(np.float32, copy=False)
    return graph.indptr, indices, data


def generate_walks(
    graph: sp.csr_matrix,
    settings: WalkSettings,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """Random walks over a symmetric weighted graph.

    Parameters
    ----------
    graph:
        Symmetric weighted adjacency matrix (:func:`recsys_core.graph.build_graph`).
        Weights must be >= 0; the node2vec walk assumes the graph is undirected.
    settings:
        Walk counts, length, node2vec p and q, seed.
    on_progress:
        Called after each pass (one walk from every start node).

    Returns
    -------
    numpy.ndarray
        int32 array of shape ``(walks_per_node * n_start, length)``, pass-major (see the
        module docstring). Column 0 is the start node. Products without an edge start no
        walk; a graph without edges gives shape ``(0, length)``.
    """
    if not isinstance(graph, sp.csr_matrix | sp.csr_array):
        graph = sp.csr_matrix(graph)
    indptr, indices, data = _walk_arrays(graph)
    starts = start_nodes(graph)
    n_start = starts.shape[0]
    tokens = settings.walks_per_node * n_start * settings.length
    require(
        tokens <= MAX_WALK_TOKENS,
        f"walks_per_node x products x length = {settings.walks_per_node} x {n_start:,} x "
        f"{settings.length} = {tokens:,} walk positions, more than one corpus may hold "
        f"({MAX_WALK_TOKENS:,}): lower walks_per_node or length",
    )
    walks = np.empty((settings.walks_per_node * n_start, settings.length), dtype=np.int32)
    if n_start == 0:
        return walks
    threshold, alias = build_alias_tables(indptr, data)
    if not settings.first_order:
        totals = row_totals(indptr, data)
        edges = build_edge_set(indptr, indices)
    state = seed_state(settings.seed)
    inv_p, inv_q = 1.0 / float(settings.p), 1.0 / float(settings.q)
    kind = "first-order" if settings.first_order else f"node2vec p={settings.p} q={settings.q}"
    logger.info("walking %s: %d start nodes x %d walks", kind, n_start, settings.walks_per_node)
    for r in range(settings.walks_per_node):
        out = walks[r * n_start : (r + 1) * n_start]
        first_walk = np.int64(r * n_start)
        if settings.first_order:
            first_order_pass(indptr, indices, threshold, alias, starts, state, first_walk, out)
        else:
            node2vec_pass(
                indptr,
                indices,
                data,
                threshold,
                alias,
                totals,
                edges,
                starts,
                inv_p,
                inv_q,
                state,
                first_walk,
                out,
            )
        report(on_progress, r + 1, settings.walks_per_node, f"{kind} walks, pass {r + 1}")
    return walks


def visit_counts(walks: np.ndarray, n_products: int) -> np.ndarray:
    """How often each product appears in the walks (int64, length ``n_products``)."""
    return np.bincount(np.asarray(walks).ravel(), minlength=n_products).astype(np.int64)
