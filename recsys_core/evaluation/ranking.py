"""Ranking metrics: the model's top-k recommendations for a product, judged against the
products it was actually bought with in the held-out part.

Protocol (what every HitRate, NDCG, Recall, MRR, coverage and popularity figure means):

- **Queries.** A query is a product that appears in the evaluated part's positive pairs
  (test, or validation in the method's split). Its **relevant set** is every one of its
  partners in that part (a self-pair is dropped). When there are more such products than
  ``max_queries``, a fixed sample of them (``seed``) is used.
- **Candidates.** Every product of the catalog, up to ``max_candidates`` products (exact,
  full-catalog ranking). Above that, a fixed random sample of ``max_candidates`` products
  (``seed``) plus each query's own relevant items; :attr:`RankingResult.sampled` says so,
  and so does every table built from it.
- **Filtered.** Removed from a query's candidates: the query itself, its train-graph
  neighbours (recommendations the model was shown, not new ones) and its positives in the
  *other* held-out part (validation partners when evaluating test, and the other way
  round), which are right answers that this part does not count. Products whose vector
  may not be scored (``usable`` False; the unseen policy of
  :mod:`recsys_core.evaluation.auc`) are never candidates and never recommended.
- **Scores** come from the model's one rule, :meth:`Embeddings.score_block` (queries x
  candidates), called on blocks of at most ``block_floats`` float32 (64 MB by default)
  whatever the catalog size. The relevant items' own scores come from one more call on the
  block's relevant items. Ties are exact float equality; since two calls' matrix products
  may round the last bit of a score differently (BLAS sums in another order for another
  shape), a candidate within float rounding of a relevant item's score may count on either
  side of it (bench/ranking.py measures how rarely).
- **Rank** of a relevant item (0 = first): the non-relevant candidates scoring higher plus
  half of those scoring equal (the expected rank under random tie-breaking); the query's
  other relevant items are left out of each other's rank, as in the filtered setting of
  link prediction. Its **position** in the list adds the query's relevant items scoring
  higher (and half of those scoring equal): with several relevant items, the second one
  sits below the first.
- **Misses by policy.** A query whose own product is unusable recommends nothing: every
  relevant item is a miss (rank inf). A relevant item that is unusable is a miss; the
  query's other relevant items are ranked as usual.
- **Metrics per query** (averaged over queries), for each cut-off k (10 and 50):

  - HitRate@k: 1 when the best relevant item ranks within the first k (rank < k);
  - NDCG@k: DCG of the relevant items' positions, ``sum 1 / log2(position + 2)`` over
    positions < k, divided by the ideal DCG of ``min(|relevant|, k)`` items at the top;
  - Recall@k: the share of the relevant set at positions < k (``hits / |relevant|``);
  - MRR: ``1 / (best rank + 1)``, over the whole list (no cut-off);
  - popularity@10: mean ``log(1 + train degree)`` of the query's top-10 list (its actual
    recommendations, relevant or not), the popularity of what is recommended.

- **Catalog coverage@10**: distinct products in all queries' top-10 lists over the usable
  candidates (the catalog's usable products, or the sample's).
- **Seen**: a query is seen when the query and every one of its partners had a train pair;
  ``*_seen`` figures average over those queries.

The top-10 list is each query's ten best-scoring candidates after filtering (ties keep the
lower product id); relevant items are part of it, so a hit is visible in it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from recsys_core.evaluation import ranking_kernels as kernels
from recsys_core.models.base import Embeddings

# Floats per score block; bounds memory (64 MB of float32) whatever the catalog size.
BLOCK_FLOATS = 1 << 24
# Candidates per score block: wide enough for fast matrix products, narrow enough that a
# block holds many queries, so a vector model's candidate side is prepared a few times only.
CHUNK = 16_384
# Largest exact ranking; bigger catalogs rank among a fixed sample of this many products.
MAX_CANDIDATES = 500_000
TOP = 10  # length of the recommendation lists behind coverage and popularity


@dataclasses.dataclass
class Queries:
    """Query products and their relevant sets (CSR: ``rel[rel_ptr[i]:rel_ptr[i+1]]``)."""

    products: np.ndarray  # int64 (n,)
    rel_ptr: np.ndarray  # int64 (n + 1,)
    rel: np.ndarray  # int64, relevant product ids, sorted within each query
    seen: np.ndarray  # bool (n,), the query and all its partners seen in training

    def __len__(self) -> int:
        return len(self.products)

    def sizes(self) -> np.ndarray:
        return np.diff(self.rel_ptr)

    def rows(self) -> np.ndarray:
        """The query index of each relevant entry."""
        return np.repeat(np.arange(len(self)), self.sizes())

    def take(self, index: np.ndarray) -> Queries:
        index = np.asarray(index, dtype=np.int64)
        sizes = self.sizes()[index]
        ptr = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        flat = np.concatenate(
            [np.arange(self.rel_ptr[i], self.rel_ptr[i + 1]) for i in index] or [np.empty(0)]
        ).astype(np.int64)
        return Queries(self.products[index], ptr, self.rel[flat], self.seen[index])


def build_queries(
    a: np.ndarray,
    b: np.ndarray,
    seen_products: np.ndarray,
    max_queries: int = 0,
    seed: int = 0,
) -> Queries:
    """Queries of the positive pairs ``(a[i], b[i])``: every product in them, with all its
    partners as the relevant set; a fixed sample of ``max_queries`` (0: all) with ``seed``."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    src, dst = np.r_[a, b], np.r_[b, a]
    keep = src != dst
    src, dst = src[keep], dst[keep]
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    dup = np.r_[False, (src[1:] == src[:-1]) & (dst[1:] == dst[:-1])]
    src, dst = src[~dup], dst[~dup]
    products, starts = np.unique(src, return_index=True)
    ptr = np.r_[starts, len(src)].astype(np.int64)
    seen_products = np.asarray(seen_products, dtype=bool)
    partner_seen = (
        np.logical_and.reduceat(seen_products[dst], starts) if len(dst) else np.zeros(0, bool)
    )
    queries = Queries(products, ptr, dst, seen_products[products] & partner_seen)
    if max_queries and len(queries) > max_queries:
        rng = np.random.default_rng(seed)
        queries = queries.take(np.sort(rng.choice(len(queries), max_queries, replace=False)))
    return queries


