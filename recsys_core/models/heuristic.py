"""No-training baselines on the train graph: Adamic-Adar and popularity.

Popularity: ``score(a, b) = log(1 + deg a) + log(1 + deg b)`` (degree = number of
neighbours in the train graph). It knows nothing of who links to whom, only how often
each product links at all; under the method's uniform negatives it already scores high,
which is why every table shows it and each model's lift over it.

Adamic-Adar: ``score(a, b) = sum over common neighbours z of 1 / log(deg z)`` (degree = number of
neighbours in the train graph). It needs the graph, not vectors, so its
:class:`AdamicAdarEmbeddings` keeps the graph's CSR arrays in ``extras`` (saved and loaded
with the embeddings) and overrides :meth:`score_pairs` and ``score_block``.

Both keep display ``vectors``: a truncated SVD of the symmetrically normalised adjacency
``D^-1/2 A D^-1/2`` (spectral embedding, ``U * sqrt(S)``), only so the neighbours and UMAP
pages have something to show; they are *not* what the AUC scores. Products with no train
pair have a zero vector and score 0 with everything.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_core.common.settings import Settings, require
from recsys_core.models.base import (
    Callback,
    Clock,
    Embeddings,
    Model,
    TrainEvent,
    TrainingData,
    as_column,
)


@dataclasses.dataclass(frozen=True)
class HeuristicSettings(Settings):
    """Adamic-Adar settings.

    Parameters
    ----------
    dim:
        Size of the display vectors (truncated SVD of the normalised adjacency); 0 skips
        them (all-zero vectors of size 1).
    svd_iter:
        Power iterations of the randomized SVD.
    seed:
        Seed of the randomized SVD.
    """

    dim: int = 64
    svd_iter: int = 4
    seed: int = 0

    def validate(self) -> None:
        require(0 <= self.dim <= 1024, f"dim must be in 0..1024, got {self.dim}")
        require(self.svd_iter >= 0, f"svd_iter must be >= 0, got {self.svd_iter}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")


class AdamicAdarEmbeddings(Embeddings):
    """Embeddings whose pair score is Adamic-Adar on the stored train graph."""

    kind = "adamic-adar"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.score = "adamic-adar"
        self._adj = stored_graph(self.extras, binary=True)
        n = self._adj.shape[0]
        deg = np.diff(self._adj.indptr).astype(np.float64)
        inv_log = np.zeros(n, dtype=np.float32)
        many = deg > 1  # a common neighbour of two distinct products has degree >= 2
        inv_log[many] = 1.0 / np.log(deg[many])
        self._weighted = (self._adj @ sp.diags(inv_log)).tocsr()  # A D, D = 1/log(deg)

    @classmethod
    def from_embeddings(cls, embeddings: Embeddings) -> AdamicAdarEmbeddings:
        """Rebuild from a generically loaded :class:`Embeddings` (score "adamic-adar")."""
        return rebuilt(cls, embeddings)

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        common = self._adj[a].multiply(self._weighted[b])
        return np.asarray(common.sum(axis=1), dtype=np.float64).ravel()

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Adamic-Adar of every (query, candidate): ``A[q] (A D)[c]^T`` (sparse product).

        Only the candidates' columns are computed, so ranking a catalog in blocks of
        candidates costs one product over the catalog, not one per block; each entry sums
        its common neighbours in the same order whatever the other candidates."""
        q = np.asarray(queries, dtype=np.int64)
        c = np.asarray(candidates, dtype=np.int64)
        return np.asarray((self._adj[q] @ self._weighted[c].T).toarray(), dtype=np.float32)


class _NoTrainingModel(Model):
    """A baseline scored straight from the train graph, with spectral display vectors.

    ``fit`` builds the sorted CSR train graph and its display vectors, asks the subclass
    for its embeddings (:meth:`_embeddings`) and reports the one live-AUC event.
    """

    settings_cls = HeuristicSettings
    uses_walks = False

    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        settings: HeuristicSettings = self.settings  # type: ignore[assignment]
        clock = Clock()
        graph = sp.csr_matrix(data.graph)
        graph.sort_indices()
        vectors = spectral_vectors(graph, settings.dim, settings.svd_iter, settings.seed)
        info = {"vectors": f"truncated SVD ({vectors.shape[1]}) of D^-1/2 A D^-1/2"}
        embeddings = self._embeddings(graph, vectors, info)
        report_once(data, embeddings, clock, callback)
        return embeddings

    @abc.abstractmethod
    def _embeddings(
        self, graph: sp.csr_matrix, vectors: np.ndarray, info: dict[str, str]
    ) -> Embeddings:
        """The baseline's embeddings of the train graph (``info`` names the vectors)."""


class AdamicAdar(_NoTrainingModel):
    """Adamic-Adar link prediction on the train graph; a no-training baseline."""

    name = "adamic-adar"
    label = "Adamic-Adar (graph heuristic)"

    def _embeddings(
        self, graph: sp.csr_matrix, vectors: np.ndarray, info: dict[str, str]
    ) -> Embeddings:
        return AdamicAdarEmbeddings(
            vectors=vectors,
            trained=np.diff(graph.indptr) > 0,
            score="adamic-adar",
            extras=graph_extras(graph, weights=False),
            info=info,
        )


