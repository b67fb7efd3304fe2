"""Studies: small declared experiments with a verdict that survives seeds.

A :class:`Study` is a question, a few arms (each a :class:`~recsys_core.pipeline.RunSpec`
template, everything else equal), the datasets, seeds and evaluation protocols to try
them on, the metrics, and a verdict rule. The framework

1. expands the study into concrete runs (:func:`plan`): one per arm, dataset and seed,
   where a seed sets the split, the walks and the model's initialisation;
2. runs them as ordinary runs: background jobs through :mod:`recsys_core.jobs` (cached
   and deduplicated: a run whose settings already finished is reused) or in-process
   through :func:`recsys_core.pipeline.run`;
3. scores every finished run's vectors under each protocol (:func:`score`), on the
   reported pairs of that protocol's split (the test pairs where the split has them);
4. turns the figures into verdicts (:func:`compare_arms`): a direction is named only when
   the difference between two arms' means exceeds the spread across seeds (the larger of
   the two arms' ranges, max - min over seeds); otherwise "no clear difference".
   Every study also judges its arms on NDCG@10 and HitRate@10 (:func:`compare_ranked`):
   the two arms' per-query figures are paired query by query within each seed, and a
   direction is named only when the 95% interval of the difference, over seeds and
   queries (:func:`recsys_core.evaluation.intervals.paired_over_seeds`), excludes 0.
   Ranking does not depend on the negatives, so these verdicts are made once, under the
   first protocol.

Runs are trained once on the first protocol's split; the other protocols only change
the negative pairs they are scored against, so the framework checks that their train
pairs are the same and scores the same vectors on them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsys_core.common import cache
from recsys_core.common.progress import Progress, report
from recsys_core.common.settings import SettingsError, require, stable_hash
from recsys_core.data.registry import DatasetSettings
from recsys_core.pipeline import RunSpec

log = logging.getLogger(__name__)

# Bump when the scoring below changes what a cached score holds.
# 2: evaluate() records part, protocol and the effective policy
# 3: ranking by product queries over the whole catalog, intervals, per-query arrays kept
SCORE_VERSION = 3

DEFAULT_DATASETS = ("builtin", "movielens")
DEFAULT_SEEDS = 3
DEFAULT_PRODUCTS = 5000
DEFAULT_PROTOCOLS = ("uniform", "degree-matched")

# metric name -> (label, higher is better, depends on the protocol)
METRICS: dict[str, tuple[str, bool, bool]] = {
    "auc": ("AUC", True, True),
    "auc_all": ("AUC all", True, True),
    "auc_seen": ("AUC seen", True, True),
    "auc_unseen": ("AUC unseen", True, True),
    "hit_rate": ("HitRate@10", True, True),
    "ndcg": ("NDCG@10", True, True),
    "ndcg@10": ("NDCG@10", True, False),
    "hit_rate@10": ("HitRate@10", True, False),
    "train_seconds": ("train seconds", False, False),
    "restart_dip": ("AUC dip after a restart", False, False),
}
# Judged in every study, from per-query figures paired within each seed (compare_ranked).
RANKING_VERDICTS = ("ndcg@10", "hit_rate@10")


def ranking_first(metrics: Iterable[str]) -> list[str]:
    """``metrics`` (each once) with the ranking ones leading, NDCG@10 then HitRate@10;
    the others, the method's AUC among them, follow in their own order."""
    return sorted(
        dict.fromkeys(metrics),
        key=lambda m: RANKING_VERDICTS.index(m) if m in RANKING_VERDICTS else len(RANKING_VERDICTS),
    )


PAIR_SETS = ("all", "seen", "unseen")
WHERE = ("any", "synthetic", "real")


def negative_protocols() -> tuple[str, ...]:
    """The protocols the split module offers (only "uniform" before it had a setting)."""
    try:
        from recsys_core.split import NEGATIVE_PROTOCOLS
    except ImportError:
        return ("uniform",)
    return tuple(NEGATIVE_PROTOCOLS)


