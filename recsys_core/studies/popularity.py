"""How much of each model's score is popularity: AUC by degree bucket, lift over popularity."""

from __future__ import annotations

from recsys_core.studies.framework import Arm, Study, arm_spec

EPOCHS = 2


def study() -> Study:
    return Study(
        name="popularity",
        title="How much of each model's score is popularity",
        question=(
            "How far above the popularity baseline (degree product on the train graph, no "
            "training) does each model score, under uniform and degree-matched negatives, "
            "and in which degree buckets?"
        ),
        arms=(
            Arm("popularity", arm_spec("popularity"), reference=True),
            Arm("Adamic-Adar", arm_spec("adamic-adar")),
            Arm("skip-gram", arm_spec("sgns", epochs=EPOCHS)),
            Arm("MF-bias", arm_spec("mf-bias", epochs=EPOCHS)),
        ),
        metrics=("auc",),
        figure="buckets",
        sizes=f"learned models {EPOCHS} epochs, default walks; baselines need no training",
        meaning=(
            "The difference to popularity is each model's lift over popularity. Under "
            "degree-matched negatives popularity sits near 0.5, so what a model keeps there "
            "is what it learned beyond popularity; a model no better than popularity under "
            "uniform negatives is not worth training."
        ),
    )
