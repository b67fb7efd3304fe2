"""A table of item pairs (item_a, item_b, optional weight and relation) as a product graph.

A row's weight is its weight column (1 without one) times its relation's weight, the
method's: bought together 1.2, also bought 1.0, also viewed 0.5 (names as in
:data:`RELATION_WEIGHTS`, case and separators ignored; a row with no relation counts
1.0). The weights of an unordered pair are summed over its rows, in either order.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.common.progress import Progress, report
from recsys_core.data.dataset import Dataset, LoadReport, pairs_from_edges
from recsys_core.data.interactions import _nothing_usable, item_order
from recsys_core.data.tables import duplicate_rows, numbers, read_table, skip_rows

RELATION_WEIGHTS = {"bought_together": 1.2, "also_bought": 1.0, "also_viewed": 0.5, "pair": 1.0}
ROLES = ("a", "b", "weight", "relation")
FLAGS = {"a": "--a-col", "b": "--b-col", "weight": "--weight-col", "relation": "--relation-col"}
GUESSES = {
    "a": ("item_a", "a", "source", "src", "item1", "product_a", "left"),
    "b": ("item_b", "b", "target", "dst", "item2", "product_b", "right"),
    "weight": ("weight", "count", "score", "strength"),
    "relation": ("relation", "relationship", "type", "kind"),
}
NAME_PREFIX = "pairs:"


def relation_name(text: str) -> str:
    """ "Also Bought", "also-bought" and "also_bought" all read as ``also_bought``."""
    return re.sub(r"[^a-z]+", "_", text.strip().lower()).strip("_")


def load_pair_file(
    path: str | Path,
    columns: dict[str, str | None] | None = None,
    item_meta: str | Path | None = None,
    on_progress: Progress | None = None,
) -> Dataset:
    """Load a pair table as a :class:`Dataset` (catalog = the items named in its pairs).

    Rows with an empty id, an item paired with itself, a weight that is not a number
    above 0, an unknown relation or a repeat of an earlier row are skipped, counted and
    reported with their line numbers.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a table, lacks the two item columns, or has no usable row.
    """
    from recsys_core.data.itemmeta import catalog, load_item_meta

    start = time.perf_counter()
    path = Path(path).expanduser()
    rep = LoadReport(source=str(path))
    report(on_progress, 0, 3, f"reading {path.name}")
    wanted = {role: (columns or {}).get(role) for role in ROLES}
    table = read_table(path, wanted, ("a", "b"), FLAGS, rep, "pair file", GUESSES)
    for role in ("a", "b"):
        table = skip_rows(table, table.columns[role] == "", "empty item id", rep)
    table = skip_rows(
        table, table.columns["a"] == table.columns["b"], "an item paired with itself", rep
    )
    weight = np.ones(len(table))
    if "weight" in table.columns:
        weight = numbers(table.columns["weight"])
        bad = ~(np.isfinite(weight) & (weight > 0))
        weights = table.columns["weight"]
        table = skip_rows(
            table, bad, lambda i: f"weight {weights[i]!r} is not a number above 0", rep
        )
        weight = weight[~bad]
    relation = np.full(len(table), "pair", dtype=object)
    if "relation" in table.columns:
        relation = np.array([relation_name(r) or "pair" for r in table.columns["relation"]])
        bad = ~np.isin(relation, list(RELATION_WEIGHTS))
        known = ", ".join(RELATION_WEIGHTS)
        given = table.columns["relation"]
        table = skip_rows(table, bad, lambda i: f"relation {given[i]!r} is none of {known}", rep)
        relation, weight = relation[~bad], weight[~bad]
    dup, first = duplicate_rows(table, ("a", "b", "relation"))
    if dup.any():
        word = table.row_word
        table = skip_rows(table, dup, lambda i: f"repeats {word} {first[i]}", rep)
        relation, weight = relation[~dup], weight[~dup]
    rep.records = rep.records_kept = len(table)
    if not len(table):
        raise ValueError(_nothing_usable(path, rep, "pair"))

    report(on_progress, 1, 3, "building pairs")
    tokens = item_order(np.concatenate([table.columns["a"], table.columns["b"]]))
    index = pd.Index(tokens)
    src = index.get_indexer(table.columns["a"])
    dst = index.get_indexer(table.columns["b"])
    scale = np.array([RELATION_WEIGHTS[r] for r in relation], dtype=np.float64)
    pairs = pairs_from_edges(src, dst, weight * scale, len(tokens))
    names, counts = np.unique(relation.astype(str), return_counts=True)
    rep.relationship_counts = {str(n): int(c) for n, c in zip(names, counts, strict=True)}

    report(on_progress, 2, 3, "reading item metadata" if item_meta else "building catalog")
    meta, side = (None, ())
    if item_meta:
        meta, side = load_item_meta(item_meta, rep)
    products = catalog(tokens, meta)
    rep.seconds = time.perf_counter() - start
    report(on_progress, 3, 3, f"{len(products):,} items, {len(pairs):,} pairs")
    return Dataset(
        name=NAME_PREFIX + path.name,
        products=products,
        pairs=pairs,
        side_fields=tuple(side),
        report=rep,
    )