# -- declarations ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Arm:
    """One arm of a study.

    Parameters
    ----------
    name:
        Short label, unique in the study ("plain walks", "p=0.5 q=2").
    spec:
        The run, on a placeholder dataset: :func:`plan` sets the dataset and the seeds.
    group:
        Verdicts compare arms within a group ("coverage 10%"); a tuple puts the arm in
        several groups (a control shared by two comparisons).
    reference:
        Within its group(s), the arm every other arm is compared against (the control).
        Without one, the best arm is compared against each of the others.
    policy:
        Unseen policy to score with (None: the run's own evaluation setting).
    pairs:
        Which reported pairs "auc" is taken on: "all", "seen" (both products seen in
        training) or "unseen".
    synthetic:
        Overrides of the built-in catalog for this arm (``meta_coverage=1.0``).
    where:
        "any" dataset, only the built-in catalog ("synthetic") or only real files ("real").
    """

    name: str
    spec: RunSpec
    group: str | tuple[str, ...] = ""
    reference: bool = False
    policy: str | None = None
    pairs: str = "all"
    synthetic: tuple[tuple[str, Any], ...] = ()
    where: str = "any"

    def __post_init__(self) -> None:
        require(bool(self.name), "an arm needs a name")
        require(self.pairs in PAIR_SETS, f"pairs must be one of {PAIR_SETS}, got {self.pairs!r}")
        require(self.where in WHERE, f"where must be one of {WHERE}, got {self.where!r}")

    @property
    def groups(self) -> tuple[str, ...]:
        return (self.group,) if isinstance(self.group, str) else tuple(self.group)


@dataclasses.dataclass(frozen=True)
class Study:
    """A declared experiment; see the module notes.

    ``figure`` picks how pages draw it: "bars" (each arm's metric), "curves" (live AUC
    over steps with the epoch ends / restarts marked), "buckets" (AUC per degree bucket)
    or "coverage" (metric against metadata coverage). ``sizes`` states what a default
    run costs; ``meaning`` says what the verdict means for someone choosing an embedding.
    """

    name: str
    title: str
    question: str
    arms: tuple[Arm, ...]
    metrics: tuple[str, ...] = ("auc",)
    datasets: tuple[str, ...] = DEFAULT_DATASETS
    seeds: int = DEFAULT_SEEDS
    protocols: tuple[str, ...] = DEFAULT_PROTOCOLS
    products: int = DEFAULT_PRODUCTS
    figure: str = "bars"
    sizes: str = ""
    meaning: str = ""

    def __post_init__(self) -> None:
        names = [a.name for a in self.arms]
        require(len(names) == len(set(names)), f"study {self.name}: arm names repeat")
        require(len(self.arms) >= 2, f"study {self.name}: needs at least two arms")
        unknown = [m for m in self.metrics if m not in METRICS]
        require(not unknown, f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
        require(self.seeds >= 1, "seeds must be >= 1")

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)


@dataclasses.dataclass(frozen=True)
class Trial:
    """One concrete run of a study: an arm on a dataset with a seed."""

    dataset: str
    arm: str
    seed: int
    spec: RunSpec


# -- datasets -------------------------------------------------------------------------------


def arm_spec(
    model: str,
    split: Any = None,
    walks: Any = None,
    evaluation: Any = None,
    **params: Any,
) -> RunSpec:
    """An arm's run on a placeholder dataset (:func:`plan` sets the real one)."""
    from recsys_core.split import SplitSettings

    return RunSpec.create(
        model,
        split=split if split is not None else SplitSettings(),
        walks=walks,
        evaluation=evaluation,
        model_params=params,
    )


def dataset_settings(name: str, products: int = DEFAULT_PRODUCTS) -> DatasetSettings:
    """The settings of a dataset name, as every subcommand spells it
    (:func:`recsys_core.data.registry.settings_for_name`): ``synthetic`` (the built-in
    catalog at ``products``; ``builtin`` is its older name), ``movielens-100k`` (the
    fetched copy; ``movielens``), ``movielens-1m``, or ``SOURCE:PATH``.

    Raises
    ------
    FileNotFoundError
        A MovieLens copy has not been fetched (the message gives the command).
    """
    from recsys_core.data.registry import settings_for_name

    return settings_for_name(name, products=int(products))


def dataset_label(name: str) -> str:
    if name in ("builtin", "synthetic"):
        return "built-in catalog"
    if name in ("movielens", "movielens-100k"):
        return "MovieLens-100k"
    if name == "movielens-1m":
        return "MovieLens-1M"
    return name


def available_datasets(names: Iterable[str], products: int) -> tuple[list[str], list[str]]:
    """The datasets that can be loaded, and a note for each one that cannot."""
    usable, notes = [], []
    for name in names:
        try:
            dataset_settings(name, products)
        except (FileNotFoundError, ValueError, SettingsError) as exc:
            notes.append(f"{dataset_label(name)} left out: {exc}")
            continue
        usable.append(name)
    return usable, notes


# -- planning -------------------------------------------------------------------------------


def _with_seed(spec: RunSpec, seed: int) -> RunSpec:
    """The spec with ``seed`` for the split, the walks and the model (where it has one)."""
    params = dict(spec.model_params)
    if "seed" in {f.name for f in dataclasses.fields(spec.model_settings())}:
        params["seed"] = seed
    return dataclasses.replace(
        spec,
        split=dataclasses.replace(spec.split, seed=seed),
        walks=dataclasses.replace(spec.walk_settings(), seed=seed),
        model_params=tuple(sorted(params.items())),
    )


