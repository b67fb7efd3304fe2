"""Benchmark: choose the skip-gram family's scoring defaults on validation.

    python -m bench.scoring                                    # default catalog + MovieLens-100k
    python -m bench.scoring --datasets default --models sgns,gensim-sg

For each dataset, each model trains once per negative-sampling exponent (``--exponents``)
and every score rule (cosine, in-out, in-out-sym) re-scores those same vectors (a run that
differs only in its scoring reuses the training). Every figure is on the **validation**
part (``RunSpec.evaluate_on="validation"``), never test: the default chosen here is then
read on test once, by ``bench.compare``. The no-training baselines are scored the same
way beside them. The chosen setting is the one with the best mean rank of validation
NDCG@10 over the datasets, so no dataset picks its own default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.compare import dataset_label, dataset_settings
from recsys_core.evaluation.evaluate import EvalSettings
from recsys_core.evaluation.results import to_markdown
from recsys_core.models.base import SCORE_RULES
from recsys_core.models.registry import BASELINES, model_classes
from recsys_core.pipeline import RunSpec, prepare, run
from recsys_core.split import SplitSettings


def rows_for(
    dataset: str, models: list[str], exponents: list[float], queries: int
) -> list[dict[str, object]]:
    settings = dataset_settings(dataset)
    split = SplitSettings()
    prepared = prepare(settings, split)
    evaluation = EvalSettings(ranking_queries=queries) if queries else EvalSettings()
    rows = []

    def one(model: str, params: dict[str, object], label: str, setting: str) -> None:
        spec = RunSpec.create(
            model,
            dataset=settings,
            split=split,
            model_params=params,
            evaluation=evaluation,
            evaluate_on="validation",
        )
        outcome = run(spec, prepared=prepared)
        metrics = outcome.evaluation.metrics()
        assert outcome.evaluation.part == "validation"
        rows.append(
            {
                "dataset": dataset,
                "row": label,
                "setting": setting,
                "NDCG@10": metrics["ndcg@10"],
                "HitRate@10": metrics["hit_rate@10"],
                "AUC all": metrics["auc_all"],
            }
        )
        print(f"  {dataset} {label}: NDCG@10 {metrics['ndcg@10']:.4f}", flush=True)

    available = model_classes()
    for baseline in [b for b in BASELINES if b in available]:
        one(baseline, {}, baseline, "baseline")
    for model in models:
        for exponent in exponents:
            for rule in SCORE_RULES:
                setting = f"ns_exponent={exponent:g}, score={rule}"
                one(model, {"ns_exponent": exponent, "score": rule}, model, setting)
    return rows


def choose(frame: pd.DataFrame, by: str = "row") -> pd.DataFrame:
    """Mean rank of validation NDCG@10 over the datasets, per (``by``, setting); the best
    first within each ``by`` (ties: the higher mean NDCG@10)."""
    trained = frame[frame["setting"] != "baseline"].copy()
    trained["rank"] = trained.groupby(["dataset", by])["NDCG@10"].rank(ascending=False)
    return (
        trained.groupby([by, "setting"])
        .agg(mean_rank=("rank", "mean"), mean_ndcg=("NDCG@10", "mean"))
        .reset_index()
        .sort_values([by, "mean_rank", "mean_ndcg"], ascending=[True, True, False])
    )


def write_choice(frame: pd.DataFrame, ranking: pd.DataFrame, command: str, out: str) -> None:
    """The validation figures and the mean ranks, as Markdown in ``out`` and on stdout."""
    text = (
        f"Validation part only (the test part is never read here); `{command}`\n\n"
        + to_markdown(frame, columns=list(frame.columns))
        + "\n\nMean rank of validation NDCG@10 over the datasets (lower is better):\n\n"
        + to_markdown(ranking, columns=list(ranking.columns), digits=3)
        + "\n"
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="default,movielens")
    parser.add_argument("--models", default="sgns")
    parser.add_argument("--exponents", default="0.75,0.5,0")
    parser.add_argument(
        "--queries", type=int, default=0, help="validation ranking queries (0: the default)"
    )
    parser.add_argument("--out", default="bench/results/scoring_validation.md")
    args = parser.parse_args(argv)
    exponents = [float(x) for x in args.exponents.split(",")]
    rows = []
    for dataset in args.datasets.split(","):
        print(f"{dataset_label(dataset, dataset_settings(dataset))}", flush=True)
        rows += rows_for(dataset, args.models.split(","), exponents, args.queries)
    frame = pd.DataFrame(rows)
    command = (
        f"python -m bench.scoring --datasets {args.datasets} --models {args.models} "
        f"--exponents {args.exponents}"
    )
    write_choice(frame, choose(frame), command, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
