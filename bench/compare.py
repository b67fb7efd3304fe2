"""Benchmark: every model on the same data, one results table per dataset and protocol.

    python -m bench.compare                                   # default catalog + MovieLens
    python -m bench.compare --readme README.md                # ... README summary, docs/results.md
    python -m bench.compare --datasets default --models sgns,eges --protocols degree-matched

Tables lead with NDCG@10 and HitRate@10 (with their 95% intervals; exact ranking over the
whole catalog, see recsys_core.evaluation.ranking) and keep the method's AUC beside them.
For each dataset the split (train 67%, validation 15%, test 18%) and the walks are built
once and shared by every model (node2vec gets its own p/q walks). Each model trains once
with its defaults (``--epochs`` overrides the epochs of models that have them) and is
evaluated on the **test** pairs under each negative protocol (``--protocols``, default
uniform and degree-matched): a protocol changes only the negatives of the held-out
parts, never the train pairs (checked), so the same vectors are scored against each set
of negatives. The unseen policy is the default "auto" (cold-start vectors where a model
has them, the method's median otherwise), shown per row. The no-training baselines
(popularity, Adamic-Adar) are in every table, and every row shows its lift over
popularity. Tables land as Markdown and CSV under ``--out`` (default ``bench/results``),
one per dataset and protocol. A model that fails is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.data.fetch import default_movielens_dir, fetch_movielens_100k
from recsys_core.data.registry import DatasetSettings
from recsys_core.evaluation.results import results_table, to_markdown
from recsys_core.models.registry import BASELINES, model_classes
from recsys_core.pipeline import Prepared, RunOutcome, RunSpec, evaluate_run, prepare, run
from recsys_core.split import SplitSettings

PROTOCOLS = ("uniform", "degree-matched")
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


def dataset_settings(name: str) -> DatasetSettings:
    if name == "movielens":
        folder = default_movielens_dir()
        if not (folder / "ml-100k.inter").exists() and not (folder / "u.data").exists():
            folder = fetch_movielens_100k()
        return DatasetSettings(source="movielens", path=str(folder))
    return DatasetSettings(source="synthetic", preset=name)


def dataset_label(name: str, settings: DatasetSettings) -> str:
    """How a table names its dataset: no machine-specific path."""
    if settings.source == "movielens":
        return "MovieLens-100k (1,682 movies, linked when consecutive in a user's ratings)"
    return settings.describe()


def train_all(
    settings: DatasetSettings,
    split: SplitSettings,
    prepared: Prepared,
    models: list[str],
    epochs: int | None,
) -> tuple[list[RunOutcome], dict[str, str]]:
    classes = model_classes()
    outcomes, failures = [], {}
    for model in models:
        fields = set(classes[model].settings_cls.__dataclass_fields__)
        params = {"epochs": epochs} if epochs is not None and "epochs" in fields else {}
        spec = RunSpec.create(model, dataset=settings, split=split, model_params=params)
        t1 = time.perf_counter()
        try:
            outcome = run(spec, prepared=prepared)
        except Exception as exc:  # one failing model must not hide the rest
            failures[model] = f"{type(exc).__name__}: {exc}"
            print(f"  {model}: FAILED {failures[model]}", flush=True)
            traceback.print_exc()
            continue
        outcomes.append(outcome)
        cached = ", cached" if outcome.cache_hits.get("run") else ""
        wall = time.perf_counter() - t1
        print(
            f"  {model:<18} trained in {outcome.train_seconds:.1f} s (wall {wall:.1f} s{cached})",
            flush=True,
        )
    return outcomes, failures


def compare_dataset(
    name: str, models: list[str], protocols: list[str], epochs: int | None, out: Path
) -> tuple[list[str], dict]:
    """Train every model once, evaluate on test under each protocol; Markdown per table."""
    settings = dataset_settings(name)
    label = dataset_label(name, settings)
    t0 = time.perf_counter()
    splits = {protocol: SplitSettings(negatives=protocol) for protocol in protocols}
    base = prepare(settings, splits[protocols[0]])
    print(
        f"\n== {label}: {base.dataset.n_products:,} products, {len(base.dataset.pairs):,} "
        f"pairs (prepared in {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    outcomes, failures = train_all(settings, splits[protocols[0]], base, models, epochs)
    markdowns, facts = [], {"dataset": label, "products": base.dataset.n_products}
    facts["frames"] = {}
    facts |= {"pairs": len(base.dataset.pairs), "failures": failures, "tables": {}}
    for protocol in protocols:
        prepared = base if protocol == protocols[0] else prepare(settings, splits[protocol])
        if not prepared.split.train.equals(base.split.train):
            raise RuntimeError("protocols must share the train pairs; the split changed")
        entries = []
        for outcome in outcomes:
            report = (
                outcome.evaluation
                if prepared is base
                else evaluate_run(outcome.spec, prepared, outcome.embeddings)
            )
            cls = model_classes()[outcome.spec.model]
            entries.append(
                (
                    outcome.spec.model,
                    cls.label,
                    report,
                    outcome.train_seconds,
                    outcome.spec.model_settings().as_dict(),
                    label,
                )
            )
        table = results_table(entries)
        facts["frames"][protocol] = table
        stem = f"{name}-{protocol}"
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / f"{stem}.csv", index=False)
        title = f"#### {short_name(name)}, {protocol} negatives, test pairs"
        markdown = to_markdown(table, title=title)
        (out / f"{stem}.md").write_text(markdown + "\n")
        buckets = bucket_markdown(entries)
        (out / f"{stem}-buckets.md").write_text(buckets + "\n")
        print(markdown + "\n" + buckets, flush=True)
        markdowns += [markdown, buckets]
        facts["tables"][protocol] = {
            "split": prepared.split.summary(),
            "rows": table.drop(columns=["settings"]).to_dict("records"),
        }
    return markdowns, facts


def short_name(name: str) -> str:
    return {"movielens": "MovieLens-100k", "default": "Built-in catalog (default, 20k)"}.get(
        name, name
    )


def bucket_markdown(entries: list[tuple]) -> str:
    """NDCG@10 and AUC per popularity bucket of the pair, one column per bucket, one row
    per model (two tables)."""
    tables = []
    for metric, label, note in (
        ("ndcg", "NDCG@10", "queries whose rarest product (the query or a partner) is in it"),
        ("auc", "AUC", "pairs whose rarer product is in it"),
    ):
        rows = []
        for _name, model, report, *_ in entries:
            frame = report.by_bucket.set_index("bucket")
            row = {"model": model}
            for bucket, r in frame.iterrows():
                span = f"{int(r['min_degree_from'])}-{int(r['min_degree_to'])}"
                row[f"{label} {bucket} ({span})"] = r.get(metric)
            rows.append(row)
        title = f"{label} by popularity bucket (train degree; a bucket holds the {note}):"
        tables.append(to_markdown(pd.DataFrame(rows), title=title))
    return "\n".join(tables)


def summary_table(name: str, facts: dict) -> str:
    """The README's one short table of a dataset: ranking first (test, ± half the 95%
    interval), AUC under each protocol beside it, best NDCG@10 first."""
    frames = facts["frames"]
    first = next(iter(frames.values()))
    view = pd.DataFrame({"model": first["model"]})
    for column in ("NDCG@10", "HitRate@10"):
        view[column] = [
            f"{v:.3f} ± {max(hi - v, v - lo):.3f}"
            for v, lo, hi in zip(
                first[column], first[f"{column} low"], first[f"{column} high"], strict=True
            )
        ]
    for protocol, frame in frames.items():
        view[f"AUC ({protocol})"] = frame["AUC all"].to_numpy()
    view["minutes"] = first["minutes"].to_numpy()
    view = view.iloc[np.argsort(-first["NDCG@10"].to_numpy(), kind="stable")]
    title = f"**{short_name(name)}** ({facts['products']:,} products), test part:"
    return to_markdown(view, columns=list(view.columns), title=title, digits=3)


def write_results_doc(path: Path, intro: str, sections: list[str]) -> None:
    """The full generated tables, in their own file (the README keeps a summary)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "# Results: every model, every table\n\n" + intro
    path.write_text("\n".join([head, *sections]) + "\n")


