"""Top-k recommendations for many products by the model's own rule: exact or approximate.

**Exact** (:func:`exact_top_k`): blocks of queries are scored against the whole catalog
with :meth:`~recsys_core.models.base.Embeddings.score_block` (at most ``block_floats``
scores in memory at once, whatever the catalog size), masked, and cut to the best ``k``
with ``argpartition``.

**Approximate** (:class:`AnnIndex`): an HNSW graph (hnswlib, chosen by measurement:
bench/README.md "Top-k and the approximate index") over the candidate side of the model's
inner-product form (:meth:`~recsys_core.models.base.Embeddings.ip_form`). Maximum inner
product becomes nearest neighbour in L2 by one extra coordinate (Bachrach et al. 2014):
every candidate row ``c`` gets ``sqrt(M^2 - |c|^2)`` (``M`` the largest norm) and every
query row 0, so ``|q - c|^2 = |q|^2 + M^2 - 2 q.c``. The index proposes ``k + slack``
candidates per query; they are re-scored by the model's own ``score_block`` (so every
score written is the rule's, never the index's distance), filtered and cut to ``k``.
Models whose rule is no inner product (graph heuristics) are always ranked exactly.

:func:`top_k` picks between them: exact up to :data:`ANN_THRESHOLD` products (override with
``RECSYS_ANN_THRESHOLD`` or the ``ann`` argument), the index above it.

Filters, in both paths: the query itself never; products outside ``usable`` (see
:func:`recsys_core.evaluation.auc.usable_mask`) never; the query's train neighbours when a
``known`` graph is given. A row with fewer than ``k`` admissible candidates is padded
with id -1 and score NaN.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.models.base import Embeddings

# Catalog size above which top_k uses the approximate index: an exact export of every
# product's list costs n^2 scores (420k products: 1.8e11), while one exact lookup stays
# fast at any size we serve (bench/topk.py).
ANN_THRESHOLD = 100_000
# Scores held in memory per exact block: 64 MB of float32.
BLOCK_FLOATS = 1 << 24
# HNSW settings (bench/README.md): graph degree, build and search beam widths.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 100
# Catalog rows added to the index per call.
ADD_ROWS = 100_000
# Queries re-scored together after an index search (their candidates' union is scored).
RESCORE_ROWS = 256


@dataclasses.dataclass
class TopK:
    """``ids`` (m, k) int64 and ``scores`` (m, k) float32 by the model's rule, best first;
    -1 / NaN where a query has fewer admissible candidates. ``exact`` says which path."""

    queries: np.ndarray
    ids: np.ndarray
    scores: np.ndarray
    exact: bool


def ann_threshold() -> int:
    """:data:`ANN_THRESHOLD`, or ``RECSYS_ANN_THRESHOLD`` when set."""
    text = os.environ.get("RECSYS_ANN_THRESHOLD", "").strip()
    if not text:
        return ANN_THRESHOLD
    if not text.isdigit():
        raise ValueError(f"RECSYS_ANN_THRESHOLD must be a whole number of products, got {text!r}")
    return int(text)


def use_ann(embeddings: Embeddings, ann: bool | None = None) -> bool:
    """Whether :func:`top_k` takes the approximate path: ``ann`` when given (True is
    refused for a rule with no inner-product form), else above :func:`ann_threshold`."""
    if ann is False or (ann is None and len(embeddings.trained) <= ann_threshold()):
        return False
    has_form = embeddings.ip_form() is not None
    if ann and not has_form:
        raise ValueError(
            f"the {embeddings.score!r} score is computed from the graph, not from vectors, so "
            "it has no approximate index: use exact top-k (--exact)"
        )
    return has_form


def top_k(
    embeddings: Embeddings,
    queries: np.ndarray,
    k: int,
    usable: np.ndarray | None = None,
    known: sp.csr_matrix | None = None,
    ann: bool | None = None,
) -> TopK:
    """Top ``k`` per query, exact or approximate by :func:`use_ann`."""
    if use_ann(embeddings, ann):
        return AnnIndex(embeddings, usable).top_k(queries, k, known)
    return exact_top_k(embeddings, queries, k, usable, known)


def exact_top_k(
    embeddings: Embeddings,
    queries: np.ndarray,
    k: int,
    usable: np.ndarray | None = None,
    known: sp.csr_matrix | None = None,
    block_floats: int = BLOCK_FLOATS,
) -> TopK:
    """Exact top ``k`` per query over the whole catalog, in blocks of queries."""
    queries = np.asarray(queries, dtype=np.int64)
    n = len(embeddings.trained)
    _check(queries, k, n)
    candidates = np.arange(n)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    scores = np.full((len(queries), k), np.nan, dtype=np.float32)
    rows = max(1, block_floats // max(n, 1))
    for start in range(0, len(queries), rows):
        block_q = queries[start : start + rows]
        block = np.asarray(embeddings.score_block(block_q, candidates), dtype=np.float32)
        _mask(block, block_q, candidates, usable, known)
        ids[start : start + len(block_q)], scores[start : start + len(block_q)] = _best(block, k)
    return TopK(queries, ids, scores, exact=True)


def _check(queries: np.ndarray, k: int, n: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(queries) and (queries.min() < 0 or queries.max() >= n):
        raise ValueError(f"query product ids must be in 0..{n - 1}")


def _mask(
    block: np.ndarray,
    queries: np.ndarray,
    candidates: np.ndarray,
    usable: np.ndarray | None,
    known: sp.csr_matrix | None,
) -> None:
    """Set the scores of inadmissible (query, candidate) entries to -inf, in place.
    ``candidates`` is sorted (every caller passes ids in increasing order)."""
    if usable is not None:
        block[:, ~np.asarray(usable, dtype=bool)[candidates]] = -np.inf
    pairs = [(np.arange(len(queries)), queries)]
    if known is not None:
        sub = known[queries]
        pairs.append((np.repeat(np.arange(len(queries)), np.diff(sub.indptr)), sub.indices))
    for row, product in pairs:
        col = np.searchsorted(candidates, product)
        hit = col < len(candidates)
        hit[hit] = candidates[col[hit]] == product[hit]
        block[row[hit], col[hit]] = -np.inf


def _best(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and scores of each row's ``k`` best finite scores, best first
    (ties by position); -1 / NaN padding."""
    width = min(k, block.shape[1])
    top = np.argpartition(-block, width - 1, axis=1)[:, :width]
    top_scores = np.take_along_axis(block, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    top_scores = np.take_along_axis(top_scores, order, axis=1)
    ids = np.full((block.shape[0], k), -1, dtype=np.int64)
    scores = np.full((block.shape[0], k), np.nan, dtype=np.float32)
    ok = np.isfinite(top_scores)
    ids[:, :width] = np.where(ok, top, -1)
    scores[:, :width] = np.where(ok, top_scores, np.nan)
    return ids, scores


class AnnIndex:
    """An HNSW index over the usable products' candidate side of ``ip_form``.

    Build once, query many times; results are re-scored by ``score_block``. ``threads``
    defaults to every core.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        usable: np.ndarray | None = None,
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        ef_search: int = HNSW_EF_SEARCH,
        threads: int = -1,
        seed: int = 0,
    ) -> None:
        import hnswlib

        form = embeddings.ip_form()
        if form is None:
            raise ValueError(
                f"the {embeddings.score!r} score has no inner-product form, so no approximate "
                "index: use exact top-k"
            )
        self.embeddings = embeddings
        self.query_side, cand = form
        n = len(cand)
        mask = np.ones(n, bool) if usable is None else np.asarray(usable, dtype=bool)
        self.members = np.flatnonzero(mask)
        self.usable = mask
        norms = np.einsum("ij,ij->i", cand, cand)[self.members]
        top = norms.max(initial=0.0)
        self.ef_search = ef_search
        self.threads = threads
        self.index = hnswlib.Index(space="l2", dim=cand.shape[1] + 1)
        self.index.init_index(
            max_elements=max(len(self.members), 1),
            ef_construction=ef_construction,
            M=m,
            random_seed=seed,
        )
        # Added in slices: the lifted copy of a 2M-product catalog would cost another GB.
        for start in range(0, len(self.members), ADD_ROWS):
            part = self.members[start : start + ADD_ROWS]
            lift = np.sqrt(np.maximum(top - norms[start : start + len(part)], 0.0))
            data = np.hstack([cand[part], lift[:, None]]).astype(np.float32)
            self.index.add_items(data, np.arange(start, start + len(part)), num_threads=threads)

    def top_k(
        self,
        queries: np.ndarray,
        k: int,
        known: sp.csr_matrix | None = None,
        slack: int | None = None,
    ) -> TopK:
        """Approximate top ``k`` per query, re-scored by the model's own rule."""
        queries = np.asarray(queries, dtype=np.int64)
        _check(queries, k, len(self.usable))
        extra = 1 + (int(known[queries].getnnz(axis=1).max(initial=0)) if known is not None else 0)
        want = min(k + (extra if slack is None else slack), len(self.members))
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), np.nan, dtype=np.float32)
        if want == 0 or len(queries) == 0:
            return TopK(queries, ids, scores, exact=False)
        self.index.set_ef(max(self.ef_search, want))
        q = np.hstack([self.query_side[queries], np.zeros((len(queries), 1), np.float32)])
        labels, _ = self.index.knn_query(q, k=want, num_threads=self.threads)
        found = self.members[labels.astype(np.int64)]
        for start in range(0, len(queries), RESCORE_ROWS):
            part = slice(start, start + RESCORE_ROWS)
            block = self._rescore(queries[part], found[part])
            _mask_found(block, queries[part], found[part], known)
            pos, best = _best(block, k)
            rows = np.take_along_axis(found[part], np.maximum(pos, 0), axis=1)
            ids[part] = np.where(pos >= 0, rows, -1)
            scores[part] = best
        return TopK(queries, ids, scores, exact=False)

    def _rescore(self, queries: np.ndarray, found: np.ndarray) -> np.ndarray:
        """The model's own ``score_block`` of each query against its proposed candidates
        (one block against the union of the rows' candidates, then each row's own)."""
        union, where = np.unique(found, return_inverse=True)
        block = np.asarray(self.embeddings.score_block(queries, union), dtype=np.float32)
        return np.take_along_axis(block, where.reshape(found.shape), axis=1)