def _applies(arm: Arm, dataset: DatasetSettings) -> bool:
    synthetic = dataset.source == "synthetic"
    if arm.where == "synthetic" or arm.synthetic:
        return synthetic
    if arm.where == "real":
        return not synthetic
    return True


def plan(
    study: Study,
    datasets: Sequence[str] | None = None,
    seeds: int | None = None,
    products: int | None = None,
) -> tuple[list[Trial], list[str]]:
    """Every run of the study, and notes on what was left out (an unfetched dataset)."""
    products = products or study.products
    seeds = seeds or study.seeds
    names, notes = available_datasets(datasets or study.datasets, products)
    trials = []
    for name in names:
        base = dataset_settings(name, products)
        for arm in study.arms:
            if not _applies(arm, base):
                continue
            dataset = dataclasses.replace(base, **dict(arm.synthetic)) if arm.synthetic else base
            if dataset.source == "synthetic":
                try:
                    dataset.synthetic_settings()
                except SettingsError as exc:
                    notes.append(f"{arm.name} left out at {products:,} products: {exc}")
                    continue
            for seed in range(seeds):
                spec = _with_seed(dataclasses.replace(arm.spec, dataset=dataset), seed)
                trials.append(Trial(name, arm.name, seed, spec))
    return trials, notes


def unique_specs(trials: Iterable[Trial]) -> list[RunSpec]:
    """The distinct runs of a plan (arms that differ only in scoring share a run)."""
    seen: dict[str, RunSpec] = {}
    for trial in trials:
        seen.setdefault(trial.spec.key(), trial.spec)
    return list(seen.values())


# -- running --------------------------------------------------------------------------------


def submit(trials: Iterable[Trial], submit_fn: Callable[[RunSpec], int] | None = None) -> dict:
    """Queue each distinct run as a background job; ``{spec key: run id}``.

    The job layer returns the existing run for settings that are queued, running or
    finished, so submitting a study again costs nothing.
    """
    if submit_fn is None:
        from recsys_core.jobs import submit as submit_fn
    return {spec.key(): submit_fn(spec) for spec in unique_specs(trials)}


def find_runs(trials: Iterable[Trial]) -> dict[str, Any]:
    """``{spec key: run record}`` for the runs of a plan already in the job store."""
    from recsys_core.jobs import default_store
    from recsys_core.jobs.specs import submission

    store = default_store()
    found = {}
    for spec in unique_specs(trials):
        record = store.find_live(submission(spec).key)
        if record is not None:
            found[spec.key()] = record
    return found


def progress_of(trials: Sequence[Trial], records: dict[str, Any]) -> dict[str, Any]:
    """Counts by status over the distinct runs, and the overall fraction done."""
    specs = unique_specs(trials)
    counts: dict[str, int] = {}
    done = 0.0
    for spec in specs:
        record = records.get(spec.key())
        status = record.status if record is not None else "not started"
        counts[status] = counts.get(status, 0) + 1
        if status == "finished":
            done += 1.0
        elif status == "running":
            done += float(record.progress or 0.0)
    return {"runs": len(specs), "counts": counts, "fraction": done / max(len(specs), 1)}


def run_in_jobs(
    trials: Sequence[Trial],
    on_progress: Progress | None = None,
    poll: float = 1.0,
    timeout: float | None = None,
) -> tuple[dict[str, Any], dict[str, int]]:
    """Submit the plan as background runs, wait for them; ``(outcomes, run ids)`` by key."""
    from recsys_core import jobs

    ids = submit(trials)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        records = {key: jobs.get_run(run_id) for key, run_id in ids.items()}
        state = progress_of(trials, records)
        report(on_progress, state["fraction"] * len(ids), len(ids), "study runs")
        if not any(r.active for r in records.values()):
            break
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"study runs not finished after {timeout:g} s")
        time.sleep(poll)
    bad = [r for r in records.values() if r.status != "finished"]
    if bad:
        first = bad[0]
        raise RuntimeError(
            f"{len(bad)} study run(s) did not finish; run {first.id} ({first.model}) is "
            f"{first.status}: {(first.error or 'no error recorded').splitlines()[0]}"
        )
    return {key: jobs.load_outcome(record.id) for key, record in records.items()}, ids


def collect_finished(
    study: Study,
    trials: Sequence[Trial],
    records: dict[str, Any],
    notes: Sequence[str] = (),
    products: int | None = None,
) -> StudyResult:
    """Score a plan whose runs all finished in the job store (``records`` by spec key)."""
    from recsys_core import jobs

    outcomes = {key: jobs.load_outcome(record.id) for key, record in records.items()}
    runs = {key: record.id for key, record in records.items()}
    return collect(study, trials, outcomes, notes, products=products, runs=runs)


