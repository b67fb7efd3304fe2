"""The whole chain a model needs, each stage cached by the key of what produced it.

    dataset -> split -> train graph -> walks -> training -> evaluation

Training watches validation (the live AUC, under the run's unseen policy); the final
evaluation scores the split's test part, or validation in the method's split, and says
which in its report.

Every function here is a thin composition of the stage modules; the stages themselves know
nothing of caching or of each other.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.common import cache
from recsys_core.common.progress import Progress, report
from recsys_core.common.settings import Settings, SettingsError, require, stable_hash
from recsys_core.data.dataset import Dataset
from recsys_core.data.registry import DatasetSettings, load_dataset
from recsys_core.models.base import Callback, Embeddings, TrainEvent, TrainingData
from recsys_core.models.registry import model_class
from recsys_core.split import Split, SplitSettings, split_pairs

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Prepared:
    """A dataset with its split and train graph, and the keys that name them."""

    dataset: Dataset
    split: Split
    graph: sp.csr_matrix
    dataset_key: str
    split_key: str
    seconds: dict[str, float]
    cache_hits: dict[str, bool]


def prepare(
    dataset_settings: DatasetSettings,
    split_settings: SplitSettings | None = None,
    on_progress: Progress | None = None,
) -> Prepared:
    """Load (or reuse) the dataset and its split, and build the train graph."""
    from recsys_core.graph import build_graph

    split_settings = split_settings or SplitSettings()
    seconds: dict[str, float] = {}
    hits: dict[str, bool] = {}

    t0 = time.perf_counter()
    report(on_progress, 0, 3, "loading dataset")
    dataset, hits["dataset"] = load_dataset(dataset_settings, on_progress)
    seconds["dataset"] = time.perf_counter() - t0
    dataset_key = dataset_settings.key()

    t0 = time.perf_counter()
    report(on_progress, 1, 3, "splitting pairs")
    split_key = split_settings.key(dataset_key)
    split, hits["split"] = cache.cached(
        "split",
        split_key,
        build=lambda: _split_with_context(dataset, split_settings),
        save=lambda folder, s: s.save(folder),
        load=Split.load,
        on_progress=on_progress,
    )
    seconds["split"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report(on_progress, 2, 3, "building the train graph")
    graph = build_graph(dataset.n_products, *split.train_arrays())
    seconds["graph"] = time.perf_counter() - t0
    report(on_progress, 3, 3, "prepared")
    return Prepared(dataset, split, graph, dataset_key, split_key, seconds, hits)


def load_prepared(
    dataset_settings: DatasetSettings,
    split_settings: SplitSettings,
    on_progress: Progress | None = None,
) -> Prepared | None:
    """What :func:`prepare` returns, read from the cache only: None when the dataset or
    its split is not built (or is damaged: its marker is dropped, so a build job redoes
    it). Builds nothing but the train graph, which is derived from the split in memory.
    """
    from recsys_core.graph import build_graph

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    dataset_key = dataset_settings.key()
    ok, dataset = cache.load_if_complete("dataset", dataset_key, Dataset.load, on_progress)
    if not ok:
        return None
    seconds["dataset"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    split_key = split_settings.key(dataset_key)
    ok, split = cache.load_if_complete("split", split_key, Split.load, on_progress)
    if not ok:
        return None
    seconds["split"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report(on_progress, 2, 3, "building the train graph")
    graph = build_graph(dataset.n_products, *split.train_arrays())
    seconds["graph"] = time.perf_counter() - t0
    report(on_progress, 3, 3, "prepared")
    hits = {"dataset": True, "split": True}
    return Prepared(dataset, split, graph, dataset_key, split_key, seconds, hits)


def is_prepared(dataset_settings: DatasetSettings, split_settings: SplitSettings) -> bool:
    """Whether the dataset and its split are built (their done markers exist; the files
    are checked when :func:`load_prepared` reads them)."""
    dataset_key = dataset_settings.key()
    return all(
        (cache.artifact_dir(kind, key) / cache.DONE_MARKER).exists()
        for kind, key in (
            ("dataset", dataset_key),
            ("split", split_settings.key(dataset_key)),
        )
    )


def _split_with_context(dataset: Dataset, settings: SplitSettings) -> Split:
    """The split, and when it fails on a dataset whose loader skipped lines, a sentence
    that says so: a file of mostly bad lines shows up as "too few pairs" otherwise."""
    try:
        return split_pairs(dataset.pairs, dataset.n_products, settings, dataset.events)
    except SettingsError as exc:
        rep = dataset.report
        if not rep.skipped:
            raise
        first = rep.skipped_examples[0] if rep.skipped_examples else None
        example = f" (line {first[0]}: {first[1]})" if first else ""
        raise SettingsError(
            f"{rep.source}: {rep.skipped:,} of its {rep.lines_read:,} lines were skipped"
            f"{example}, leaving {len(dataset.pairs):,} pairs among "
            f"{dataset.n_products:,} products, too few to evaluate on: {exc}"
        ) from exc


def make_walks(
    prepared: Prepared, walk_settings: Any, on_progress: Progress | None = None
) -> tuple[np.ndarray, str, bool]:
    """Walks over the train graph for ``walk_settings``: ``(walks, key, cache_hit)``.

    In a process connected to Ray (:mod:`recsys_core.cluster`) the walks are built as
    shards by Ray workers: the same walks, stored in parts.
    """
    from recsys_core import cluster
    from recsys_core.cluster.shards import load_walks
    from recsys_core.walks import generate_walks

    key = walk_settings.key(prepared.split_key)
    if cluster.connected():
        from recsys_core.cluster.walks import cached_walks

        walks, hit = cached_walks(prepared.graph, walk_settings, key, on_progress)
        return walks, key, hit
    walks, hit = cache.cached(
        "walks",
        key,
        build=lambda: generate_walks(prepared.graph, walk_settings, on_progress=on_progress),
        save=lambda folder, w: cache.save_arrays(folder / "walks.npz", walks=w),
        load=load_walks,
        on_progress=on_progress,
    )
    return walks, key, hit


# Which held-out part a run's evaluation scores: "reported" (the split's test part, or
# validation in the method's split: what tables show) or "validation" (what tuning and
# sweeps choose on, so that no choice ever reads test labels).
EVALUATE_ON = ("reported", "validation")
# Split settings that change only the held-out negatives, not the train pairs: a model
# trained under one protocol is re-scored under another without training again.
NEGATIVE_ONLY_SPLIT_FIELDS = ("negatives", "negatives_per_positive", "seen_only")


@dataclasses.dataclass(frozen=True)
class RunSpec(Settings):
    """Everything that determines one trained and evaluated model.

    ``walks=None`` uses the model's own walk defaults (node2vec biases p and q);
    ``model_params`` are keyword settings of the model's settings class.

    Its key hashes the keys of every stage it runs (dataset, split, walks, model
    settings, evaluation), each with its stage's ``CODE_VERSION``, and its own version:
    bump :attr:`CODE_VERSION` when the training or saving of runs changes.
    """

    CODE_VERSION = 3  # 3: evaluate_on, trainings reused across scoring and protocols

    model: str = "sgns"
    dataset: DatasetSettings = dataclasses.field(default_factory=DatasetSettings)
    split: SplitSettings = dataclasses.field(default_factory=SplitSettings)
    walks: Any = None
    model_params: tuple[tuple[str, Any], ...] = ()
    evaluation: Any = None
    monitor_pairs: int = 20_000
    evaluate_on: str = "reported"

    def validate(self) -> None:
        cls = model_class(self.model)  # raises with the list of known names
        self.model_settings()  # raises SettingsError naming the bad parameter
        require(self.monitor_pairs >= 100, "monitor_pairs must be at least 100")
        require(
            self.evaluate_on in EVALUATE_ON,
            f"evaluate_on must be one of {', '.join(EVALUATE_ON)}, got {self.evaluate_on!r}",
        )
        del cls

    @classmethod
    def create(cls, model: str, **kwargs: Any) -> RunSpec:
        params = kwargs.pop("model_params", {}) or {}
        return cls(model=model, model_params=tuple(sorted(dict(params).items())), **kwargs)

    def model_settings(self) -> Settings:
        cls = model_class(self.model)
        params = dict(self.model_params)
        known = {f.name for f in dataclasses.fields(cls.settings_cls)}
        unknown = sorted(set(params) - known)
        require(
            not unknown,
            f"model {self.model!r} has no setting {', '.join(unknown)}; "
            f"its settings are: {', '.join(sorted(known))}",
        )
        try:
            return cls.settings_cls(**params)
        except TypeError as exc:
            raise SettingsError(f"bad settings for model {self.model!r}: {exc}") from exc

    def walk_settings(self) -> Any:
        from recsys_core.walks import WalkSettings

        if self.walks is not None:
            return self.walks
        cls = model_class(self.model)
        return WalkSettings(p=cls.walk_p, q=cls.walk_q)

    def eval_settings(self) -> Any:
        from recsys_core.evaluation.evaluate import EvalSettings

        return self.evaluation if self.evaluation is not None else EvalSettings()

    def key(self, *input_keys: str) -> str:
        dataset_key = self.dataset.key()
        return stable_hash(
            {
                "stage": "run",
                "code_version": self.code_version(),
                "model": self.model,
                "dataset": dataset_key,
                "split": self.split.key(dataset_key),
                "walks": self.walk_settings().key(),
                "model_settings": self.model_settings().key(),
                "evaluation": self.eval_settings().key(),
                "monitor_pairs": self.monitor_pairs,
                "evaluate_on": self.evaluate_on,
                "inputs": list(input_keys),
            }
        )

    def train_key(self) -> str:
        """The key of what training alone depends on: the run's key without its scoring
        settings (:data:`~recsys_core.models.base.SCORING_FIELDS`), its negative protocol
        and its evaluation. Runs that share it share one training."""
        from recsys_core.models.base import SCORING_FIELDS

        settings = self.model_settings()
        split = {
            k: v for k, v in self.split.as_dict().items() if k not in NEGATIVE_ONLY_SPLIT_FIELDS
        }
        return stable_hash(
            {
                "stage": "trained",
                "code_version": self.code_version(),
                "model": self.model,
                "dataset": self.dataset.key(),
                "split": split,
                "split_version": self.split.code_version(),
                "walks": self.walk_settings().key(),
                "model_settings": {
                    k: v for k, v in settings.as_dict().items() if k not in SCORING_FIELDS
                },
                "model_version": settings.code_version(),
                "monitor_pairs": self.monitor_pairs,
            }
        )


@dataclasses.dataclass
class RunOutcome:
    """What a finished run produced."""

    spec: RunSpec
    embeddings: Embeddings
    evaluation: Any  # recsys_core.evaluation.evaluate.EvalReport
    events: list[dict[str, Any]]
    train_seconds: float
    seconds: dict[str, float]
    keys: dict[str, str]
    cache_hits: dict[str, bool]
    cancelled: bool = False

    @property
    def artifact_dir(self) -> Path:
        return cache.artifact_dir("run", self.keys["run"])

    def results_entry(self) -> tuple[str, str, Any, float, dict[str, Any], str]:
        """This run as one row source for :func:`recsys_core.evaluation.results.results_table`."""
        cls = model_class(self.spec.model)
        return (
            self.spec.model,
            cls.label,
            self.evaluation,
            self.train_seconds,
            self.spec.model_settings().as_dict(),
            self.spec.dataset.describe(),
        )


def monitor_sample(val: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A fixed sample of validation pairs for live AUC: cheap to score every N steps."""
    if len(val) <= size:
        return val
    rng = np.random.default_rng(seed)
    return val.iloc[np.sort(rng.choice(len(val), size=size, replace=False))].reset_index(drop=True)


