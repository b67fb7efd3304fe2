"""Benchmark: every model on the same data, one results table per dataset.

    python -m bench.compare                                   # default catalog + MovieLens
    python -m bench.compare --datasets default,movielens,electronics --epochs 1
    python -m bench.compare --datasets default --models sgns,eges --out bench/results

For each dataset the split and walks are built once and shared by every model (node2vec
gets its own p/q walks). Each model trains with its defaults (``--epochs`` overrides the
epochs of models that have them), is evaluated the same way (AUC on all / seen / unseen
pairs with the method's median policy, side-info models with their cold-start vectors,
HitRate@10 and NDCG@10), and lands in one table written as Markdown and CSV under
``--out`` (default ``bench/results``). A model that fails is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

import pandas as pd

from recsys_core.data.fetch import default_movielens_dir, fetch_movielens_100k
from recsys_core.data.registry import DatasetSettings
from recsys_core.evaluation.evaluate import EvalSettings
from recsys_core.evaluation.results import results_table, to_markdown
from recsys_core.models.registry import model_classes
from recsys_core.pipeline import RunSpec, prepare, run

SIDE_INFO_MODELS = ("sgns-side-mean", "eges", "eges-skip-missing")


def dataset_settings(name: str) -> DatasetSettings:
    if name == "movielens":
        folder = default_movielens_dir()
        if not (folder / "ml-100k.inter").exists() and not (folder / "u.data").exists():
            folder = fetch_movielens_100k()
        return DatasetSettings(source="movielens", path=str(folder))
    return DatasetSettings(source="synthetic", preset=name)


def compare_dataset(
    name: str, models: list[str], epochs: int | None, out: Path
) -> tuple[pd.DataFrame, dict]:
    settings = dataset_settings(name)
    t0 = time.perf_counter()
    prepared = prepare(settings)
    prep_seconds = time.perf_counter() - t0
    print(
        f"\n== {settings.describe()}: {prepared.dataset.n_products:,} products, "
        f"{len(prepared.dataset.pairs):,} pairs (prepared in {prep_seconds:.1f} s)",
        flush=True,
    )
    classes = model_classes()
    outcomes, failures = [], {}
    for model in models:
        fields = {f for f in classes[model].settings_cls.__dataclass_fields__}
        params = {"epochs": epochs} if epochs is not None and "epochs" in fields else {}
        policy = "cold-start" if model in SIDE_INFO_MODELS else "median"
        spec = RunSpec.create(
            model,
            dataset=settings,
            model_params=params,
            evaluation=EvalSettings(unseen_policy=policy),
        )
        t1 = time.perf_counter()
        try:
            outcome = run(spec, prepared=prepared)
        except Exception as exc:  # one failing model must not hide the rest
            failures[model] = f"{type(exc).__name__}: {exc}"
            print(f"  {model}: FAILED {failures[model]}", flush=True)
            traceback.print_exc()
            continue
        outcomes.append(outcome)
        ev = outcome.evaluation
        print(
            f"  {model:<18} AUC all {ev.auc_all:.4f} seen {ev.auc_seen:.4f} "
            f"unseen {ev.auc_unseen:.4f} HR@10 {ev.hit_rate:.4f}  "
            f"train {outcome.train_seconds:.1f} s (wall {time.perf_counter() - t1:.1f} s"
            f"{', cached' if outcome.cache_hits.get('run') else ''})",
            flush=True,
        )
    table = results_table([o.results_entry() for o in outcomes])
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{name}.csv", index=False)
    markdown = to_markdown(table, title=f"### {name}")
    (out / f"{name}.md").write_text(markdown + "\n")
    print(markdown, flush=True)
    facts = {
        "dataset": settings.describe(),
        "products": prepared.dataset.n_products,
        "pairs": len(prepared.dataset.pairs),
        "split": prepared.split.summary(),
        "failures": failures,
    }
    return table, facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="default,movielens")
    parser.add_argument("--models", default="all", help="comma-separated names, or all")
    parser.add_argument("--epochs", type=int, help="override epochs of every model")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    models = (
        list(model_classes())
        if args.models == "all"
        else [m.strip() for m in args.models.split(",") if m.strip()]
    )
    out = Path(args.out)
    record = {}
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        table, facts = compare_dataset(name, models, args.epochs, out)
        record[name] = {**facts, "rows": table.drop(columns=["settings"]).to_dict("records")}
    if args.json:
        print(json.dumps(record, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
