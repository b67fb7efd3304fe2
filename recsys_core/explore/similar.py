"""Nearest products (by the model's rule or by cosine), and finding a product by ASIN or title.

Both are built once per catalog / per trained model and queried many times from the app,
so the work is front-loaded: :class:`NeighbourIndex` keeps the float32 matrices of the
rule's inner-product form (a query is one matrix-vector product plus ``argpartition``), and
:class:`TitleSearch` keeps the titles lower-cased once (a query is one vectorised
substring scan).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_core.explore import topk
from recsys_core.models.base import Embeddings, unit_rows

# What a neighbour list ranks by: the model's own rule, or cosine of its vectors.
NEIGHBOUR_MODES = ("recommend", "similar")
# Columns shown next to a neighbour, when the catalog has them.
DISPLAY_COLUMNS = ("asin", "title", "brand", "cat_1", "cat_2", "cat_3", "price")


class NeighbourIndex:
    """Top-k neighbours of one product, by cosine ("similar to") or by the model's own rule
    ("recommended with").

    ``NeighbourIndex(vectors, usable)`` is the cosine index of any vectors;
    :meth:`from_embeddings` builds either kind from a model's :class:`Embeddings`. Rules
    with an inner-product form (:meth:`Embeddings.ip_form`) keep its two matrices, so a
    lookup is one matrix-vector product plus ``argpartition``, and the found products are
    re-scored by ``score_block`` (the score shown is the rule's). Graph heuristics score
    the whole catalog with ``score_block`` (one sparse row product). Single lookups are
    always exact (one lookup at 420k products stays well under 100 ms: bench/topk.py);
    :meth:`top_k_batch` takes the approximate index above
    :data:`recsys_core.explore.topk.ANN_THRESHOLD` products.

    Parameters
    ----------
    vectors:
        (n_products, dim) array in catalog order.
    usable:
        Bool mask of products whose vector means something (trained or cold-started);
        only those are returned as neighbours. None: all products with a non-zero vector.
    """

    def __init__(self, vectors: np.ndarray, usable: np.ndarray | None = None) -> None:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError(f"vectors must be 2-D (products x dim), got shape {matrix.shape}")
        unit = unit_rows(matrix)
        mask = unit.any(axis=1)
        rule = Embeddings(vectors=unit, trained=mask, score="cosine")
        self._setup(rule, (unit, unit), mask, usable, "similar")

    @classmethod
    def from_embeddings(
        cls, embeddings: Embeddings, usable: np.ndarray | None = None, mode: str = "recommend"
    ) -> NeighbourIndex:
        """The index of a model's embeddings: ``mode`` "recommend" ranks by the model's
        own rule, "similar" by cosine of its vectors. ``usable`` defaults to the model's
        trained or cold-started products."""
        usable = embeddings.usable if usable is None else usable
        if mode == "similar":
            return cls(embeddings.vectors, usable)
        if mode != "recommend":
            raise ValueError(f"mode must be one of {NEIGHBOUR_MODES}, got {mode!r}")
        index = cls.__new__(cls)
        mask = np.ones(len(embeddings.trained), dtype=bool)
        index._setup(embeddings, embeddings.ip_form(), mask, usable, "recommend")
        return index

    def _setup(
        self,
        rule: Embeddings,
        form: tuple[np.ndarray, np.ndarray] | None,
        mask: np.ndarray,
        usable: np.ndarray | None,
        mode: str,
    ) -> None:
        self.rule = rule
        self.form = form
        self.mode = mode
        if usable is not None:
            usable = np.asarray(usable, dtype=bool)
            if usable.shape != (len(mask),):
                raise ValueError(
                    f"usable must have one entry per product ({len(mask)}), "
                    f"got shape {usable.shape}"
                )
            mask = mask & usable
        self.candidates = mask
        self._blocked = np.flatnonzero(~mask)
        self._n_ok = int(mask.sum())

    @property
    def label(self) -> str:
        """What the scores are, for a caption: "similar to (cosine)" or "recommended with
        (<the model's rule>)"."""
        if self.mode == "similar":
            return "similar to (cosine of the vectors)"
        return f"recommended with (the model's own score: {self.rule.score})"

    @property
    def score_name(self) -> str:
        """Column name of the scores: "similarity" (cosine) or "score" (the model's rule)."""
        return "similarity" if self.mode == "similar" else "score"

    @property
    def n_products(self) -> int:
        return len(self.candidates)

    def has_vector(self, product: int) -> bool:
        """True when ``product`` has a usable, non-zero vector to query with."""
        return bool(self.candidates[self._check(product)])

    def _check(self, product: int) -> int:
        product = int(product)
        if not 0 <= product < self.n_products:
            raise ValueError(f"product id must be in 0..{self.n_products - 1}, got {product}")
        return product

    def top_k(
        self, product: int, k: int = 10, exclude_self: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best products for ``product``: ``(ids, scores)``, best first (exact)."""
        product = self._check(product)
        if self.form is None:
            scores = self.rule.score_block(np.array([product]), np.arange(self.n_products))[0]
            scores = np.asarray(scores, dtype=np.float32)
        else:
            scores = self.form[1] @ self.form[0][product]
        return self._best(scores, k, product if exclude_self else None, product)

    def top_k_vector(
        self, vector: np.ndarray, k: int = 10, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products most similar (cosine) to an arbitrary ``vector``."""
        if self.mode != "similar":
            raise ValueError("an arbitrary vector has only cosine neighbours: use mode 'similar'")
        vector = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self._best(self.form[1] @ (vector / norm), k, exclude, None)

    def _best(
        self, scores: np.ndarray, k: int, exclude: int | None, query: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        scores = np.asarray(scores, dtype=np.float32)  # a fresh array: masked in place
        scores[self._blocked] = -np.inf
        n_ok = self._n_ok
        if exclude is not None:
            n_ok -= bool(self.candidates[exclude])
            scores[exclude] = -np.inf
        k = min(k, n_ok)
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]  # no negated copy
        if self.mode == "recommend" and self.form is not None and query is not None:
            # the inner product ranks; the rule's own score (plus its per-query term) is shown
            scores[top] = self.rule.score_block(np.array([query]), top)[0]
        order = np.lexsort((top, -scores[top]))
        ids = top[order].astype(np.int64)
        return ids, scores[ids].astype(np.float32)

    def top_k_batch(
        self, products: np.ndarray, k: int = 10, ann: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of many products at once: ``(ids, scores)`` of shape (m, k).

        Self-matches are excluded; rows are best first. Exact in blocks of bounded
        memory, or approximate above the threshold (``ann`` overrides,
        :func:`recsys_core.explore.topk.use_ann`); -1 / NaN pad rows with fewer candidates.
        """
        products = np.asarray(products, dtype=np.int64)
        k = min(k, max(int(self.candidates.sum()) - 1, 1))
        found = topk.top_k(self.rule, products, k, usable=self.candidates, ann=ann)
        return found.ids, found.scores


def neighbours_frame(
    index: NeighbourIndex,
    products: pd.DataFrame,
    product: int,
    k: int = 10,
    seen: np.ndarray | None = None,
    cold_start: np.ndarray | None = None,
) -> pd.DataFrame:
    """The top-k neighbours of ``product`` as a readable table.

    Columns: ``rank``, ``product`` (id), the catalog's display columns, ``similarity``
    (cosine index) or ``score`` (the model's rule, :attr:`NeighbourIndex.score_name`),
    and ``seen`` / ``cold_start`` when those masks are given.
    """
    ids, sims = index.top_k(product, k)
    cols = [c for c in DISPLAY_COLUMNS if c in products.columns]
    frame = products.iloc[ids][cols].reset_index(drop=True)
    frame.insert(0, "product", ids)
    frame.insert(0, "rank", np.arange(1, len(ids) + 1))
    frame[index.score_name] = sims
    if seen is not None:
        frame["seen"] = np.asarray(seen, dtype=bool)[ids]
    if cold_start is not None:
        frame["cold_start"] = np.asarray(cold_start, dtype=bool)[ids]
    return frame


def overlap(neighbour_lists: dict[str, np.ndarray]) -> pd.DataFrame:
    """Share of common neighbours between every two lists (|A & B| / k), as a square frame."""
    names = list(neighbour_lists)
    sets = {n: set(np.asarray(v).tolist()) for n, v in neighbour_lists.items()}
    data = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            size = max(len(sets[a]), len(sets[b]), 1)
            data[i, j] = len(sets[a] & sets[b]) / size
    return pd.DataFrame(data, index=names, columns=names)


class TitleSearch:
    """Find products by ASIN or by part of their title, case-insensitively.

    Parameters
    ----------
    products:
        The catalog; uses its ``asin`` and (if present) ``title`` columns.
    """

    def __init__(self, products: pd.DataFrame) -> None:
        self.asins = products["asin"].astype(str).to_numpy()
        self._asins_lower = pd.Series(self.asins).str.lower()
        self._asin_to_id = {a.lower(): i for i, a in enumerate(self.asins)}
        if "title" in products.columns:
            titles = products["title"].fillna("").astype(str)
        else:
            titles = pd.Series([""] * len(products))
        self.titles = titles.to_numpy()
        # Lowered once, in Arrow-backed strings: substring search is one C-level scan.
        self._titles_lower = titles.str.lower().astype("string[pyarrow]").reset_index(drop=True)
        self._asins_lower = self._asins_lower.astype("string[pyarrow]")

    def resolve(self, text: str) -> int | None:
        """The product whose ASIN is exactly ``text`` (any case), or None."""
        return self._asin_to_id.get(str(text).strip().lower())

    def search(self, text: str, limit: int = 20) -> np.ndarray:
        """Product ids matching ``text``: exact ASIN, then ASIN prefix, then title substring.

        Returns at most ``limit`` ids, without repeats; empty for blank text.
        """
        needle = str(text).strip().lower()
        if not needle or limit < 1:
            return np.zeros(0, dtype=np.int64)
        found: list[int] = []
        exact = self._asin_to_id.get(needle)
        if exact is not None:
            found.append(exact)
        prefix = np.flatnonzero(self._asins_lower.str.startswith(needle).to_numpy(bool))
        found.extend(prefix[: limit + 1].tolist())
        if len(found) < limit:
            hits = self._titles_lower.str.contains(needle, regex=False).to_numpy(bool)
            found.extend(np.flatnonzero(hits)[: limit * 2].tolist())
        out = list(dict.fromkeys(found))[:limit]
        return np.asarray(out, dtype=np.int64)

    def count(self, text: str) -> int:
        """How many products :meth:`search` would find without its limit."""
        needle = str(text).strip().lower()
        if not needle:
            return 0
        prefix = self._asins_lower.str.startswith(needle).to_numpy(bool)
        hits = self._titles_lower.str.contains(needle, regex=False).to_numpy(bool)
        return int((prefix | hits).sum())

    def label(self, product: int, width: int = 70) -> str:
        """``title · ASIN`` for a selectbox option (title cut to ``width`` characters);
        ``ASIN - (no title)`` without a title."""
        title = self.titles[int(product)]
        if not title:
            return f"{self.asins[int(product)]} - (no title)"
        if len(title) > width:
            title = title[: width - 1] + "…"
        return f"{title} · {self.asins[int(product)]}"
