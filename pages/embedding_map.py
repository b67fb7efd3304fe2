"""Embedding map: a 2-D projection of a model's vectors, coloured by metadata."""

from __future__ import annotations

import numpy as np
import streamlit as st

from recsys_core.explore.dataset_views import map_frame
from recsys_core.explore.projection import ProjectionSettings, cached_projection, place
from ui import cached, charts, forms, load, runs, state
from ui.progress import progress_bar
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Embedding map")
st.markdown(
    "Each point is a product, placed so that products with similar vectors land close "
    "together (UMAP keeps neighbourhoods; PCA is a quick linear view). Large catalogs are "
    "sampled; the chosen product and its neighbours are always drawn."
)
prep = load.prepared()
if prep is not None:
    chosen = runs.pick_finished(prep, "map.run")
    c1, c2, c3 = st.columns(3)
    helps = forms.field_help(ProjectionSettings)
    methods = ["umap", "pca"]
    method = c1.selectbox(
        "method",
        methods,
        index=methods.index(state.default_map_method()),
        key="map.method",
        help=helps.get("method"),
    )
    max_points = c2.number_input(
        "max points", 100, 200_000, 5000, 1000, key="map.points", help=helps.get("max_points")
    )
    color = c3.selectbox(
        "colour by",
        ["cat_1", "cat_2", "cat_3", "brand", "price bucket", "seen"],
        key="map.color",
    )
    settings, problem = forms.build_settings(
        ProjectionSettings, {"method": method, "max_points": int(max_points)}
    )
    if problem:
        st.error(problem)
    elif chosen:
        record = chosen[0]
        emb = runs.outcome(record).embeddings

        def build() -> object:
            with progress_bar(f"{method.upper()} projection") as on_progress:
                return cached_projection(
                    np.asarray(emb.vectors), record.key, settings, emb.usable, on_progress
                )[0]

        proj = cached.memo("projection", settings.key(record.key), build)
        frame = map_frame(proj.ids, proj.xy, prep.dataset.products, prep.split.seen_products)
        st.caption(
            f"{proj.sample_size:,} of {proj.total:,} products with a vector"
            + (" (a fixed random sample)" if proj.sampled else "")
            + f" · {proj.method.upper()}"
        )
        highlight = None
        with st.expander("highlight a product and its neighbours", expanded=True):
            product = load.product_picker(prep, "map.product")
        if product is not None:
            index = runs.neighbour_index(record)
            if index.has_vector(product):
                ids, _ = index.top_k(product, 10)
                marked = np.concatenate([[product], ids])
                xy = place(proj, np.asarray(emb.vectors), marked)
                highlight = map_frame(marked, xy, prep.dataset.products, prep.split.seen_products)
                highlight["role"] = ["chosen"] + ["neighbour"] * len(ids)
            else:
                st.warning("This model has no vector for this product (unseen, no side info).")
        st.plotly_chart(charts.embedding_map(frame, color, highlight), key="map.chart")
