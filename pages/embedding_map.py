"""Embedding map: a 2-D projection of a model's vectors, coloured by what it can explain."""

from __future__ import annotations

import numpy as np
import streamlit as st

from recsys_core.explore.dataset_views import DEGREE_BUCKETS, degree_strata, map_frame
from recsys_core.explore.projection import (
    METHODS,
    ProjectionSettings,
    cached_projection,
    place,
    stored_projection,
)
from recsys_core.graph import degree
from ui import cached, charts, compare, forms, load, maps, operator, runs
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Embedding map")
st.markdown(
    "Each point is one item of the catalog (a product, a movie), placed so that items with "
    "similar vectors land close together. **PCA** (a linear view) appears at once; "
    "**UMAP** (keeps neighbourhoods) is computed by a background job when you click, with "
    "its progress shown and a Cancel button, then kept, so the next visit draws it at once."
)


def value_order(column: str, values: list) -> list[str] | None:
    """Ordered colour columns (degree bucket, decade, price bucket) in their order; None
    for unordered ones (categories, brands, genres, seen)."""
    if column == "degree bucket":
        return list(DEGREE_BUCKETS)
    if column in ("decade", "price bucket"):
        return sorted({str(v) for v in values}, key=lambda v: float(v.rstrip("s")))
    return None


COLOUR_HELP = {
    "degree bucket": "Train-graph degree of the product: 1, 2-3, 4-7, ... partners. Shows "
    "whether the map is organised by popularity.",
    "seen": "Seen: the product has train pairs. Unseen products appear only when the model "
    "can place them from side information (cold start).",
    "genre": "A movie with several genres takes its rarest one (Drama or Comedy only when it "
    "has no other genre), so small genres stay visible; 19 genres, 19 colours.",
    "decade": "Release decade.",
    "price bucket": "The method's price bins (side information of the side-info models).",
}

prep = load.prepared()
if prep is not None:
    domain = prep.dataset.domain
    chosen = runs.pick_finished(prep, "map.run")
    c1, c2, c3 = st.columns(3)
    helps = forms.field_help(ProjectionSettings)
    methods = list(METHODS)  # the engine's own list
    method = c1.selectbox(
        "method",
        methods,
        index=methods.index(operator.default_map_method()),
        format_func={"umap": "UMAP (background job)", "pca": "PCA (instant)"}.get,
        key="map.method",
        help=helps.get("method"),
    )
    max_points = c2.number_input(
        "max points", 100, 200_000, 10_000, 1000, key="map.points", help=helps.get("max_points")
    )
    color = c3.selectbox(
        "colour by",
        list(domain.colour_by),
        key=f"map.color.{domain.item}",
        help=" ".join(f"**{k}**: {v}" for k, v in COLOUR_HELP.items() if k in domain.colour_by),
    )
    pca_settings, problem = forms.build_settings(
        ProjectionSettings, {"method": "pca", "max_points": int(max_points)}
    )
    settings, problem2 = forms.build_settings(
        ProjectionSettings, {"method": method, "max_points": int(max_points)}
    )
    if problem or problem2:
        st.error(problem or problem2)
    elif chosen:
        record = chosen[0]
        emb = runs.outcome(record).embeddings
        vectors = np.asarray(emb.vectors)
        # Seen marks and degrees from the run's own split (its train graph).
        own = compare.prepared_for(record) or prep
        seen = own.split.seen_products
        degrees = degree(own.graph)
        strata = degree_strata(degrees)  # the same strata as the UMAP job's (jobs.tasks)

        def pca() -> object:
            return cached_projection(vectors, record.key, pca_settings, emb.usable, strata=strata)[
                0
            ]

        proj = cached.memo("projection", pca_settings.key(record.key), pca)
        note = ""
        if method == "umap":
            umap_proj = stored_projection(record.key, settings)
            if umap_proj is not None:
                proj = umap_proj
            elif maps.draw_umap_job(record, settings, emb, vectors.shape[1], int(max_points)):
                note = " (UMAP still computing)"
        frame = map_frame(
            proj.ids,
            proj.xy,
            prep.dataset.products,
            seen,
            domain,
            degrees,
            emb.cold_start,
        )
        items = f"{domain.item}s"
        sample_rule = (
            f"a sample stratified by train-degree bucket (each bucket keeps its share) of "
            f"{proj.total:,} {items} with a vector; maps draw at most {int(max_points):,} "
            "points"
            if proj.sampled
            else f"all {proj.total:,} {items} with a vector (up to {int(max_points):,} are "
            "drawn in full; above that a sample stratified by train-degree bucket)"
        )
        st.caption(
            f"{proj.method.upper()}{note} · {proj.sample_size:,} points: {sample_rule}. Seen "
            f"marks and degrees from the run's own split "
            f"({compare.describe_split(compare.split_of(record))})."
        )
        if color == "genre":
            st.caption(COLOUR_HELP["genre"] + " Legend counts are drawn movies per colour.")
        if color in frame and frame[color].isna().any():
            missing = float(frame[color].isna().mean())
            st.caption(
                f'{missing:.0%} of the drawn {domain.item}s have no {color}: light grey "(none)".'
            )
        if color == "seen" and (frame["seen"] == "seen").all():
            st.caption(
                f"Every drawn {domain.item} is seen: this model has no vector for {items} "
                "without train pairs (only side-information models place those, as cold "
                "start)."
            )
        highlight = None
        with st.expander(f"highlight a {domain.item} and its neighbours", expanded=True):
            product = load.product_picker(prep, "map.product")
        if product is not None:
            index = runs.neighbour_index(record)
            if index.has_vector(product):
                ids, _ = index.top_k(product, 10)
                marked = np.concatenate([[product], ids])
                xy = place(proj, vectors, marked)
                highlight = map_frame(marked, xy, prep.dataset.products, seen, domain)
                highlight["role"] = ["chosen"] + ["neighbour"] * len(ids)
            else:
                st.warning(
                    f"This model has no vector for this {domain.item} (unseen, no side info)."
                )
        order = value_order(color, frame[color].dropna().tolist())
        st.plotly_chart(charts.embedding_map(frame, color, highlight, order), key="map.chart")
