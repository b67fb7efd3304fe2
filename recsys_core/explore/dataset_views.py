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

from recsys_core.data.dataset import AMAZON, Domain
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


def genres_text(value: Any) -> str:
    """MovieLens ``"Action|Sci-Fi"`` as ``"Action, Sci-Fi"``; the missing mark if none."""
    return ", ".join(str(value).split("|")) if _present(value) else MISSING


def _year_text(value: Any) -> str:
    return str(int(value)) if _present(value) else MISSING


def product_details(
    products: pd.DataFrame, ids: np.ndarray, fields: tuple[str, ...] = AMAZON.fields
) -> pd.DataFrame:
    """ASIN, title and the dataset's display ``fields`` of ``ids``, as display text.

    ``fields`` come from the dataset's :class:`~recsys_core.data.dataset.Domain`:
    brand, deepest category and price for Amazon-like catalogs; all genres and year for
    MovieLens. Missing values are the :data:`MISSING` mark; the index is
    ``0..len(ids)-1``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    part = products.iloc[ids]

    def column(name: str, values: Any = None) -> list[str]:
        if values is None:
            if name not in part.columns:
                return [MISSING] * len(ids)
            values = part[name].to_numpy(dtype=object)
        return [str(v) if _present(v) else MISSING for v in values]

    out = {"asin": part["asin"].astype(str).to_numpy(), "title": column("title")}
    for name in fields:
        if name == "category":
            out[name] = column(name, category_of(products).iloc[ids].to_numpy())
        elif name == "price":
            prices = part["price"].to_numpy() if "price" in part.columns else [None] * len(ids)
            out[name] = [price_text(v) for v in prices]
        elif name == "genres":
            values = part[name].to_numpy(dtype=object) if name in part else [None] * len(ids)
            out[name] = [genres_text(v) for v in values]
        elif name == "year":
            values = part[name].to_numpy(dtype=object) if name in part else [None] * len(ids)
            out[name] = [_year_text(v) for v in values]
        else:
            out[name] = column(name)
    return pd.DataFrame(out)


def product_hover(
    products: pd.DataFrame,
    ids: np.ndarray,
    width: int = 70,
    fields: tuple[str, ...] = AMAZON.fields,
) -> list[str]:
    """Hover text per product: ASIN and title on one line, the display fields below."""
    details = product_details(products, ids, fields)
    out = []
    for row in details.itertuples(index=False):
        values = [getattr(row, f) for f in fields if f in details.columns]
        title = row.title
        if title == MISSING and all(v == MISSING for v in values):
            out.append(f"<b>{row.asin}</b> · no metadata")
            continue
        title = title if len(title) <= width else title[: width - 1] + "…"
        out.append(f"<b>{row.asin}</b> · {title}<br>" + " · ".join(values))
    return out


def short_labels(products: pd.DataFrame, ids: np.ndarray, width: int = 28) -> list[str]:
    """Axis labels: each product's title cut to ``width`` (its ASIN when it has none).

    Labels are unique: a repeated short title gets its ASIN in brackets.
    """
    ids = np.asarray(ids, dtype=np.int64)
    asins = products["asin"].astype(str).to_numpy()[ids]
    titles = (
        products["title"].to_numpy(dtype=object)[ids]
        if "title" in products.columns
        else [None] * len(ids)
    )
    labels = []
    for asin, title in zip(asins, titles, strict=True):
        if not _present(title):
            labels.append(asin)
            continue
        title = str(title)
        labels.append(title if len(title) <= width else title[: width - 1] + "…")
    counts = pd.Series(labels).value_counts()
    return [
        f"{label} ({asin})" if counts[label] > 1 and label != asin else label
        for label, asin in zip(labels, asins, strict=True)
    ]


DEGREE_BUCKETS = ("0 (unseen)", "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64+")


def degree_bucket(degrees: np.ndarray) -> np.ndarray:
    """Train-graph degree as a bucket label (:data:`DEGREE_BUCKETS`: 0, 1, 2-3, 4-7, ...)."""
    d = np.asarray(degrees, dtype=np.int64)
    index = np.where(d <= 0, 0, np.minimum(np.floor(np.log2(np.maximum(d, 1))) + 1, 7))
    return np.asarray(DEGREE_BUCKETS, dtype=object)[index.astype(np.int64)]


def degree_strata(degrees: np.ndarray) -> np.ndarray:
    """One integer per train-degree bucket: the strata of a map's stratified sample."""
    return np.unique(degree_bucket(degrees), return_inverse=True)[1]


