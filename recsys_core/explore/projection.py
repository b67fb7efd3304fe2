"""2-D maps of product vectors: UMAP (umap-learn) or PCA, sampled for large catalogs.

A projection is expensive (UMAP on 20k points takes tens of seconds), so it is cached as
an artifact keyed by the embeddings' key and the projection settings; the app computes it
in a store job (``recsys_core.jobs.tasks.ProjectionSpec``) that reports real progress
(UMAP's epochs) while the page shows the instant PCA view. Above ``max_points`` products
the map is a sample stratified by a per-product label (the app uses the train-degree bucket), so
head, torso and tail keep their shares. Products outside the sample can still be placed
on the map afterwards (:func:`place`), at the mean position of their nearest sampled
neighbours, so a chosen product is always drawable.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import numpy as np

from recsys_core.common import cache
from recsys_core.common.progress import Progress, report
from recsys_core.common.settings import Settings, require

log = logging.getLogger(__name__)

METHODS = ("umap", "pca")
SAMPLES = ("stratified", "uniform")


@dataclasses.dataclass(frozen=True)
class ProjectionSettings(Settings):
    """How to draw vectors in 2-D.

    Parameters
    ----------
    method:
        "umap" (keeps local neighbourhoods; slower) or "pca" (linear; instant).
    max_points:
        Largest number of products projected; above it the map draws a sample of this
        size.
    sample:
        "stratified" (each stratum, e.g. train-degree bucket, keeps its share of the
        products; every stratum at least one point) or "uniform".
    n_neighbors:
        UMAP's neighbourhood size: larger values keep more global structure.
    min_dist:
        UMAP's minimum distance between points in the map (0 packs clusters tightly).
    seed:
        Seed of the sample and of UMAP: the same settings give the same map.
    """

    method: str = "umap"
    max_points: int = 10_000
    sample: str = "stratified"
    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        require(
            self.method in METHODS,
            f"method must be one of {', '.join(METHODS)}, got {self.method!r}",
        )
        require(
            self.sample in SAMPLES,
            f"sample must be one of {', '.join(SAMPLES)}, got {self.sample!r}",
        )
        require(
            10 <= self.max_points <= 500_000,
            f"max_points must be in 10..500000, got {self.max_points}",
        )
        require(
            2 <= self.n_neighbors <= 200, f"n_neighbors must be in 2..200, got {self.n_neighbors}"
        )
        require(0.0 <= self.min_dist <= 1.0, f"min_dist must be in [0, 1], got {self.min_dist}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")


@dataclasses.dataclass
class Projection:
    """A 2-D map of some products.

    Attributes
    ----------
    ids:
        Product ids in the map (int64), sorted.
    xy:
        (len(ids), 2) float32 coordinates.
    total:
        How many products were eligible; ``len(ids) < total`` means the map is a sample.
    method:
        "umap" or "pca" (UMAP falls back to PCA for fewer than 4 points).
    """

    ids: np.ndarray
    xy: np.ndarray
    total: int
    method: str

    @property
    def sample_size(self) -> int:
        return len(self.ids)

    @property
    def sampled(self) -> bool:
        return len(self.ids) < self.total


def sample_ids(
    eligible: np.ndarray, max_points: int, seed: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """A fixed sample of the eligible product ids (all of them if few), sorted.

    With ``strata`` (one integer label per product) the sample is stratified: each
    stratum gets its share of ``max_points`` (largest remainders round, every stratum
    with eligible products at least one point) and is sampled uniformly inside.
    """
    ids = np.flatnonzero(np.asarray(eligible, dtype=bool))
    if len(ids) <= max_points:
        return ids.astype(np.int64)
    rng = np.random.default_rng(seed)
    if strata is None:
        return np.sort(rng.choice(ids, size=max_points, replace=False)).astype(np.int64)
    labels = np.asarray(strata)[ids]
    values, counts = np.unique(labels, return_counts=True)
    exact = counts * (max_points / len(ids))
    take = np.maximum(np.floor(exact).astype(np.int64), 1)
    # Largest remainders get the points still to place (never more than a stratum has).
    for i in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if take.sum() >= max_points:
            break
        if take[i] < counts[i]:
            take[i] += 1
    take = np.minimum(take, counts)
    parts = [
        rng.choice(ids[labels == value], size=int(n), replace=False)
        for value, n in zip(values, take, strict=True)
    ]
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _pca(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2), dtype=np.float32)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def project(
    vectors: np.ndarray,
    settings: ProjectionSettings | None = None,
    eligible: np.ndarray | None = None,
    on_progress: Progress | None = None,
    strata: np.ndarray | None = None,
) -> Projection:
    """Project (a sample of) the eligible products' vectors to 2-D.

    Parameters
    ----------
    vectors:
        (n_products, dim) vectors in catalog order.
    settings:
        Method, sample size, seed; defaults to :class:`ProjectionSettings()`.
    eligible:
        Bool mask of products to draw (e.g. ``embeddings.usable``); None: all.
    strata:
        Integer label per product for a stratified sample (``settings.sample``).
    """
    settings = settings or ProjectionSettings()
    vectors = np.asarray(vectors, dtype=np.float32)
    if eligible is None:
        eligible = np.ones(len(vectors), dtype=bool)
    total = int(np.asarray(eligible, dtype=bool).sum())
    ids = sample_ids(
        eligible,
        settings.max_points,
        settings.seed,
        strata if settings.sample == "stratified" else None,
    )
    # Cosine is what neighbours use, so the map works on unit vectors.
    x = _unit(vectors[ids])
    method = settings.method
    report(on_progress, 0, 1, f"projecting {len(ids):,} products with {method.upper()}")
    if method == "umap" and len(ids) >= 4:
        report(on_progress, 0.02, 1, "loading UMAP")
        import umap  # slow import (numba); only when asked for

        report(
            on_progress, 0.05, 1, f"nearest neighbours and initial layout of {len(ids):,} products"
        )
        reducer = umap.UMAP(
            tqdm_kwds=_epoch_progress(on_progress),
            n_components=2,
            n_neighbors=min(settings.n_neighbors, len(ids) - 1),
            min_dist=settings.min_dist,
            metric="euclidean",  # on unit vectors: monotone in cosine
            random_state=settings.seed,
            init="spectral" if len(ids) > 50 else "random",
        )
        xy = reducer.fit_transform(x).astype(np.float32)
    else:
        method = "pca"
        xy = _pca(x)
    report(on_progress, 1, 1, "projected")
    return Projection(ids=ids, xy=xy, total=total, method=method)


def cached_projection(
    vectors: np.ndarray,
    embeddings_key: str,
    settings: ProjectionSettings | None = None,
    eligible: np.ndarray | None = None,
    on_progress: Progress | None = None,
    strata: np.ndarray | None = None,
) -> tuple[Projection, bool]:
    """:func:`project`, reused from the artifact cache: ``(projection, cache_hit)``.

    ``embeddings_key`` must name the vectors (e.g. the run key); ``eligible`` and
    ``strata`` should be functions of what that key names (they are not part of it).
    """
    settings = settings or ProjectionSettings()
    key = settings.key(embeddings_key)
    return cache.cached(
        "projection",
        key,
        build=lambda: project(vectors, settings, eligible, on_progress, strata),
        save=_save,
        load=_load,
    )


def stored_projection(embeddings_key: str, settings: ProjectionSettings) -> Projection | None:
    """The cached projection for these vectors and settings, or None if not built yet."""
    folder = cache.artifact_dir("projection", settings.key(embeddings_key))
    if not (folder / cache.DONE_MARKER).exists():
        return None
    try:
        return _load(folder)
    except (OSError, ValueError, KeyError):
        return None


# -- UMAP's epochs as progress -------------------------------------------------------------
# UMAP draws a tqdm bar over its layout epochs when ``tqdm_kwds["disable"]`` is False;
# the bar's text goes to a file-like object that turns "n/total" into a progress report.
# Neighbour search and initial layout come before the first epoch (shown as 5-40%).
_EPOCHS = re.compile(r"(\d+)/(\d+)")
_LAYOUT_START = 0.4


class _EpochWriter:
    def __init__(self, on_progress: Progress | None) -> None:
        self.on_progress = on_progress

    def write(self, text: str) -> int:
        found = _EPOCHS.findall(text)
        if found:
            done, total = (int(x) for x in found[-1])
            share = _LAYOUT_START + (1 - _LAYOUT_START) * done / max(total, 1)
            report(self.on_progress, min(share, 0.999), 1, f"layout: epoch {done} of {total}")
        return len(text)

    def flush(self) -> None:
        return None


def _epoch_progress(on_progress: Progress | None) -> dict[str, Any]:
    return {
        "disable": on_progress is None,
        "file": _EpochWriter(on_progress),
        "bar_format": "{n}/{total}",
        "mininterval": 0.25,
        "ascii": True,
    }


def _save(folder, proj: Projection) -> None:
    cache.save_arrays(folder / "projection.npz", ids=proj.ids, xy=proj.xy)
    cache.save_json(folder / "projection.json", {"total": proj.total, "method": proj.method})


def _load(folder) -> Projection:
    arrays = cache.load_arrays(folder / "projection.npz")
    meta = cache.load_json(folder / "projection.json")
    return Projection(
        ids=arrays["ids"], xy=arrays["xy"], total=meta["total"], method=meta["method"]
    )


def place(
    projection: Projection, vectors: np.ndarray, products: np.ndarray, k: int = 5
) -> np.ndarray:
    """2-D positions for ``products``: their own point if sampled, else near their neighbours.

    A product outside the sample is put at the similarity-weighted mean position of its
    ``k`` most similar sampled products, so it lands where its neighbourhood is drawn.
    """
    products = np.asarray(products, dtype=np.int64)
    out = np.zeros((len(products), 2), dtype=np.float32)
    if len(projection.ids) == 0:
        return out
    where = np.searchsorted(projection.ids, products)
    where = np.clip(where, 0, len(projection.ids) - 1)
    inside = projection.ids[where] == products
    out[inside] = projection.xy[where[inside]]
    missing = np.flatnonzero(~inside)
    if len(missing):
        sample = _unit(np.asarray(vectors[projection.ids], dtype=np.float32))
        queries = _unit(np.asarray(vectors[products[missing]], dtype=np.float32))
        sims = queries @ sample.T
        k = min(k, len(projection.ids))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.clip(np.take_along_axis(sims, top, axis=1), 1e-6, None)
        weights /= weights.sum(axis=1, keepdims=True)
        out[missing] = np.einsum("mk,mkd->md", weights, projection.xy[top])
    return out
