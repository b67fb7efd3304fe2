"""Top-k cosine neighbours and ASIN/title search, on small data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_core.explore.similar import NeighbourIndex, TitleSearch, neighbours_frame, overlap


def brute_top_k(vectors: np.ndarray, product: int, k: int, usable: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ unit[product]
    scores[~usable] = -np.inf
    scores[product] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]


def test_top_k_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    usable = rng.random(500) > 0.2
    index = NeighbourIndex(vectors, usable)
    for product in (0, 7, 499):
        ids, sims = index.top_k(product, k=10)
        assert ids.tolist() == brute_top_k(vectors, product, 10, usable).tolist()
        assert np.all(np.diff(sims) <= 1e-6)
        assert product not in ids
        assert usable[ids].all()


def test_known_neighbours_and_scale_invariance() -> None:
    vectors = np.array([[1, 0], [2, 0.1], [0, 1], [-1, 0], [0, 0]], dtype=np.float32)
    index = NeighbourIndex(vectors)
    ids, sims = index.top_k(0, k=2)
    assert ids.tolist() == [1, 2]  # 1 is nearly parallel; 3 is opposite
    assert sims[0] == pytest.approx(2 / np.hypot(2, 0.1), abs=1e-6)
    assert not index.has_vector(4)  # zero vector: never a neighbour
    assert 4 not in index.top_k(3, k=10)[0]
    assert len(index.top_k(0, k=10)[0]) == 3  # only 3 other non-zero vectors


def test_batch_agrees_with_single() -> None:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    index = NeighbourIndex(vectors)
    ids, _ = index.top_k_batch(np.array([3, 4, 5]), k=5)
    for row, product in enumerate((3, 4, 5)):
        assert ids[row].tolist() == index.top_k(product, 5)[0].tolist()


def test_bad_product_is_a_clear_error() -> None:
    index = NeighbourIndex(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"product id must be in 0\.\.2"):
        index.top_k(3)


def catalog() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "asin": ["B000AAA", "B000AAB", "X123", "Y999"],
            "title": ["Sony Camera Lens", "USB cable", None, "camera bag, black"],
            "brand": ["Sony", None, None, "Acme"],
            "price": [10.0, np.nan, 3.0, 20.0],
        }
    )


def test_title_search_finds_asin_prefix_and_substring() -> None:
    search = TitleSearch(catalog())
    assert search.resolve("b000aab") == 1
    assert search.resolve("nope") is None
    assert search.search("B000AAB").tolist()[0] == 1  # exact ASIN first
    assert set(search.search("b000").tolist()) == {0, 1}  # ASIN prefix, any case
    assert search.search("CAMERA").tolist() == [0, 3]  # substring, any case
    assert search.search("lens (").tolist() == []  # regex characters are literal
    assert search.search("   ").tolist() == []
    assert search.label(2).startswith("X123 - (no title)")
    # The true number of matches, whatever the limit of the list shown.
    assert search.count("camera") == 2 and len(search.search("camera", limit=1)) == 1
    assert search.count("b000") == 2 and search.count("  ") == 0


def test_neighbours_frame_and_overlap() -> None:
    vectors = np.array([[1, 0], [1, 0.1], [0, 1], [1, 0.2]], dtype=np.float32)
    frame = neighbours_frame(
        NeighbourIndex(vectors), catalog(), 0, k=2, seen=np.array([1, 0, 1, 1], bool)
    )
    assert frame["asin"].tolist() == ["B000AAB", "Y999"]
    assert frame["rank"].tolist() == [1, 2]
    assert frame["seen"].tolist() == [False, True]
    table = overlap({"a": np.array([1, 2, 3]), "b": np.array([3, 4, 5])})
    assert table.loc["a", "b"] == pytest.approx(1 / 3)
    assert table.loc["a", "a"] == 1.0


def test_query_at_electronics_scale_matches_brute_force() -> None:
    # A query is one matrix-vector product and a partial sort (no full sort of 420k
    # scores); its speed is a benchmark's business, never a test's (no wall clock here).
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((420_000, 128), dtype=np.float32)
    index = NeighbourIndex(vectors)
    usable = np.ones(len(vectors), dtype=bool)
    for product in (0, 209_999, 419_999):
        ids, _ = index.top_k(product, 10)
        assert ids.tolist() == brute_top_k(vectors, product, 10, usable).tolist()


def test_recommend_mode_ranks_by_the_models_rule() -> None:
    from recsys_core.explore.topk import exact_top_k
    from recsys_core.models.base import Embeddings

    rng = np.random.default_rng(4)
    emb = Embeddings(
        vectors=rng.normal(size=(200, 6)),
        trained=rng.random(200) > 0.2,
        bias=rng.normal(size=200).astype(np.float32),
        score="dot-sigmoid",
    )
    recommend = NeighbourIndex.from_embeddings(emb)
    similar = NeighbourIndex.from_embeddings(emb, mode="similar")
    assert recommend.score_name == "score" and "dot-sigmoid" in recommend.label
    assert similar.score_name == "similarity" and "cosine" in similar.label
    expected = exact_top_k(emb, np.array([3, 50]), 8, usable=emb.usable)
    for row, product in enumerate([3, 50]):
        ids, scores = recommend.top_k(product, 8)
        assert ids.tolist() == expected.ids[row].tolist()
        # the shown score is the rule's own (the logit, bias terms included)
        np.testing.assert_allclose(scores, expected.scores[row], rtol=1e-5)
    batch_ids, _ = recommend.top_k_batch(np.array([3, 50]), 8)
    np.testing.assert_array_equal(batch_ids, expected.ids)
    assert recommend.top_k(3, 8)[0].tolist() != similar.top_k(3, 8)[0].tolist()
    frame = neighbours_frame(recommend, catalog_of(200), 3, k=4)
    assert "score" in frame.columns and "similarity" not in frame.columns


def test_recommend_mode_for_a_graph_heuristic() -> None:
    from recsys_core.graph import build_graph
    from recsys_core.models.heuristic import AdamicAdarEmbeddings, graph_extras

    graph = build_graph(5, np.array([0, 1, 2, 1]), np.array([1, 2, 3, 3]), np.ones(4))
    graph.sort_indices()
    emb = AdamicAdarEmbeddings(
        vectors=np.zeros((5, 1)), trained=np.ones(5, bool), extras=graph_extras(graph, False)
    )
    index = NeighbourIndex.from_embeddings(emb)
    ids, scores = index.top_k(0, 2)  # 0 meets 2 and 3 through 1 (degree 3); others 0
    assert ids.tolist() == [2, 3] and scores == pytest.approx([1 / np.log(3)] * 2)


def catalog_of(n: int) -> pd.DataFrame:
    return pd.DataFrame({"asin": [f"A{i}" for i in range(n)], "title": [f"t{i}" for i in range(n)]})