def forget_runs(records: Iterable[Any]) -> None:
    """Delete a study's runs (cancelling active ones) so that submitting trains anew."""
    from recsys_core import jobs

    for record in records:
        jobs.delete(record.id)


def run_in_process(trials: Sequence[Trial], on_progress: Progress | None = None) -> dict[str, Any]:
    """Run the plan here, one run after another (each stage still cached on disk)."""
    from recsys_core.pipeline import prepare, run

    specs = unique_specs(trials)
    outcomes: dict[str, Any] = {}
    prepared: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        report(on_progress, i, len(specs), f"study run {i + 1}/{len(specs)}: {spec.model}")
        pkey = spec.split.key(spec.dataset.key())
        if pkey not in prepared:
            prepared.clear()  # one dataset in memory at a time
            prepared[pkey] = prepare(spec.dataset, spec.split)
        outcomes[spec.key()] = run(spec, prepared=prepared[pkey])
    report(on_progress, len(specs), len(specs), "study runs")
    return outcomes


# -- scoring --------------------------------------------------------------------------------


def protocol_split(split: Any, protocol: str) -> Any:
    """``split`` with negatives drawn under ``protocol``."""
    if protocol == getattr(split, "negatives", "uniform"):
        return split
    if not hasattr(split, "negatives"):
        raise SettingsError(
            f"protocol {protocol!r} needs SplitSettings.negatives, which this version of "
            "recsys_core.split does not have; only 'uniform' is available"
        )
    return dataclasses.replace(split, negatives=protocol)


def reported_pairs(split: Any) -> tuple[Any, str]:
    """The pairs a table reports: the test pairs where the split has them, else validation."""
    return split.reported(), split.reported_part


class _Prepared:
    """Prepared datasets per split key, kept while one study is scored."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def get(self, dataset: DatasetSettings, split: Any) -> Any:
        from recsys_core.pipeline import prepare

        key = split.key(dataset.key())
        if key not in self.items:
            if len(self.items) > 4:
                self.items.clear()
            self.items[key] = prepare(dataset, split)
        return self.items[key]


def _same_train(a: Any, b: Any) -> bool:
    if len(a.split.train) != len(b.split.train):
        return False
    return bool(np.array_equal(a.split.seen_products, b.split.seen_products)) and all(
        np.array_equal(a.split.train[c].to_numpy(), b.split.train[c].to_numpy()) for c in ("a", "b")
    )


def _eval_settings(spec: RunSpec, policy: str | None) -> Any:
    settings = spec.eval_settings()
    if policy is not None and policy != settings.unseen_policy:
        settings = dataclasses.replace(settings, unseen_policy=policy)
    return settings


def restart_dip(events: Sequence[dict[str, Any]]) -> float:
    """Mean drop of live AUC right after each epoch end (where cosine schedules restart).

    For every epoch end with a live AUC, followed by another live AUC in the next epoch:
    ``max(0, auc at the end - first auc after it)``. NaN without such a pair.
    """
    points = [(int(e["step"]), float(e["auc"]), bool(e.get("epoch_end"))) for e in events
              if e.get("auc") is not None]  # fmt: skip
    points.sort()
    drops = []
    for i, (_step, auc, end) in enumerate(points[:-1]):
        if end:
            drops.append(max(0.0, auc - points[i + 1][1]))
    return float(np.mean(drops)) if drops else float("nan")


def score(
    outcome: Any,
    spec: RunSpec,
    protocol: str,
    policy: str | None,
    prepared: _Prepared | None = None,
) -> dict[str, Any]:
    """Metrics of a finished run's vectors on ``protocol``'s reported pairs (cached on disk).

    Returns the :data:`METRICS` values (``auc`` left to the caller, who knows the arm's
    pair set), ``by_bucket`` rows when the evaluation has them, and ``pairs`` ("test" or
    "validation").
    """
    from recsys_core.evaluation.evaluate import evaluate

    prepared = prepared or _Prepared()
    split = protocol_split(spec.split, protocol)
    settings = _eval_settings(spec, policy)
    key = stable_hash(
        {
            "stage": "study-score",
            "version": SCORE_VERSION,
            "run": outcome.keys.get("run", spec.key()),
            # a rerun of the same settings trains new vectors: never reuse the old scores
            "vectors": _fingerprint(outcome.embeddings),
            "split": split.key(spec.dataset.key()),
            "eval": settings.as_dict(),
        }
    )

    def build() -> dict[str, Any]:
        prep = prepared.get(spec.dataset, split)
        if split != spec.split:
            own = prepared.get(spec.dataset, spec.split)
            if not _same_train(prep, own):
                raise RuntimeError(
                    f"protocol {protocol!r} changes the train pairs of the split, so the "
                    "study cannot score one run under both protocols"
                )
        pairs, which = reported_pairs(prep.split)
        other = "validation" if which == "test" else "test"
        report_ = evaluate(
            outcome.embeddings,
            pairs,
            prep.split.seen_products,
            settings,
            train_graph=prep.graph,
            part=which,
            protocol=protocol,
            other_part=prep.split.part(other),
        )
        figures = {k: _clean(v) for k, v in report_.metrics().items()}
        by_bucket = getattr(report_, "by_bucket", None)
        figures["by_bucket"] = (
            json.loads(by_bucket.to_json(orient="records")) if by_bucket is not None else None
        )
        figures["pairs"] = which
        figures["policy"] = report_.info.get("unseen_policy", settings.unseen_policy)
        kept = ("query", *RANKING_VERDICTS)
        figures["per_query"] = {k: v for k, v in report_.per_query.items() if k in kept}
        return figures

    def save(folder: Path, value: dict[str, Any]) -> None:
        arrays = value.get("per_query") or {}
        cache.save_json(folder / "score.json", {k: v for k, v in value.items() if k != "per_query"})
        if arrays:
            cache.save_arrays(folder / "queries.npz", **arrays)

    def load(folder: Path) -> dict[str, Any]:
        value = cache.load_json(folder / "score.json")
        path = folder / "queries.npz"
        value["per_query"] = cache.load_arrays(path) if path.exists() else {}
        return value

    value, _ = cache.cached("study-score", key, build=build, save=save, load=load)
    return value


def _fingerprint(embeddings: Any) -> str:
    import hashlib

    vectors = np.ascontiguousarray(np.asarray(embeddings.vectors))
    return hashlib.sha1(vectors.tobytes()).hexdigest()[:16]


def _clean(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def arm_value(metric: str, arm: Arm, figures: dict[str, Any], outcome: Any) -> float | None:
    """One number of one trial under one protocol."""
    if metric == "auc":
        return figures.get(f"auc_{arm.pairs}")
    if metric == "train_seconds":
        return float(outcome.train_seconds)
    if metric == "restart_dip":
        return _clean(restart_dip(outcome.events))
    return figures.get(metric)


# -- verdicts -------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> float:
    """Range over seeds (max - min); 0 for one value."""
    values = [v for v in values if v is not None]
    return float(max(values) - min(values)) if len(values) > 1 else 0.0


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two arms on one metric: which is ahead, and whether that beats the seed spread."""

    better: str | None  # the arm named as ahead; None: no clear difference
    a: str
    b: str
    difference: float  # mean(a) - mean(b)
    spread: float
    seeds: int
    sentence: str
    low: float | None = None  # ranking verdicts: the 95% interval of the difference
    high: float | None = None
    queries: int | None = None  # ranking verdicts: queries paired per seed (the fewest)


