"""MF on walk sequences (mf-bias-seq) against MF on the train pairs (mf-bias)."""

from __future__ import annotations

from recsys_core.studies.framework import Arm, Study, arm_spec

EPOCHS = 2


def study() -> Study:
    return Study(
        name="mf-walks-vs-pairs",
        title="MF on walk sequences against MF on pairs",
        question=(
            "Does matrix factorisation trained on skip-gram pairs of random walks rank pairs "
            "better than the same model trained on the train pairs alone?"
        ),
        arms=(
            Arm("MF-bias on pairs", arm_spec("mf-bias", epochs=EPOCHS), reference=True),
            Arm("MF-bias on walk sequences", arm_spec("mf-bias-seq", epochs=EPOCHS)),
        ),
        metrics=("auc", "train_seconds"),
        sizes=(
            f"{EPOCHS} epochs each (an epoch of walk pairs is ~60x more positives than an "
            "epoch of train pairs), default walks, window 5"
        ),
        meaning=(
            "If walks win, the extra co-occurrence context is worth its training time; if "
            "not, plain MF on pairs is the cheaper choice."
        ),
    )
