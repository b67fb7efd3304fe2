"""Display views: domain-aware details, labels, default product, search hint, chart colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.data.dataset import AMAZON, MOVIELENS, domain_of
from recsys_core.explore.dataset_views import (
    catalog_hint,
    default_product,
    degree_bucket,
    product_details,
    rarest_genre,
    short_labels,
)


def movies() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "asin": ["ml-1", "ml-2", "ml-3", "ml-4"],
            "title": ["Alpha (1995)", "Beta (1977)", None, "Alpha (1995)"],
            "genres": ["Drama|War", "Drama", "Comedy|Drama", None],
            "year": pd.array([1995, 1977, None, 1995], dtype="Int64"),
            "has_meta": [True, True, False, True],
        }
    )


def test_domain_comes_from_the_dataset_name() -> None:
    assert domain_of("movielens-100k") is MOVIELENS
    assert domain_of("synthetic-20000") is AMAZON
    assert "consecutive" in MOVIELENS.relations and "also_bought" in AMAZON.relations


def test_movie_details_show_all_genres_and_year() -> None:
    details = product_details(movies(), np.array([0, 2, 3]), MOVIELENS.fields)
    assert list(details.columns) == ["asin", "title", "genres", "year"]
    assert details["genres"].tolist() == ["Drama, War", "Comedy, Drama", "—"]
    assert details["year"].tolist() == ["1995", "—", "1995"]


def test_rarest_genre_and_unique_labels() -> None:
    assert rarest_genre(movies()["genres"]).tolist() == ["War", "Drama", "Comedy", None]
    labels = short_labels(movies(), np.arange(4))
    assert labels == ["Alpha (1995) (ml-1)", "Beta (1977)", "ml-3", "Alpha (1995) (ml-4)"]


def test_degree_buckets() -> None:
    got = degree_bucket(np.array([0, 1, 2, 3, 4, 8, 100])).tolist()
    assert got == ["0 (unseen)", "1", "2-3", "2-3", "4-7", "8-15", "64+"]


def test_default_product_has_metadata_and_described_neighbours() -> None:
    # 0 is the hub but has no metadata; 1 has metadata and two described neighbours.
    edges = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (4, 5)]
    a, b = np.array(edges).T
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(6, 6)).tocsr()
    graph = graph + graph.T
    products = pd.DataFrame(
        {"asin": list("abcdef"), "has_meta": [False, True, True, True, True, False]}
    )
    assert default_product(products, graph) == 1


def test_catalog_hint_names_what_is_there() -> None:
    hint = catalog_hint(movies(), "movie")
    assert hint.startswith("The catalog holds 4 movies; most often Drama")
    assert "Alpha (1995)" in hint


def test_fixed_colours_for_series_and_models() -> None:
    from ui import charts

    live = pd.DataFrame(
        {"step": [1, 2], "loss": [1.0, 0.9], "auc": [0.6, 0.7], "auc_seen": [0.6, 0.7],
         "lr": [0.02, 0.01], "epoch_end": [False, False]}
    )  # fmt: skip
    done = pd.concat([live, live.assign(step=[3, 3], epoch_end=[True, True])])
    colours = [
        {t.name: t.line.color or t.marker.color for t in charts.training_curves(f).data}
        for f in (live, done)
    ]
    assert all(colours[0][k] == colours[1][k] for k in colours[0])
    runs = charts.run_colors({"#1 sgns": "sgns", "#2 eges": "eges", "#3 sgns": "sgns"})
    assert runs["#1 sgns"] == charts.model_color("sgns") != runs["#3 sgns"]
    assert runs["#2 eges"] == charts.model_color("eges")


def test_threshold_share_is_the_quantile_of_the_scores() -> None:
    from recsys_core.evaluation.evaluate import pr_frame
    from ui import charts

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500).astype(bool)
    # Heuristic-like scores: most near 0, a few large (Adamic-Adar's 0-120).
    scores = np.round(rng.exponential(size=500) ** 3 * (1 + labels), 1)
    frame = pr_frame(scores, labels)
    share = charts.share_above(frame)
    truth = np.array([(scores >= t).mean() for t in frame["threshold"]])
    np.testing.assert_allclose(share, truth, atol=1e-12)


def test_below_chance_is_flagged() -> None:
    from ui import charts, fmt

    frame, flagged = fmt.flag_aucs(pd.DataFrame({"AUC all": [0.9, 0.27, None]}), ["AUC all"])
    assert flagged and frame["AUC all"].tolist() == ["0.9000", "0.2700 · below chance", "—"]
    assert not fmt.flag_aucs(pd.DataFrame({"AUC all": [0.495]}), ["AUC all"])[1]
    curves = {"a": pd.DataFrame({"step": [1, 2], "auc": [0.45, 0.8]})}
    shapes = charts.auc_overlay(curves).layout.shapes
    assert len(shapes) == 2  # the chance line and the shaded band below it
    assert not charts.auc_overlay({"a": curves["a"].assign(auc=[0.8, 0.9])}).layout.shapes


def test_runs_on_other_pairs_are_named() -> None:
    from types import SimpleNamespace

    from recsys_core.split import SplitSettings
    from ui import compare

    def record(run_id: int, split: SplitSettings) -> SimpleNamespace:
        spec = SimpleNamespace(split=split)
        return SimpleNamespace(
            id=run_id, model="sgns", keys={"split": split.key("d")}, run_spec=lambda: spec
        )

    same = [record(1, SplitSettings()), record(2, SplitSettings())]
    assert compare.mismatch_note(same) == ""
    held_out = record(3, SplitSettings(holdout_products=0.05))
    note = compare.mismatch_note([*same, held_out])
    assert "#1, #2: test 18%" in note and "#3:" in note and "5% of products held out" in note
    method = compare.describe_split(SplitSettings.method(negatives="degree-matched"))
    assert method.startswith("the method's split") and "degree-matched negatives" in method


def test_genre_map_gives_every_genre_its_own_colour() -> None:
    from recsys_core.data.movielens import GENRES
    from recsys_core.explore.dataset_views import map_frame
    from ui import charts

    n = len(GENRES) * 3
    products = pd.DataFrame(
        {
            "asin": [f"ml-{i}" for i in range(n)],
            "title": [f"Film {i}" for i in range(n)],
            "genres": [GENRES[i % len(GENRES)] for i in range(n)],
            "year": pd.array([1950 + i for i in range(n)], dtype="Int64"),
        }
    )
    ids = np.arange(n)
    frame = map_frame(ids, np.zeros((n, 2)), products, np.ones(n, bool), MOVIELENS, ids % 5)
    assert {"genre", "decade", "degree bucket", "seen"} <= set(frame.columns)
    assert "brand" not in frame and "price bucket" not in frame
    fig = charts.embedding_map(frame, "genre")
    colours = [t.marker.color for t in fig.data]
    assert len(fig.data) == len(GENRES) and len(set(colours)) == len(GENRES)


def test_ego_layout_keeps_the_center_and_groups_linked_neighbours() -> None:
    from recsys_core.explore.dataset_views import ego_layout

    # Center 0 linked to 1..8; neighbours 1-2-3 also linked among themselves, strongly.
    ids = np.arange(9)
    rows = [(0, i, 1.0) for i in range(1, 9)] + [(1, 2, 5.0), (2, 3, 5.0), (1, 3, 5.0)]
    edges = pd.DataFrame(rows, columns=["source", "target", "weight"])
    xy = ego_layout(ids, edges)
    assert xy.shape == (9, 2)
    assert np.allclose(xy[0], 0.0)  # the center stays at the origin
    assert np.array_equal(xy, ego_layout(ids, edges))  # seeded: drawn the same every time
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    clique = dist[[1, 1, 2], [2, 3, 3]].mean()
    others = dist[4:, 4:][np.triu_indices(5, 1)].mean()
    assert clique < others  # linked neighbours sit together