@dataclasses.dataclass
class RankingResult:
    """Per relevant item ranks and per query top lists; metrics in :meth:`per_query`."""

    queries: Queries
    rank: np.ndarray  # float64 per relevant entry: filtered rank (inf: miss by policy)
    position: np.ndarray  # float64 per relevant entry: position in the query's list
    top: np.ndarray  # int64 (n_queries, TOP), product ids, -1 where the list is short
    n_candidates: int  # candidates per query before filtering
    n_usable: int  # usable candidates: the denominator of coverage
    sampled: bool  # True: candidates were a sample, not the whole catalog
    log_degree: np.ndarray | None = None  # log(1 + train degree) per product
    ks: tuple[int, ...] = (10, 50)

    def per_query(self) -> dict[str, np.ndarray]:
        """One float64 array per metric, one value per query (see the module notes)."""
        q = self.queries
        n = len(q)
        rows = q.rows()
        sizes = q.sizes().astype(np.float64)
        best = np.full(n, np.inf)
        np.minimum.at(best, rows, self.rank)
        out: dict[str, np.ndarray] = {}
        for k in self.ks:
            hit = self.position < k
            gain = np.where(hit, 1.0 / np.log2(np.where(hit, self.position, 0.0) + 2.0), 0.0)
            dcg = np.bincount(rows, weights=gain, minlength=n)
            hits = np.bincount(rows, weights=hit.astype(np.float64), minlength=n)
            out[f"hit_rate@{k}"] = (best < k).astype(np.float64)
            out[f"ndcg@{k}"] = dcg / ideal_dcg(sizes, k)
            out[f"recall@{k}"] = hits / sizes
        out["mrr"] = np.where(np.isfinite(best), 1.0 / (best + 1.0), 0.0)
        out[f"popularity@{TOP}"] = self.list_popularity()
        return out

    def list_popularity(self) -> np.ndarray:
        """Mean log(1 + train degree) of each query's top list (NaN: no list, no degrees)."""
        n = len(self.queries)
        if self.log_degree is None or self.top.shape[1] == 0:
            return np.full(n, np.nan)
        listed = self.top >= 0
        values = np.where(listed, self.log_degree[np.maximum(self.top, 0)], 0.0)
        count = listed.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, values.sum(axis=1) / count, np.nan)

    def coverage(self, rows: np.ndarray | None = None) -> float:
        """Distinct products of the top lists (of ``rows``) over the usable candidates."""
        top = self.top if rows is None else self.top[rows]
        listed = top[top >= 0]
        return float(len(np.unique(listed)) / self.n_usable) if self.n_usable else float("nan")

    def metrics(self) -> dict[str, float]:
        """Means over all queries and over seen queries, and the coverage."""
        nan = float("nan")
        out: dict[str, float] = {}
        seen = self.queries.seen
        for name, values in self.per_query().items():
            out[name] = _nanmean(values) if len(values) else nan
            out[f"{name}_seen"] = _nanmean(values[seen]) if seen.any() else nan
        out[f"coverage@{TOP}"] = self.coverage() if len(self.queries) else nan
        return out


def _nanmean(values: np.ndarray) -> float:
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


