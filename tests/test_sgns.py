"""Plain skip-gram (numba and torch backends) on a planted-cluster graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from planted import labelled

from recsys_core.common.settings import SettingsError
from recsys_core.evaluation.auc import monitor_auc
from recsys_core.models.base import TrainEvent, TrainingData
from recsys_core.models.sgns import SkipGramModel, SkipGramSettings, lr_at


def planted(n: int = 600, k: int = 10, deg: int = 8, seed: int = 0) -> TrainingData:
    """Clusters of products linked mostly inside their cluster; walks over the train graph.

    Product n-1 is isolated (no pair at all): it must come back untrained.
    """
    rng = np.random.default_rng(seed)
    cluster = np.arange(n) % k
    src = np.repeat(np.arange(n - 1), deg)
    inside = rng.random(len(src)) < 0.9
    dst = rng.integers(0, n - 1, len(src))
    same = (dst - dst % k) + cluster[src]  # a product of src's cluster
    dst = np.where(inside & (same < n - 1), same, dst)
    keep = src != dst
    a, b = np.minimum(src, dst)[keep], np.maximum(src, dst)[keep]
    pairs = pd.DataFrame({"a": a, "b": b}).drop_duplicates().reset_index(drop=True)
    is_val = rng.random(len(pairs)) < 0.2
    train, pos = pairs[~is_val], pairs[is_val]
    g = sp.coo_matrix((np.ones(len(train)), (train.a, train.b)), shape=(n, n)).tocsr()
    g = (g + g.T).tocsr()
    indptr, indices, degree = g.indptr, g.indices, np.diff(g.indptr)
    starts = np.repeat(np.flatnonzero(degree > 0), 10)
    walks = np.empty((len(starts), 10), dtype=np.int32)
    walks[:, 0] = cur = starts
    for t in range(1, 10):
        cur = indices[indptr[cur] + (rng.random(len(cur)) * degree[cur]).astype(np.int64)]
        walks[:, t] = cur
    seen = degree > 0
    na, nb = rng.integers(0, n, len(pos)), rng.integers(0, n, len(pos))
    val = pd.DataFrame(
        {
            "a": np.r_[pos.a, na].astype(np.int32),
            "b": np.r_[pos.b, nb].astype(np.int32),
            "label": np.r_[np.ones(len(pos)), np.zeros(len(pos))].astype(np.int8),
        }
    )
    val["seen"] = seen[val.a] & seen[val.b]
    products = pd.DataFrame({"asin": [f"P{i}" for i in range(n)], "cat_1": cluster.astype(str)})
    return labelled(n, products, ("cat_1",), train.assign(weight=1.0), g, walks, seen, val=val)


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return planted()


def fast(**kw) -> SkipGramSettings:
    base = dict(vector_size=32, epochs=2, eval_every=20, report_every=5, batch_size=1024)
    base.update(kw)
    return SkipGramSettings(**base)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_learns_planted_clusters(data: TrainingData, backend: str) -> None:
    emb = SkipGramModel(fast(backend=backend)).fit(data)
    assert emb.vectors.shape == (data.n_products, 32)
    assert emb.vectors.dtype == np.float32
    _, auc_seen = monitor_auc(emb, data.val)
    assert auc_seen > 0.85, (backend, auc_seen)
    assert not emb.trained[-1] and emb.trained[:-1].all()


# One epoch on this 600-product graph moves the vectors little from their common
# direction: their cosine already separates the clusters, the in-out score not yet (0.49;
# 0.90 after two epochs). These tests check that a backend learns, so they read the cosine.
def test_numba_with_negatives_shared_per_center_learns(data: TrainingData) -> None:
    emb = SkipGramModel(fast(center_negatives=True, epochs=1, score="cosine")).fit(data)
    assert monitor_auc(emb, data.val)[1] > 0.8


def test_torch_without_shared_negatives_learns(data: TrainingData) -> None:
    settings = fast(backend="torch", shared_negatives=False, epochs=1, score="cosine")
    emb = SkipGramModel(settings).fit(data)
    assert monitor_auc(emb, data.val)[1] > 0.8


def test_callback_events_and_cancel(data: TrainingData) -> None:
    events: list[TrainEvent] = []
    SkipGramModel(fast()).fit(data, lambda e: events.append(e))
    steps = [e.step for e in events]
    assert steps == sorted(steps) and steps[-1] > 0
    ends = [e for e in events if e.epoch_end]
    assert [e.epoch for e in ends] == [0, 1]
    assert all(e.auc is not None and 0.5 < e.auc_seen <= 1 for e in ends)
    assert ends[-1].total_steps == pytest.approx(steps[-1], rel=0.05)  # estimated
    mid = [e for e in events if not e.epoch_end]
    assert any(e.auc is not None for e in mid)  # eval_every fired inside an epoch
    assert all(np.isfinite(e.loss) and e.loss > 0 for e in mid)
    assert mid[-1].loss < mid[0].loss
    assert all(e.lr <= 0.025 and e.elapsed >= 0 for e in events)

    seen: list[TrainEvent] = []

    def cancel(e: TrainEvent) -> bool:
        seen.append(e)
        return True

    emb = SkipGramModel(fast()).fit(data, cancel)
    assert len(seen) == 1 and emb.info["training"]["cancelled"]
    assert emb.vectors.shape == (data.n_products, 32)


def test_deterministic_by_seed_with_one_thread(data: TrainingData) -> None:
    s = fast(threads=1, epochs=1, eval_every=0)
    v1 = SkipGramModel(s).fit(data).vectors
    v2 = SkipGramModel(s).fit(data).vectors
    v3 = SkipGramModel(s.replace(seed=1)).fit(data).vectors
    np.testing.assert_array_equal(v1, v2)
    assert not np.allclose(v1, v3)


def test_lr_schedules_and_validation() -> None:
    lin = SkipGramSettings(epochs=2)
    assert lr_at(lin, 0, 0.0) == pytest.approx(0.025)
    assert lr_at(lin, 1, 1.0) == pytest.approx(lin.min_alpha)
    cos = SkipGramSettings(lr_schedule="cosine-restart")
    assert lr_at(cos, 3, 0.0) == pytest.approx(0.025)  # restarts every epoch
    assert lr_at(cos, 3, 1.0) == pytest.approx(cos.min_alpha)
    with pytest.raises(SettingsError, match="backend"):
        SkipGramSettings(backend="gpu")
    with pytest.raises(SettingsError, match="lr_schedule"):
        SkipGramSettings(lr_schedule="step")


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("window", 1_000_000, "[1, 100]"),
        ("vector_size", 5_000_000, "[1, 4096]"),
        ("negative", 101, "[1, 100]"),
        ("epochs", 1001, "[1, 1000]"),
        ("alpha", 0.0, "(0, 10]"),
        ("alpha", 11.0, "(0, 10]"),
        ("sample", 2.0, "[0, 1]"),
        ("threads", 0, "[1, 256]"),
    ],
)
def test_absurd_settings_are_refused_with_field_value_and_range(field, value, allowed) -> None:
    with pytest.raises(SettingsError) as err:
        SkipGramSettings(**{field: value})
    message = str(err.value)
    assert field in message and str(value) in message and allowed in message


def test_setting_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(SettingsError, match="window must be an integer"):
        SkipGramSettings(window="five")
    with pytest.raises(SettingsError, match="alpha must be a number"):
        SkipGramSettings(alpha="fast")
    with pytest.raises(SettingsError, match="alpha=nan is out of range"):
        SkipGramSettings(alpha=float("nan"))


def test_window_longer_than_the_walks_is_a_settings_error(data: TrainingData) -> None:
    length = data.walks.shape[1]
    with pytest.raises(SettingsError, match=f"at most {length - 1}"):
        SkipGramModel(fast(window=length, epochs=1)).fit(data)


def test_choice_lists_are_module_tuples_validate_uses() -> None:
    from recsys_core.models import sgns

    assert SkipGramSettings.CHOICES == {
        "lr_schedule": sgns.LR_SCHEDULES,
        "backend": sgns.BACKENDS,
        "score": sgns.SCORE_RULES,
    }
    for schedule in sgns.LR_SCHEDULES:
        SkipGramSettings(lr_schedule=schedule)
    for backend in sgns.BACKENDS:
        SkipGramSettings(backend=backend)


def test_importing_the_models_loads_neither_torch_nor_gensim() -> None:
    """torch and gensim cost seconds; only the code paths that train with them import them."""
    import subprocess
    import sys

    code = (
        "import sys, recsys_core.models.registry, recsys_core.models.sgns, "
        "recsys_core.models.side_info, recsys_core.models.mf, recsys_core.models.gensim_w2v; "
        "print('torch' in sys.modules, 'gensim' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_vectors_are_centred_by_default(data: TrainingData) -> None:
    """The trained vectors' common direction is removed (it made the live AUC dip)."""
    s = fast(threads=1, epochs=1, eval_every=0)
    cen = SkipGramModel(s).fit(data)
    raw = SkipGramModel(s.replace(center_vectors=False)).fit(data)
    t = raw.trained
    np.testing.assert_allclose(cen.vectors[t].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(
        cen.vectors[t], raw.vectors[t] - raw.vectors[t].mean(axis=0), atol=1e-5
    )
    np.testing.assert_array_equal(cen.vectors[~t], raw.vectors[~t])


@pytest.mark.parametrize("all_trained", [True, False])
def test_centring_in_place_is_the_gathered_centring_bit_for_bit(all_trained: bool) -> None:
    from recsys_core.models.sgns import centred

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(5000, 8)).astype(np.float32)
    trained = np.ones(5000, bool) if all_trained else rng.random(5000) < 0.7
    also = ~trained & (rng.random(5000) < 0.5)
    expected = vectors.copy()
    expected[trained] -= expected[trained].mean(axis=0)
    # a Fortran-ordered table is centred as its C-ordered copy is (rows summed in order)
    np.testing.assert_array_equal(centred(np.asfortranarray(vectors), trained), expected)
    for extra in (None, also):
        shift = trained if extra is None else trained | extra
        expected = vectors.copy()
        expected[shift] -= expected[trained].mean(axis=0)  # the gathering formula
        np.testing.assert_array_equal(centred(vectors, trained, also=extra), expected)
        buffer = np.full_like(vectors, np.nan)
        assert centred(vectors, trained, also=extra, out=buffer) is buffer
        np.testing.assert_array_equal(buffer, expected)


