"""An interaction log (user, item, time, optional weight) as a product graph.

The log is a CSV, TSV or Parquet file; its columns are named by the user (or guessed
from common names: ``user_id``, ``item_id``, ``timestamp`` ...). Two rules make item pairs:

* ``"consecutive"`` (MovieLens's rule): each user's interactions in time order, and every
  two consecutive items form a pair (:func:`consecutive_edges`).
* ``"session"``: co-occurrence inside a session or basket: the rows sharing a value of
  the session column (an order id, a basket id), or else a user's run of interactions
  with no gap longer than ``session_gap`` seconds; each item pairs with the next
  ``window`` items of its session.

A pair's weight is the sum over its occurrences of the smaller weight of its two
interactions (1 without a weight column): a pair is as strong as its weaker end.

Every occurrence is kept as an *event* (user, a, b, time of the later interaction), so
the time split can hold out each user's latest pairs (:mod:`recsys_core.split`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.common.progress import Progress, report
from recsys_core.data.dataset import Dataset, LoadReport, pairs_from_edges
from recsys_core.data.tables import (
    Table,
    duplicate_rows,
    numbers,
    read_table,
    skip_rows,
    timestamps,
)

RULES = ("consecutive", "session")
ROLES = ("user", "item", "time", "weight", "session")
FLAGS = {
    "user": "--user-col",
    "item": "--item-col",
    "time": "--time-col",
    "weight": "--weight-col",
    "session": "--session-col",
}
GUESSES = {
    "user": ("user", "user_id", "userid", "customer", "customer_id", "visitor_id", "client_id"),
    "item": ("item", "item_id", "itemid", "product", "product_id", "sku", "asin", "movieid"),
    "time": ("timestamp", "time", "ts", "datetime", "date", "event_time", "order_date"),
    "weight": ("weight", "rating", "quantity", "qty", "count"),
    "session": ("session", "session_id", "basket", "basket_id", "order", "order_id"),
}
NAME_PREFIX = "interactions:"


def window_edges(
    group: np.ndarray, item: np.ndarray, ts: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Directed (item, later item) edges within each group, up to ``window`` steps apart.

    Rows are put in (group, time, item) order, so ties in time are broken by item code
    and the result never depends on file order. An item next to itself (a repeat) makes
    no edge.

    Returns
    -------
    src, dst:
        Item codes of each edge.
    row_a, row_b:
        Indices (into the inputs) of the earlier and the later interaction of each edge.
    """
    order = np.lexsort((item, ts, group))
    g, it = group[order], item[order]
    parts: list[tuple[np.ndarray, ...]] = []
    for step in range(1, max(1, window) + 1):
        if step >= len(order):
            break
        same = g[step:] == g[:-step]
        src, dst = it[:-step][same], it[step:][same]
        rows_a, rows_b = order[:-step][same], order[step:][same]
        keep = src != dst
        parts.append((src[keep], dst[keep], rows_a[keep], rows_b[keep]))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty
    src, dst, rows_a, rows_b = (np.concatenate(p) for p in zip(*parts, strict=True))
    return src, dst, rows_a, rows_b


