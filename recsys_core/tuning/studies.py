"""Where tunes are kept: one Optuna SQLite file under the cache, one study per tune.

A study is named by what it searches over - the dataset's key, the model, the objective
metric, and a short hash of everything else held fixed (split, walks, fixed settings,
evaluation) - so the same tune command resumes its study instead of starting another.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from recsys_core.common import cache
from recsys_core.common.settings import stable_hash

# The objectives a tune may maximise: keys of EvalReport.metrics(), on validation.
METRICS = ("ndcg", "hit_rate", "auc_all")
METRIC_LABELS = {"ndcg": "NDCG@10", "hit_rate": "HitRate@10", "auc_all": "AUC all"}


def storage_path() -> Path:
    folder = cache.cache_root() / "tuning"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "optuna.sqlite"


def storage_url() -> str:
    return f"sqlite:///{storage_path()}"


def storage() -> Any:
    """The Optuna storage of every tune (opened per call: SQLite across processes)."""
    import optuna

    return optuna.storages.RDBStorage(
        storage_url(), engine_kwargs={"connect_args": {"timeout": 30}}
    )


def study_name(base: Any, metric: str) -> str:
    """``<dataset key>/<model>/<metric>/<context>`` for a base :class:`RunSpec`."""
    context = stable_hash(
        {
            "split": base.split.key(base.dataset.key()),
            "walks": None if base.walks is None else base.walks.as_dict(),
            "fixed": [list(p) for p in base.model_params],
            "evaluation": base.eval_settings().key(),
            "monitor_pairs": base.monitor_pairs,
        }
    )
    return f"{base.dataset.key()[:16]}/{base.model}/{metric}/{context[:8]}"


@dataclasses.dataclass(frozen=True)
class StudyInfo:
    """A stored tune, as the app lists it."""

    name: str
    model: str
    metric: str
    dataset: str
    trials: int


def list_studies() -> list[StudyInfo]:
    """Every stored tune, newest first."""
    import optuna

    if not storage_path().exists():
        return []
    found = []
    for summary in optuna.get_all_study_summaries(storage(), include_best_trial=False):
        attrs = summary.user_attrs
        found.append(
            (
                summary.datetime_start,
                StudyInfo(
                    name=summary.study_name,
                    model=str(attrs.get("model", "?")),
                    metric=str(attrs.get("metric", "?")),
                    dataset=str(attrs.get("dataset", "?")),
                    trials=summary.n_trials,
                ),
            )
        )
    found.sort(key=lambda item: (item[0] is not None, item[0]), reverse=True)
    return [info for _, info in found]


def load_study(name: str) -> Any:
    """The Optuna study ``name`` (KeyError with the stored names when absent)."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage())
    except KeyError:
        names = ", ".join(s.name for s in list_studies()) or "none yet"
        raise KeyError(f"no tune named {name!r}; stored tunes: {names}") from None