def training_data(
    prepared: Prepared,
    walks: np.ndarray | None,
    monitor_pairs: int,
    unseen_policy: str = "auto",
) -> TrainingData:
    """What a model trains from; its live monitor scores validation pairs under
    ``unseen_policy``, the policy of the run's final evaluation."""
    from recsys_core.evaluation.auc import make_monitor
    from recsys_core.evaluation.monitor import make_ranking_monitor

    return TrainingData(
        n_products=prepared.dataset.n_products,
        products=prepared.dataset.products,
        side_fields=prepared.dataset.side_fields,
        train_pairs=prepared.split.train,
        graph=prepared.graph,
        walks=walks,
        monitor=make_monitor(
            monitor_sample(prepared.split.val, monitor_pairs, seed=0), unseen_policy
        ),
        seen_products=prepared.split.seen_products,
        ranking_monitor=make_ranking_monitor(prepared.split.val, prepared.graph, unseen_policy),
    )


def run(
    spec: RunSpec,
    on_progress: Progress | None = None,
    callback: Callback | None = None,
    prepared: Prepared | None = None,
) -> RunOutcome:
    """Prepare, walk, train and evaluate; every stage reuses its artifact when it exists.

    A run cancelled through ``callback`` still returns (and evaluates) what it trained,
    with ``cancelled=True``, but is not cached as finished.
    """
    prepared = prepared or prepare(spec.dataset, spec.split, on_progress)
    seconds = dict(prepared.seconds)
    hits = dict(prepared.cache_hits)
    uses_walks = model_class(spec.model).uses_walks
    keys = {
        "dataset": prepared.dataset_key,
        "split": prepared.split_key,
        "run": spec.key(prepared.split_key),
    }
    if uses_walks:
        keys["walks"] = spec.walk_settings().key(prepared.split_key)

    finished = load_finished(spec, keys, hits, on_progress)
    if finished is not None:
        return finished
    # One process trains a run key at a time: a second one (the CLI beside a worker,
    # two servers on one cache) waits here and then loads what the first saved.
    with cache.building("run", keys["run"], on_progress):
        finished = load_finished(spec, keys, hits, on_progress)
        if finished is not None:
            return finished
        reused = load_training(spec)
        if reused is not None:
            embeddings, events, seconds["train"] = reused
            cancelled, hits["trained"] = False, True
        else:
            walks = None
            if uses_walks:
                t0 = time.perf_counter()
                report(on_progress, 0, 1, "generating walks")
                walks, _, hits["walks"] = make_walks(prepared, spec.walk_settings(), on_progress)
                seconds["walks"] = time.perf_counter() - t0
            embeddings, events, cancelled, seconds["train"] = train(
                spec, prepared, walks, on_progress, callback
            )
        t0 = time.perf_counter()
        report(on_progress, 0, 1, "evaluating")
        evaluation = evaluate_run(spec, prepared, embeddings)
        seconds["evaluate"] = time.perf_counter() - t0
        outcome = RunOutcome(
            spec=spec,
            embeddings=embeddings,
            evaluation=evaluation,
            events=events,
            train_seconds=seconds["train"],
            seconds=seconds,
            keys=keys,
            cache_hits={**hits, "run": False},
            cancelled=cancelled,
        )
        if not cancelled:
            save_outcome(outcome)
    return outcome