def rarest_genre(genres: pd.Series) -> np.ndarray:
    """Each movie's rarest genre in the catalog (the map's rule for multi-genre movies).

    A movie listed as "Drama|War" is coloured War: common genres (Drama, Comedy) then
    only colour movies that have no other genre, and small genres stay visible.
    None where a movie has no genre.
    """
    lists = [str(g).split("|") if _present(g) else [] for g in genres.to_numpy(dtype=object)]
    counts = pd.Series([x for g in lists for x in g]).value_counts()
    return np.asarray(
        [min(g, key=lambda x: (counts[x], x)) if g else None for g in lists], dtype=object
    )


def default_product(products: pd.DataFrame, graph: sp.csr_matrix) -> int:
    """The product a page opens on: one with metadata and a well-described neighbourhood.

    Among products with metadata, the one with the most train-graph neighbours that
    also have metadata (ties: lowest id), so its neighbour tables are not rows of dashes.
    Falls back to the best-connected product when none has metadata.
    """
    n = graph.shape[0]
    has_meta = (
        products["has_meta"].to_numpy(bool) if "has_meta" in products.columns else np.ones(n, bool)
    )
    if not has_meta.any():
        return int(np.argmax(degree(graph)))
    linked = (graph > 0).astype(np.float32) @ has_meta.astype(np.float32)
    score = np.where(has_meta, np.asarray(linked).ravel(), -1.0)
    return int(np.argmax(score))


