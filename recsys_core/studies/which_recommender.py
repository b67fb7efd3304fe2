"""Which recommender: every learned model with its chosen scoring, against the field's
no-training baselines, judged as top-10 recommendations."""

from __future__ import annotations

from recsys_core.studies.framework import Arm, Study, arm_spec


def study() -> Study:
    return Study(
        name="which-recommender",
        title="Which recommender",
        question=(
            "Judged as top-10 recommendations (filtered ranking over the whole catalog), "
            "does any learned model, each with its default scoring rule and settings "
            "(chosen on validation), beat the no-training baselines practitioners trust: "
            "item-kNN, RP3beta, EASE, Adamic-Adar and popularity?"
        ),
        arms=(
            Arm("popularity", arm_spec("popularity")),
            Arm("Adamic-Adar", arm_spec("adamic-adar")),
            Arm("item-kNN", arm_spec("item-knn")),
            Arm("RP3beta", arm_spec("rp3beta")),
            Arm("EASE", arm_spec("ease")),
            Arm("skip-gram (ours)", arm_spec("sgns")),
            Arm("gensim skip-gram", arm_spec("gensim-sg")),
            Arm("EGES", arm_spec("eges")),
            Arm("MF-bias", arm_spec("mf-bias")),
        ),
        # NDCG@10 and HitRate@10 verdicts come with every study (paired per query);
        # ranking does not depend on the negatives: one protocol; AUC stays beside
        metrics=("auc",),
        protocols=("uniform",),
        sizes="each model's defaults (5 epochs where it trains); baselines need no training",
        meaning=(
            "The best arm is compared with every other by NDCG@10 and HitRate@10, paired "
            "query by query within each seed; a direction is named only when the seed x "
            "query 95% interval of the difference excludes 0. A learned model that does "
            "not beat the best baseline here is not worth its training for top-10 lists."
        ),
    )
