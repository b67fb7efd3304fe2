"""What the run store keeps of a run's settings: RunSpec <-> JSON, identity, summary.

A submitted spec is stored as plain JSON (``RunSpec.as_dict()``), so reading the store
never needs the model registry; it is decoded back into a :class:`RunSpec` only where a
run is executed or its outcome loaded.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from recsys_core.common.settings import stable_hash


@dataclasses.dataclass(frozen=True)
class Submission:
    """One spec ready for the store: its JSON, identity and display fields."""

    spec: dict[str, Any]
    key: str
    model: str
    dataset: str
    kind: str = "model"


def submission(spec: Any) -> Submission:
    """Describe ``spec`` (a :class:`RunSpec`, or a JSON-able dict for a custom runner).

    A RunSpec's identity is ``RunSpec.key()``: it normalises defaults (``walks=None`` is
    the model's own walks) and names a dataset file by path, size and modification time.
    A dict's identity is the hash of its content. A build or projection spec
    (:mod:`.tasks`) names its kind and key itself.
    """
    kind = getattr(spec, "kind", "model")
    if kind != "model":
        return Submission(spec.as_dict(), spec.key(), spec.label, spec.describe(), kind)
    if isinstance(spec, dict):
        payload = dict(spec)
        return Submission(
            spec=payload,
            key=stable_hash({"job": payload}),
            model=str(payload.get("model", "?")),
            dataset=str(payload.get("dataset", "")),
        )
    return Submission(
        spec=spec.as_dict(),
        key=spec.key(),
        model=spec.model,
        dataset=spec.dataset.describe(),
    )


def spec_from_dict(payload: dict[str, Any]) -> Any:
    """The :class:`RunSpec` stored as ``payload`` (validated again on the way in)."""
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.evaluation.evaluate import EvalSettings
    from recsys_core.pipeline import RunSpec
    from recsys_core.split import SplitSettings
    from recsys_core.walks import WalkSettings

    walks = payload.get("walks")
    evaluation = payload.get("evaluation")
    split = dict(payload.get("split", {}))
    # a spec stored before the test part existed ran the method's 67/33 split
    split_settings = (
        SplitSettings(**split) if "test_fraction" in split else SplitSettings.method(**split)
    )
    return RunSpec(
        model=payload["model"],
        dataset=DatasetSettings(**payload.get("dataset", {})),
        split=split_settings,
        walks=WalkSettings(**walks) if walks is not None else None,
        model_params=tuple((str(k), v) for k, v in payload.get("model_params", ())),
        evaluation=EvalSettings(**evaluation) if evaluation is not None else None,
        monitor_pairs=int(payload.get("monitor_pairs", 20_000)),
        evaluate_on=str(payload.get("evaluate_on", "reported")),
    )


def clean_number(value: Any) -> Any:
    """NaN and infinities become None so summaries are strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_of(outcome: Any) -> dict[str, Any]:
    """The figures a results table shows for a finished :class:`RunOutcome`, with the
    split part, negative protocol and unseen policy they come from, and per bucket."""
    report = outcome.evaluation
    summary = {name: clean_number(float(v)) for name, v in report.metrics().items()}
    summary["k"] = int(report.k)
    summary["k_wide"] = int(getattr(report, "k_wide", 50))
    summary["ranking_candidates"] = getattr(report, "ranking_candidates", "all products")
    summary["part"] = report.part
    summary["protocol"] = report.protocol
    summary["unseen_policy"] = report.unseen_policy
    summary["by_bucket"] = report.bucket_records()
    summary["train_seconds"] = float(outcome.train_seconds)
    summary["seconds"] = {k: float(v) for k, v in outcome.seconds.items()}
    return summary
