"""Ranking metrics: where does a validation positive's partner rank among all products?

For a query product ``q`` with held-out partner ``t`` (a validation positive), every
candidate product gets the model's own score against ``q``; the partner's rank among the
candidates gives HitRate@k (rank < k) and NDCG@k (``1 / log2(rank + 2)`` when a hit, else 0;
one relevant item, so the ideal DCG is 1).

Protocol choices, made explicit because they move the numbers:

- **Filtered ranking.** The query itself, its train-graph neighbours and its *other*
  validation partners are removed from the candidates. Train neighbours are recommendations
  the model was shown, not new ones; other held-out partners are also correct answers and
  should not push the partner out of the top k (the "filtered" setting of link prediction).
- **Both directions.** Each positive pair gives two queries (a -> b and b -> a); up to
  ``max_queries`` of them are sampled with a fixed seed, so 420k-product catalogs stay fast.
- **Candidate sample.** On catalogs larger than ``max_candidates`` the candidates are a
  fixed random sample of products plus the true partner, so rank is among
  ``max_candidates + 1`` products, not the whole catalog (HitRate is then optimistic
  relative to a full ranking; say so when comparing with full-catalog numbers).
- **Ties** count half: rank = (#candidates scoring higher) + 0.5 * (#others scoring equal),
  the expected rank under random tie-breaking; a constant-scoring model gets ~n/2.
- **Unusable vectors.** ``usable`` marks products whose vector may be scored (the unseen
  policy of :mod:`recsys_core.evaluation.evaluate`). Unusable candidates cannot be recommended; a
  query whose product or partner is unusable counts as a miss (under the median policy its
  partner would tie with half of the candidates at the median score).

Scores come from :func:`score_block`, a vectorised (queries x candidates) matrix of the
model's own score: cosine as a product of normalised vectors, MF's logit (sigmoid is
monotone, and logits do not saturate into ties), or a model's own ``score_block``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from recsys_core.models.base import Embeddings

# Floats per score block; bounds memory (64 MB of float32) whatever the catalog size.
BLOCK_FLOATS = 1 << 24


def score_block(embeddings: Embeddings, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """float32 (len(queries), len(candidates)) matrix of the model's one scoring rule
    (:meth:`Embeddings.score_block`)."""
    return np.asarray(embeddings.score_block(queries, candidates), dtype=np.float32)


@dataclasses.dataclass
class RankingResult:
    """Per-query ranks and the metrics over all queries and over seen-pair queries."""

    k: int
    ranks: np.ndarray  # float64, expected rank (0 = top); inf for misses by policy
    seen: np.ndarray  # bool, the query's pair has both products seen in training
    n_candidates: int

    def hits(self) -> np.ndarray:
        return (self.ranks < self.k).astype(np.float64)

    def gains(self) -> np.ndarray:
        gains = np.zeros(len(self.ranks))
        hit = self.ranks < self.k
        gains[hit] = 1.0 / np.log2(self.ranks[hit] + 2.0)
        return gains

    def metrics(self) -> dict[str, float]:
        nan = float("nan")

        def mean(x: np.ndarray) -> float:
            return float(x.mean()) if len(x) else nan

        hits, gains = self.hits(), self.gains()
        return {
            "hit_rate": mean(hits),
            "ndcg": mean(gains),
            "hit_rate_seen": mean(hits[self.seen]),
            "ndcg_seen": mean(gains[self.seen]),
        }


def rank_partners(
    embeddings: Embeddings,
    queries: np.ndarray,
    targets: np.ndarray,
    seen: np.ndarray,
    usable: np.ndarray,
    known: sp.csr_matrix | None,
    k: int = 10,
    max_candidates: int = 100_000,
    seed: int = 0,
) -> RankingResult:
    """Rank each ``targets[i]`` among candidate products for query ``queries[i]``.

    Parameters
    ----------
    embeddings:
        The model's vectors and score.
    queries, targets:
        Product ids; ``(queries[i], targets[i])`` is a validation positive.
    seen:
        Bool per query: both products of the pair were seen in training.
    usable:
        Bool per product: the vector may be scored (see the module notes).
    known:
        Symmetric CSR whose row ``q`` lists the products to filter out for query ``q``
        (train neighbours and validation partners); None filters only the query itself.
    k:
        Cut-off of HitRate@k and NDCG@k.
    max_candidates:
        Above this catalog size, rank among a fixed sample of this many products plus the
        partner.
    seed:
        Seed of the candidate sample.
    """
    queries = np.asarray(queries, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    n = len(usable)
    if n > max_candidates:
        rng = np.random.default_rng(seed)
        candidates = np.sort(rng.choice(n, size=max_candidates, replace=False))
    else:
        candidates = np.arange(n, dtype=np.int64)
    cand_ok = usable[candidates]
    ranks = np.full(len(queries), np.inf)
    active = np.flatnonzero(usable[queries] & usable[targets])
    chunk = max(1, min(1024, BLOCK_FLOATS // (len(candidates) + 1024)))
    for start in range(0, len(active), chunk):
        rows = active[start : start + chunk]
        q, t = queries[rows], targets[rows]
        # The partner is scored as an extra column so it goes through the same arithmetic.
        block = score_block(embeddings, q, np.concatenate([candidates, t]))
        target_score = block[np.arange(len(rows)), len(candidates) + np.arange(len(rows))]
        block = block[:, : len(candidates)]
        valid = np.broadcast_to(cand_ok, block.shape).copy()
        _mask_known(valid, q, t, candidates, known)
        higher = ((block > target_score[:, None]) & valid).sum(axis=1)
        equal = ((block == target_score[:, None]) & valid).sum(axis=1)
        ranks[rows] = higher + 0.5 * equal
    return RankingResult(
        k=k, ranks=ranks, seen=np.asarray(seen, bool), n_candidates=len(candidates)
    )


def _mask_known(
    valid: np.ndarray,
    q: np.ndarray,
    t: np.ndarray,
    candidates: np.ndarray,
    known: sp.csr_matrix | None,
) -> None:
    """Clear ``valid[i, j]`` where candidate j is query i, its partner or a known product."""
    row_parts = [np.arange(len(q)), np.arange(len(q))]
    col_parts = [q, t]
    if known is not None:
        starts = known.indptr[q]
        lengths = (known.indptr[q + 1] - starts).astype(np.int64)
        if lengths.sum():
            # positions of every row's entries in ``indices``, without a loop over rows
            total = int(lengths.sum())
            first = np.repeat(starts.astype(np.int64) - np.cumsum(lengths) + lengths, lengths)
            flat = known.indices[first + np.arange(total)]
            row_parts.append(np.repeat(np.arange(len(q)), lengths))
            col_parts.append(flat.astype(np.int64))
    rows = np.concatenate(row_parts)
    prods = np.concatenate(col_parts)
    pos = np.searchsorted(candidates, prods)
    pos[pos == len(candidates)] = 0
    hit = candidates[pos] == prods
    valid[rows[hit], pos[hit]] = False