def test_live_embeddings_share_the_tables_and_score_as_the_final_ones(
    data: TrainingData,
) -> None:
    """The live monitors' embeddings reuse one buffer and the context table, and score
    every pair exactly as freshly copied embeddings of the same tables do."""
    from recsys_core.models.sgns import scored_embeddings

    rng = np.random.default_rng(0)
    w_in = rng.normal(size=(data.n_products, 8)).astype(np.float32)
    w_out = rng.normal(size=(data.n_products, 8)).astype(np.float32)
    trained = np.ones(data.n_products, bool)
    trained[:3] = False
    live: dict = {}
    for score in ("in-out", "cosine", "in-out-sym"):
        s = fast(score=score)
        first = scored_embeddings(w_in, w_out, trained, s, data, live=live)
        again = scored_embeddings(w_in, w_out, trained, s, data, live=live)
        fresh = scored_embeddings(w_in, w_out, trained, s, data)
        assert first.vectors is again.vectors is live["vectors"]
        assert np.shares_memory(first.context, w_out) and not np.shares_memory(fresh.context, w_out)
        q, c = np.arange(20), np.arange(data.n_products)
        np.testing.assert_array_equal(first.score_block(q, c), fresh.score_block(q, c))
        a, b = rng.integers(0, data.n_products, (2, 100))
        np.testing.assert_array_equal(first.score_pairs(a, b), fresh.score_pairs(a, b))
