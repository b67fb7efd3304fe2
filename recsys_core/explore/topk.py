"""Top-k recommendations for many products by the model's own rule: exact or approximate.

**Exact** (:func:`exact_top_k`): blocks of queries are scored against the whole catalog
(at most ``block_floats`` scores in memory at once, whatever the catalog size), masked,
and cut to the best ``k`` with ``argpartition``. Blocks are
:meth:`~recsys_core.models.base.Embeddings.score_block`, or for a rule with an
inner-product form the product of its two matrices (the same order), with the ``k`` found
re-scored by ``score_block``.

**Approximate** (:class:`AnnIndex`): an inverted-file index (faiss IVF-Flat, chosen by
measurement against hnswlib, faiss HNSW and pynndescent: bench/README.md "Top-k and the
approximate index") over the candidate side of the model's inner-product form
(:meth:`~recsys_core.models.base.Embeddings.ip_form`). Maximum inner product becomes
nearest neighbour in L2 by one extra coordinate (Bachrach et al. 2014): every candidate
row ``c`` gets ``sqrt(M^2 - |c|^2)`` (``M`` the largest norm) and every query row 0, so
``|q - c|^2 = |q|^2 + M^2 - 2 q.c``. The index proposes ``k`` plus enough candidates per
query to survive the filters; they are re-scored by the model's own ``score_block`` (so
every score written is the rule's, never the index's distance), filtered and cut to ``k``.
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
# IVF settings (bench/README.md "Top-k and the approximate index"): cells scanned per
# query, k-means training rows per cell, and the fewest training rows a cell may have.
IVF_PROBES = 16
IVF_TRAIN_PER_LIST = 50
IVF_MIN_TRAIN = 39
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
    # With an inner-product form the blocks are plain matrix products over matrices built
    # once (score_block would rebuild, e.g., every candidate's unit row per block); it
    # ranks exactly as the rule (a constant per query), and the k found are re-scored.
    form = embeddings.ip_form()
    rows = max(1, block_floats // max(n, 1))
    for start in range(0, len(queries), rows):
        part = slice(start, start + rows)
        block_q = queries[part]
        if form is None:
            block = np.asarray(embeddings.score_block(block_q, candidates), dtype=np.float32)
        else:
            block = form[0][block_q] @ form[1].T
        _mask(block, block_q, candidates, usable, known)
        ids[part], scores[part] = _best(block, k)
        if form is not None:
            ids[part], scores[part] = _rescored(embeddings, block_q, ids[part])
    return TopK(queries, ids, scores, exact=True)


def _rescored(
    embeddings: Embeddings, queries: np.ndarray, found: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``found`` (-1 padded) re-scored by the model's own ``score_block`` and re-sorted
    best first (one block against the union of the rows' candidates)."""
    real = found >= 0
    union, where = np.unique(np.where(real, found, 0), return_inverse=True)
    block = np.asarray(embeddings.score_block(queries, union), dtype=np.float32)
    block = np.take_along_axis(block, where.reshape(found.shape), axis=1)
    block[~real] = -np.inf
    pos, best = _best(block, found.shape[1])
    return np.where(pos >= 0, np.take_along_axis(found, np.maximum(pos, 0), axis=1), -1), best


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
    """An inverted-file index (faiss IVF-Flat) over the usable products' candidate side of
    ``ip_form``.

    ``lists`` k-means cells (default ``4 sqrt(n)``, at least 39 training rows each); a
    query scans its ``probes`` nearest cells. Build once, query many times; the proposals
    are re-scored by ``score_block``. ``threads`` <= 0 leaves faiss's own default.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        usable: np.ndarray | None = None,
        lists: int | None = None,
        probes: int = IVF_PROBES,
        threads: int = 0,
        seed: int = 0,
    ) -> None:
        import faiss

        form = embeddings.ip_form()
        if form is None:
            raise ValueError(
                f"the {embeddings.score!r} score has no inner-product form, so no approximate "
                "index: use exact top-k"
            )
        if threads > 0:
            faiss.omp_set_num_threads(threads)
        self.embeddings = embeddings
        self.query_side, cand = form
        mask = np.ones(len(cand), bool) if usable is None else np.asarray(usable, dtype=bool)
        self.members = np.flatnonzero(mask)
        self.usable = mask
        n = len(self.members)
        norms = np.einsum("ij,ij->i", cand, cand)[self.members]
        top = norms.max(initial=0.0)

        def lifted(rows: np.ndarray) -> np.ndarray:
            """Member rows ``rows`` with the coordinate that turns MIPS into L2."""
            lift = np.sqrt(np.maximum(top - norms[rows], 0.0))
            return np.hstack([cand[self.members[rows]], lift[:, None]]).astype(np.float32)

        dim = cand.shape[1] + 1
        if lists is None:
            lists = min(int(4 * np.sqrt(n)), n // IVF_MIN_TRAIN)
        self.lists = max(1, lists)
        self.index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, self.lists)
        self.index.cp.seed = seed
        if n:
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(n, min(n, IVF_TRAIN_PER_LIST * self.lists), False))
            self.index.train(lifted(sample))
        # Added in slices: the lifted copy of a 2M-product catalog would cost another GB.
        for begin in range(0, n, ADD_ROWS):
            self.index.add(lifted(np.arange(begin, min(begin + ADD_ROWS, n))))
        self.index.nprobe = min(probes, self.lists)

    def top_k(self, queries: np.ndarray, k: int, known: sp.csr_matrix | None = None) -> TopK:
        """Approximate top ``k`` per query, re-scored by the model's own rule. Each chunk
        of queries asks for ``k`` plus one (itself) plus its largest known degree, so
        filtering never leaves a row short."""
        queries = np.asarray(queries, dtype=np.int64)
        _check(queries, k, len(self.usable))
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), np.nan, dtype=np.float32)
        for start in range(0, len(queries), RESCORE_ROWS):
            part = slice(start, start + RESCORE_ROWS)
            chunk = queries[part]
            extra = 1 + (int(known[chunk].getnnz(axis=1).max()) if known is not None else 0)
            want = min(k + extra, len(self.members))
            if want == 0:
                break
            q = np.hstack([self.query_side[chunk], np.zeros((len(chunk), 1), np.float32)])
            _, labels = self.index.search(q, want)
            found = np.where(labels >= 0, self.members[np.maximum(labels, 0)], -1)
            _mask_found(found, chunk, known)
            best_ids, best = _rescored(self.embeddings, chunk, found)
            width = min(k, want)
            ids[part, :width], scores[part, :width] = best_ids[:, :width], best[:, :width]
        return TopK(queries, ids, scores, exact=False)


def _mask_found(found: np.ndarray, queries: np.ndarray, known: sp.csr_matrix | None) -> None:
    """-1 (dropped) for each query itself and its known neighbours among its proposed
    candidates, in place."""
    found[found == queries[:, None]] = -1
    if known is None:
        return
    for row, query in enumerate(queries):
        neighbours = known.indices[known.indptr[query] : known.indptr[query + 1]]
        if len(neighbours):
            found[row, np.isin(found[row], neighbours)] = -1


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