def load_finished(
    spec: RunSpec,
    keys: dict[str, str],
    hits: dict[str, bool],
    on_progress: Progress | None = None,
) -> RunOutcome | None:
    """The finished run ``keys["run"]`` from its artifacts, or None (absent, or missing,
    truncated, corrupt or unreadable files: the caller trains again)."""

    def load(folder: Path) -> RunOutcome:
        return load_outcome_files(folder, spec, keys, {**hits, "run": True})

    ok, outcome = cache.load_if_complete("run", keys["run"], load, on_progress)
    return outcome if ok else None


def load_outcome_files(
    folder: Path,
    spec: RunSpec,
    keys: dict[str, str],
    hits: dict[str, bool],
    mmap: bool = False,
) -> RunOutcome:
    """A saved run's outcome read from ``folder`` (raises when a file is unreadable)."""
    from recsys_core.evaluation.evaluate import EvalReport

    record = cache.load_json(folder / "run.json")
    return RunOutcome(
        spec=spec,
        embeddings=Embeddings.load(folder / "embeddings", mmap=mmap),
        evaluation=EvalReport.load(folder / "evaluation"),
        events=record["events"],
        train_seconds=record["train_seconds"],
        seconds=record["seconds"],
        keys=keys,
        cache_hits=hits,
    )


