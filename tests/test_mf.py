"""MF models (compiled SGD and PyTorch Adam): learn planted clusters, events, schedules,
cancellation."""

from __future__ import annotations

import numpy as np
import pytest
from planted import planted

from recsys_core.evaluation.evaluate import evaluate, scoring_view
from recsys_core.models.base import Embeddings
from recsys_core.models.mf import (
    MatrixFactorization,
    MatrixFactorizationBias,
    MatrixFactorizationBiasSeq,
    MFEmbeddings,
    MFSeqSettings,
    MFSettings,
    learning_rate,
)


@pytest.fixture(scope="module")
def planted_data():
    return planted()


FAST = {"dim": 16, "batch_size": 32, "report_every": 5, "eval_every": 40}
# the PyTorch path: the planted graph's ~570 pairs need a larger Adam step than 0.01
ADAM = {**FAST, "optimizer": "adam", "adam_lr": 0.05}


@pytest.mark.parametrize(
    ("cls", "settings", "floor"),
    [
        # SGD on ~570 pairs needs ~20 passes (the default catalog needs 5)
        (MatrixFactorization, MFSettings(epochs=20, negatives=1, **FAST), 0.7),
        (MatrixFactorizationBias, MFSettings(epochs=20, **FAST), 0.8),
        (MatrixFactorizationBias, MFSettings(epochs=20, shared_embedding=False, **FAST), 0.7),
        (MatrixFactorizationBiasSeq, MFSeqSettings(epochs=1, **{**FAST, "batch_size": 512}), 0.8),
        (MatrixFactorizationBiasSeq, MFSeqSettings(epochs=2, **FAST), 0.8),
        (MatrixFactorization, MFSettings(epochs=12, negatives=1, **ADAM), 0.62),
        (MatrixFactorizationBias, MFSettings(epochs=6, **ADAM), 0.68),
        (MatrixFactorizationBias, MFSettings(epochs=6, shared_embedding=False, **ADAM), 0.62),
    ],
)
def test_learns_planted_clusters(cls, settings, floor, planted_data) -> None:
    data, split = planted_data
    events = []
    emb = cls(settings).fit(data, callback=events.append)
    report = evaluate(emb, split.val, split.seen_products, train_graph=data.graph)
    assert report.auc_all > floor, report.auc_all
    assert emb.score == "dot-sigmoid"
    assert (emb.bias is not None) == cls.use_bias
    # events: steps increase, AUC at every epoch end and every eval_every steps
    steps = [e.step for e in events]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    ends = [e for e in events if e.epoch_end]
    assert len(ends) == settings.epochs and all(e.auc is not None for e in ends)
    assert all(e.auc is not None for e in events if (e.step + 1) % settings.eval_every == 0)
    assert all(np.isfinite(e.loss) and e.lr >= 0 and e.elapsed >= 0 for e in events)
    assert events[0].total_steps is not None


def test_trained_mask_is_training_products(planted_data) -> None:
    data, _ = planted_data
    emb = MatrixFactorization(MFSettings(epochs=1, **FAST)).fit(data)
    expected = np.zeros(data.n_products, bool)
    expected[data.train_pairs["a"]] = True
    expected[data.train_pairs["b"]] = True
    np.testing.assert_array_equal(emb.trained, expected)


def test_separate_tables_roundtrip_through_generic_load(tmp_path, planted_data) -> None:
    data, split = planted_data
    emb = MatrixFactorizationBias(MFSettings(epochs=1, shared_embedding=False, **FAST)).fit(data)
    assert isinstance(emb, MFEmbeddings) and "context" in emb.extras
    emb.save(tmp_path / "e")
    back = scoring_view(Embeddings.load(tmp_path / "e"))
    assert isinstance(back, MFEmbeddings)
    a, b = split.val["a"].to_numpy(), split.val["b"].to_numpy()
    np.testing.assert_allclose(back.score_pairs(a, b), emb.score_pairs(a, b), rtol=1e-6)


def test_lr_schedules() -> None:
    cos = MFSettings(lr=0.01)
    assert learning_rate(cos, 0, 0.0) == pytest.approx(0.01)
    assert learning_rate(cos, 0, 0.5) == pytest.approx(0.005)
    assert learning_rate(cos, 3, 0.0) == pytest.approx(0.01)  # restarted
    const = MFSettings(lr=0.01, lr_schedule="constant")
    assert learning_rate(const, 2, 0.7) == 0.01
    lin = MFSettings(lr=0.01, lr_schedule="linear", epochs=4)
    assert learning_rate(lin, 2, 0.0) == pytest.approx(0.005)


