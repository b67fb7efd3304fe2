"""Sweeps among finished runs: runs of one model on the same pairs that differ only in
model settings (as ``python -m recsys_core sweep --grid dim=32,64`` makes them).

A sweep is found, not recorded: finished runs are grouped by everything in their spec but
the model settings (model, dataset, split and negative protocol, walks, evaluation), each
run's settings are completed with the model's defaults, and the settings whose values
differ inside a group are its swept keys.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Finished runs of ``model`` on the same pairs, differing in the settings ``keys``.

    ``frame``: one row per run (newest run per setting combination): ``run``, one column
    per swept key, ``AUC all``, ``AUC seen``; sorted by the swept keys.
    """

    model: str
    keys: tuple[str, ...]
    frame: pd.DataFrame
    part: str = ""  # the split part its metrics come from (sweeps and tunes: validation)

    @property
    def label(self) -> str:
        values = "; ".join(
            f"{k} = {', '.join(str(v) for v in sorted(self.frame[k].unique(), key=_order))}"
            for k in self.keys
        )
        on = f" · on {self.part}" if self.part else ""
        return f"{self.model} · {len(self.frame)} runs · {values}{on}"


def _order(value: Any) -> tuple[int, Any]:
    """Numbers before text, each in its natural order."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return (1, str(value))
    return (0, float(value))


def _plain(value: Any) -> Any:
    """A hashable, printable form of a setting value (lists and dicts as JSON)."""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def model_settings(record: Any) -> dict[str, Any]:
    """All the run's model settings: its stored ones completed with the model's defaults."""
    params = dict(record.spec.get("model_params") or [])
    try:
        spec = record.run_spec()
        params = dataclasses.asdict(spec.model_settings())
    except Exception:  # a spec that no longer decodes: its stored settings only
        pass
    return {k: _plain(v) for k, v in params.items()}


def _group_key(record: Any) -> str:
    rest = {k: v for k, v in record.spec.items() if k != "model_params"}
    return json.dumps(rest, sort_keys=True, default=str)


def find_sweeps(records: Iterable[Any]) -> list[Sweep]:
    """The sweeps among ``records`` (finished runs with a summary), largest first.

    Runs with the same spec except model settings form a group; a group with at least two
    distinct setting combinations is a sweep.
    """
    groups: dict[str, list[Any]] = {}
    for r in records:
        if r.status == "finished" and (r.summary or {}).get("auc_all") is not None:
            groups.setdefault(_group_key(r), []).append(r)
    sweeps = []
    for members in groups.values():
        settings = {r.id: model_settings(r) for r in members}
        names = sorted({k for s in settings.values() for k in s})
        keys = tuple(
            k
            for k in names
            if len({json.dumps(s.get(k), default=str) for s in settings.values()}) > 1
        )
        if not keys:
            continue
        rows: dict[tuple, dict[str, Any]] = {}
        for r in sorted(members, key=lambda r: r.id):  # the newest run of a combination wins
            combo = tuple(settings[r.id].get(k) for k in keys)
            summary = r.summary or {}
            rows[combo] = {
                "run": r.id,
                **dict(zip(keys, combo, strict=True)),
                "AUC all": summary.get("auc_all"),
                "AUC seen": summary.get("auc_seen"),
            }
        if len(rows) < 2:
            continue
        frame = pd.DataFrame(list(rows.values()))
        order = sorted(range(len(frame)), key=lambda i: [_order(frame[k].iat[i]) for k in keys])
        frame = frame.iloc[order].reset_index(drop=True)
        part = str((members[0].summary or {}).get("part") or "")
        sweeps.append(Sweep(model=members[0].model, keys=keys, frame=frame, part=part))
    return sorted(sweeps, key=lambda s: (-len(s.frame), s.model))


def sweep_lines(sweep: Sweep, key: str) -> dict[str, pd.DataFrame]:
    """AUC against the swept ``key``: one frame (``key``, AUC all, AUC seen, run) per
    combination of the other swept settings, named like ``window=3, epochs=2`` ("all runs"
    when ``key`` is the only swept setting)."""
    columns = [key, "AUC all", "AUC seen", "run"]

    def along(part: pd.DataFrame) -> pd.DataFrame:
        order = sorted(range(len(part)), key=lambda i: _order(part[key].iat[i]))
        return part.iloc[order][columns].reset_index(drop=True)

    others = [k for k in sweep.keys if k != key]
    if not others:
        return {"all runs": along(sweep.frame)}
    lines = {}
    for combo, part in sweep.frame.groupby(others, sort=False):
        values = combo if isinstance(combo, tuple) else (combo,)
        name = ", ".join(f"{k}={v}" for k, v in zip(others, values, strict=True))
        lines[name] = along(part)
    return lines
