"""Tuning on validation: each model's declared search space, searched with Optuna.

Trials are ordinary runs of the job store that evaluate on validation; the best
settings are evaluated on test once, at the end (:mod:`.tuner`). Studies are kept in
one Optuna SQLite file under the cache, so a tune resumes (:mod:`.studies`).
"""

from recsys_core.tuning.space import Param, space_for, tunable_models
from recsys_core.tuning.studies import METRICS, list_studies, load_study, study_name
from recsys_core.tuning.tuner import Tuner, TuneResult, TuneSettings, trial_spec, tune

__all__ = [
    "METRICS",
    "Param",
    "TuneResult",
    "TuneSettings",
    "Tuner",
    "list_studies",
    "load_study",
    "space_for",
    "study_name",
    "trial_spec",
    "tunable_models",
    "tune",
]