def ideal_dcg(sizes: np.ndarray, k: int) -> np.ndarray:
    """DCG of ``min(size, k)`` relevant items at the top of the list."""
    table = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))]
    return table[np.minimum(np.asarray(sizes, dtype=np.int64), k)]


def rank_queries(
    embeddings: Embeddings,
    queries: Queries,
    usable: np.ndarray,
    known: sp.csr_matrix | None = None,
    log_degree: np.ndarray | None = None,
    ks: tuple[int, ...] = (10, 50),
    max_candidates: int = MAX_CANDIDATES,
    seed: int = 0,
    block_floats: int = BLOCK_FLOATS,
    chunk: int = CHUNK,
) -> RankingResult:
    """Rank every query's relevant items among the filtered candidates (module notes).

    Parameters
    ----------
    embeddings:
        The model; :meth:`Embeddings.score_block` is its one scoring rule.
    queries:
        From :func:`build_queries`.
    usable:
        Bool per product: its vector may be scored.
    known:
        CSR (n x n) whose row ``q`` lists the products filtered out for query ``q`` (train
        neighbours and the other held-out part's partners); the query itself is always
        filtered. A relevant item is never filtered.
    log_degree:
        ``log(1 + train degree)`` per product, for the popularity of the lists.
    ks:
        Cut-offs of HitRate, NDCG and Recall.
    max_candidates:
        Largest catalog ranked exactly; above it, a fixed sample of this many products.
    seed:
        Seed of that sample.
    block_floats, chunk:
        Score-block budget (floats) and candidates per block.
    """
    usable = np.asarray(usable, dtype=bool)
    n = len(usable)
    sampled = n > max_candidates
    if sampled:
        rng = np.random.default_rng(seed)
        candidates = np.sort(rng.choice(n, size=max_candidates, replace=False)).astype(np.int64)
    else:
        candidates = np.arange(n, dtype=np.int64)
    cand_ok = usable[candidates]
    q_ok = usable[queries.products]
    rows = queries.rows()
    rel_ok = usable[queries.rel] & q_ok[rows]
    rank = np.full(len(queries.rel), np.inf)
    t_all = np.full(len(queries.rel), np.nan)
    top = np.full((len(queries), TOP), -1, dtype=np.int64)
    width = max(1, min(len(candidates), chunk))
    per_block = max(1, block_floats // width)
    active = np.flatnonzero(q_ok)
    for start in range(0, len(active), per_block):
        ids = active[start : start + per_block]
        block = _Block(embeddings, queries, ids, rel_ok, candidates, known, block_floats)
        for col0 in range(0, len(candidates), width):
            cols = candidates[col0 : col0 + width]
            scores = np.asarray(embeddings.score_block(block.products, cols), dtype=np.float32)
            kernels.scan_block(
                np.ascontiguousarray(scores),
                col0,
                cand_ok[col0 : col0 + width],
                block.f_ptr,
                block.f_pos,
                block.r_ptr,
                block.r_pos,
                block.t,
                block.below,
                block.ties,
                block.top_val,
                block.top_pos,
            )
        higher, equal = kernels.finish_counts(block.r_ptr, block.below, block.ties)
        rank[block.entries] = higher + 0.5 * equal
        t_all[block.entries] = block.t
        listed = block.top_pos >= 0
        top[ids] = np.where(listed, candidates[np.maximum(block.top_pos, 0)], -1)
        if sampled:
            _merge_unsampled(top, ids, block)
    position = kernels.list_positions(queries.rel_ptr, t_all, rank)
    return RankingResult(
        queries=queries,
        rank=rank,
        position=position,
        top=top,
        n_candidates=len(candidates),
        n_usable=int(cand_ok.sum()),
        sampled=sampled,
        log_degree=None if log_degree is None else np.asarray(log_degree, dtype=np.float64),
        ks=tuple(int(k) for k in ks),
    )


class _Block:
    """One block of queries as the kernel reads it: filters, relevant items sorted by
    score, histograms and top lists."""

    def __init__(
        self,
        embeddings: Embeddings,
        queries: Queries,
        ids: np.ndarray,
        rel_ok: np.ndarray,
        candidates: np.ndarray,
        known: sp.csr_matrix | None,
        block_floats: int,
    ) -> None:
        self.products = queries.products[ids]
        # usable relevant entries of these queries, in query order
        sizes = queries.sizes()[ids]
        first = np.repeat(queries.rel_ptr[ids] - np.r_[0, np.cumsum(sizes)[:-1]], sizes)
        entries = first + np.arange(int(sizes.sum()))
        local_row = np.repeat(np.arange(len(ids)), sizes)
        keep = rel_ok[entries]
        entries, local_row = entries[keep], local_row[keep]
        rel = queries.rel[entries]
        t = _relevant_scores(embeddings, self.products, local_row, rel, block_floats)
        order = np.lexsort((t, local_row))
        self.entries = entries[order]
        self.t = np.ascontiguousarray(t[order], dtype=np.float32)
        rel = rel[order]
        counts = np.bincount(local_row, minlength=len(ids))
        self.r_ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.r_pos = _positions(candidates, rel)
        self.rel = rel
        self.f_ptr, self.f_pos = _filters(self.products, candidates, known, queries, ids)
        slots = len(self.t) + len(ids)
        self.below = np.zeros(slots, dtype=np.int64)
        self.ties = np.zeros(slots + 1, dtype=np.int64)
        self.top_val = np.full((len(ids), TOP), -np.inf, dtype=np.float32)
        self.top_pos = np.full((len(ids), TOP), -1, dtype=np.int64)


def _relevant_scores(
    embeddings: Embeddings,
    products: np.ndarray,
    row: np.ndarray,
    rel: np.ndarray,
    block_floats: int,
) -> np.ndarray:
    """score_block of each (products[row[j]], rel[j]), in groups of rows whose
    (rows x their relevant items) block fits ``block_floats``."""
    out = np.empty(len(rel), dtype=np.float32)
    if not len(rel):
        return out
    bounds = np.r_[0, np.flatnonzero(np.diff(row)) + 1, len(row)]
    start = 0
    while start < len(bounds) - 1:
        stop = start + 1
        while stop < len(bounds) - 1:
            n_rows = stop + 1 - start
            if n_rows * (bounds[stop + 1] - bounds[start]) > block_floats:
                break
            stop += 1
        lo, hi = bounds[start], bounds[stop]
        cols, inverse = np.unique(rel[lo:hi], return_inverse=True)
        group_rows, local = np.unique(row[lo:hi], return_inverse=True)
        scores = np.asarray(embeddings.score_block(products[group_rows], cols), np.float32)
        out[lo:hi] = scores[local, inverse]
        start = stop
    return out


def _positions(candidates: np.ndarray, products: np.ndarray) -> np.ndarray:
    """Position of each product among the sorted candidates, -1 when absent."""
    pos = np.searchsorted(candidates, products)
    pos = np.minimum(pos, len(candidates) - 1)
    found = candidates[pos] == products
    return np.where(found, pos, -1).astype(np.int64)


def _filters(
    products: np.ndarray,
    candidates: np.ndarray,
    known: sp.csr_matrix | None,
    queries: Queries,
    ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the sorted candidate positions filtered out: the query itself and its
    ``known`` row, minus its relevant items."""
    rows = [np.arange(len(products))]
    items = [products]
    if known is not None:
        starts = known.indptr[products].astype(np.int64)
        lengths = (known.indptr[products + 1] - starts).astype(np.int64)
        total = int(lengths.sum())
        if total:
            first = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
            items.append(known.indices[first + np.arange(total)].astype(np.int64))
            rows.append(np.repeat(np.arange(len(products)), lengths))
    row = np.concatenate(rows)
    item = np.concatenate(items)
    # a relevant item stays a candidate: drop (row, item) pairs that are relevant
    sizes = queries.sizes()[ids]
    rel_row = np.repeat(np.arange(len(ids)), sizes)
    rel_item = np.concatenate(
        [queries.rel[queries.rel_ptr[i] : queries.rel_ptr[i + 1]] for i in ids] or [np.empty(0)]
    ).astype(np.int64)
    n = np.int64(max(int(item.max(initial=0)), int(rel_item.max(initial=0))) + 1)
    keys = row * n + item
    keys = keys[~np.isin(keys, rel_row * n + rel_item)]
    keys = np.unique(keys)
    row, item = keys // n, keys % n
    pos = _positions(candidates, item)
    present = pos >= 0
    row, pos = row[present], pos[present]
    order = np.lexsort((pos, row))
    row, pos = row[order], pos[order]
    ptr = np.r_[0, np.cumsum(np.bincount(row, minlength=len(products)))].astype(np.int64)
    return ptr, pos


def _merge_unsampled(top: np.ndarray, ids: np.ndarray, block: _Block) -> None:
    """Put relevant items outside the candidate sample into the top lists where their
    scores earn a place (in an exact ranking they are candidates already). On equal
    scores the listed candidate stays ahead (a stable sort)."""
    for i, query in enumerate(ids):
        outside = [
            (float(block.t[r]), int(block.rel[r]))
            for r in range(block.r_ptr[i], block.r_ptr[i + 1])
            if block.r_pos[r] < 0
        ]
        if not outside:
            continue
        listed = [
            (float(value), int(product))
            for value, product in zip(block.top_val[i], top[query], strict=True)
            if product >= 0
        ]
        merged = sorted(listed + outside, key=lambda item: -item[0])[:TOP]
        top[query] = -1
        top[query, : len(merged)] = [product for _, product in merged]
