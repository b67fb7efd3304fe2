"""Embeddings.ip_form reproduces score_block up to a constant per query, for every rule."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_core.models.base import Embeddings
from recsys_core.models.heuristic import AdamicAdarEmbeddings, PopularityEmbeddings
from recsys_core.models.mf import MFEmbeddings
from recsys_core.models.neighbourhood import EASEEmbeddings, ItemKNNEmbeddings, RP3betaEmbeddings

N, DIM = 40, 6


def _random(score: str, popularity_weight: float = 0.0, bias: bool = True) -> Embeddings:
    rng = np.random.default_rng(7)
    return Embeddings(
        vectors=rng.normal(size=(N, DIM)),
        trained=np.ones(N, bool),
        bias=rng.normal(size=N).astype(np.float32) if bias else None,
        global_bias=0.7,
        score=score,
        context=rng.normal(size=(N, DIM)).astype(np.float32),
        extras={
            "in_mean": rng.normal(size=DIM).astype(np.float32),
            "log_degree": np.log1p(rng.integers(0, 30, N)).astype(np.float32),
        },
        popularity_weight=popularity_weight,
    )


def _assert_reproduces(emb: Embeddings) -> None:
    form = emb.ip_form()
    assert form is not None
    q_side, c_side = form
    assert q_side.dtype == np.float32 and c_side.dtype == np.float32
    queries, candidates = np.array([3, 0, 17, 39]), np.arange(N)
    diff = emb.score_block(queries, candidates) - q_side[queries] @ c_side[candidates].T
    np.testing.assert_allclose(diff - diff[:, :1], 0.0, atol=1e-4)


@pytest.mark.parametrize("score", ["cosine", "in-out", "in-out-sym", "dot-sigmoid"])
@pytest.mark.parametrize("popularity_weight", [0.0, 0.3])
def test_vector_rules(score: str, popularity_weight: float) -> None:
    _assert_reproduces(_random(score, popularity_weight))


def test_dot_sigmoid_without_bias() -> None:
    _assert_reproduces(_random("dot-sigmoid", bias=False))


def test_mf_with_context_table() -> None:
    rng = np.random.default_rng(3)
    for context in (True, False):
        emb = MFEmbeddings(
            vectors=rng.normal(size=(N, DIM)),
            trained=np.ones(N, bool),
            bias=rng.normal(size=N).astype(np.float32),
            global_bias=-0.2,
            score="dot-sigmoid",
            extras={"context": rng.normal(size=(N, DIM)).astype(np.float32)} if context else {},
        )
        _assert_reproduces(emb)


def test_popularity_and_graph_heuristics() -> None:
    degree = np.random.default_rng(1).integers(0, 9, N)
    popularity = PopularityEmbeddings(
        vectors=np.zeros((N, 1)), trained=degree > 0, extras={"degree": degree}
    )
    _assert_reproduces(popularity)
    graph = {"indptr": np.zeros(N + 1, np.int64), "indices": np.zeros(0, np.int32)}
    exact_only = [
        AdamicAdarEmbeddings(vectors=np.zeros((N, 1)), trained=np.ones(N, bool), extras=graph),
        ItemKNNEmbeddings(
            vectors=np.zeros((N, 1)),
            trained=np.ones(N, bool),
            extras=graph,
            info={"shrink": 1.0, "binary": False},
        ),
        RP3betaEmbeddings(
            vectors=np.zeros((N, 1)),
            trained=np.ones(N, bool),
            extras=graph,
            info={"alpha": 1.0, "beta": 0.5},
        ),
        EASEEmbeddings(vectors=np.zeros((N, 1)), trained=np.ones(N, bool), extras={"B": np.eye(N)}),
    ]
    for emb in exact_only:
        assert emb.ip_form() is None, emb.kind
