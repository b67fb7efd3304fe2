"""Benchmark: choose the no-training baselines' defaults on validation.

    python -m bench.baselines                                  # default catalog + MovieLens-100k
    python -m bench.baselines --datasets default --models rp3beta

Every setting of each baseline's grid (``GRID``) is scored on the **validation** part
(``RunSpec.evaluate_on="validation"``), never test; the default is the setting with the
best mean rank of validation NDCG@10 over the datasets (ties: the higher mean NDCG@10),
so no dataset picks its own. ``bench.compare`` then reads test once with those defaults.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import pandas as pd

from bench.compare import dataset_label, dataset_settings
from bench.scoring import choose, write_choice
from recsys_core.pipeline import RunSpec, prepare, run
from recsys_core.split import SplitSettings

GRID: dict[str, dict[str, list[Any]]] = {
    "item-knn": {"shrink": [10.0, 100.0, 1000.0]},
    "rp3beta": {"alpha": [0.5, 1.0], "beta": [0.0, 0.3, 0.6]},
    "ease": {"l2_norm": [100.0, 1000.0, 10000.0]},
}


def settings_grid(model: str) -> list[dict[str, Any]]:
    names = list(GRID[model])
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*GRID[model].values())
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="default,movielens")
    parser.add_argument("--models", default=",".join(GRID))
    parser.add_argument("--out", default="bench/results/baselines_validation.md")
    args = parser.parse_args(argv)
    rows = []
    for dataset in args.datasets.split(","):
        settings = dataset_settings(dataset)
        print(dataset_label(dataset, settings), flush=True)
        prepared = prepare(settings, SplitSettings())
        for model in args.models.split(","):
            for params in settings_grid(model):
                spec = RunSpec.create(
                    model, dataset=settings, model_params=params, evaluate_on="validation"
                )
                report = run(spec, prepared=prepared).evaluation
                assert report.part == "validation"
                m = report.metrics()
                setting = ", ".join(f"{k}={v:g}" for k, v in params.items())
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "setting": setting,
                        "NDCG@10": m["ndcg@10"],
                        "HitRate@10": m["hit_rate@10"],
                        "AUC all": m["auc_all"],
                    }
                )
                print(f"  {model} {setting}: NDCG@10 {m['ndcg@10']:.4f}", flush=True)
    frame = pd.DataFrame(rows)
    command = f"python -m bench.baselines --datasets {args.datasets} --models {args.models}"
    write_choice(frame, choose(frame, by="model"), command, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