def load_training(spec: RunSpec) -> tuple[Embeddings, list[dict[str, Any]], float] | None:
    """The vectors, events and train seconds of a finished run with the same training
    (:meth:`RunSpec.train_key`), scored by ``spec``'s own rule; None when there is none
    (or its files are damaged: the caller trains again)."""
    ok, index = cache.load_if_complete(
        "trained", spec.train_key(), lambda folder: cache.load_json(folder / "trained.json")
    )
    if not ok:
        return None

    def load(folder: Path) -> tuple[Embeddings, dict[str, Any]]:
        return Embeddings.load(folder / "embeddings"), cache.load_json(folder / "run.json")

    ok, loaded = cache.load_if_complete("run", index["run"], load)
    if not ok:
        return None
    embeddings, record = loaded
    settings = spec.model_settings()
    if hasattr(settings, "score"):
        embeddings = embeddings.with_scoring(
            settings.score, getattr(settings, "popularity_weight", 0.0)
        )
    return embeddings, record["events"], float(record["train_seconds"])


def train(
    spec: RunSpec,
    prepared: Prepared,
    walks: np.ndarray | None,
    on_progress: Progress | None = None,
    callback: Callback | None = None,
) -> tuple[Embeddings, list[dict[str, Any]], bool, float]:
    """Fit the spec's model: ``(embeddings, events, cancelled, seconds)``.

    Every training event is recorded and passed on to ``callback``; a callback that
    returns True cancels, and the model returns what it has.
    """
    events: list[dict[str, Any]] = []
    cancelled = False

    def listen(event: TrainEvent) -> bool | None:
        nonlocal cancelled
        events.append(event.as_dict())
        if event.total_steps:
            report(on_progress, event.step + 1, event.total_steps, f"training {spec.model}")
        stop = callback(event) if callback is not None else None
        if stop:
            cancelled = True
        return stop

    policy = spec.eval_settings().unseen_policy
    data = training_data(prepared, walks, spec.monitor_pairs, policy)
    t0 = time.perf_counter()
    model = model_class(spec.model)(spec.model_settings())
    embeddings = model.fit(data, callback=listen)
    return embeddings, events, cancelled, time.perf_counter() - t0


