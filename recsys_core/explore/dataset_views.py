"""Readable views of a prepared dataset, its graph and its walks, as plain frames.

These are what the app's Data, Graph and Walks pages draw (and what a notebook would
print): counts, coverage, degree distribution, a labelled piece of the transition matrix,
an ego network with product labels, walk sequences with each step's side information,
and visits against degree. No plotting here, only data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.graph import degree, ego_network, transition_sample

# Catalog fields whose coverage the Data page reports, in display order.
META_FIELDS = ("title", "brand", "price", "cat_1", "cat_2", "cat_3", "cat_4")
# Shown for a missing title, brand, category or price (never the word "None").
MISSING = "—"


def product_label(products: pd.DataFrame, product: int, width: int = 60) -> str:
    """``ASIN · title`` (title cut to ``width``), or just the ASIN when there is no title."""
    row = products.iloc[int(product)]
    title = row.get("title") if "title" in products.columns else None
    asin = str(row["asin"])
    if not isinstance(title, str) or not title:
        return asin
    if len(title) > width:
        title = title[: width - 1] + "…"
    return f"{asin} · {title}"


def category_of(products: pd.DataFrame) -> pd.Series:
    """The deepest known category level of each product (cat_4, else cat_3, ...), or None."""
    levels = [c for c in ("cat_4", "cat_3", "cat_2", "cat_1") if c in products.columns]
    if not levels:
        return pd.Series([None] * len(products), index=products.index, dtype=object)
    out = products[levels[0]].astype(object)
    for col in levels[1:]:
        out = out.where(out.notna(), products[col].astype(object))
    return out


def _present(value: Any) -> bool:
    """False for None, NaN (pandas 3 str columns hold NaN) and empty text."""
    if value is None:
        return False
    if isinstance(value, float):
        return not np.isnan(value)
    if isinstance(value, str):
        return bool(value.strip())
    return not bool(pd.isna(value))


def price_text(value: Any) -> str:
    """``$12.99``, or the missing mark."""
    try:
        price = float(value)
    except (TypeError, ValueError):
        return MISSING
    return f"${price:,.2f}" if np.isfinite(price) else MISSING


def product_details(products: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """ASIN, title, brand, deepest category and price of ``ids`` as display text.

    Missing values are the :data:`MISSING` mark; the index is ``0..len(ids)-1``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    part = products.iloc[ids]

    def column(name: str, values: Any = None) -> list[str]:
        if values is None:
            if name not in part.columns:
                return [MISSING] * len(ids)
            values = part[name].to_numpy(dtype=object)
        return [str(v) if _present(v) else MISSING for v in values]

    prices = part["price"].to_numpy() if "price" in part.columns else [None] * len(ids)
    return pd.DataFrame(
        {
            "asin": part["asin"].astype(str).to_numpy(),
            "title": column("title"),
            "brand": column("brand"),
            "category": column("category", category_of(products).iloc[ids].to_numpy()),
            "price": [price_text(v) for v in prices],
        }
    )


def product_hover(products: pd.DataFrame, ids: np.ndarray, width: int = 70) -> list[str]:
    """Hover text per product: ASIN and title on one line, brand · category · price below."""
    details = product_details(products, ids)
    out = []
    for row in details.itertuples(index=False):
        if row.title == row.brand == row.category == row.price == MISSING:
            out.append(f"<b>{row.asin}</b> · no metadata")
            continue
        title = row.title if len(row.title) <= width else row.title[: width - 1] + "…"
        out.append(f"<b>{row.asin}</b> · {title}<br>{row.brand} · {row.category} · {row.price}")
    return out


def price_bucket(price: np.ndarray | pd.Series) -> np.ndarray:
    """The method's price bins: <25 as is (rounded), 25-50 by 5, 50-500 by 10, else 500.

    Missing prices give -1.
    """
    price = np.asarray(price, dtype=np.float64)
    out = np.full(price.shape, -1.0)
    ok = np.isfinite(price)
    p = price[ok]
    out[ok] = np.select(
        [p < 25, p < 50, p < 500],
        [np.round(p), np.floor(p / 5) * 5, np.floor(p / 10) * 10],
        default=500.0,
    )
    return out.astype(np.int64)


