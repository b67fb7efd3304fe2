"""node2vec's p/q against plain weighted walks, the same skip-gram on both."""

from __future__ import annotations

from recsys_core.studies.framework import Arm, Study, arm_spec
from recsys_core.walks import WalkSettings

EPOCHS = 2
GRID = ((0.5, 0.5), (0.5, 2.0), (2.0, 0.5), (2.0, 2.0))


def study() -> Study:
    arms = [
        Arm("plain walks (p=1 q=1)", arm_spec("sgns", walks=WalkSettings(), epochs=EPOCHS),
            reference=True)
    ]  # fmt: skip
    for p, q in GRID:
        walks = WalkSettings(p=p, q=q)
        arms.append(Arm(f"node2vec p={p:g} q={q:g}", arm_spec("sgns", walks=walks, epochs=EPOCHS)))
    return Study(
        name="node2vec-vs-walks",
        title="node2vec p/q against plain weighted walks",
        question=(
            "Do node2vec's biased walks (return parameter p, in-out parameter q) give better "
            "vectors than plain weighted walks, with the same skip-gram on top?"
        ),
        arms=tuple(arms),
        metrics=("auc",),
        sizes=f"our skip-gram, {EPOCHS} epochs, 10 walks of 10 per product; p, q in 0.5 and 2",
        meaning=(
            "Only a p/q arm clearly above plain walks justifies node2vec's slower walks; "
            "otherwise plain weighted walks are the choice."
        ),
    )
