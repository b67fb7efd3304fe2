"""Studies: small declared experiments that submit ordinary runs and compare them.

Each module defines ``study() -> Study`` (see :mod:`.framework`); :func:`all_studies`
lists them in the order the Findings page and the README show them.
"""

from __future__ import annotations

import importlib
from typing import Any

STUDY_MODULES = (
    "which_recommender",
    "side_info",
    "unseen_treatment",
    "mf_walks",
    "mf_forgetting",
    "node2vec_walks",
    "gensim_sgns",
    "popularity",
)


def all_studies() -> tuple[dict[str, Any], dict[str, str]]:
    """``({name: Study}, {module: why it cannot be built})``.

    A study whose arms name a model this version lacks is reported, not raised.
    """
    found: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for module in STUDY_MODULES:
        try:
            study = importlib.import_module(f"recsys_core.studies.{module}").study()
        except ValueError as exc:  # SettingsError is a ValueError
            problems[module] = str(exc)
            continue
        found[study.name] = study
    return found, problems


def get_study(name: str) -> Any:
    """The study called ``name``; the error lists the known ones."""
    found, problems = all_studies()
    if name in found:
        return found[name]
    hint = "; ".join(f"{m}: {p}" for m, p in problems.items())
    raise ValueError(
        f"unknown study {name!r}; choose one of: {', '.join(found)}"
        + (f" (not available: {hint})" if hint else "")
    )
