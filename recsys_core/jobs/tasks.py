"""The jobs besides model runs: dataset builds and projections, with their runners.

Both are store jobs like training runs (submitted, deduplicated by key, listed,
cancelled, executed by a worker process), so the app's server never builds a dataset or
computes a map itself:

* :class:`BuildSpec` prepares a dataset and its split (``pipeline.prepare``): the
  ``dataset`` and ``split`` artifacts pages read. Key: the split's key, which names the
  dataset too.
* :class:`ProjectionSpec` computes a finished run's 2-D map (UMAP) from the run's own
  artifacts: the ``projection`` artifact ``explore.projection.stored_projection`` reads.
  Key: the projection settings' key on the run's key. The worker reads the vectors from
  the run's files (memory-mapped), so no copy of them is written as the job's input.

A failure the user can act on (a bad file, a deleted run) is one sentence
(:class:`~.runners.JobFailed`); cancelling stops at the next progress report, and every
artifact is written whole or not at all (``common.cache``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

from recsys_core.common import cache
from recsys_core.common.settings import SettingsError
from recsys_core.jobs.runners import JobFailed, JobResult

BUILD = "build"
PROJECTION = "projection"
# What a bad dataset raises while it is read and split: its message is the sentence.
DATASET_ERRORS = (SettingsError, ValueError, FileNotFoundError)


@dataclasses.dataclass(frozen=True)
class BuildSpec:
    """Build ``dataset`` and its ``split`` in a worker."""

    dataset: Any  # DatasetSettings
    split: Any  # SplitSettings
    kind: ClassVar[str] = BUILD
    label: ClassVar[str] = "dataset build"

    def key(self) -> str:
        return f"{BUILD}:{self.split.key(self.dataset.key())}"

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset.as_dict(), "split": self.split.as_dict()}

    def describe(self) -> str:
        return self.dataset.describe()

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> BuildSpec:
        from recsys_core.data.registry import DatasetSettings
        from recsys_core.split import SplitSettings

        return cls(DatasetSettings(**payload["dataset"]), SplitSettings(**payload["split"]))

    def artifact_dirs(self) -> list[Path]:
        dataset_key = self.dataset.key()
        return [
            cache.artifact_dir("dataset", dataset_key),
            cache.artifact_dir("split", self.split.key(dataset_key)),
        ]


@dataclasses.dataclass(frozen=True)
class ProjectionSpec:
    """Project the vectors of finished run ``run`` (settings key ``run_key``) to 2-D."""

    run: int
    run_key: str
    settings: Any  # ProjectionSettings
    dataset: str = ""  # the run's dataset, as the job list shows it
    kind: ClassVar[str] = PROJECTION

    @property
    def label(self) -> str:
        return f"{self.settings.method.upper()} of run #{self.run}"

    def key(self) -> str:
        return f"{PROJECTION}:{self.settings.key(self.run_key)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": int(self.run),
            "run_key": self.run_key,
            "settings": self.settings.as_dict(),
            "dataset": self.dataset,
        }

    def describe(self) -> str:
        return self.dataset

    @classmethod
    def of_run(cls, record: Any, settings: Any) -> ProjectionSpec:
        """The projection of a finished run's record with ``settings``."""
        return cls(int(record.id), str(record.key), settings, str(record.dataset))

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ProjectionSpec:
        from recsys_core.explore.projection import ProjectionSettings

        return cls(
            int(payload["run"]),
            str(payload["run_key"]),
            ProjectionSettings(**payload["settings"]),
            str(payload.get("dataset", "")),
        )

    def artifact_dirs(self) -> list[Path]:
        return [cache.artifact_dir(PROJECTION, self.settings.key(self.run_key))]


def build_runner(spec: dict[str, Any], on_progress: Any, callback: Any) -> JobResult:
    """Prepare the dataset and split of a stored :class:`BuildSpec`."""
    from recsys_core import pipeline

    job = BuildSpec.from_dict(spec)
    try:
        prep = pipeline.prepare(job.dataset, job.split, on_progress=on_progress)
    except DATASET_ERRORS as exc:
        raise JobFailed(f"Could not build {job.describe()}: {exc}") from exc
    summary = {
        "products": int(prep.dataset.n_products),
        "pairs": len(prep.dataset.pairs),
        "seconds": {k: float(v) for k, v in prep.seconds.items()},
    }
    return JobResult(
        summary=summary,
        keys={"dataset": prep.dataset_key, "split": prep.split_key},
        artifact_dirs=job.artifact_dirs(),
    )


def _build_dirs(spec: dict[str, Any]) -> list[Path]:
    return BuildSpec.from_dict(spec).artifact_dirs()


build_runner.expected_dirs = _build_dirs  # type: ignore[attr-defined]


def projection_runner(spec: dict[str, Any], on_progress: Any, callback: Any) -> JobResult:
    """Compute and store the projection of a stored :class:`ProjectionSpec`.

    The run's outcome is checked against its recorded checksums and read memory-mapped;
    the strata of the sample are the train-degree buckets of the run's own split.
    """
    import numpy as np

    from recsys_core import pipeline
    from recsys_core.explore.dataset_views import degree_strata
    from recsys_core.explore.projection import cached_projection
    from recsys_core.graph import degree
    from recsys_core.jobs import api

    job = ProjectionSpec.from_dict(spec)
    try:
        record = api.get_run(job.run)
    except KeyError:
        raise JobFailed(f"run {job.run} was deleted, so its vectors are gone") from None
    if record.key != job.run_key:
        raise JobFailed(f"run {job.run} holds other settings now than the map was asked for")
    on_progress(0, 1, f"loading the vectors of run {job.run}")
    try:
        outcome = api.load_outcome(job.run, mmap=True)
    except (ValueError, api.ArtifactError) as exc:
        raise JobFailed(str(exc)) from exc
    run_spec = record.run_spec()
    prep = pipeline.prepare(run_spec.dataset, run_spec.split, on_progress=on_progress)
    emb = outcome.embeddings
    projection, _ = cached_projection(
        np.asarray(emb.vectors),
        record.key,
        job.settings,
        emb.usable,
        on_progress,
        degree_strata(degree(prep.graph)),
    )
    summary = {
        "points": int(projection.sample_size),
        "total": int(projection.total),
        "method": projection.method,
    }
    return JobResult(
        summary=summary,
        keys={PROJECTION: job.settings.key(job.run_key)},
        artifact_dirs=job.artifact_dirs(),
    )


def _projection_dirs(spec: dict[str, Any]) -> list[Path]:
    return ProjectionSpec.from_dict(spec).artifact_dirs()


projection_runner.expected_dirs = _projection_dirs  # type: ignore[attr-defined]

RUNNERS = {BUILD: build_runner, PROJECTION: projection_runner}