@pytest.mark.parametrize("extra", [FAST, ADAM])
def test_cosine_restarts_show_in_events(extra, planted_data) -> None:
    data, _ = planted_data
    events = []
    MatrixFactorization(MFSettings(epochs=2, **extra)).fit(data, callback=events.append)
    first_of_epoch1 = next(e for e in events if e.epoch == 1)
    last_of_epoch0 = [e for e in events if e.epoch == 0][-1]
    assert first_of_epoch1.lr > last_of_epoch0.lr


@pytest.mark.parametrize("extra", [FAST, ADAM])
def test_cancel_stops_training(extra, planted_data) -> None:
    data, _ = planted_data
    events = []

    def stop_at_third(event) -> bool:
        events.append(event)
        return len(events) >= 3

    emb = MatrixFactorizationBias(MFSettings(epochs=5, **extra)).fit(data, stop_at_third)
    assert len(events) == 3 and emb.info["cancelled"]
    assert emb.vectors.shape == (data.n_products, 16)


def test_sparse_adam_runs_and_moves_only_batch_rows(planted_data) -> None:
    data, _ = planted_data
    settings = MFSettings(epochs=1, **{**ADAM, "optimizer": "sparse-adam", "batch_size": 256})
    emb = MatrixFactorizationBias(settings).fit(data)
    assert emb.info["optimizer"] == "sparse-adam"
    assert np.isfinite(emb.vectors).all() and np.abs(emb.bias).max() > 0


def test_sgd_is_default_and_one_thread_is_deterministic(planted_data) -> None:
    data, _ = planted_data
    assert MFSettings().optimizer == "sgd"
    settings = MFSettings(epochs=2, threads=1, **FAST)
    first = MatrixFactorizationBias(settings).fit(data)
    second = MatrixFactorizationBias(settings).fit(data)
    assert first.info["optimizer"] == "sgd"
    np.testing.assert_array_equal(first.vectors, second.vectors)
    np.testing.assert_array_equal(first.bias, second.bias)
    assert first.global_bias == second.global_bias != 0.0
    other = MatrixFactorizationBias(MFSettings(epochs=2, threads=1, seed=1, **FAST)).fit(data)
    assert not np.array_equal(first.vectors, other.vectors)


def test_sgd_steps_match_batches(planted_data) -> None:
    """SGD counts a step per ``batch_size`` positives, a partial last batch included."""
    data, _ = planted_data
    events = []
    settings = MFSettings(epochs=3, **FAST)
    MatrixFactorizationBias(settings).fit(data, callback=events.append)
    per_epoch = -(-len(data.train_pairs) // settings.batch_size)
    ends = [e.step for e in events if e.epoch_end]
    assert ends == [per_epoch * (i + 1) - 1 for i in range(3)]
    assert events[0].total_steps == per_epoch * 3
    assert all(
        e.step % settings.report_every == settings.report_every - 1
        for e in events
        if not e.epoch_end
    )


@pytest.mark.parametrize(
    ("cls", "field", "value", "allowed"),
    [
        (MFSettings, "dim", 5_000_000, "[1, 4096]"),
        (MFSettings, "negatives", 1000, "[1, 100]"),
        (MFSettings, "epochs", 10_000, "[1, 1000]"),
        (MFSettings, "lr", 50.0, "(0, 10]"),
        (MFSettings, "adam_lr", -1.0, "(0, 10]"),
        (MFSeqSettings, "window", 1_000_000, "[1, 100]"),
    ],
)
def test_absurd_settings_are_refused(cls, field, value, allowed) -> None:
    from recsys_core.common.settings import SettingsError

    with pytest.raises(SettingsError) as err:
        cls(**{field: value})
    assert field in str(err.value) and str(value) in str(err.value) and allowed in str(err.value)


def test_seq_window_longer_than_the_walks_is_a_settings_error(planted_data) -> None:
    from recsys_core.common.settings import SettingsError

    data, _ = planted_data
    length = data.walks.shape[1]
    with pytest.raises(SettingsError, match=f"at most {length - 1}"):
        MatrixFactorizationBiasSeq(MFSeqSettings(window=length, **FAST)).fit(data)


def test_choice_lists_are_the_ones_validate_accepts() -> None:
    from recsys_core.models import mf

    assert MFSettings.CHOICES == {"lr_schedule": mf.LR_SCHEDULES, "optimizer": mf.OPTIMIZERS}
    for schedule in mf.LR_SCHEDULES:
        MFSettings(lr_schedule=schedule)
    for optimizer in mf.OPTIMIZERS:
        MFSettings(optimizer=optimizer)
