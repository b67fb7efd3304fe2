"""Each model's declared search space: which settings a tune varies, and over what range.

A space is declared per model name, over the settings a practitioner would tune, and
filtered by what the model's settings class actually has: a parameter is searched only
where its field exists (the scoring settings ``score``, ``ns_exponent`` and
``popularity_weight``; the baselines item-knn, rp3beta and ease), so the same
declaration serves before and after those land. Settings the user fixed on the command
line (``--set``, ``--epochs``, ``--dim``) or walks given explicitly are left out of the
search.

Ranges are kept where a trial stays affordable on the default catalog: a tune of 30
trials must fit in minutes, so epochs and vector sizes stop below where the method's
measurements saw over-training (bench/README.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

# Where a parameter goes: the model's settings or the run's walks (node2vec's p and q).
MODEL, WALKS = "model", "walks"


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched setting.

    ``names`` are the field names it may have in the settings class, first match wins
    (EASE's regularisation is ``lambda_`` or ``l2`` depending on the implementation).
    ``kind`` is "int", "float" or "choice".
    """

    names: tuple[str, ...]
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    target: str = MODEL

    @property
    def name(self) -> str:
        return self.names[0]

    def resolve(self, fields: set[str]) -> Param | None:
        """This parameter under the field name the settings class has; None if none."""
        if self.target == WALKS:
            return self
        found = next((n for n in self.names if n in fields), None)
        return None if found is None else dataclasses.replace(self, names=(found,))

    def suggest(self, trial: Any) -> Any:
        """Draw a value from an Optuna trial."""
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        scale = ", log" if self.log else ""
        return f"{self.name} in [{self.low:g}, {self.high:g}{scale}]"


def _int(name: str, low: int, high: int, log: bool = False) -> Param:
    return Param((name,), "int", low, high, log)


def _float(name: str, low: float, high: float, log: bool = False, *aliases: str) -> Param:
    return Param((name, *aliases), "float", low, high, log)


def _choice(name: str, *choices: Any) -> Param:
    return Param((name,), "choice", choices=tuple(choices))


# The skip-gram family: ours (and node2vec, side information, EGES) and gensim's.
SKIPGRAM = (
    _choice("vector_size", 32, 64, 128),
    _int("window", 2, 8),
    _int("negative", 2, 15, log=True),
    _int("epochs", 1, 5),
    _float("alpha", 0.005, 0.08, log=True),
    _float("sample", 1e-5, 1e-2, log=True),
    # issue 16's scoring settings: searched once the model has them
    _choice("score", "cosine", "in-out", "in-out-sym"),
    _float("ns_exponent", 0.0, 1.0),
    _float("popularity_weight", 0.0, 1.0),
)
NODE2VEC_WALKS = (
    Param(("p",), "float", 0.25, 4.0, log=True, target=WALKS),
    Param(("q",), "float", 0.25, 4.0, log=True, target=WALKS),
)
MF = (
    _choice("dim", 32, 64, 128),
    _int("epochs", 1, 5),
    _float("lr", 0.02, 0.5, log=True),
    _int("negatives", 1, 10),
    _float("l2", 1e-7, 1e-3, log=True),
)

SPACES: dict[str, tuple[Param, ...]] = {
    "sgns": SKIPGRAM,
    "sgns-side-mean": SKIPGRAM,
    "eges": SKIPGRAM,
    "eges-skip-missing": SKIPGRAM,
    "gensim-sg": SKIPGRAM,
    "gensim-cbow": SKIPGRAM,
    "node2vec": SKIPGRAM + NODE2VEC_WALKS,
    "mf": MF,
    "mf-bias": MF,
    "mf-bias-seq": (*MF, _int("window", 2, 8), _float("sample", 1e-05, 0.01, log=True)),
    # the no-training baselines of issue 16: searched once they are registered
    "item-knn": (_float("shrink", 0.0, 200.0), _int("neighbours", 10, 500, log=True)),
    "rp3beta": (_float("alpha", 0.1, 2.0), _float("beta", 0.0, 1.0)),
    "ease": (_float("lambda_", 1.0, 5000.0, True, "lam", "l2", "reg", "regularization"),),
}


def tunable_models() -> list[str]:
    """Registered models that have at least one searchable setting."""
    from recsys_core.models.registry import model_classes

    return [name for name in model_classes() if _resolved(name, ())]


def _fields(model: str) -> set[str]:
    from recsys_core.models.registry import model_class

    return {f.name for f in dataclasses.fields(model_class(model).settings_cls)}


def _resolved(model: str, fixed: Sequence[str], walks_fixed: bool = False) -> list[Param]:
    fields = _fields(model)
    out = []
    for param in SPACES.get(model, ()):
        resolved = param.resolve(fields)
        if resolved is None or resolved.name in fixed:
            continue
        if resolved.target == WALKS and walks_fixed:
            continue
        out.append(resolved)
    return out


def space_for(model: str, fixed: Sequence[str] = (), walks_fixed: bool = False) -> list[Param]:
    """The searched parameters of ``model``, without the ``fixed`` settings.

    Raises ValueError naming the models that can be tuned when nothing is left.
    """
    from recsys_core.models.registry import model_class

    model_class(model)  # an unknown name fails with the list of known ones
    space = _resolved(model, fixed, walks_fixed)
    if not space:
        reason = "every searched setting is fixed" if SPACES.get(model) else "it has no space"
        raise ValueError(
            f"model {model!r} has nothing to tune ({reason}); tune one of: "
            f"{', '.join(tunable_models())}, or fix fewer settings"
        )
    return space
