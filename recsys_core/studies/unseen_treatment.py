"""How much of the "all products" AUC gap is how unseen products are scored."""

from __future__ import annotations

from recsys_core.studies.framework import Arm, Study, arm_spec

EPOCHS = 2
# model -> the unseen policies worth trying on it (skip-gram has no cold-start vectors)
POLICIES = {"sgns": ("median", "random"), "eges": ("median", "cold-start", "random")}


def study() -> Study:
    arms = []
    for model, policies in POLICIES.items():
        spec = arm_spec(model, epochs=EPOCHS)
        arms.append(
            Arm(f"{model} · seen-only pairs", spec, group=model, reference=True, pairs="seen",
                policy="median")
        )  # fmt: skip
        for policy in policies:
            arms.append(Arm(f"{model} · {policy}", spec, group=model, policy=policy))
    return Study(
        name="unseen-treatment",
        title="The unseen-product treatment in the all-products AUC",
        question=(
            "How much of the gap between AUC on all pairs and AUC on seen-only pairs comes "
            "from how pairs with an unseen product are scored (the method's median, random "
            "vectors, or side-information cold-start vectors)?"
        ),
        arms=tuple(arms),
        metrics=("auc",),
        sizes=(
            f"{EPOCHS} epochs, the method's random pair split; one run per model and seed, "
            "scored under each policy (no extra training)"
        ),
        meaning=(
            "A policy well below seen-only pairs means the headline AUC mostly measures the "
            "unseen treatment, not the embedding: compare models on seen-only pairs, or use "
            "a model with cold-start vectors if new products matter."
        ),
    )