def consecutive_edges(
    user: np.ndarray, item: np.ndarray, ts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed (item, next item) edges of each user's time-ordered history.

    Returns ``src``, ``dst`` (item codes) and ``rows``: the sorted, unique indices of the
    interactions at either end of an edge.
    """
    src, dst, rows_a, rows_b = window_edges(user, item, ts, 1)
    return src, dst, np.unique(np.concatenate([rows_a, rows_b]))


def session_groups(
    user: np.ndarray, ts: np.ndarray, session: np.ndarray | None, gap: float
) -> np.ndarray:
    """One integer per session: the session column's values within a user, or a user's
    runs of interactions with no gap longer than ``gap`` seconds."""
    if session is not None:
        return pd.factorize(pd.Series(list(zip(user.tolist(), session.tolist(), strict=True))))[0]
    order = np.lexsort((ts, user))
    u, t = user[order], ts[order]
    starts = np.r_[True, (u[1:] != u[:-1]) | (np.diff(t) > gap)]
    out = np.empty(len(order), dtype=np.int64)
    out[order] = np.cumsum(starts) - 1
    return out


def item_order(tokens: np.ndarray) -> np.ndarray:
    """Unique item tokens in natural order: numeric ids by value, then any others by text."""
    unique = pd.unique(pd.Series(tokens, dtype=object))
    numeric = pd.to_numeric(pd.Series(unique, dtype=object), errors="coerce").to_numpy(float)
    order = np.lexsort((unique.astype(str), np.where(np.isnan(numeric), np.inf, numeric)))
    return unique[order]


def edges_dataset(
    user: np.ndarray,
    ts: np.ndarray,
    weight: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    tokens: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Pairs and events of directed item edges, renumbered to the items in some pair.

    Returns ``(pairs, events, kept)``: ``kept`` are the old item codes of the catalog, in
    order (so renumbering keeps a < b and the pairs' sort order).
    """
    edge_weight = np.minimum(weight[rows_a], weight[rows_b])
    pairs = pairs_from_edges(src, dst, edge_weight, len(tokens))
    kept = np.unique(np.concatenate([pairs["a"].to_numpy(), pairs["b"].to_numpy()]))
    pairs["a"] = np.searchsorted(kept, pairs["a"].to_numpy()).astype(np.int32)
    pairs["b"] = np.searchsorted(kept, pairs["b"].to_numpy()).astype(np.int32)
    lo = np.searchsorted(kept, np.minimum(src, dst)).astype(np.int32)
    hi = np.searchsorted(kept, np.maximum(src, dst)).astype(np.int32)
    events = pd.DataFrame(
        {
            "user": user[rows_b].astype(np.int32),
            "a": lo,
            "b": hi,
            "time": ts[rows_b].astype(np.float64),
            "weight": edge_weight.astype(np.float32),
        }
    )
    return pairs, events, kept


def _parse(table: Table, rep: LoadReport) -> tuple[Table, np.ndarray, np.ndarray]:
    """Drop rows with an empty id, an unreadable time or weight, or a repeat; return the
    rest with their times and weights."""
    word = table.row_word
    columns = table.columns
    for role in ("user", "item"):
        table = skip_rows(table, table.columns[role] == "", f"empty {role} id", rep)
    columns = table.columns
    if "time" in columns:
        ts = timestamps(columns["time"])
        bad = ~np.isfinite(ts)
        times = columns["time"]
        table = skip_rows(table, bad, lambda i: f"time {times[i]!r} is not a number or a date", rep)
        ts = ts[~bad]
    else:
        # Without a time column the file's order is the order of events.
        ts = table.line.astype(np.float64)
    columns = table.columns
    if "weight" in columns:
        weight = numbers(columns["weight"])
        bad = ~(np.isfinite(weight) & (weight > 0))
        weights = columns["weight"]
        table = skip_rows(
            table, bad, lambda i: f"weight {weights[i]!r} is not a number above 0", rep
        )
        weight, ts = weight[~bad], ts[~bad]
    else:
        weight = np.ones(len(table))
    dup, first = duplicate_rows(table, ("user", "item", "time", "session"))
    if dup.any():
        same = "user, item and time" if "time" in columns else "user and item, no time"
        table = skip_rows(table, dup, lambda i: f"repeats {word} {first[i]} ({same})", rep)
        weight, ts = weight[~dup], ts[~dup]
    return table, ts, weight


def load_interactions(
    path: str | Path,
    columns: dict[str, str | None] | None = None,
    rule: str = "consecutive",
    window: int = 1,
    session_gap: float = 1800.0,
    item_meta: str | Path | None = None,
    on_progress: Progress | None = None,
) -> Dataset:
    """Load an interaction log as a :class:`Dataset` of item pairs with their events.

    Parameters
    ----------
    path:
        CSV, TSV (optionally gzipped) or Parquet file, one interaction per row.
    columns:
        Role -> column name (or 1-based number for a file without a header): ``user``,
        ``item``, ``time``, ``weight``, ``session``; missing roles are guessed from
        common names, and ``time``, ``weight`` and ``session`` may be absent.
    rule:
        ``"consecutive"`` or ``"session"`` (see the module notes).
    window:
        Session rule: each item pairs with the next ``window`` items of its session.
    session_gap:
        Session rule without a session column: seconds of silence that end a session.
    item_meta:
        Optional item metadata table (:mod:`recsys_core.data.itemmeta`).

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (or ``item_meta``).
    ValueError
        The file is not a table, lacks the user or item column, or gives no pairs (one
        sentence naming the problem and the fix).
    """
    from recsys_core.data.itemmeta import catalog, load_item_meta

    start = time.perf_counter()
    path = Path(path).expanduser()
    rep = LoadReport(source=str(path))
    total = 4
    report(on_progress, 0, total, f"reading {path.name}")
    wanted = {role: (columns or {}).get(role) for role in ROLES}
    table = read_table(path, wanted, ("user", "item"), FLAGS, rep, "interaction log", GUESSES)
    if rule == "session" and "session" not in table.columns and "time" not in table.columns:
        raise ValueError(
            f"{path.name} has neither a session nor a time column, so the session rule "
            "cannot tell sessions apart; give --session-col or --time-col, or use the "
            "consecutive rule."
        )
    table, ts, weight = _parse(table, rep)
    rep.records = len(table)
    if not len(table):
        raise ValueError(_nothing_usable(path, rep, "interaction"))

    report(on_progress, 1, total, "building item pairs")
    tokens = item_order(table.columns["item"])
    item = pd.Index(tokens).get_indexer(table.columns["item"]).astype(np.int64)
    user_ids, user_code = np.unique(table.columns["user"].astype(str), return_inverse=True)
    del user_ids
    user_code = user_code.astype(np.int64)
    if rule == "consecutive":
        src, dst, rows_a, rows_b = window_edges(user_code, item, ts, 1)
    else:
        session = table.columns.get("session")
        group = session_groups(user_code, ts, session, session_gap)
        src, dst, rows_a, rows_b = window_edges(group, item, ts, window)
    if not len(src):
        raise ValueError(
            f"{path.name}: no item pairs: {len(table):,} usable interactions, but no "
            + (
                "user has two different items in a row"
                if rule == "consecutive"
                else f"session has two different items within {window} steps"
            )
            + "; check that --user-col and --item-col name the right columns"
            + ("" if rule == "session" else ", or try the session rule")
            + "."
        )
    pairs, events, kept = edges_dataset(user_code, ts, weight, src, dst, rows_a, rows_b, tokens)
    rep.records_kept = len(np.unique(np.concatenate([rows_a, rows_b])))
    rep.relationship_counts = {rule: len(src)}

    report(on_progress, 2, total, "reading item metadata" if item_meta else "building catalog")
    meta, side = (None, ())
    if item_meta:
        meta, side = load_item_meta(item_meta, rep, also_try=(str(wanted.get("item") or ""),))
    products = catalog(tokens[kept], meta)
    rep.seconds = time.perf_counter() - start
    report(on_progress, total, total, f"{len(products):,} items, {len(pairs):,} pairs")
    return Dataset(
        name=NAME_PREFIX + path.name,
        products=products,
        pairs=pairs,
        side_fields=tuple(side),
        report=rep,
        events=events,
    )


def _nothing_usable(path: Path, rep: LoadReport, what: str) -> str:
    examples = "; ".join(f"{n}: {r}" for n, r in rep.skipped_examples[:3])
    return (
        f"{path.name} has no usable {what} rows: all {rep.lines_read:,} were skipped "
        f"(line {examples}); fix those rows or name the right columns."
    )
