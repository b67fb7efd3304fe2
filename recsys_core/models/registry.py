"""Model names -> model classes, found from the classes themselves.

Each model module declares ``name`` on its :class:`Model` subclasses; importing the
modules registers them. Names are what the CLI and the app show.
"""

from __future__ import annotations

import importlib

from recsys_core.models.base import Model

# No-training baselines that every results table includes, popularity first: each
# model's lift is its AUC minus popularity's under the same split and protocol. EASE
# refuses catalogs whose dense Gram matrix does not fit (recsys_core.models.neighbourhood).
BASELINES = ("popularity", "adamic-adar", "item-knn", "rp3beta", "ease")

MODEL_MODULES = (
    "recsys_core.models.gensim_w2v",
    "recsys_core.models.sgns",
    "recsys_core.models.side_info",
    "recsys_core.models.mf",
    "recsys_core.models.heuristic",
    "recsys_core.models.neighbourhood",
)


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def model_classes() -> dict[str, type[Model]]:
    """Every registered model by name, in a stable order."""
    for module in MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a missing dependency is a real error
                raise
    classes = {}
    for cls in _all_subclasses(Model):
        name = cls.__dict__.get("name")
        if isinstance(name, str):
            classes[name] = cls
    return dict(sorted(classes.items()))


def model_class(name: str) -> type[Model]:
    """The model class called ``name``; a clear error lists the known names."""
    classes = model_classes()
    if name not in classes:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(classes)}")
    return classes[name]


def dimension_field(name: str) -> str | None:
    """The model's embedding-size setting: ``vector_size`` (word2vec's name) or ``dim``
    (MF's), so the CLI's ``--dim`` and ``--grid dim=...`` mean the same for every model;
    None for a model without one (the no-training baselines)."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(model_class(name).settings_cls)}
    return next((f for f in ("vector_size", "dim") if f in fields), None)