def _fmt(metric: str, value: float) -> str:
    return f"{value:.2f} s" if metric == "train_seconds" else f"{value:.4f}"


def compare_arms(
    a: str,
    a_values: Sequence[float | None],
    b: str,
    b_values: Sequence[float | None],
    metric: str = "auc",
) -> Comparison:
    """The verdict rule.

    A direction is named only when ``|mean(a) - mean(b)|`` exceeds the spread across
    seeds, the larger of the two arms' ranges; with fewer than two seeds per arm, or a
    missing figure, there is no spread to judge by and no direction is named.
    """
    label, higher, _ = METRICS[metric]
    av = [float(v) for v in a_values if v is not None]
    bv = [float(v) for v in b_values if v is not None]
    if not av or not bv:
        return Comparison(None, a, b, float("nan"), float("nan"), 0, f"{a} vs {b}: no figures")
    diff = float(np.mean(av) - np.mean(bv))
    width = max(spread(av), spread(bv))
    seeds = min(len(av), len(bv))
    if seeds < 2:
        return Comparison(
            None, a, b, diff, width, seeds,
            f"{a} vs {b}: one seed only, no spread to judge a difference of "
            f"{_fmt(metric, abs(diff))} by",
        )  # fmt: skip
    if abs(diff) <= width + 1e-12:  # equal within rounding is not "exceeds"
        return Comparison(
            None, a, b, diff, width, seeds,
            f"no clear difference between {a} and {b} ({label} differs by "
            f"{_fmt(metric, abs(diff))}, spread over {seeds} seeds {_fmt(metric, width)})",
        )  # fmt: skip
    a_ahead = (diff > 0) == higher
    better, worse = (a, b) if a_ahead else (b, a)
    word = ("higher" if higher else "lower") if metric != "train_seconds" else "faster"
    amount = f"{_fmt(metric, abs(diff))} {label}" if metric != "train_seconds" else (
        f"{_fmt(metric, abs(diff))}"
    )  # fmt: skip
    return Comparison(
        better, a, b, diff, width, seeds,
        f"{better} is {word} than {worse} by {amount} (spread over {seeds} seeds "
        f"{_fmt(metric, width)})",
    )  # fmt: skip


