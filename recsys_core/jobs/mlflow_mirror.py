"""Optional: mirror a run's settings and metrics to MLflow.

Off unless ``MLFLOW_TRACKING_URI`` is set and ``mlflow`` is importable; MLflow is never
a requirement. Any MLflow error is logged and ignored: the run store stays the record.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 for p in value
    ):
        for k, v in value:
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


class Mirror:
    """One MLflow run that follows one run of the store."""

    def __init__(self, mlflow: Any, run: Any) -> None:
        self.mlflow = mlflow
        self.run = run

    def log_metrics(self, rows: list[tuple]) -> None:
        try:
            for step, _epoch, loss, auc, auc_seen, lr, _elapsed, _end, *rest in rows:
                ndcg = rest[0] if rest else None
                values = {"loss": loss, "auc": auc, "auc_seen": auc_seen, "lr": lr, "ndcg@10": ndcg}
                values = {k.replace("@", "_at_"): v for k, v in values.items()}
                values = {k: v for k, v in values.items() if v is not None}
                if values:
                    self.mlflow.log_metrics(values, step=step)
        except Exception:
            log.exception("mlflow: could not log metrics")

    def end(self, status: str, summary: dict[str, Any] | None) -> None:
        try:
            if summary:
                flat: dict[str, Any] = {}
                _flatten("final", summary, flat)
                # MLflow refuses "@" in metric names ("final.ndcg@10" -> "final.ndcg_at_10")
                numbers = {
                    k.replace("@", "_at_"): float(v)
                    for k, v in flat.items()
                    if isinstance(v, int | float)
                }
                self.mlflow.log_metrics(numbers)
            self.mlflow.end_run(status="FINISHED" if status == "finished" else "FAILED")
        except Exception:
            log.exception("mlflow: could not end the run")


def start(record: Any) -> Mirror | None:
    """A :class:`Mirror` for ``record`` when MLflow is configured, else None."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    try:
        import mlflow
    except ImportError:
        return None
    try:
        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "recsys_core"))
        run = mlflow.start_run(run_name=f"run-{record.id}-{record.model}")
        params: dict[str, Any] = {}
        _flatten("", record.spec, params)
        mlflow.log_params({k: str(v)[:250] for k, v in params.items()})
        mlflow.set_tags({"recsys.run_id": record.id, "recsys.key": record.key})
        return Mirror(mlflow, run)
    except Exception:
        log.exception("mlflow: could not start a run; continuing without it")
        return None
