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
