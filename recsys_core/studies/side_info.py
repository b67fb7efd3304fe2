"""Side-information study: plain skip-gram vs equal-weighted vs learned-weight (EGES).

Builds the run settings for the three methods on the same dataset, split and walks (and,
for the built-in catalog, the same comparison at several metadata coverages), and
collects their results into frames. Submitting goes through the job layer, so the runs
are ordinary runs: cached, resumable, visible on every page.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from recsys_core.models.registry import model_class
from recsys_core.pipeline import RunSpec

METHODS = ("sgns", "sgns-side-mean", "eges")
METHOD_LABELS = {
    "sgns": "skip-gram (no side info)",
    "sgns-side-mean": "side info, equal weights",
    "eges": "side info, learned weights (EGES)",
}
COVERAGES = (0.1, 0.39, 0.7, 1.0)
# Share of products held out as new (all their pairs in validation). With the method's
# random pair split the unseen products are the rare ones, which in Amazon-like data are
# the ones without metadata, so cold start would have nothing to work with.
HOLDOUT_PRODUCTS = 0.05


def _evaluation() -> Any:
    from recsys_core.evaluation.evaluate import EvalSettings

    # Cold-start vectors count for every method, so unseen pairs are scored the same way:
    # plain skip-gram has none and falls back to the median, as in the method.
    return EvalSettings(unseen_policy="cold-start")


def comparison_specs(base: RunSpec, methods: Sequence[str] = METHODS) -> list[RunSpec]:
    """One RunSpec per method, sharing ``base``'s dataset, split, walks and common settings.

    The split holds out :data:`HOLDOUT_PRODUCTS` of the products as new ones unless
    ``base`` already holds some out, so AUC on unseen pairs measures cold start.

    Model settings of ``base`` are carried over where the other model has a field of the
    same name (epochs, vector_size, window, ...).
    """
    walks = base.walk_settings()
    params = dict(base.model_params)
    split = base.split
    if split.holdout_products == 0:
        split = dataclasses.replace(split, holdout_products=HOLDOUT_PRODUCTS)
    specs = []
    for method in methods:
        known = {f.name for f in dataclasses.fields(model_class(method).settings_cls)}
        specs.append(
            RunSpec.create(
                method,
                dataset=base.dataset,
                split=split,
                walks=walks,
                model_params={k: v for k, v in params.items() if k in known},
                evaluation=_evaluation(),
                monitor_pairs=base.monitor_pairs,
            )
        )
    return specs


def coverage_specs(
    base: RunSpec, coverages: Iterable[float] = COVERAGES, methods: Sequence[str] = METHODS
) -> list[RunSpec]:
    """The comparison repeated at each metadata coverage (built-in catalog only).

    Raises
    ------
    ValueError
        The dataset is not the built-in synthetic catalog (real files have a fixed
        coverage).
    """
    if base.dataset.source != "synthetic":
        raise ValueError(
            "the coverage sweep needs the built-in catalog: a real metadata file has the "
            "coverage it has"
        )
    specs = []
    current = base.dataset.synthetic_settings().meta_coverage
    for coverage in coverages:
        # The base's own coverage keeps its dataset as is, so those runs are shared with
        # the plain comparison instead of trained again under a different key.
        dataset = (
            base.dataset
            if math.isclose(coverage, current)
            else dataclasses.replace(base.dataset, meta_coverage=float(coverage))
        )
        specs.extend(comparison_specs(dataclasses.replace(base, dataset=dataset), methods))
    return specs


def submit_all(
    specs: Iterable[RunSpec], submit: Callable[[RunSpec], int] | None = None
) -> list[int]:
    """Submit every spec (default: :func:`recsys_core.jobs.submit`); returns the run ids."""
    if submit is None:
        from recsys_core.jobs import submit as submit_job

        submit = submit_job
    return [submit(spec) for spec in specs]


def results_frame(records: Iterable[Any]) -> pd.DataFrame:
    """One row per run: method, label, coverage, status and its AUCs.

    ``records`` are job-store run records (``recsys_core.jobs.get_run``).
    """
    rows = []
    for record in records:
        spec = record.run_spec()
        coverage = (
            spec.dataset.synthetic_settings().meta_coverage
            if spec.dataset.source == "synthetic"
            else None
        )
        summary = record.summary or {}
        rows.append(
            {
                "run": record.id,
                "method": record.model,
                "label": METHOD_LABELS.get(record.model, record.model),
                "coverage": coverage,
                "status": record.status,
                "AUC all": summary.get("auc_all"),
                "AUC seen": summary.get("auc_seen"),
                "AUC unseen": summary.get("auc_unseen"),
            }
        )
    columns = ["run", "method", "label", "coverage", "status", "AUC all", "AUC seen", "AUC unseen"]
    return pd.DataFrame(rows, columns=columns)


def field_weights(embeddings: Any) -> pd.DataFrame:
    """Mean weight per side field (``id`` first) of a side-information model; empty if none."""
    weights = (embeddings.info or {}).get("field_weights") or {}
    return pd.DataFrame({"field": list(weights), "weight": [float(v) for v in weights.values()]})


def existing_runs(specs: Iterable[RunSpec]) -> list[Any]:
    """The queued, running or finished run of each spec in the job store, or None.

    Lets a page find a study it started before a browser refresh without submitting.
    """
    from recsys_core.jobs import default_store
    from recsys_core.jobs.specs import submission

    store = default_store()
    return [store.find_live(submission(spec).key) for spec in specs]


# -- the study (recsys_core.studies.framework) ----------------------------------------------

STUDY_COVERAGES = (0.1, 1.0)
STUDY_EPOCHS = 2


def study() -> Any:
    """Side information against metadata coverage, as a framework study.

    On the built-in catalog the three methods run at 10% and at 100% metadata coverage;
    on a real file (MovieLens) at the coverage it has. 5% of the products are held out as
    new ones, and every method scores unseen pairs under the cold-start policy, so "AUC
    unseen" measures cold start.
    """
    from recsys_core.split import SplitSettings
    from recsys_core.studies.framework import Arm, Study, arm_spec

    split = SplitSettings(holdout_products=HOLDOUT_PRODUCTS)
    arms = []
    groups = [(f"coverage {c:.0%}", (("meta_coverage", c),), "synthetic") for c in STUDY_COVERAGES]
    groups.append(("metadata as loaded", (), "real"))
    for group, synthetic, where in groups:
        for method in METHODS:
            arms.append(
                Arm(
                    name=f"{METHOD_LABELS[method]} · {group}",
                    spec=arm_spec(method, split=split, evaluation=_evaluation(),
                                  epochs=STUDY_EPOCHS),
                    group=group,
                    reference=method == "sgns",
                    synthetic=synthetic,
                    where=where,
                )
            )  # fmt: skip
    return Study(
        name="side-info",
        title="Side information against metadata coverage",
        question=(
            "Do side-information vectors (equal-weighted mean, or EGES's learned weights) "
            "rank pairs better than plain skip-gram, and on new products (cold start), "
            "and does that depend on how many products have metadata?"
        ),
        arms=tuple(arms),
        metrics=("auc", "auc_unseen"),
        figure="coverage",
        sizes=(
            f"{STUDY_EPOCHS} epochs, default walks; the built-in catalog at 10% and 100% "
            "metadata coverage, 5% of products held out as new; unseen pairs scored with "
            "cold-start vectors (skip-gram has none: median)"
        ),
        meaning=(
            "If side information wins on AUC unseen, pick a side-information model when new "
            "products matter and they have metadata; if it does not win on AUC all, plain "
            "skip-gram is enough for products with history."
        ),
    )
