"""The neighbourhood baselines practitioners compare against: item-kNN, RP3beta, EASE.

All three score from the weighted train graph ``W`` (``W[a, b]`` = the pair's weight; the
method's pairs are item-item co-occurrences, so a row of ``W`` is a product's
co-occurrence vector) and train nothing:

- **item-kNN**: cosine of co-occurrence rows with shrinkage,
  ``sim(a, b) = w_a . w_b / (|w_a| |w_b| + shrink)`` (``binary``: every edge weighs 1).
  Unlike Dacrema et al.'s ItemKNNCF it keeps every neighbour (no top-k pruning of the
  similarity matrix): the score is computed per query block instead of stored.
- **RP3beta** (Paudel et al. 2017, as in Dacrema et al. 2019): with ``P = D^-1 W`` the
  train graph's transition matrix (``D`` the weighted degrees),
  ``score(q, c) = sum_z P[q, z]^alpha P[z, c]^alpha / deg(c)^beta``: a two-step random
  walk, sharpened by ``alpha`` and with the destination's popularity divided out by
  ``beta`` (``deg`` is the weighted degree, the row sum of ``W``).
- **EASE** (Steck 2019): ``G = X^T X`` for a basket matrix ``X``. Here each product's row
  of ``W`` (its weighted co-occurrence list, as item-kNN reads it) is a basket, so
  ``G = W^T W = W W``: two products co-occur as often as they share neighbours. (Each
  train pair as a basket of two, ``G = W + diag(W 1)``, was measured first: it learns to
  explain a pair by the pair itself and gives products two steps apart, where held-out
  partners are, negative weights: AUC 0.246 on the built-in catalog.) Then
  ``P = (G + lambda I)^-1``, ``B = -P / diag(P)`` (column ``j`` divided by ``P[j, j]``)
  with a zero diagonal, and ``score(q, c) = B[q, c]``. ``B`` is dense (n x n), so EASE is
  refused above :func:`ease_max_products` products (32,768 in the default 4 GiB).

Like Adamic-Adar and popularity (:mod:`recsys_core.models.heuristic`) they keep the
spectral display vectors, only for the pages that draw vectors; what every consumer
scores is their ``score_pairs`` / ``score_block``. Products without a train pair score 0
with everything.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_core.common.settings import require
from recsys_core.graph import transition_matrix
from recsys_core.models.base import Callback, Embeddings, TrainingData
from recsys_core.models.heuristic import (
    HeuristicSettings,
    _NoTrainingModel,
    graph_extras,
    sparse_block,
    stored_graph,
)

# Memory EASE may use for its dense matrices, in GiB; the bound actually applied is the
# smaller of this and the memory the machine has available when the model is fitted.
# Override with the environment variable RECSYS_EASE_MEMORY_GIB on a bigger machine.
EASE_MEMORY_GIB = 4.0
# Bytes per product pair at EASE's peak: one float32 matrix, G inverted in place.
EASE_BYTES_PER_PAIR = 4


@dataclasses.dataclass(frozen=True)
class ItemKNNSettings(HeuristicSettings):
    """item-kNN settings (plus the display vectors' :class:`HeuristicSettings`).

    Parameters
    ----------
    shrink:
        Added to the product of the norms: damps similarities resting on few
        co-occurrences. 1000, chosen on validation of the built-in catalog and
        MovieLens-100k over 10, 100, 1000 (``python -m bench.baselines``).
    binary:
        Count each co-occurring neighbour once instead of by the pair's weight.
    """

    shrink: float = 1000.0
    binary: bool = False

    def validate(self) -> None:
        super().validate()
        require(self.shrink >= 0, f"shrink must be >= 0, got {self.shrink}")


@dataclasses.dataclass(frozen=True)
class RP3betaSettings(HeuristicSettings):
    """RP3beta settings: ``alpha`` sharpens the walk's steps, ``beta`` divides out
    popularity. Chosen on validation (``python -m bench.baselines``, alpha 0.5 / 1,
    beta 0 / 0.3 / 0.6): alpha 1, beta 0; Dacrema et al.'s 0.6 for user-item data halved
    validation NDCG@10 on both datasets (0.058 against 0.136 on the built-in catalog)."""

    alpha: float = 1.0
    beta: float = 0.0

    def validate(self) -> None:
        super().validate()
        require(self.alpha > 0, f"alpha must be > 0, got {self.alpha}")
        require(0 <= self.beta <= 2, f"beta must be in 0..2, got {self.beta}")


@dataclasses.dataclass(frozen=True)
class EASESettings(HeuristicSettings):
    """EASE settings: ``l2_norm`` is Steck's lambda, the L2 penalty added to the
    diagonal of the Gram matrix (Dacrema et al.'s name for it). 10,000, chosen on
    validation over 100, 1,000, 10,000 (``python -m bench.baselines``): on these graphs a
    strong penalty keeps EASE close to the two-step co-occurrences."""

    l2_norm: float = 10_000.0

    def validate(self) -> None:
        super().validate()
        require(self.l2_norm > 0, f"l2_norm must be > 0, got {self.l2_norm}")


class ItemKNNEmbeddings(Embeddings):
    """Scores by shrunk cosine of the stored train graph's rows (``info``: shrink, binary)."""

    kind = "item-knn"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.score = "item-knn"
        self._rows = stored_graph(self.extras, binary=bool(self.info["binary"]))
        self._norms = np.sqrt(np.asarray(self._rows.multiply(self._rows).sum(axis=1))).ravel()
        self._shrink = float(self.info["shrink"])

    def _scaled(self, dots: np.ndarray, na: np.ndarray, nb: np.ndarray) -> np.ndarray:
        den = na * nb + self._shrink
        return np.divide(dots, den, out=np.zeros_like(dots), where=den > 0)

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        dots = np.asarray(self._rows[a].multiply(self._rows[b]).sum(axis=1), np.float64).ravel()
        return self._scaled(dots, self._norms[a], self._norms[b])

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        q = np.asarray(queries, dtype=np.int64)
        c = np.asarray(candidates, dtype=np.int64)
        dots = sparse_block(self._rows, self._rows.T, q, c)
        norms = self._norms.astype(np.float32)
        return self._scaled(dots, norms[q][:, None], norms[c][None, :])


class RP3betaEmbeddings(Embeddings):
    """Scores by RP3beta on the stored train graph (``info``: alpha, beta)."""

    kind = "rp3beta"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.score = "rp3beta"
        graph = stored_graph(self.extras)
        step = transition_matrix(graph).power(float(self.info["alpha"])).tocsr()
        degree = np.asarray(graph.sum(axis=1), dtype=np.float64).ravel()
        damp = np.zeros_like(degree)
        np.power(degree, -float(self.info["beta"]), out=damp, where=degree > 0)
        self._first = step.astype(np.float32)
        # Second step with the destination's popularity divided out: P^alpha D^-beta.
        self._second = (step @ sp.diags(damp)).tocsr().astype(np.float32)
        self._second_t = self._second.T.tocsr()

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        walks = self._first[a].multiply(self._second_t[b])
        return np.asarray(walks.sum(axis=1), dtype=np.float64).ravel()

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return sparse_block(self._first, self._second, queries, candidates)


class EASEEmbeddings(Embeddings):
    """Scores by EASE's dense item-item weights ``extras["B"]``: ``score(q, c) = B[q, c]``."""

    kind = "ease"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.score = "ease"
        self._weights = np.asarray(self.extras["B"], dtype=np.float32)

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        return self._weights[a, b].astype(np.float64)

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        q = np.asarray(queries, dtype=np.int64)
        c = np.asarray(candidates, dtype=np.int64)
        return self._weights[np.ix_(q, c)]


class ItemKNN(_NoTrainingModel):
    """item-kNN: shrunk cosine of train co-occurrence rows; a no-training baseline."""

    name = "item-knn"
    label = "item-kNN (cosine of co-occurrences)"
    settings_cls = ItemKNNSettings

    def _embeddings(
        self, graph: sp.csr_matrix, vectors: np.ndarray, info: dict[str, str]
    ) -> Embeddings:
        s: ItemKNNSettings = self.settings  # type: ignore[assignment]
        return ItemKNNEmbeddings(
            vectors=vectors,
            trained=np.diff(graph.indptr) > 0,
            score="item-knn",
            extras=graph_extras(graph),
            info={**info, "shrink": s.shrink, "binary": s.binary},
        )


class RP3beta(_NoTrainingModel):
    """RP3beta: a popularity-damped two-step walk on the train graph (Paudel et al. 2017)."""

    name = "rp3beta"
    label = "RP3beta (graph walk)"
    settings_cls = RP3betaSettings

    def _embeddings(
        self, graph: sp.csr_matrix, vectors: np.ndarray, info: dict[str, str]
    ) -> Embeddings:
        s: RP3betaSettings = self.settings  # type: ignore[assignment]
        return RP3betaEmbeddings(
            vectors=vectors,
            trained=np.diff(graph.indptr) > 0,
            score="rp3beta",
            extras=graph_extras(graph),
            info={**info, "alpha": s.alpha, "beta": s.beta},
        )


class EASE(_NoTrainingModel):
    """EASE: closed-form linear item-item model (Steck 2019) on pairs as two-item baskets."""

    name = "ease"
    label = "EASE (closed form)"
    settings_cls = EASESettings

    @classmethod
    def refusal(cls, n_products: int) -> str | None:
        """Why EASE cannot run on ``n_products`` products (one sentence), or None."""
        try:
            check_ease_size(n_products)
        except ValueError as exc:
            return str(exc)
        return None

    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        check_ease_size(data.n_products)  # refuse before any work
        return super().fit(data, callback)

    def _embeddings(
        self, graph: sp.csr_matrix, vectors: np.ndarray, info: dict[str, str]
    ) -> Embeddings:
        s: EASESettings = self.settings  # type: ignore[assignment]
        return EASEEmbeddings(
            vectors=vectors,
            trained=np.diff(graph.indptr) > 0,
            score="ease",
            extras={"B": ease_weights(graph, s.l2_norm)},
            info={**info, "l2_norm": s.l2_norm},
        )


def ease_weights(graph: sp.csr_matrix, l2_norm: float) -> np.ndarray:
    """EASE's float32 item-item weights ``B`` of a pair graph (see the module docstring).

    One dense float32 matrix, inverted in place by Cholesky (LAPACK potrf + potri): the
    peak is :data:`EASE_BYTES_PER_PAIR` bytes per product pair. ``G`` is a Gram matrix
    (positive semi-definite) and ``lambda > 0`` makes it definite.
    """
    from scipy.linalg import lapack

    n = graph.shape[0]
    weights = sp.csr_matrix(graph, dtype=np.float32)
    gram = np.zeros((n, n), dtype=np.float32)
    (weights @ weights).toarray(out=gram)  # W^T W = W W: W is symmetric
    gram[np.diag_indices(n)] += l2_norm
    # gram.T is the same symmetric matrix in Fortran order, so LAPACK works in place; its
    # upper triangle is gram's lower one.
    factor, info = lapack.spotrf(gram.T, lower=0, overwrite_a=1, clean=0)
    if info == 0:
        factor, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0 or not np.shares_memory(factor, gram):
        raise RuntimeError(f"EASE's in-place Cholesky inverse failed (LAPACK info {info})")
    _mirror_lower(gram)
    gram /= -np.diag(gram).copy()[None, :]
    np.fill_diagonal(gram, 0.0)
    return gram


def _mirror_lower(matrix: np.ndarray, block: int = 1024) -> None:
    """Copy the lower triangle onto the upper one in place, a band of rows at a time."""
    n = matrix.shape[0]
    for start in range(0, n, block):
        end = min(start + block, n)
        matrix[start:end, end:] = matrix[end:, start:end].T
        corner = matrix[start:end, start:end]
        upper = np.triu_indices(end - start, 1)
        corner[upper] = corner.T[upper]


def available_gib() -> float | None:
    """Memory the machine has available now (``MemAvailable``), in GiB; None if unknown."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return None


def ease_memory_gib() -> float:
    """The memory EASE may use: :data:`EASE_MEMORY_GIB` (or ``RECSYS_EASE_MEMORY_GIB``),
    never more than the machine has available."""
    text = os.environ.get("RECSYS_EASE_MEMORY_GIB", "").strip()
    budget = float(text) if text else EASE_MEMORY_GIB
    free = available_gib()
    return min(budget, free) if free is not None else budget


def ease_max_products(memory_gib: float | None = None) -> int:
    """The largest catalog whose dense Gram matrix (inverted in place) fits in
    ``memory_gib``: 32,768 products in 4 GiB."""
    gib = ease_memory_gib() if memory_gib is None else memory_gib
    return math.isqrt(int(gib * 2**30 / EASE_BYTES_PER_PAIR))


def check_ease_size(n_products: int, memory_gib: float | None = None) -> None:
    """Raise ValueError, in one sentence with the bound, when EASE cannot fit."""
    gib = ease_memory_gib() if memory_gib is None else memory_gib
    bound = ease_max_products(gib)
    if n_products > bound:
        raise ValueError(
            f"EASE needs a dense {n_products:,} x {n_products:,} Gram matrix, inverted in "
            f"place ({EASE_BYTES_PER_PAIR} bytes per product pair), so it is limited to "
            f"{bound:,} products in {gib:.1f} GiB of memory: pick a smaller dataset, or set "
            "RECSYS_EASE_MEMORY_GIB on a machine with more memory free"
        )