def group_verdict(
    study: Study, group: str, metric: str, values: dict[str, list[float | None]]
) -> list[Comparison]:
    """Comparisons within one group of arms: each arm against the group's reference, or
    the best arm against each of the others."""
    arms = [a for a in study.arms if group in a.groups and a.name in values]
    if len(arms) < 2:
        return []
    ref = next((a for a in arms if a.reference), None)
    if ref is None:
        _, higher, _ = METRICS[metric]

        def mean(arm: Arm) -> float:
            v = [x for x in values[arm.name] if x is not None]
            return float(np.mean(v)) if v else float("-inf" if higher else "inf")

        ref = max(arms, key=mean) if higher else min(arms, key=mean)

    def short(arm: Arm) -> str:
        # the group is said once, in front of the sentence
        if not group:
            return arm.name
        return arm.name.removesuffix(f" · {group}").removeprefix(f"{group} · ")

    return [
        compare_arms(short(a), values[a.name], short(ref), values[ref.name], metric)
        for a in arms
        if a is not ref
    ]


SeedQueries = list[tuple[int, dict[str, Any]]]  # (seed, per-query arrays) of one arm


def _paired_seeds(
    a: SeedQueries, b: SeedQueries, metric: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per seed both arms have, the two arms' figures on the queries both ranked."""
    from recsys_core.evaluation.intervals import align

    b_by_seed = {seed: arrays for seed, arrays in b}
    xs, ys = [], []
    for seed, arrays in a:
        other = b_by_seed.get(seed)
        if other is None or metric not in arrays or metric not in other:
            continue
        x, y = align(arrays["query"], arrays[metric], other["query"], other[metric])
        if len(x):
            xs.append(x)
            ys.append(y)
    return xs, ys


def ranked_mean(values: SeedQueries, metric: str) -> Any:
    """Mean over seeds of the per-query mean, with its interval over seeds and queries."""
    from recsys_core.evaluation.intervals import over_seeds

    return over_seeds([arrays[metric] for _, arrays in values if metric in arrays])


def compare_ranked(
    a: str, a_values: SeedQueries, b: str, b_values: SeedQueries, metric: str = "ndcg@10"
) -> Comparison:
    """The verdict rule of ranking metrics: pair the two arms query by query within each
    seed; name a direction only when the 95% interval of the mean difference, over seeds
    and queries, excludes 0."""
    from recsys_core.evaluation.intervals import paired_over_seeds

    label, higher, _ = METRICS[metric]
    xs, ys = _paired_seeds(a_values, b_values, metric)
    if not xs:
        return Comparison(None, a, b, float("nan"), float("nan"), 0, f"{a} vs {b}: no figures")
    iv = paired_over_seeds(xs, ys)
    seeds, queries = len(xs), min(len(x) for x in xs)
    scope = f"{seeds} seed{'s' if seeds > 1 else ''} x {queries:,} queries"
    span = f"95% interval of the difference {iv.low:+.4f} to {iv.high:+.4f}, {scope}"
    base = dict(
        a=a, b=b, difference=iv.value, spread=iv.half_width, seeds=seeds,
        low=iv.low, high=iv.high, queries=queries,
    )  # fmt: skip
    if not iv.excludes_zero():
        return Comparison(
            better=None,
            sentence=f"no clear difference between {a} and {b} on {label} (differs by "
            f"{abs(iv.value):.4f}; {span})",
            **base,
        )
    better, worse = (a, b) if (iv.value > 0) == higher else (b, a)
    # the interval of the difference as the sentence reads it: better minus worse
    low, high = (iv.low, iv.high) if better == a else (-iv.high, -iv.low)
    span = f"95% interval of the difference {low:+.4f} to {high:+.4f}, {scope}"
    return Comparison(
        better=better,
        sentence=f"{better} is {'higher' if higher else 'lower'} than {worse} by "
        f"{abs(iv.value):.4f} {label} ({span})",
        **base,
    )


def ranked_group_verdict(
    study: Study, group: str, metric: str, values: dict[str, SeedQueries]
) -> list[Comparison]:
    """:func:`group_verdict` for ranking metrics (:func:`compare_ranked`)."""
    arms = [a for a in study.arms if group in a.groups and a.name in values]
    if len(arms) < 2:
        return []
    ref = next((a for a in arms if a.reference), None)
    if ref is None:
        means = {a.name: ranked_mean(values[a.name], metric).value for a in arms}
        ref = max(arms, key=lambda a: -np.inf if np.isnan(means[a.name]) else means[a.name])

    def short(arm: Arm) -> str:
        if not group:
            return arm.name
        return arm.name.removesuffix(f" · {group}").removeprefix(f"{group} · ")

    return [
        compare_ranked(short(a), values[a.name], short(ref), values[ref.name], metric)
        for a in arms
        if a is not ref
    ]


def group_records(
    study: Study,
    dataset: str,
    protocol: str,
    metric: str,
    per_arm: dict[str, Any],
    judge: Callable[[Study, str, str, dict[str, Any]], list[Comparison]],
) -> list[dict[str, Any]]:
    """One verdict record per group of arms with something to compare, judged by
    ``judge`` (:func:`group_verdict` for AUC-like metrics, :func:`ranked_group_verdict`
    for the ranking)."""
    records = []
    for group in dict.fromkeys(g for a in study.arms for g in a.groups):
        comps = judge(study, group, metric, per_arm)
        if comps:
            records.append(
                {
                    "dataset": dataset,
                    "protocol": protocol,
                    "group": group,
                    "metric": metric,
                    "sentence": sentence(comps, group),
                    "comparisons": [dataclasses.asdict(c) for c in comps],
                }
            )
    return records


def sentence(comparisons: Sequence[Comparison], group: str = "") -> str:
    """One sentence for a group's comparisons."""
    text = "; ".join(c.sentence for c in comparisons)
    text = text[:1].upper() + text[1:] if text else "nothing to compare"
    return f"{group}: {text}." if group else f"{text}."


# -- results --------------------------------------------------------------------------------


@dataclasses.dataclass
class StudyResult:
    """Everything a study measured, JSON-able (:meth:`as_dict`)."""

    study: str
    question: str
    datasets: list[str]
    seeds: int
    products: int
    protocols: list[str]
    notes: list[str]
    cells: list[dict[str, Any]]  # dataset, protocol, arm, group, metric, values, mean, spread
    verdicts: list[dict[str, Any]]  # dataset, protocol, group, metric, sentence, comparisons
    runs: dict[str, int | None]  # spec key -> run id (None: in-process)
    curves: list[dict[str, Any]]  # arm, dataset, step, auc, restart (seed 0)
    buckets: list[dict[str, Any]]  # dataset, protocol, arm, bucket, auc, pairs (seed 0)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> StudyResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in names})

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.as_dict(), indent=1, default=str) + "\n")

    def distinct_verdicts(self) -> list[dict[str, Any]]:
        """The verdicts without repeats: a metric that does not depend on the protocol
        (training time, the restart dip) is judged once, under the first protocol."""
        first = self.protocols[0] if self.protocols else None
        return [v for v in self.verdicts if METRICS[v["metric"]][2] or v["protocol"] == first]

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per dataset, protocol, group and metric: the verdict sentence; the
        ranking verdicts lead, as in the README."""
        order = ranking_first(v["metric"] for v in self.verdicts)
        verdicts = sorted(self.distinct_verdicts(), key=lambda v: order.index(v["metric"]))
        return [
            {
                "study": self.study,
                "dataset": dataset_label(v["dataset"]),
                "protocol": v["protocol"] if METRICS[v["metric"]][2] else "any",
                "metric": METRICS[v["metric"]][0],
                "verdict": v["sentence"],
            }
            for v in verdicts
        ]


def collect(
    study: Study,
    trials: Sequence[Trial],
    outcomes: dict[str, Any],
    notes: Sequence[str] = (),
    protocols: Sequence[str] | None = None,
    products: int | None = None,
    runs: dict[str, int | None] | None = None,
    seconds: float = 0.0,
    on_progress: Progress | None = None,
) -> StudyResult:
    """Score every trial under every protocol and turn the figures into verdicts.

    ``outcomes`` maps a spec key to a finished :class:`~recsys_core.pipeline.RunOutcome`.
    """
    protocols = list(protocols or study.protocols)
    notes = list(notes)
    offered = negative_protocols()
    missing = [p for p in protocols if p not in offered]
    if missing:
        notes.append(
            f"protocol(s) {', '.join(missing)} not available in this version of the split "
            f"module (it offers {', '.join(offered)}); left out"
        )
        protocols = [p for p in protocols if p in offered]
    prepared = _Prepared()
    values: dict[tuple[str, str, str, str], list[float | None]] = {}
    ranked: dict[tuple[str, str], SeedQueries] = {}
    buckets: list[dict[str, Any]] = []
    for i, trial in enumerate(trials):
        report(on_progress, i, len(trials), "scoring study runs")
        arm = study.arm(trial.arm)
        outcome = outcomes[trial.spec.key()]
        for protocol in protocols:
            figures = score(outcome, trial.spec, protocol, arm.policy, prepared)
            if protocol == protocols[0] and figures.get("per_query"):
                ranked.setdefault((trial.dataset, arm.name), []).append(
                    (trial.seed, figures["per_query"])
                )
            for metric in study.metrics:
                key = (trial.dataset, protocol, arm.name, metric)
                values.setdefault(key, []).append(arm_value(metric, arm, figures, outcome))
            if trial.seed == 0 and figures.get("by_bucket"):
                for row in figures["by_bucket"]:
                    buckets.append(
                        {"dataset": trial.dataset, "protocol": protocol, "arm": arm.name, **row}
                    )
    report(on_progress, len(trials), len(trials), "scoring study runs")

    datasets = list(dict.fromkeys(t.dataset for t in trials))
    cells, verdicts = [], []
    for dataset in datasets:
        for protocol in protocols:
            for metric in study.metrics:
                per_arm = {
                    arm.name: values[(dataset, protocol, arm.name, metric)]
                    for arm in study.arms
                    if (dataset, protocol, arm.name, metric) in values
                }
                for arm in study.arms:
                    if arm.name not in per_arm:
                        continue
                    v = per_arm[arm.name]
                    known = [x for x in v if x is not None]
                    cells.append(
                        {
                            "dataset": dataset,
                            "protocol": protocol,
                            "arm": arm.name,
                            "group": ", ".join(g for g in arm.groups if g),
                            "metric": metric,
                            "values": v,
                            "mean": float(np.mean(known)) if known else None,
                            "spread": spread(known) if known else None,
                        }
                    )
                verdicts += group_records(study, dataset, protocol, metric, per_arm, group_verdict)
    if protocols:
        _ranked_verdicts(study, datasets, protocols[0], ranked, cells, verdicts)
    curves = []
    if study.figure == "curves":
        for trial in trials:
            if trial.seed != 0:
                continue
            for e in outcomes[trial.spec.key()].events:
                if e.get("auc") is not None:
                    curves.append(
                        {
                            "dataset": trial.dataset,
                            "arm": trial.arm,
                            "step": int(e["step"]),
                            "auc": float(e["auc"]),
                            "restart": bool(e.get("epoch_end")),
                        }
                    )
    return StudyResult(
        study=study.name,
        question=study.question,
        datasets=datasets,
        seeds=len({t.seed for t in trials}),
        products=int(products or study.products),
        protocols=protocols,
        notes=notes,
        cells=cells,
        verdicts=verdicts,
        runs=dict(runs or {}),
        curves=curves,
        buckets=buckets,
        seconds=seconds,
    )


def _ranked_verdicts(
    study: Study,
    datasets: Sequence[str],
    protocol: str,
    ranked: dict[tuple[str, str], SeedQueries],
    cells: list[dict[str, Any]],
    verdicts: list[dict[str, Any]],
) -> None:
    """Cells (mean over seeds with its seed x query interval) and verdicts of the
    ranking metrics (:data:`RANKING_VERDICTS`), appended in place."""
    for dataset in datasets:
        per_arm = {
            arm.name: ranked[(dataset, arm.name)]
            for arm in study.arms
            if (dataset, arm.name) in ranked
        }
        if not per_arm:
            continue
        for metric in RANKING_VERDICTS:
            for arm in study.arms:
                if arm.name not in per_arm:
                    continue
                seeds = [a for _, a in per_arm[arm.name] if metric in a]
                if not seeds:
                    continue
                iv = ranked_mean(per_arm[arm.name], metric)
                means = [float(np.nanmean(a[metric])) for a in seeds]
                cells.append(
                    {
                        "dataset": dataset,
                        "protocol": protocol,
                        "arm": arm.name,
                        "group": ", ".join(g for g in arm.groups if g),
                        "metric": metric,
                        "values": means,
                        "mean": _clean(iv.value),
                        "spread": spread(means),
                        "low": _clean(iv.low),
                        "high": _clean(iv.high),
                    }
                )
            verdicts += group_records(
                study, dataset, protocol, metric, per_arm, ranked_group_verdict
            )


def run_study(
    study: Study,
    datasets: Sequence[str] | None = None,
    seeds: int | None = None,
    products: int | None = None,
    use_jobs: bool = True,
    on_progress: Progress | None = None,
    timeout: float | None = None,
) -> StudyResult:
    """Plan, run (background jobs or in-process), score and judge a study."""
    t0 = time.perf_counter()
    trials, notes = plan(study, datasets, seeds, products)
    require(bool(trials), f"study {study.name}: nothing to run ({'; '.join(notes)})")
    if use_jobs:
        outcomes, ids = run_in_jobs(trials, on_progress, timeout=timeout)
    else:
        outcomes = run_in_process(trials, on_progress)
        ids = {key: None for key in outcomes}
    return collect(
        study,
        trials,
        outcomes,
        notes,
        products=products or study.products,
        runs=ids,
        seconds=time.perf_counter() - t0,
        on_progress=on_progress,
    )