def catalog_hint(products: pd.DataFrame, item: str = "product", examples: int = 3) -> str:
    """One sentence on what a catalog holds, for a search that found nothing.

    Names the number of products and a few titles of the commonest top category (or
    genre), so a person sees what to type.
    """
    n = len(products)
    titles = products["title"].dropna().astype(str) if "title" in products.columns else pd.Series()
    group = None
    for col in ("genres", "cat_1"):
        if col in products.columns and products[col].notna().any():
            group = col
            break
    parts = [f"The catalog holds {n:,} {item}s"]
    if group is not None:
        values = products[group].dropna().astype(str)
        if group == "genres":
            values = values.str.split("|").explode()
        top = values.value_counts().index[:4].tolist()
        parts.append(f"most often {', '.join(top)}")
    text = "; ".join(parts) + "."
    if len(titles):
        sample = titles.iloc[:: max(len(titles) // examples, 1)].head(examples).tolist()
        text += " Titles look like: " + "; ".join(f"“{t[:40]}”" for t in sample) + "."
    return text


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
    names = dataset.domain.relations
    relationships = pd.DataFrame(
        [
            (names.get(k, k), v)
            for k, v in sorted(report.relationship_counts.items(), key=lambda kv: -kv[1])
        ],
        columns=["relationship", "pairs"],
    )
    rows = []
    # Amazon-like catalogs: every catalog field (a 0% brand is worth seeing); other
    # domains (MovieLens): only the fields they have, so no column is always empty.
    fields = (
        (*META_FIELDS, *[f for f in dataset.side_fields if f not in META_FIELDS])
        if dataset.domain is AMAZON
        else ("title", *dataset.domain.fields)
    )
    for field in fields:
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
    transition: pd.DataFrame  # rows/cols short titles, plus "rest"; rows sum to 1
    titles: dict[str, str]  # axis label -> hover text (ASIN, title, display fields)
    edges: pd.DataFrame  # source, target, weight (product ids)
    nodes: pd.DataFrame  # product, asin, label, title, display fields, degree, x, y; center first


def graph_view(
    products: pd.DataFrame,
    graph: sp.csr_matrix,
    center: int,
    max_nodes: int = 12,
    max_neighbors: int = 20,
    domain: Domain = AMAZON,
) -> GraphView:
    """The transition sample and ego network around ``center``, labelled by title."""
    asins = products["asin"].astype(str).to_numpy()
    transition = transition_sample(graph, center, asins, max_nodes=max_nodes)
    edges = ego_network(graph, center, max_neighbors=max_neighbors)
    ids = np.unique(np.concatenate([[center], edges["source"], edges["target"]])).astype(np.int64)
    ids = np.concatenate([[center], ids[ids != center]])
    where = {a: i for i, a in enumerate(asins)}
    sampled = np.asarray([where[str(a)] for a in transition.index], dtype=np.int64)
    labels = short_labels(products, sampled)
    rename = dict(zip(transition.index, labels, strict=True))
    transition = transition.rename(index=rename, columns=rename)
    titles = dict(zip(labels, product_hover(products, sampled, fields=domain.fields), strict=True))
    deg = degree(graph)
    details = product_details(products, ids, domain.fields)
    nodes = pd.DataFrame(
        {
            "product": ids,
            "asin": asins[ids],
            "label": short_labels(products, ids, 24),
            **{c: details[c].to_numpy() for c in details.columns if c != "asin"},
            "degree": deg[ids],
        }
    )
    xy = ego_layout(ids, edges)
    nodes["x"], nodes["y"] = xy[:, 0], xy[:, 1]
    return GraphView(int(center), transition, titles, edges, nodes)


def ego_layout(ids: np.ndarray, edges: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """Positions (len(ids), 2) for an ego network: ``ids[0]`` (the center) at the origin,
    the others placed by a force-directed layout so linked neighbours sit together.

    networkx's Fruchterman-Reingold layout, weighted by the edge weights and seeded, so
    the same network is drawn the same way every time; neighbours start on a circle.
    """
    import networkx as nx

    ids = np.asarray(ids, dtype=np.int64)
    g = nx.Graph()
    g.add_nodes_from(int(i) for i in ids)
    g.add_weighted_edges_from(
        (int(a), int(b), float(w))
        for a, b, w in zip(edges["source"], edges["target"], edges["weight"], strict=True)
    )
    angles = 2 * np.pi * np.arange(len(ids) - 1) / max(len(ids) - 1, 1)
    start = {int(ids[0]): (0.0, 0.0)}
    start.update({int(i): (np.cos(a), np.sin(a)) for i, a in zip(ids[1:], angles, strict=True)})
    fixed = [int(ids[0])] if len(ids) > 1 else None
    pos = nx.spring_layout(g, pos=start, fixed=fixed, weight="weight", seed=seed)
    return np.asarray([pos[int(i)] for i in ids], dtype=np.float64)


def walk_steps(
    walks: np.ndarray,
    products: pd.DataFrame,
    rows: np.ndarray,
    fields: tuple[str, ...] = AMAZON.fields,
) -> pd.DataFrame:
    """Walk sequences as a long table, one row per step, as the method's table shows them.

    Columns: ``walk``, ``step``, ``product``, ``asin``, ``title``, the display
    ``fields`` (text, missing values marked) and, where the catalog has prices,
    ``price bucket`` (the method's bin the side-information models see; -1 for no price).
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
    frame = pd.concat([frame, product_details(products, ids, fields)], axis=1)
    if "price" in fields and "price" in products.columns:
        prices = products["price"].to_numpy()[ids]
        frame["price bucket"] = price_bucket(prices)
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
    ids: np.ndarray,
    xy: np.ndarray,
    products: pd.DataFrame,
    seen: np.ndarray,
    domain: Domain = AMAZON,
    degrees: np.ndarray | None = None,
    cold_start: np.ndarray | None = None,
) -> pd.DataFrame:
    """Points of an embedding map with what they can be coloured by and a hover label.

    Columns: ``product``, ``x``, ``y``, ``label`` (hover: ASIN, title, display fields)
    and one column per colour option of the ``domain``: ``degree bucket`` (train degree,
    :data:`DEGREE_BUCKETS`), ``seen`` ("seen", "unseen · cold-start vector" or "unseen"),
    and ``cat_1``..``cat_3``, ``brand``, ``price bucket`` (Amazon-like) or ``genre``
    (:func:`rarest_genre`) and ``decade`` (MovieLens).
    """
    ids = np.asarray(ids, dtype=np.int64)
    part = products.iloc[ids]
    frame = pd.DataFrame({"product": ids, "x": np.asarray(xy)[:, 0], "y": np.asarray(xy)[:, 1]})
    frame["label"] = product_hover(products, ids, fields=domain.fields)
    if degrees is not None:
        frame["degree bucket"] = degree_bucket(np.asarray(degrees)[ids])
    seen_ids = np.asarray(seen, dtype=bool)[ids]
    cold = np.asarray(cold_start, dtype=bool)[ids] if cold_start is not None else None
    frame["seen"] = np.where(
        seen_ids,
        "seen",
        np.where(cold, "unseen · cold-start vector", "unseen") if cold is not None else "unseen",
    )
    for col in ("cat_1", "cat_2", "cat_3", "brand"):
        if col in domain.colour_by and col in part.columns:
            frame[col] = part[col].to_numpy()
    if "price bucket" in domain.colour_by and "price" in part.columns:
        buckets = price_bucket(part["price"].to_numpy())
        frame["price bucket"] = np.where(buckets < 0, None, buckets.astype(str))
    if "genre" in domain.colour_by and "genres" in products.columns:
        frame["genre"] = rarest_genre(products["genres"])[ids]
    if "decade" in domain.colour_by and "year" in part.columns:
        years = pd.to_numeric(part["year"], errors="coerce").to_numpy(dtype=float)
        frame["decade"] = [f"{int(y) // 10 * 10}s" if np.isfinite(y) else None for y in years]
    return frame