class PopularityEmbeddings(Embeddings):
    """Embeddings whose pair score is ``log(1 + deg a) + log(1 + deg b)``.

    ``extras["degree"]`` holds each product's train degree. The vectors are the same
    spectral display vectors as Adamic-Adar's (not what the AUC scores).
    """

    kind = "popularity"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.score = "popularity"
        self._log_degree = np.log1p(np.asarray(self.extras["degree"], dtype=np.float64))

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        return self._log_degree[a] + self._log_degree[b]

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Popularity of every (query, candidate): the same ranking for every query."""
        q = self._log_degree[np.asarray(queries, dtype=np.int64)]
        c = self._log_degree[np.asarray(candidates, dtype=np.int64)]
        return (q[:, None] + c[None, :]).astype(np.float32)

    def ip_form(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``1`` against ``log(1 + deg)``: the query's own term is constant per query."""
        ones = np.ones((len(self._log_degree), 1), np.float32)
        return ones, as_column(self._log_degree)


class Popularity(_NoTrainingModel):
    """Popularity, ``log(1 + deg a) + log(1 + deg b)`` on the train graph; a no-training
    baseline that every table shows, so a reader sees what a model adds beyond it."""

    name = "popularity"
    label = "Popularity (degree baseline)"

    def _embeddings(
        self, graph: sp.csr_matrix, vectors: np.ndarray, info: dict[str, str]
    ) -> Embeddings:
        degree = np.diff(graph.indptr).astype(np.int64)
        return PopularityEmbeddings(
            vectors=vectors,
            trained=degree > 0,
            score="popularity",
            extras={"degree": degree},
            info=info,
        )


def report_once(
    data: TrainingData, embeddings: Embeddings, clock: Clock, callback: Callback | None
) -> None:
    """The one event of a no-training model: its live AUC, as the end of epoch 0."""
    if callback is None:
        return
    auc, auc_seen = data.live_auc(embeddings)
    callback(
        TrainEvent(
            step=0,
            epoch=0,
            loss=float("nan"),
            lr=0.0,
            elapsed=clock(),
            auc=auc,
            auc_seen=auc_seen,
            epoch_end=True,
            total_steps=1,
            ndcg=data.ranking_monitor(embeddings) if data.ranking_monitor is not None else None,
        )
    )


def spectral_vectors(graph: sp.csr_matrix, dim: int, n_iter: int, seed: int) -> np.ndarray:
    """``U * sqrt(S)`` of the truncated SVD of ``D^-1/2 A D^-1/2`` (unweighted A)."""
    n = graph.shape[0]
    dim = min(dim, max(n - 1, 0))
    if dim <= 0 or graph.nnz == 0:
        return np.zeros((n, max(dim, 1)), dtype=np.float32)
    from sklearn.utils.extmath import randomized_svd

    adj = sp.csr_matrix(
        (np.ones(graph.nnz, dtype=np.float64), graph.indices, graph.indptr), shape=graph.shape
    )
    deg = np.diff(graph.indptr).astype(np.float64)
    scale = np.divide(1.0, np.sqrt(deg), out=np.zeros(n), where=deg > 0)
    norm = sp.diags(scale) @ adj @ sp.diags(scale)
    u, s, _ = randomized_svd(norm, dim, n_iter=n_iter, random_state=seed)
    return (u * np.sqrt(s)).astype(np.float32)


def graph_extras(graph: sp.csr_matrix, weights: bool = True) -> dict[str, np.ndarray]:
    """The train graph's CSR arrays as ``extras`` (saved and loaded with the embeddings),
    so a graph-scored baseline scores itself after loading; ``weights`` keeps the edge
    weights too (without them the graph reads back unweighted)."""
    extras = {"indptr": graph.indptr.astype(np.int64), "indices": graph.indices.astype(np.int32)}
    if weights:
        extras["weights"] = graph.data.astype(np.float32)
    return extras


def stored_graph(extras: dict[str, np.ndarray], binary: bool = False) -> sp.csr_matrix:
    """The float32 CSR graph kept by :func:`graph_extras`; ``binary`` (or no stored
    weights): every edge weighs 1."""
    indptr = np.asarray(extras["indptr"])
    indices = np.asarray(extras["indices"])
    n = len(indptr) - 1
    if binary or "weights" not in extras:
        data = np.ones(len(indices), dtype=np.float32)
    else:
        data = np.asarray(extras["weights"], dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def sparse_block(
    left: sp.csr_matrix, right: sp.spmatrix, queries: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """float32 ``(left[queries] @ right)[:, candidates]`` as a dense block: the score block
    of every baseline whose scores are a product of two sparse matrices."""
    rows = sp.csr_matrix(left[np.asarray(queries, dtype=np.int64)] @ right)
    c = np.asarray(candidates, dtype=np.int64)
    if len(c) == rows.shape[1] and np.array_equal(c, np.arange(rows.shape[1])):
        return rows.toarray().astype(np.float32, copy=False)
    return rows.tocsc()[:, c].toarray().astype(np.float32, copy=False)


def rebuilt(cls: type[Embeddings], embeddings: Embeddings) -> Any:
    """``embeddings`` (loaded generically) rebuilt as the scoring subclass ``cls``."""
    return cls(**{f.name: getattr(embeddings, f.name) for f in dataclasses.fields(Embeddings)})