def _mask_found(
    block: np.ndarray, queries: np.ndarray, found: np.ndarray, known: sp.csr_matrix | None
) -> None:
    """-inf for each query itself and its known neighbours among its proposed candidates."""
    block[found == queries[:, None]] = -np.inf
    if known is None:
        return
    for row, query in enumerate(queries):
        neighbours = known.indices[known.indptr[query] : known.indptr[query + 1]]
        if len(neighbours):
            block[row, np.isin(found[row], neighbours)] = -np.inf


def recommendations_frame(found: TopK, products: pd.DataFrame) -> pd.DataFrame:
    """One row per (product, rank): ``product``, ``asin``, ``rank`` (1 = best),
    ``recommended``, ``recommended_asin``, ``score`` (the model's rule), and ``title`` /
    ``recommended_title`` where the catalog has titles; padding is dropped."""
    m, k = found.ids.shape
    keep = found.ids.ravel() >= 0
    query = np.repeat(found.queries, k)[keep]
    rec = found.ids.ravel()[keep]
    asins = products["asin"].astype(str).to_numpy()
    frame = pd.DataFrame(
        {
            "product": query,
            "asin": asins[query],
            "rank": np.tile(np.arange(1, k + 1), m)[keep],
            "recommended": rec,
            "recommended_asin": asins[rec],
            "score": found.scores.ravel()[keep],
        }
    )
    if "title" in products.columns:
        titles = products["title"].fillna("").astype(str).to_numpy()
        frame.insert(2, "title", titles[query])
        frame.insert(6, "recommended_title", titles[rec])
    return frame
