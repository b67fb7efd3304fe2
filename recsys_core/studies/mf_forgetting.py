"""MF's forgetting at learning-rate restarts: cosine restarts vs linear decay, shared vs
separate centre and context tables (MFSettings.lr_schedule, MFSettings.shared_embedding)."""

from __future__ import annotations

from recsys_core.studies.framework import Arm, Study, arm_spec

EPOCHS = 3
EVAL_EVERY = 4  # live AUC points per ~30-step epoch on the 5k catalog


def study() -> Study:
    def spec(schedule: str, shared: bool):
        return arm_spec(
            "mf-bias",
            epochs=EPOCHS,
            lr_schedule=schedule,
            shared_embedding=shared,
            eval_every=EVAL_EVERY,
        )

    schedule, tables = "schedule (shared table)", "tables (cosine restarts)"
    return Study(
        name="mf-forgetting",
        title="MF forgetting at learning-rate restarts",
        question=(
            "Does MF's live AUC dip after each learning-rate restart, and does linear decay "
            "or separate centre and context tables avoid it without losing final AUC?"
        ),
        arms=(
            Arm(
                "cosine restarts · shared",
                spec("cosine-restart", True),
                group=(schedule, tables),
                reference=True,
            ),
            Arm("linear decay · shared", spec("linear", True), group=schedule),
            Arm("cosine restarts · separate", spec("cosine-restart", False), group=tables),
        ),
        metrics=("auc", "restart_dip"),
        figure="curves",
        sizes=(
            f"mf-bias, {EPOCHS} epochs (2 restarts), live AUC every {EVAL_EVERY} steps on the "
            "validation monitor; the dip is the mean drop of live AUC right after an epoch end"
        ),
        meaning=(
            "A schedule or table layout with a smaller dip and no lower final AUC is the safer "
            "default; a dip with the same final AUC is cosmetic."
        ),
    )
