"""Our skip-gram against gensim's at equal epochs: time and AUC on this machine."""

from __future__ import annotations

from recsys_core.studies.framework import Arm, Study, arm_spec

EPOCHS = 2


def study() -> Study:
    return Study(
        name="sgns-vs-gensim",
        title="Our skip-gram against gensim at equal epochs",
        question=(
            "At the same walks, epochs, window and negatives, is our skip-gram as good as "
            "gensim's, and how long does each take on this machine?"
        ),
        arms=(
            Arm("gensim skip-gram", arm_spec("gensim-sg", epochs=EPOCHS), reference=True),
            Arm("our skip-gram", arm_spec("sgns", epochs=EPOCHS)),
        ),
        metrics=("auc", "train_seconds"),
        sizes=(
            f"{EPOCHS} epochs each, 2 threads, default walks; times are wall seconds of "
            "training on a shared machine, so only large differences mean anything"
        ),
        meaning=(
            "If AUC shows no clear difference, choose by speed and by what you need "
            "(ours has side information and live AUC; gensim is the reference)."
        ),
    )
