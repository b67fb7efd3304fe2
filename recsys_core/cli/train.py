"""Subcommands that train and evaluate models: train, compare."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from recsys_core.cli.common import (
    add_dataset_options,
    add_json_option,
    add_model_options,
    dataset_settings_from_args,
    emit_json,
    model_params_from_args,
    peak_memory_mb,
    progress_bar,
    say,
)
from recsys_core.cli.data import add_split_options, split_settings_from_args
from recsys_core.evaluation.auc import UNSEEN_POLICIES
from recsys_core.models.base import TrainEvent


def _model_help() -> str:
    from recsys_core.models.registry import model_classes

    return "; ".join(f"{name}: {cls.label}" for name, cls in model_classes().items())


def register(sub: argparse._SubParsersAction) -> None:
    models = _model_help()
    p = sub.add_parser(
        "train",
        help="train one model and evaluate it (cached)",
        description=f"Models: {models}",
    )
    p.add_argument("--model", default="sgns", help="model name (see above)")
    add_common(p)
    p.add_argument("--export-word2vec", metavar="PATH", help="write vectors, word2vec text")
    p.add_argument("--export-projector", metavar="DIR", help="write TensorFlow Projector files")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare",
        help="train several models on the same walks and print the results table",
        description=f"Models: {models}",
    )
    p.add_argument(
        "--models",
        default="gensim-sg,sgns,mf-bias",
        help="comma-separated names; the baselines popularity and adamic-adar are always added",
    )
    p.add_argument("--out", metavar="DIR", help="write results.csv and results.md here")
    add_common(p)
    p.set_defaults(func=cmd_compare)


def add_common(p: argparse.ArgumentParser) -> None:
    add_dataset_options(p)
    add_split_options(p)
    add_model_options(p)
    group = p.add_argument_group("walks (default: the model's own, node2vec p=0.5 q=2)")
    group.add_argument("--walks-per-node", type=int)
    group.add_argument("--length", type=int)
    group.add_argument("--p", type=float)
    group.add_argument("--q", type=float)
    group.add_argument(
        "--unseen-policy",
        choices=UNSEEN_POLICIES,
        default=None,
        help="score of pairs with a product that has no trained vector (default: auto, "
        "cold-start vectors for models that have them, else the method's median)",
    )
    add_json_option(p)


def spec_from_args(args: argparse.Namespace, model: str) -> Any:
    from recsys_core.evaluation.evaluate import EvalSettings
    from recsys_core.models.registry import model_class
    from recsys_core.pipeline import RunSpec
    from recsys_core.walks import WalkSettings

    cls = model_class(model)
    walk_fields = {
        "walks_per_node": args.walks_per_node,
        "length": args.length,
        "p": args.p,
        "q": args.q,
    }
    walks = None
    if any(v is not None for v in walk_fields.values()):
        defaults = {"p": cls.walk_p, "q": cls.walk_q}
        walks = WalkSettings(
            **{
                k: v if v is not None else defaults.get(k, getattr(WalkSettings(), k))
                for k, v in walk_fields.items()
            }
        )
    evaluation = EvalSettings(unseen_policy=args.unseen_policy) if args.unseen_policy else None
    return RunSpec.create(
        model,
        dataset=dataset_settings_from_args(args),
        split=split_settings_from_args(args),
        walks=walks,
        model_params=model_params_from_args(args, model),
        evaluation=evaluation,
    )


class EpochPrinter:
    """Prints one line per epoch end (loss, AUC, lr) while training runs."""

    def __init__(self, model: str) -> None:
        self.model = model

    def __call__(self, event: TrainEvent) -> None:
        if event.epoch_end:
            auc = f"AUC {event.auc:.4f} (seen {event.auc_seen:.4f})" if event.auc else "AUC -"
            say(
                f"  {self.model} epoch {event.epoch + 1}: loss {event.loss:.4f}, {auc}, "
                f"lr {event.lr:.4g}, {event.elapsed:.1f} s"
            )


def train_one(args: argparse.Namespace, model: str, prepared: Any = None) -> Any:
    from recsys_core.pipeline import run

    spec = spec_from_args(args, model)
    bars = progress_bar()
    outcome = run(spec, on_progress=bars, callback=EpochPrinter(model), prepared=prepared)
    bars.close()
    return outcome


def outcome_record(outcome: Any, lift: float | None = None) -> dict[str, Any]:
    """One model's figures for --json: AUC all / seen / unseen, ranking metrics, lift over
    popularity, which part, protocol and unseen policy they come from, and the same per
    popularity bucket of the pair."""
    report = outcome.evaluation
    row = report.as_row()
    row.update(
        {
            "model": outcome.spec.model,
            "lift_over_popularity": lift,
            "part": report.part,
            "protocol": report.protocol,
            "unseen_policy": report.unseen_policy,
            "by_bucket": report.bucket_records(),
            "train_seconds": round(outcome.train_seconds, 3),
            "cached": outcome.cache_hits.get("run", False),
            "artifact": str(outcome.artifact_dir),
        }
    )
    return row


def with_baselines(names: list[str]) -> list[str]:
    """``names`` with the no-training baselines first (each once)."""
    from recsys_core.models.registry import BASELINES

    return [*BASELINES, *(n for n in names if n not in BASELINES)]


def cmd_train(args: argparse.Namespace) -> int:
    from recsys_core.evaluation.results import results_table, to_markdown

    t0 = time.perf_counter()
    outcome = train_one(args, args.model)
    record = outcome_record(outcome)
    say("")
    say(to_markdown(results_table([outcome.results_entry()])))
    say(f"artifacts: {outcome.artifact_dir}")
    exports = export_outcome(args, outcome)
    record.update(exports)
    record["seconds_total"] = round(time.perf_counter() - t0, 3)
    record["peak_memory_mb"] = round(peak_memory_mb(), 1)
    emit_json(args, {"models": {args.model: record}, **{k: record[k] for k in exports}})
    return 0


def export_outcome(args: argparse.Namespace, outcome: Any) -> dict[str, str]:
    from recsys_core.data.registry import load_dataset
    from recsys_core.evaluation.export import export_projector, export_word2vec

    out: dict[str, str] = {}
    if not (args.export_word2vec or args.export_projector):
        return out
    dataset, _ = load_dataset(outcome.spec.dataset)
    if args.export_word2vec:
        path = export_word2vec(outcome.embeddings, dataset.asins, Path(args.export_word2vec))
        say(f"word2vec vectors: {path}")
        out["word2vec"] = str(path)
    if args.export_projector:
        paths = export_projector(outcome.embeddings, dataset.products, Path(args.export_projector))
        say(f"projector files: {', '.join(str(p) for p in paths)}")
        out["projector"] = str(args.export_projector)
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    import math

    from recsys_core.evaluation.results import results_table, to_markdown
    from recsys_core.models.registry import model_class
    from recsys_core.pipeline import prepare

    names = with_baselines([m.strip() for m in args.models.split(",") if m.strip()])
    for name in names:
        model_class(name)  # fail before any work on an unknown name
    from recsys_core import cluster

    if cluster.enabled():  # every model a run, in parallel on Ray (recsys_core.jobs.ray_sweep)
        from recsys_core.cli.sweep import run_specs

        return run_specs(args, [spec_from_args(args, name) for name in names])
    t0 = time.perf_counter()
    bars = progress_bar()
    prepared = prepare(dataset_settings_from_args(args), split_settings_from_args(args), bars)
    bars.close()
    outcomes = []
    requested = set(args.models.split(","))
    for name in list(names):
        # A baseline nobody asked for that cannot take this catalog (EASE's dense Gram
        # matrix) is left out with its reason instead of failing the whole comparison.
        refusal = getattr(model_class(name), "refusal", None)
        reason = refusal(prepared.dataset.n_products) if refusal else None
        if reason and name not in requested:
            say(f"leaving out {name}: {reason}")
            names.remove(name)
    for name in names:
        say(f"training {name} ...")
        outcomes.append(train_one(args, name, prepared=prepared))
    table = results_table([o.results_entry() for o in outcomes])
    markdown = to_markdown(table)
    say("")
    say(f"dataset: {prepared.dataset.name}")
    say(markdown)
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        table.to_csv(folder / "results.csv", index=False)
        (folder / "results.md").write_text(markdown + "\n")
        say(f"written: {folder / 'results.csv'}, {folder / 'results.md'}")
    lifts = [None if math.isnan(v) else v for v in table["lift_over_popularity"]]
    emit_json(
        args,
        {
            "dataset": prepared.dataset.name,
            "part": prepared.split.reported_part,
            "protocol": prepared.split.negatives,
            "models": {
                o.spec.model: outcome_record(o, lift)
                for o, lift in zip(outcomes, lifts, strict=True)
            },
            "seconds_total": round(time.perf_counter() - t0, 3),
            "peak_memory_mb": round(peak_memory_mb(), 1),
        },
    )
    return 0
