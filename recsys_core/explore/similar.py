"""Nearest products by cosine similarity, and finding a product by ASIN or title.

Both are built once per catalog / per trained model and queried many times from the app,
so the work is front-loaded: :class:`NeighbourIndex` keeps one row-normalised float32
matrix (a query is one matrix-vector product plus ``argpartition``), and
:class:`TitleSearch` keeps the titles lower-cased once (a query is one vectorised
substring scan).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Columns shown next to a neighbour, when the catalog has them.
DISPLAY_COLUMNS = ("asin", "title", "brand", "cat_1", "cat_2", "cat_3", "price")


class NeighbourIndex:
    """Top-k cosine neighbours over a fixed set of vectors.

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
        norms = np.linalg.norm(matrix, axis=1)
        inverse = np.zeros_like(norms)
        np.divide(1.0, norms, out=inverse, where=norms > 0)
        # One normalised copy: cosine becomes a plain dot product at query time.
        self.unit = np.ascontiguousarray(matrix * inverse[:, None], dtype=np.float32)
        mask = norms > 0
        if usable is not None:
            usable = np.asarray(usable, dtype=bool)
            if usable.shape != (len(matrix),):
                raise ValueError(
                    f"usable must have one entry per product ({len(matrix)}), "
                    f"got shape {usable.shape}"
                )
            mask &= usable
        self.candidates = mask
        # Scores of non-candidates are pushed below any cosine (which is >= -1).
        self._penalty = np.where(mask, 0.0, -4.0).astype(np.float32)

    @property
    def n_products(self) -> int:
        return self.unit.shape[0]

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
        """The ``k`` most similar products to ``product``: ``(ids, cosines)``, best first."""
        product = self._check(product)
        return self.top_k_vector(self.unit[product], k, exclude=product if exclude_self else None)

    def top_k_vector(
        self, vector: np.ndarray, k: int = 10, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products most similar to an arbitrary ``vector``."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        vector = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self.unit @ (vector / norm)
        scores += self._penalty
        if exclude is not None:
            scores[exclude] = -8.0
        n_ok = int(self.candidates.sum()) - int(
            exclude is not None and bool(self.candidates[exclude])
        )
        k = min(k, max(n_ok, 0))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        order = np.argsort(-scores[top], kind="stable")
        ids = top[order].astype(np.int64)
        return ids, scores[ids].astype(np.float32)

    def top_k_batch(self, products: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of many products at once: ``(ids, cosines)`` of shape (m, k).

        Self-matches are excluded; rows are best first. Processes the queries in chunks
        so memory stays at ``chunk x n_products`` floats.
        """
        products = np.asarray(products, dtype=np.int64)
        k = min(k, max(int(self.candidates.sum()) - 1, 1))
        ids = np.empty((len(products), k), dtype=np.int64)
        sims = np.empty((len(products), k), dtype=np.float32)
        chunk = max(1, 2_000_000 // max(self.n_products, 1))
        for start in range(0, len(products), chunk):
            rows = products[start : start + chunk]
            scores = self.unit[rows] @ self.unit.T
            scores += self._penalty[None, :]
            scores[np.arange(len(rows)), rows] = -8.0
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            ids[start : start + len(rows)] = np.take_along_axis(top, order, axis=1)
            sims[start : start + len(rows)] = np.take_along_axis(top_scores, order, axis=1)
        return ids, sims


def neighbours_frame(
    index: NeighbourIndex,
    products: pd.DataFrame,
    product: int,
    k: int = 10,
    seen: np.ndarray | None = None,
    cold_start: np.ndarray | None = None,
) -> pd.DataFrame:
    """The top-k neighbours of ``product`` as a readable table.

    Columns: ``rank``, ``product`` (id), the catalog's display columns, ``similarity``,
    and ``seen`` / ``cold_start`` when those masks are given.
    """
    ids, sims = index.top_k(product, k)
    cols = [c for c in DISPLAY_COLUMNS if c in products.columns]
    frame = products.iloc[ids][cols].reset_index(drop=True)
    frame.insert(0, "product", ids)
    frame.insert(0, "rank", np.arange(1, len(ids) + 1))
    frame["similarity"] = sims
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
