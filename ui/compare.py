"""Which runs may be compared, and each run's own split.

Two runs are comparable when they were evaluated on the same pairs: same dataset, same
split (fractions, held-out products, seed) and same negative protocol, which is exactly
the split's key. Pages group runs by it, compare only within a group and say when a
picked run belongs to another one; seen / unseen marks come from each run's own split.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# Re-exported: pages read the registry's no-training baselines through this module.
from recsys_core.models.registry import BASELINES as BASELINES
from ui import load


def run_spec(record: Any) -> Any:
    """The run's RunSpec, or None when its stored spec no longer decodes."""
    try:
        return record.run_spec()
    except Exception:
        return None


def split_of(record: Any) -> Any:
    """The run's SplitSettings (None if unknown)."""
    spec = run_spec(record)
    return spec.split if spec is not None else None


def split_key(record: Any) -> str:
    """The key of the pairs the run was evaluated on ("" if unknown)."""
    key = (record.keys or {}).get("split")
    if key:
        return str(key)
    spec = run_spec(record)
    return spec.split.key(spec.dataset.key()) if spec is not None else ""


def describe_split(split: Any) -> str:
    """``test 18% · validation 15% · train 67% · uniform negatives`` (what a table used)."""
    if split is None:
        return "unknown split"
    train = 1.0 - split.val_fraction - split.test_fraction
    parts = (
        [f"test {split.test_fraction:.0%}", f"validation {split.val_fraction:.0%}"]
        if split.test_fraction > 0
        else [f"the method's split: validation {split.val_fraction:.0%} (reported, no test)"]
    )
    text = " · ".join([*parts, f"train {train:.0%}", f"{split.negatives} negatives"])
    if split.holdout_products:
        text += f" · {split.holdout_products:.0%} of products held out as new"
    if split.seed:
        text += f" · seed {split.seed}"
    return text


def prepared_for(record: Any) -> Any:
    """The run's dataset with the run's own split and train graph (None if unloadable)."""
    spec = run_spec(record)
    if spec is None:
        return None
    return load.prepared(spec.dataset, spec.split)


def seen_of(record: Any, fallback: Any) -> Any:
    """Seen marks (bool per product) from the run's own split; ``fallback`` if unknown."""
    prep = prepared_for(record)
    return prep.split.seen_products if prep is not None else fallback


def mismatch_note(records: list[Any]) -> str:
    """A sentence when ``records`` were evaluated on different pairs, else ""."""
    groups: dict[str, list[Any]] = {}
    for r in records:
        groups.setdefault(split_key(r), []).append(r)
    if len(groups) <= 1:
        return ""
    described = "; ".join(
        ", ".join(f"#{r.id}" for r in rs) + f": {describe_split(split_of(rs[0]))}"
        for rs in groups.values()
    )
    return (
        "These runs were trained and evaluated on different splits, so their train "
        f"graphs and seen products differ ({described}). Each table marks seen products "
        "from its own run's split; compare their figures only within one split."
    )


def lift(table: pd.DataFrame, records: list[Any]) -> pd.Series:
    """AUC all minus the popularity run's AUC all on the same pairs (NaN if none)."""
    keys = [split_key(r) for r in records]
    base = {
        k: row["AUC all"]
        for k, r, (_, row) in zip(keys, records, table.iterrows(), strict=True)
        if r.model == "popularity"
    }
    return pd.Series(
        [
            (row["AUC all"] - base[k]) if k in base and row["AUC all"] is not None else None
            for k, (_, row) in zip(keys, table.iterrows(), strict=True)
        ],
        index=table.index,
        dtype=float,
    )


def bucket_frame(records: list[Any], names: dict[int, str]) -> pd.DataFrame:
    """Per-bucket metrics of finished runs: run, model, bucket, pairs, auc, hit_rate, ndcg."""
    rows = []
    for r in records:
        for b in (r.summary or {}).get("by_bucket") or []:
            rows.append({"run": names[r.id], "model": r.model, **b})
    columns = ["run", "model", "bucket", "pairs", "auc", "hit_rate", "ndcg"]
    frame = pd.DataFrame(rows)
    if not len(frame):
        return pd.DataFrame(columns=columns)
    return frame[[c for c in columns if c in frame]]


def time_columns(record: Any) -> tuple[float | None, float | None]:
    """(train seconds, scoring seconds) of a finished run; a baseline has no train time.

    A baseline's "fit" computes the degrees or common neighbours it scores with, so its
    fit and evaluation together are its scoring time; a trained run's scoring time is its
    evaluation.
    """
    summary = record.summary or {}
    stages = summary.get("seconds") or {}
    train = summary.get("train_seconds")
    evaluate = stages.get("evaluate")
    if record.model in BASELINES:
        parts = [s for s in (train, evaluate) if s is not None]
        return None, (sum(parts) if parts else None)
    return train, evaluate