@dataclasses.dataclass
class DataOverview:
    """Everything the Data page shows about a prepared dataset."""

    counts: dict[str, Any]
    relationships: pd.DataFrame  # relationship, pairs
    coverage: pd.DataFrame  # field, products with it, share of all, share of those with meta
    degrees: pd.DataFrame  # degree, products (how many products have that degree)
    split: dict[str, float]
    skipped: pd.DataFrame  # line, reason


def dataset_overview(dataset: Any, split: Any, graph: sp.csr_matrix) -> DataOverview:
    """Counts, coverage, degree distribution and split shares of a prepared dataset.

    Parameters
    ----------
    dataset, split, graph:
        ``Prepared.dataset``, ``Prepared.split`` and ``Prepared.graph`` (the train graph).
    """
    products = dataset.products
    n = len(products)
    has_meta = (
        products["has_meta"].to_numpy(bool) if "has_meta" in products.columns else np.ones(n, bool)
    )
    report = dataset.report
    counts = {
        "products": n,
        "pairs": len(dataset.pairs),
        "products with metadata": int(has_meta.sum()),
        "metadata coverage": float(has_meta.mean()) if n else 0.0,
        "lines read": report.lines_read,
        "records": report.records,
        "skipped lines": report.skipped,
        "load seconds": round(float(report.seconds), 2),
    }
    relationships = pd.DataFrame(
        sorted(report.relationship_counts.items(), key=lambda kv: -kv[1]),
        columns=["relationship", "pairs"],
    )
    rows = []
    for field in (*META_FIELDS, *[f for f in dataset.side_fields if f not in META_FIELDS]):
        if field not in products.columns:
            continue
        present = products[field].notna().to_numpy(bool).copy()
        if not pd.api.types.is_numeric_dtype(products[field]):
            present &= products[field].fillna("").astype(str).str.len().to_numpy() > 0
        rows.append(
            {
                "field": field,
                "products": int(present.sum()),
                "share of all": float(present.mean()) if n else 0.0,
                "share of records": float(present[has_meta].mean()) if has_meta.any() else 0.0,
                "side info": field in dataset.side_fields,
            }
        )
    coverage = pd.DataFrame(
        rows, columns=["field", "products", "share of all", "share of records", "side info"]
    )
    deg = degree(graph)
    values, freq = np.unique(deg, return_counts=True)
    degrees = pd.DataFrame({"degree": values, "products": freq})
    skipped = pd.DataFrame(report.skipped_examples, columns=["line", "reason"])
    return DataOverview(counts, relationships, coverage, degrees, split.summary(), skipped)


@dataclasses.dataclass
class GraphView:
    """A labelled piece of the transition matrix and the ego network of one product."""

    center: int
    transition: pd.DataFrame  # rows/cols ASIN, plus "rest"; rows sum to 1
    titles: dict[str, str]  # ASIN -> hover text (title, brand, category, price)
    edges: pd.DataFrame  # source, target, weight (product ids)
    nodes: pd.DataFrame  # product, asin, label, title, brand, category, price, degree; center first


def graph_view(
    products: pd.DataFrame,
    graph: sp.csr_matrix,
    center: int,
    max_nodes: int = 12,
    max_neighbors: int = 20,
) -> GraphView:
    """The transition sample and ego network around ``center``, with readable labels."""
    asins = products["asin"].to_numpy()
    transition = transition_sample(graph, center, asins, max_nodes=max_nodes)
    edges = ego_network(graph, center, max_neighbors=max_neighbors)
    ids = np.unique(np.concatenate([[center], edges["source"], edges["target"]])).astype(np.int64)
    ids = np.concatenate([[center], ids[ids != center]])
    where = {str(a): i for i, a in enumerate(asins)}
    sampled = np.asarray([where[str(a)] for a in transition.index], dtype=np.int64)
    titles = dict(zip(asins[sampled].astype(str), product_hover(products, sampled), strict=True))
    deg = degree(graph)
    details = product_details(products, ids)
    nodes = pd.DataFrame(
        {
            "product": ids,
            "asin": asins[ids],
            "label": [product_label(products, i, 40) for i in ids],
            "title": details["title"].to_numpy(),
            "brand": details["brand"].to_numpy(),
            "category": details["category"].to_numpy(),
            "price": details["price"].to_numpy(),
            "degree": deg[ids],
        }
    )
    return GraphView(int(center), transition, titles, edges, nodes)


