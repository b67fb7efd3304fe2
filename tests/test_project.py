"""2-D projections: sampling, determinism, caching, placing products outside the sample."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_core.common.settings import SettingsError
from recsys_core.explore.projection import ProjectionSettings, cached_projection, place, project


def clusters(n_per: int = 60, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, dim)) * 5
    labels = np.repeat(np.arange(3), n_per)
    vectors = centers[labels] + rng.standard_normal((len(labels), dim))
    return vectors.astype(np.float32), labels


def test_pca_samples_with_fixed_seed() -> None:
    vectors, _ = clusters()
    settings = ProjectionSettings(method="pca", max_points=50, seed=3)
    one = project(vectors, settings)
    two = project(vectors, settings)
    assert one.sample_size == 50 and one.total == 180 and one.sampled
    assert np.array_equal(one.ids, two.ids)
    assert np.allclose(one.xy, two.xy)
    assert np.all(np.diff(one.ids) > 0)


def test_eligible_mask_limits_points() -> None:
    vectors, _ = clusters()
    eligible = np.zeros(len(vectors), dtype=bool)
    eligible[:40] = True
    proj = project(vectors, ProjectionSettings(method="pca"), eligible=eligible)
    assert proj.total == 40 and not proj.sampled
    assert proj.ids.max() < 40


def test_umap_separates_clusters() -> None:
    vectors, labels = clusters(n_per=40)
    proj = project(vectors, ProjectionSettings(method="umap", n_neighbors=10))
    assert proj.method == "umap" and proj.xy.shape == (120, 2)
    centroids = np.array([proj.xy[labels[proj.ids] == c].mean(axis=0) for c in range(3)])
    spread = max(
        np.linalg.norm(proj.xy[labels[proj.ids] == c] - centroids[c], axis=1).mean()
        for c in range(3)
    )
    gaps = [np.linalg.norm(centroids[i] - centroids[j]) for i in range(3) for j in range(i)]
    assert min(gaps) > spread


def test_cached_projection_is_reused() -> None:
    vectors, _ = clusters()
    settings = ProjectionSettings(method="pca", max_points=30)
    first, hit1 = cached_projection(vectors, "emb-key-test", settings)
    second, hit2 = cached_projection(vectors, "emb-key-test", settings)
    assert (hit1, hit2) == (False, True)
    assert np.array_equal(first.ids, second.ids) and np.allclose(first.xy, second.xy)


def test_place_puts_missing_products_near_their_cluster() -> None:
    vectors, labels = clusters()
    proj = project(vectors, ProjectionSettings(method="pca", max_points=60, seed=1))
    outside = np.setdiff1d(np.arange(len(vectors)), proj.ids)[:5]
    inside = proj.ids[:2]
    xy = place(proj, vectors, np.concatenate([inside, outside]))
    assert np.allclose(xy[:2], proj.xy[:2])
    for point, product in zip(xy[2:], outside, strict=True):
        same = proj.xy[labels[proj.ids] == labels[product]].mean(axis=0)
        others = [
            proj.xy[labels[proj.ids] == c].mean(axis=0) for c in range(3) if c != labels[product]
        ]
        assert np.linalg.norm(point - same) < min(np.linalg.norm(point - o) for o in others)


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(SettingsError, match="method must be one of"):
        ProjectionSettings(method="tsne")
    with pytest.raises(SettingsError, match="max_points"):
        ProjectionSettings(max_points=1)


def test_stratified_sample_keeps_each_stratum_share() -> None:
    from recsys_core.explore.projection import sample_ids

    strata = np.repeat([0, 1, 2, 3], [600, 300, 90, 10])
    ids = sample_ids(np.ones(len(strata), bool), 100, seed=0, strata=strata)
    assert len(ids) == 100 and np.all(np.diff(ids) > 0)
    assert np.bincount(strata[ids]).tolist() == [60, 30, 9, 1]
    tiny = np.repeat([0, 1], [995, 5])  # a rare stratum still gets a point
    ids = sample_ids(np.ones(1000, bool), 50, seed=0, strata=tiny)
    assert np.bincount(tiny[ids])[1] >= 1 and len(ids) == 50


def test_umap_reports_its_epochs() -> None:
    vectors, _ = clusters(n_per=20)
    seen: list[tuple[float, str]] = []
    project(
        vectors,
        ProjectionSettings(method="umap", n_neighbors=5),
        on_progress=lambda done, total, message: seen.append((done / total, message)),
    )
    epochs = [s for s in seen if s[1].startswith("layout: epoch")]
    assert len(epochs) >= 2
    shares = [s[0] for s in seen]
    assert shares == sorted(shares) and shares[-1] == 1.0


def test_a_cached_projection_is_stored_and_reused() -> None:
    """What a projection job stores (the app's UMAP: tests/test_jobkinds.py) is read back
    by ``stored_projection``; a second call builds nothing."""
    import time

    from recsys_core.explore.projection import cached_projection, stored_projection

    vectors, labels = clusters()
    settings = ProjectionSettings(method="pca", max_points=90)
    key = f"job-test-{time.time_ns()}"
    assert stored_projection(key, settings) is None
    built, hit = cached_projection(vectors, key, settings, strata=labels)
    assert not hit and built.sample_size == 90
    assert np.bincount(labels[built.ids]).tolist() == [30, 30, 30]  # stratified
    stored = stored_projection(key, settings)
    assert stored is not None and np.array_equal(stored.ids, built.ids)
    again, hit = cached_projection(vectors, key, settings)
    assert hit and np.array_equal(again.xy, built.xy)
