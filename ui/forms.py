"""Widgets derived from a settings dataclass: one input per field, help from its docstring."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from typing import Any

import streamlit as st

from recsys_core.common.settings import Settings, SettingsError

# Fields whose allowed values are a short list, shown as a select box. The list itself
# is the engine's own tuple, found by name in the module that defines the settings class
# (or a base class), so the form offers exactly what ``validate()`` accepts.
CHOICE_NAMES: dict[str, str] = {
    "lr_schedule": "LR_SCHEDULES",
    "optimizer": "OPTIMIZERS",
    "backend": "BACKENDS",
    "unseen_policy": "UNSEEN_POLICIES",
    "method": "METHODS",
    "sample": "SAMPLES",
    "negatives": "NEGATIVE_PROTOCOLS",
}


def choices_for(cls: type, name: str) -> tuple[str, ...] | None:
    """The engine's allowed values of field ``name`` of ``cls``, or None if free.

    Looks for the tuple :data:`CHOICE_NAMES` names (else ``NAMES``, the field's name in
    capitals plus "S") in the module of ``cls`` and then of its base classes.
    """
    constant = CHOICE_NAMES.get(name, name.upper() + "S")
    for klass in getattr(cls, "__mro__", (cls,)):
        module = sys.modules.get(getattr(klass, "__module__", ""))
        values = getattr(module, constant, None) if module is not None else None
        if isinstance(values, tuple | list) and values and all(isinstance(v, str) for v in values):
            return tuple(values)
    return None


# Fields a user rarely needs: kept under "more settings".
ADVANCED = {
    "workers",
    "threads",
    "report_every",
    "negative_group",
    "shared_negatives",
    "center_negatives",
    "reduced_window",
    "sparse",
    "init_std",
    "min_count",
    "min_alpha",
    "svd_iter",
    "backend",
}


def field_help(cls: type) -> dict[str, str]:
    """Per-field help text parsed from a numpydoc Parameters/Attributes section.

    Lines like ``name:`` or ``a, b, c:`` start an entry; indented lines continue it.
    """
    doc = inspect.getdoc(cls) or ""
    out: dict[str, str] = {}
    current: list[str] = []
    text: list[str] = []

    def flush() -> None:
        for name in current:
            out[name] = " ".join(text).strip()

    for line in doc.splitlines():
        head = re.match(r"^([A-Za-z_][\w, ]*?)\s*(:.*)?$", line)
        if line and not line.startswith(" ") and head and line.rstrip().endswith(":"):
            flush()
            current = [n.strip() for n in head.group(1).split(",")]
            text = []
        elif (
            line
            and not line.startswith(" ")
            and line.rstrip(":").strip()
            in {
                "Parameters",
                "Attributes",
            }
        ):
            flush()
            current, text = [], []
        elif line.startswith(" ") and current:
            text.append(line.strip())
        elif set(line.strip()) <= {"-"}:
            continue
    flush()
    return out


def _kind(cls: type, field: dataclasses.Field) -> Any:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        hints = {}
    hint = hints.get(field.name)
    args = typing.get_args(hint)
    if args:
        concrete = [a for a in args if a is not type(None)]
        if len(concrete) == 1:
            return concrete[0]
    return hint if isinstance(hint, type) else type(field.default)


def settings_widgets(
    cls: type[Settings],
    prefix: str,
    defaults: dict[str, Any] | None = None,
    skip: tuple[str, ...] = (),
    container: Any = None,
) -> dict[str, Any]:
    """Draw one widget per field of ``cls``; return the values that differ from its defaults.

    ``defaults`` override the class defaults (the app's quicker first-run settings).
    Fields with no plain scalar type (nested settings) are skipped.
    """
    box = container if container is not None else st
    helps = field_help(cls)
    base = {f.name: f.default for f in dataclasses.fields(cls)}
    start = {**base, **(defaults or {})}
    values: dict[str, Any] = {}
    advanced = [f for f in dataclasses.fields(cls) if f.name in ADVANCED and f.name not in skip]
    main = [f for f in dataclasses.fields(cls) if f.name not in ADVANCED and f.name not in skip]
    for group, target in ((main, box), (advanced, None)):
        if not group:
            continue
        if target is None:
            target = box.expander("more settings")
        for field in group:
            value = _widget(target, cls, field, start[field.name], helps, prefix)
            if value is not _SKIP:
                values[field.name] = value
    return {k: v for k, v in values.items() if v != base.get(k)}


_SKIP = object()


def _widget(box: Any, cls: type, field: dataclasses.Field, value: Any, helps: dict, prefix: str):
    kind = _kind(cls, field)
    key = f"{prefix}.{field.name}"
    help_text = helps.get(field.name) or None
    label = field.name.replace("_", " ")
    choices = choices_for(cls, field.name) if isinstance(value, str) else None
    if choices:
        options = list(choices)
        if value not in options:
            options.insert(0, value)
        return box.selectbox(label, options, index=options.index(value), key=key, help=help_text)
    if kind is bool:
        return box.checkbox(label, value=bool(value), key=key, help=help_text)
    if kind is int and value is not None:
        return int(box.number_input(label, value=int(value), step=1, key=key, help=help_text))
    if kind is float and value is not None:
        step = abs(float(value)) / 10 if value else 0.01
        return float(
            box.number_input(
                label, value=float(value), step=float(step), format="%g", key=key, help=help_text
            )
        )
    if kind is str and value is not None:
        return box.text_input(label, value=value, key=key, help=help_text)
    return _SKIP


def build_settings(cls: type[Settings], values: dict[str, Any]) -> tuple[Settings | None, str]:
    """``cls(**values)``, or ``(None, message)`` naming the bad field."""
    try:
        return cls(**values), ""
    except (SettingsError, TypeError, ValueError) as exc:
        return None, str(exc)


def evaluation_widgets(prefix: str = "evalset") -> tuple[Any, Any]:
    """The negative protocol (split) and unseen policy (evaluation) of a run.

    Returns ``(SplitSettings, EvalSettings or None)``: None keeps the engine's default
    evaluation, so runs with default settings keep their keys. Choices come from
    ``NEGATIVE_PROTOCOLS`` and ``UNSEEN_POLICIES`` through :func:`settings_widgets`.
    """
    from recsys_core.evaluation.evaluate import EvalSettings
    from recsys_core.split import SplitSettings

    split_fields = [f.name for f in dataclasses.fields(SplitSettings)]
    eval_fields = [f.name for f in dataclasses.fields(EvalSettings)]
    split_values = settings_widgets(
        SplitSettings,
        f"{prefix}.split",
        skip=tuple(f for f in split_fields if f != "negatives"),
    )
    eval_values = settings_widgets(
        EvalSettings,
        f"{prefix}.eval",
        skip=tuple(f for f in eval_fields if f != "unseen_policy"),
    )
    split = SplitSettings(**split_values)
    return split, (EvalSettings(**eval_values) if eval_values else None)