def walk_steps(walks: np.ndarray, products: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """Walk sequences as a long table, one row per step, as the method's table shows them.

    Columns: ``walk``, ``step``, ``product``, ``asin``, ``title``, ``brand``,
    ``category``, ``price`` (display text, missing values marked) and ``price bucket``
    (the method's bin the side-information models see; -1 for no price).
    """
    rows = np.asarray(rows, dtype=np.int64)
    chosen = np.asarray(walks)[rows]
    ids = chosen.ravel().astype(np.int64)
    frame = pd.DataFrame(
        {
            "walk": np.repeat(np.arange(len(rows)), chosen.shape[1]),
            "step": np.tile(np.arange(chosen.shape[1]), len(rows)),
            "product": ids,
        }
    )
    frame = pd.concat([frame, product_details(products, ids)], axis=1)
    prices = products["price"].to_numpy()[ids] if "price" in products.columns else np.nan
    frame["price bucket"] = price_bucket(np.broadcast_to(prices, ids.shape))
    return frame


def walks_from(walks: np.ndarray, graph: sp.csr_matrix, product: int, limit: int = 5) -> np.ndarray:
    """Row numbers of up to ``limit`` walks that start at ``product``.

    Relies on the walks' pass-major order: row ``r * n_start + s`` is walk ``r`` of the
    ``s``-th start node (products with an edge, in id order).
    """
    starts = np.flatnonzero(np.diff(graph.indptr) > 0)
    where = np.searchsorted(starts, product)
    if where >= len(starts) or starts[where] != product or len(walks) == 0:
        return np.zeros(0, dtype=np.int64)
    passes = len(walks) // len(starts)
    return (np.arange(min(limit, passes)) * len(starts) + where).astype(np.int64)


def visits_vs_degree(
    walks: np.ndarray, graph: sp.csr_matrix, max_points: int = 5000
) -> pd.DataFrame:
    """Visits per product in the walks against its degree (a fixed sample of products).

    Columns: ``product``, ``degree``, ``weighted degree``, ``visits``.
    """
    n = graph.shape[0]
    visits = np.bincount(np.asarray(walks).ravel(), minlength=n) if len(walks) else np.zeros(n)
    ids = np.flatnonzero(np.diff(graph.indptr) > 0)
    if len(ids) > max_points:
        ids = np.sort(np.random.default_rng(0).choice(ids, max_points, replace=False))
    return pd.DataFrame(
        {
            "product": ids,
            "degree": degree(graph)[ids],
            "weighted degree": degree(graph, weighted=True)[ids],
            "visits": visits[ids],
        }
    )


def map_frame(
    ids: np.ndarray, xy: np.ndarray, products: pd.DataFrame, seen: np.ndarray
) -> pd.DataFrame:
    """Points of an embedding map with what they can be coloured by and a hover label.

    Columns: ``product``, ``x``, ``y``, ``label`` (hover: ASIN, title, brand, category,
    price), ``cat_1``..``cat_3``, ``brand``,
    ``price bucket`` (the method's bins, as text; "missing" for no price) and ``seen``
    ("seen" / "unseen").
    """
    ids = np.asarray(ids, dtype=np.int64)
    part = products.iloc[ids]
    frame = pd.DataFrame({"product": ids, "x": np.asarray(xy)[:, 0], "y": np.asarray(xy)[:, 1]})
    frame["label"] = product_hover(products, ids)
    for col in ("cat_1", "cat_2", "cat_3", "brand"):
        if col in part.columns:
            frame[col] = part[col].to_numpy()
    if "price" in part.columns:
        buckets = price_bucket(part["price"].to_numpy())
        frame["price bucket"] = np.where(buckets < 0, "missing", buckets.astype(str))
    frame["seen"] = np.where(np.asarray(seen, dtype=bool)[ids], "seen", "unseen")
    return frame