def evaluate_run(spec: RunSpec, prepared: Prepared, embeddings: Embeddings) -> Any:
    """The run's reported evaluation: the split's test part (validation in the method's
    split), under the split's protocol and the run's unseen policy; the other held-out
    part's partners are filtered out of the ranking."""
    from recsys_core.evaluation.evaluate import evaluate

    split = prepared.split
    part = split.reported_part if spec.evaluate_on == "reported" else "validation"
    # Test queries also filter their validation partners (right answers the model was
    # not asked for); validation never looks at test, so no choice reads test labels.
    other = split.part("validation") if part == "test" else None
    evaluation = evaluate(
        embeddings,
        split.part(part),
        split.seen_products,
        spec.eval_settings(),
        train_graph=prepared.graph,
        part=part,
        protocol=split.negatives,
        other_part=other,
    )
    evaluation.info["split_key"] = prepared.split_key
    evaluation.info["split_by"] = spec.split.label()
    return evaluation


def save_outcome(outcome: RunOutcome) -> Path:
    """Write a finished run's artifacts; the done marker with their manifest goes last.

    Callers hold the run key's lock (:func:`run` does); what a crashed writer left in
    the folder is cleared first.
    """
    folder = outcome.artifact_dir
    cache.start_fresh(folder)
    outcome.embeddings.save(folder / "embeddings")
    outcome.evaluation.save(folder / "evaluation")
    cache.save_json(
        folder / "run.json",
        {
            "spec": outcome.spec.as_dict(),
            "events": outcome.events,
            "train_seconds": outcome.train_seconds,
            "seconds": outcome.seconds,
            "keys": outcome.keys,
        },
    )
    cache.mark_done(folder, "run", outcome.keys["run"])
    if not outcome.cache_hits.get("trained"):
        train_key = outcome.spec.train_key()
        trained = cache.artifact_dir("trained", train_key)
        cache.save_json(trained / "trained.json", {"run": outcome.keys["run"]})
        cache.mark_done(trained, "trained", train_key)
    return folder
