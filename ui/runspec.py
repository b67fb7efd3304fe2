"""Run specs: the app's start values of a model's settings, and the run a link names.

The model section of the sidebar (``ui/model_picker.py``) starts its widgets from these
values and builds its ``RunSpec`` with :func:`create`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

DEFAULT_MODEL_ENV = "RECSYS_DEFAULT_MODEL"
DEFAULT_MODEL = "sgns"

# Quicker first-run settings than the method's 5 epochs, and denser live AUC points, so a
# first click on Train draws curves within a minute. Applied only where the model has them.
QUICK_DEFAULTS: dict[str, Any] = {"epochs": 2, "eval_every": 250}


def default_model() -> str:
    """The model the sidebar opens on: ``$RECSYS_DEFAULT_MODEL``, else skip-gram."""
    return os.environ.get(DEFAULT_MODEL_ENV, DEFAULT_MODEL)


def model_start(cls: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the class defaults of ``cls``'s settings, the app's start values for them)."""
    fields = {f.name: f.default for f in dataclasses.fields(cls.settings_cls)}
    return fields, {**fields, **{k: v for k, v in QUICK_DEFAULTS.items() if k in fields}}


def walk_start(cls: Any) -> dict[str, Any]:
    """The walk settings' start values for model class ``cls`` (its own p and q)."""
    from recsys_core.walks import WalkSettings

    return {
        **{f.name: f.default for f in dataclasses.fields(WalkSettings)},
        "p": cls.walk_p,
        "q": cls.walk_q,
    }


def linked_run_id(params: Mapping[str, str]) -> int | None:
    """The run id the URL names (``run``, else the first of ``runs``), or None."""
    text = (params.get("run") or (params.get("runs") or "").split(",")[0]).strip()
    return int(text) if text.isdigit() else None


def linked_run_spec(params: Mapping[str, str]) -> Any:
    """The RunSpec of the run the URL names, or None (no such run, or none named)."""
    run_id = linked_run_id(params)
    if run_id is None:
        return None
    from ui import runs

    try:
        return runs.jobs().get_run(run_id).run_spec()
    except Exception:  # no such run, or a spec this code cannot read: the URL decides
        return None


def create(name: str, dataset: Any, params: dict[str, Any], **parts: Any) -> Any:
    """``RunSpec.create`` for the sidebar's choice (raises SettingsError/ValueError)."""
    from recsys_core.pipeline import RunSpec

    return RunSpec.create(name, dataset=dataset, model_params=params, **parts)
