"""The one shape every loader returns: a product catalog plus weighted product pairs.

Products are dense integer ids 0..N-1 (the row of ``products``); ASIN strings appear only
in the ``asin`` column, for loading, display and search.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.common import cache

# Columns every catalog has, in this order. Missing text is None, missing price NaN.
CATALOG_COLUMNS = ("asin", "title", "brand", "price", "cat_1", "cat_2", "cat_3", "cat_4")
PAIR_COLUMNS = ("a", "b", "weight")
MAX_EXAMPLES = 10


@dataclasses.dataclass
class LoadReport:
    """What a loader read, kept and skipped; shown on the Data page and by the CLI."""

    source: str
    lines_read: int = 0
    records: int = 0  # well-formed records
    records_kept: int = 0  # records that passed the preparation rules and gave pairs
    skipped: int = 0  # bad lines
    skipped_examples: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    relationship_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def skip(self, line_number: int, reason: str) -> None:
        self.skipped += 1
        if len(self.skipped_examples) < MAX_EXAMPLES:
            self.skipped_examples.append((line_number, reason))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> LoadReport:
        record = dict(record)
        record["skipped_examples"] = [tuple(x) for x in record.get("skipped_examples", [])]
        return cls(**record)


@dataclasses.dataclass
class Dataset:
    """A product catalog and its weighted, unordered product pairs.

    Attributes
    ----------
    name:
        Human-readable name ("synthetic-20000", "amazon:meta_Electronics.json.gz", ...).
    products:
        One row per product id; columns :data:`CATALOG_COLUMNS` first, then any extra side
        fields (MovieLens adds ``genres`` and ``year``) and ``has_meta`` (bool).
    pairs:
        Columns ``a`` < ``b`` (int32 product ids) and ``weight`` (float32), one row per
        unordered pair, sorted by (a, b).
    side_fields:
        Columns of ``products`` that models may use as side information.
    report:
        The loader's account of what it read and skipped.
    """

    name: str
    products: pd.DataFrame
    pairs: pd.DataFrame
    side_fields: tuple[str, ...]
    report: LoadReport

    @property
    def n_products(self) -> int:
        return len(self.products)

    @property
    def asins(self) -> np.ndarray:
        return self.products["asin"].to_numpy()

    def pair_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            self.pairs["a"].to_numpy(np.int32),
            self.pairs["b"].to_numpy(np.int32),
            self.pairs["weight"].to_numpy(np.float32),
        )

    # -- storage (used by the artifact cache) -------------------------------------------
    def save(self, folder: Path) -> None:
        cache.save_frame(folder / "products.parquet", self.products)
        cache.save_frame(folder / "pairs.parquet", self.pairs)
        cache.save_json(
            folder / "dataset.json",
            {
                "name": self.name,
                "side_fields": list(self.side_fields),
                "report": self.report.as_dict(),
            },
        )

    @classmethod
    def load(cls, folder: Path) -> Dataset:
        meta = cache.load_json(folder / "dataset.json")
        return cls(
            name=meta["name"],
            products=cache.load_frame(folder / "products.parquet"),
            pairs=cache.load_frame(folder / "pairs.parquet"),
            side_fields=tuple(meta["side_fields"]),
            report=LoadReport.from_dict(meta["report"]),
        )


def pairs_from_edges(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n_products: int
) -> pd.DataFrame:
    """Unordered weighted pairs from directed edge lists.

    Each edge becomes (min, max); weights of duplicates are summed; self-pairs dropped.
    Vectorised: one sort over int64 pair codes, no Python loop per edge.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64)
    keep = src != dst
    lo = np.minimum(src[keep], dst[keep])
    hi = np.maximum(src[keep], dst[keep])
    code = lo * np.int64(n_products) + hi
    uniq, inverse = np.unique(code, return_inverse=True)
    summed = np.bincount(inverse, weights=weight[keep], minlength=len(uniq))
    return pd.DataFrame(
        {
            "a": (uniq // n_products).astype(np.int32),
            "b": (uniq % n_products).astype(np.int32),
            "weight": summed.astype(np.float32),
        }
    )
