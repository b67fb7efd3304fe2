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


@dataclasses.dataclass(frozen=True)
class Domain:
    """How a kind of dataset speaks to people: names of its items, pairs and fields.

    Plain data for display only; no stage reads it. ``relations`` maps a relationship
    name (as in ``LoadReport.relationship_counts``) to how a person reads it;
    ``pairs_text`` says how pairs and their weights arise; ``fields`` are the catalog
    fields shown after an item's title ("category" is the deepest known category
    level); ``colour_by`` are the map's colour options.
    """

    item: str
    id_name: str
    relations: dict[str, str]
    pairs_text: str
    fields: tuple[str, ...]
    colour_by: tuple[str, ...]


AMAZON = Domain(
    item="product",
    id_name="ASIN",
    relations={
        "bought_together": "bought together",
        "also_bought": "also bought",
        "also_viewed": "also viewed",
    },
    pairs_text="Two products form a pair when one lists the other as bought together "
    "(weight 1.2), also bought (1.0) or also viewed (0.5); the weights of a pair are summed.",
    fields=("brand", "category", "price"),
    colour_by=("degree bucket", "seen", "cat_1", "cat_2", "cat_3", "brand", "price bucket"),
)
MOVIELENS = Domain(
    item="movie",
    id_name="movie id",
    relations={"consecutive": "consecutive in a user's history"},
    pairs_text="Two movies form a pair when a user rated one right after the other "
    "(consecutive in that user's history, in time order); a pair's weight is the number "
    "of times that happened, over all users.",
    fields=("genres", "year"),
    colour_by=("degree bucket", "seen", "genre", "decade"),
)


INTERACTIONS = Domain(
    item="item",
    id_name="item id",
    relations={
        "consecutive": "consecutive in a user's history",
        "session": "together in a session or basket",
    },
    pairs_text="Two items form a pair when a user interacted with one right after the other "
    "(consecutive rule) or both within a few steps of one session or basket (session rule); "
    "a pair's weight sums, over its occurrences, the smaller weight of its two interactions.",
    fields=("category", "brand", "price"),
    colour_by=("degree bucket", "seen", "cat_1", "cat_2", "brand", "price bucket"),
)
PAIR_FILE = Domain(
    item="item",
    id_name="item id",
    relations={
        "bought_together": "bought together",
        "also_bought": "also bought",
        "also_viewed": "also viewed",
        "pair": "listed as a pair",
    },
    pairs_text="Two items form a pair when a row of the pair file names them; its weight is "
    "the row's weight times its relation's weight (bought together 1.2, also bought 1.0, "
    "also viewed 0.5), summed over rows.",
    fields=("category", "brand", "price"),
    colour_by=("degree bucket", "seen", "cat_1", "cat_2", "brand", "price bucket"),
)


def domain_of(name: str) -> Domain:
    """The display domain of a dataset by its name (MovieLens, a user's file, Amazon-like)."""
    name = str(name)
    if name.startswith("movielens"):
        return MOVIELENS
    if name.startswith("interactions:"):
        return INTERACTIONS
    if name.startswith("pairs:"):
        return PAIR_FILE
    return AMAZON


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
    events:
        Interaction data only (logs, MovieLens): one row per occurrence of a pair, columns
        ``user`` (int32), ``a`` < ``b`` (int32 product ids), ``time`` (float64 seconds,
        of the later interaction) and ``weight`` (float32); the time split reads it.
        None for catalogs without users or time (Amazon, synthetic, pair files).
    """

    name: str
    products: pd.DataFrame
    pairs: pd.DataFrame
    side_fields: tuple[str, ...]
    report: LoadReport
    events: pd.DataFrame | None = None

    @property
    def domain(self) -> Domain:
        return domain_of(self.name)

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
        if self.events is not None:
            cache.save_frame(folder / "events.parquet", self.events)
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
        events_path = folder / "events.parquet"
        return cls(
            name=meta["name"],
            products=cache.load_frame(folder / "products.parquet"),
            pairs=cache.load_frame(folder / "pairs.parquet"),
            side_fields=tuple(meta["side_fields"]),
            report=LoadReport.from_dict(meta["report"]),
            events=cache.load_frame(events_path) if events_path.exists() else None,
        )


def pairs_from_edges(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n_products: int
) -> pd.DataFrame:
    """Unordered weighted pairs from directed edge lists.

    Each edge becomes (min, max); weights of duplicates are summed; self-pairs dropped.
    Vectorised: one sort over int64 pair codes, no Python loop per edge.
    """
    src, dst = np.asarray(src), np.asarray(dst)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    weight = np.asarray(weight, dtype=np.float64)[keep]
    del keep
    code = np.minimum(src, dst).astype(np.int64)
    code *= np.int64(n_products)
    code += np.maximum(src, dst)
    del src, dst
    # A stable sort keeps duplicates in input order, so each pair's weights are summed in
    # the order they came (as a bincount over the input would); one int64 array at a time
    # stays alive, which matters at tens of millions of edges.
    order = np.argsort(code, kind="stable")
    code = code[order]
    weight = weight[order]
    del order
    first = np.ones(len(code), dtype=bool)
    np.not_equal(code[1:], code[:-1], out=first[1:])
    group = np.cumsum(first)
    group -= 1
    summed = np.bincount(group, weights=weight, minlength=int(group[-1]) + 1 if len(group) else 0)
    del group, weight
    uniq = code[first]
    return pd.DataFrame(
        {
            "a": (uniq // n_products).astype(np.int32),
            "b": (uniq % n_products).astype(np.int32),
            "weight": summed.astype(np.float32),
        }
    )