def rewrite_readme(path: Path, sections: list[str]) -> None:
    """Replace what stands between the results markers of ``path`` with ``sections``."""
    text = path.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {README_START} ... {README_END} section")
    body = "\n".join([README_START, *sections, README_END])
    path.write_text(pattern.sub(lambda _: body, text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="default,movielens")
    parser.add_argument("--models", default="all", help="comma-separated names, or all")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--epochs", type=int, help="override epochs of every model")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--readme", metavar="PATH", help="rewrite this README's results section")
    parser.add_argument(
        "--results-doc",
        default="docs/results.md",
        help="with --readme: where the full tables go (the README keeps a summary)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    chosen = (
        list(model_classes())
        if args.models == "all"
        else [m.strip() for m in args.models.split(",") if m.strip()]
    )
    models = [*BASELINES, *(m for m in chosen if m not in BASELINES)]
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    out = Path(args.out)
    record, sections, summaries = {}, [], []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        markdowns, facts = compare_dataset(name, models, protocols, args.epochs, out)
        summaries.append(summary_table(name, facts))
        facts.pop("frames")
        record[name] = facts
        sections += markdowns
    if args.readme:
        doc = Path(args.results_doc)
        write_results_doc(doc, readme_intro(args), sections)
        link = (
            f"Full tables (Recall@10, MRR, @50, coverage, list popularity, AUC seen / "
            f"unseen, per popularity bucket, both protocols): [{doc}]({doc}). "
            "What each metric means is said at its top."
        )
        rewrite_readme(Path(args.readme), [summary_intro(args), *summaries, link])
    if args.json:
        print(json.dumps(record, default=str))
    return 0


