"""Job estimates: sizes from settings, the operator's limit, one sentence when refused."""

from __future__ import annotations

import pytest

from recsys_core.data.registry import DatasetSettings
from recsys_core.jobs import estimate
from recsys_core.pipeline import RunSpec
from recsys_core.walks import WalkSettings


@pytest.mark.parametrize(
    ("text", "size"),
    [("1024", 1024), ("1K", 1024), ("512M", 512 * 1024**2), ("2.5GB", int(2.5 * 1024**3))],
)
def test_memory_sizes_parse(text: str, size: int) -> None:
    assert estimate.parse_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "-1G", "0"])
def test_a_bad_memory_size_is_one_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="is not a memory size"):
        estimate.parse_bytes(text)


def test_the_limit_is_the_operators_setting_else_available_memory_less_a_margin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert estimate.memory_limit("3G") == 3 * 1024**3
    monkeypatch.setattr(estimate, "available_memory", lambda: 8 * 1024**3)
    monkeypatch.delenv(estimate.LIMIT_ENV, raising=False)
    assert estimate.memory_limit() == 6 * 1024**3
    monkeypatch.setenv(estimate.LIMIT_ENV, "1G")
    assert estimate.memory_limit() == 1024**3


def test_a_catalog_build_grows_with_its_pairs_and_twenty_million_is_refused() -> None:
    small = estimate.dataset_build(DatasetSettings(products=20_000))
    large = estimate.dataset_build(DatasetSettings(products=200_000))
    assert large.peak_bytes > small.peak_bytes and large.seconds > 5 * small.seconds
    huge = estimate.dataset_build(DatasetSettings(products=20_000_000))
    sentence = estimate.refusal(huge, 8 * 1024**3)
    assert sentence.startswith("Building built-in synthetic catalog")
    assert "more than this server allows one job (8.0 GB)" in sentence
    assert "choose fewer products" in sentence
    assert estimate.refusal(small, 8 * 1024**3) == ""


def test_training_memory_follows_walks_and_dimension() -> None:
    base = RunSpec.create("sgns")
    more_walks = RunSpec.create("sgns", walks=WalkSettings(walks_per_node=100))
    wider = RunSpec.create("sgns", model_params={"vector_size": 512})
    b, w, d = (estimate.training_run(s, 100_000, 1_000_000) for s in (base, more_walks, wider))
    assert w.peak_bytes - b.peak_bytes == 2 * 4 * 90 * 100_000 * 10  # two int32 corpora
    assert d.peak_bytes > b.peak_bytes and w.seconds > b.seconds
    assert estimate.walk_tokens(WalkSettings(), 1_000) == 10 * 1_000 * 10


def test_mf_and_baselines_and_umap_have_estimates() -> None:
    mf = estimate.training_run(RunSpec.create("mf"), 10_000, 100_000)
    baseline = estimate.training_run(RunSpec.create("popularity"), 10_000, 100_000)
    assert mf.what == "training mf" and baseline.what == "scoring popularity"
    assert estimate.umap(100_000, 128).peak_bytes > estimate.umap(1_000, 128).peak_bytes
    assert "~" in mf.describe() and ("MB" in mf.describe() or "GB" in mf.describe())
