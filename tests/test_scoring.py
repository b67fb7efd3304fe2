"""One scoring rule per model: every rule's pair score agrees with its block score, the
in-out rules use the context vectors, the popularity term adds what it says, a run that
differs only in its scoring (or negative protocol) reuses the training, and the live
ranking monitor is the filtered NDCG@10 of the model's own rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_core.data.registry import DatasetSettings
from recsys_core.evaluation.monitor import make_ranking_monitor
from recsys_core.models.base import SCORE_RULES, Embeddings
from recsys_core.models.skipgram_pairs import NegativeSampler
from recsys_core.pipeline import RunSpec, run
from recsys_core.split import SplitSettings
from recsys_core.walks import WalkSettings


def embeddings(score: str = "cosine", popularity_weight: float = 0.0) -> Embeddings:
    rng = np.random.default_rng(0)
    n, dim = 7, 4
    return Embeddings(
        vectors=rng.normal(size=(n, dim)),
        trained=np.ones(n, bool),
        context=rng.normal(size=(n, dim)).astype(np.float32),
        score=score,
        popularity_weight=popularity_weight,
        extras={
            "in_mean": rng.normal(size=dim).astype(np.float32),
            "log_degree": np.log1p(np.arange(n)).astype(np.float32),
        },
    )


@pytest.mark.parametrize("rule", SCORE_RULES)
@pytest.mark.parametrize("weight", [0.0, 0.3])
def test_pair_scores_are_the_block_scores(rule: str, weight: float) -> None:
    emb = embeddings(rule, weight)
    q, c = np.arange(7), np.arange(7)
    block = emb.score_block(q, c)
    a, b = np.meshgrid(q, c, indexing="ij")
    pairs = emb.score_pairs(a.ravel(), b.ravel()).reshape(7, 7)
    np.testing.assert_allclose(block, pairs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rule", SCORE_RULES)
def test_pair_scores_in_chunks_are_the_scores_at_once(rule: str, monkeypatch) -> None:
    import recsys_core.models.base as base

    emb = embeddings(rule, 0.3)
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 7, 1000), rng.integers(0, 7, 1000)
    whole = emb.score_pairs(a, b)
    monkeypatch.setattr(base, "PAIR_CHUNK", 64)  # 16 chunks, the last one short
    chunked = emb.score_pairs(a, b)
    assert chunked.dtype == whole.dtype and chunked.shape == whole.shape
    np.testing.assert_array_equal(chunked, whole)


def test_in_out_scores_raw_input_vectors_against_context_vectors() -> None:
    emb = embeddings("in-out")
    raw = emb.vectors + emb.extras["in_mean"]
    assert emb.score_pairs(np.array([1]), np.array([2]))[0] == pytest.approx(
        float(raw[1] @ emb.context[2]), rel=1e-5
    )
    block = emb.score_block(np.arange(7), np.arange(7))
    assert not np.allclose(block, block.T)  # a -> b is not b -> a
    sym = emb.with_scoring("in-out-sym").score_block(np.arange(7), np.arange(7))
    np.testing.assert_allclose(sym, sym.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sym, (block + block.T) / 2, rtol=1e-5, atol=1e-6)


def test_popularity_term_adds_weighted_log_degrees() -> None:
    plain = embeddings("cosine")
    weighted = plain.with_scoring("cosine", 0.5)
    diff = weighted.score_pairs(np.array([2]), np.array([5])) - plain.score_pairs(
        np.array([2]), np.array([5])
    )
    assert diff[0] == pytest.approx(0.5 * (np.log1p(2) + np.log1p(5)), rel=1e-5)


def test_in_out_without_context_vectors_names_the_fix() -> None:
    emb = Embeddings(vectors=np.eye(3), trained=np.ones(3, bool), score="in-out")
    with pytest.raises(ValueError, match="choose score='cosine'"):
        emb.score_block(np.arange(3), np.arange(3))


def test_save_load_keeps_context_and_rule(tmp_path: Path) -> None:
    emb = embeddings("in-out-sym", 0.25)
    emb.save(tmp_path / "e")
    back = Embeddings.load(tmp_path / "e", mmap=True)
    assert back.score == "in-out-sym" and back.popularity_weight == 0.25
    np.testing.assert_array_equal(back.context, emb.context)
    np.testing.assert_allclose(
        back.score_block(np.arange(7), np.arange(7)), emb.score_block(np.arange(7), np.arange(7))
    )


def test_ns_exponent_zero_draws_uniformly() -> None:
    sampler = NegativeSampler(np.array([1.0, 10.0, 100.0]), power=0.0)
    np.testing.assert_allclose(sampler.probs, [1 / 3] * 3)


def test_ranking_monitor_is_filtered_ndcg_of_the_rule() -> None:
    # products 0..3; validation: 0-1; train: 0-2. Vectors put 2 nearest 0, then 1, then 3.
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.99, 0.1], [-1.0, 0.0]])
    emb = Embeddings(vectors=vectors, trained=np.ones(4, bool))
    train = sp.csr_matrix((np.ones(2), ([0, 2], [2, 0])), shape=(4, 4))
    val = pd.DataFrame({"a": [0, 1], "b": [1, 3], "label": [1, 0], "seen": [True, True]})
    monitor = make_ranking_monitor(val, train, "median", queries=10, k=10)
    # query 0: 2 is filtered (train), so 1 ranks first: NDCG 1. query 1: 2 (cosine 0.86)
    # outranks its partner 0 (0.8): NDCG 1/log2(3)
    second = 1 / np.log2(3)
    assert monitor(emb) == pytest.approx((1.0 + second) / 2)
    # without the train filter, query 0 also puts 2 first
    unfiltered = make_ranking_monitor(val, sp.csr_matrix((4, 4)), "median", queries=10)
    assert unfiltered(emb) == pytest.approx(second)


DATA = DatasetSettings(source="synthetic", products=300, seed=5)
WALKS = WalkSettings(walks_per_node=2, length=10)


def sgns_spec(**params) -> RunSpec:
    split = params.pop("split", SplitSettings())
    base = {"vector_size": 8, "epochs": 1, "threads": 1, "eval_every": 0}
    return RunSpec.create(
        "sgns", dataset=DATA, split=split, walks=WALKS, model_params={**base, **params}
    )


def test_a_new_score_rule_or_protocol_reuses_the_training() -> None:
    first = run(sgns_spec(score="cosine"))
    assert first.embeddings.context is not None
    assert first.events[-1]["ndcg"] is not None  # the live ranking metric
    other_rule = run(sgns_spec(score="in-out", popularity_weight=0.1))
    assert other_rule.cache_hits.get("trained") and not other_rule.cache_hits["run"]
    np.testing.assert_array_equal(other_rule.embeddings.vectors, first.embeddings.vectors)
    assert other_rule.embeddings.score == "in-out"
    assert other_rule.evaluation.info["score"] == "in-out"
    other_protocol = run(sgns_spec(score="cosine", split=SplitSettings(negatives="two-hop")))
    assert other_protocol.cache_hits.get("trained")
    assert other_protocol.evaluation.protocol == "two-hop"
    retrained = run(sgns_spec(score="cosine", window=2))
    assert not retrained.cache_hits.get("trained")


def test_validation_runs_evaluate_on_validation() -> None:
    outcome = run(
        sgns_spec(score="in-out-sym").__class__.create(
            "popularity", dataset=DATA, model_params={"dim": 0}, evaluate_on="validation"
        )
    )
    assert outcome.evaluation.part == "validation"


@pytest.mark.parametrize("rule", ["in-out", "in-out-sym"])
def test_in_out_rules_build_only_the_rows_they_score(rule: str) -> None:
    """The same scores, bit for bit, as the rule on the whole raw input table, which a
    block of the full-catalog ranking no longer rebuilds."""
    emb = embeddings(rule)
    emb.vectors = emb.vectors.astype(np.float32)  # skip-gram's tables are float32
    raw = emb.vectors + emb.extras["in_mean"]
    q, c = np.array([4, 0, 4]), np.array([6, 1, 2, 3])
    block = raw[q] @ emb.context[c].T
    if rule == "in-out-sym":
        block = 0.5 * (block + emb.context[q] @ raw[c].T)
    np.testing.assert_array_equal(emb.score_block(q, c), block)
    a, b = np.array([1, 5]), np.array([2, 2])
    forward = np.einsum("ij,ij->i", raw[a], emb.context[b]).astype(np.float64)
    if rule == "in-out-sym":
        forward = 0.5 * (forward + np.einsum("ij,ij->i", raw[b], emb.context[a]))
    np.testing.assert_array_equal(emb.score_pairs(a, b), forward)