def summary_intro(args: argparse.Namespace) -> str:
    epochs = f"{args.epochs} epochs" if args.epochs else "each model's default settings"
    return (
        "Generated by `python -m bench.compare --readme README.md` "
        f"({epochs}, chosen on validation; one seed). Each product of the test pairs asks "
        "for its top 10 among all products (without itself, its train neighbours and its "
        "validation partners); its test partners are the right answers. ± is half the "
        "95% bootstrap interval over queries. AUC is the method's one-negative metric, "
        "under its uniform negatives and under degree-matched ones (popularity alone "
        "scores 0.5 there).\n"
    )


def readme_intro(args: argparse.Namespace) -> str:
    epochs = f"{args.epochs} epochs" if args.epochs else "each model's default epochs"
    return (
        "Generated by `python -m bench.compare --readme README.md` "
        f"({epochs}; tables, CSV and per-bucket AUC in `bench/results/`). "
        "Every model trains once on 67% of the pairs; the figures are on the **test** pairs "
        "(18% of pairs; the 15% of validation drive the live curves). The tables lead with "
        "the ranking a shopper sees: each product of the test positives asks for its top "
        "10 among **all** products (without itself, its train neighbours and its "
        "validation partners), and its test partners are the right answers. NDCG@10 "
        "rewards right answers near the top (over min(answers, 10) ideal places), "
        "HitRate@10 is the share of queries with a right answer in the top 10, Recall@10 "
        "the share of right answers found, MRR 1 / (rank of the first right answer); "
        "± is half the 95% bootstrap interval over queries. Coverage@10 is the share of "
        "the catalog that appears in any top-10 list, Popularity@10 the mean "
        "log(1 + train degree) of what is recommended. These do not depend on the "
        "negatives. Beside them, the method's AUC, under its uniform negatives and under "
        "degree-matched negatives, which control for popularity. Products without a vector "
        "get the method's median score, except in side-information models, which place "
        "them with their cold-start vectors (the `unseen_policy` column). "
        "`lift_over_popularity` is AUC all minus the popularity baseline's.\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
