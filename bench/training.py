"""Benchmark: our skip-gram against gensim Word2Vec on the same walks, side by side.

    python -m bench.training --preset electronics --epochs 1     # the method's scale
    python -m bench.training --preset electronics --epochs 1 --load 2 --ours default
    python -m bench.training --preset books --epochs 1 --ours default      # ~2M products
    python -m bench.training --preset default                    # ~20k products, quick
    python -m bench.training --products 50000 --backends numba torch --json
    python -m bench.training --side-info --meta-coverage 1.0 --side-signal 0.9 --epochs 5

Builds the synthetic dataset, splits it (``SplitSettings()``), builds the train graph and
10 walks of 10 per product, then trains our SGNS (each ``--ours`` variant) and gensim
(sg=1, dim 128, window 5, negative 5, min_count 1, sample 1e-3, 2 workers) with the same
hyper-parameters on the SAME walks, one after the other in this process; ours first, so
that our rows' peak memory is the pipeline's own.

Columns:

* ``seconds``: wall time of training. gensim: ``build_vocab`` + ``train`` (turning walks
  into string tokens, which only gensim needs, is excluded); ours: the whole ``fit``.
* ``cpu_s``: CPU seconds of this process over the same span.
* ``pairs/s``: skip-gram pairs per wall second, with the SAME numerator for every row: the
  effective pairs our pair generator produced (after subsampling, with word2vec's reduced
  window, which gensim applies identically), times epochs.
* ``auc_all`` / ``auc_seen``: cosine on all validation pairs (products without a vector get
  the median score, the method's policy) and on pairs of two seen products.
* ``vs_gensim``: gensim's seconds / ours (above 1 = we are faster).
* ``peak_gb``: peak resident memory of the process so far.

Rows: ``gensim`` (its vectors as returned), ``gensim-centred`` (the same vectors with
their mean removed, our default's post-processing), then ours: ``default``, and the
variants in ``OURS``. ``--load N`` keeps N busy processes running beside the timed runs.

``--side-info`` instead trains sgns, sgns-side-mean, eges and eges-skip-missing on the same
walks and prints AUC all / seen / unseen (pairs with at least one product without a train
pair; cold-start vectors for the side-info models, the median policy for plain sgns).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd

from recsys_core.data.registry import DatasetSettings, load_dataset
from recsys_core.evaluation.auc import monitor_auc
from recsys_core.graph import build_graph
from recsys_core.models.base import Embeddings, TrainingData
from recsys_core.models.sgns import SkipGramModel, SkipGramSettings, centred
from recsys_core.split import SplitSettings, split_pairs
from recsys_core.walks import WalkSettings, generate_walks


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_gb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@contextlib.contextmanager
def machine_load(processes: int) -> Iterator[None]:
    """``processes`` busy-looping processes for the duration: a machine shared with
    other work, reproducibly (each takes a core whenever the scheduler lets it)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for p in busy:
            p.kill()
            p.wait()


def prepare(
    preset: str,
    products: int | None,
    meta_coverage: float | None = None,
    side_signal: float | None = None,
) -> tuple[TrainingData, pd.DataFrame, dict]:
    t0 = time.perf_counter()
    dataset, _ = load_dataset(
        DatasetSettings(
            source="synthetic",
            preset=preset,
            products=products,
            meta_coverage=meta_coverage,
            side_signal=side_signal,
        )
    )
    split = split_pairs(dataset.pairs, dataset.n_products, SplitSettings())
    graph = build_graph(dataset.n_products, *split.train_arrays())
    walks = generate_walks(graph, WalkSettings(walks_per_node=10, length=10))
    data = TrainingData(
        n_products=dataset.n_products,
        products=dataset.products,
        side_fields=dataset.side_fields,
        train_pairs=split.train,
        graph=graph,
        walks=walks,
        monitor=None,  # the bench scores the vectors once, after training
        seen_products=split.seen_products,
    )
    facts = {
        "dataset": dataset.name,
        "products": dataset.n_products,
        "pairs": len(dataset.pairs),
        "val_pairs": len(split.val),
        "walks": len(walks),
        "walk_length": int(walks.shape[1]),
        "prepare_seconds": round(time.perf_counter() - t0, 1),
    }
    return data, split.val, facts


def run_gensim(data: TrainingData, val: pd.DataFrame, epochs: int, workers: int) -> dict:
    from gensim.models import Word2Vec

    names = np.array([str(i) for i in range(data.n_products)], dtype=object)
    sentences = names[data.walks].tolist()
    t0, c0 = time.perf_counter(), _cpu()
    model = Word2Vec(
        vector_size=128, window=5, negative=5, sg=1, min_count=1, sample=1e-3,
        workers=workers, epochs=epochs, seed=0, hs=0,
    )  # fmt: skip
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    vectors = np.zeros((data.n_products, 128), dtype=np.float32)
    trained = np.zeros(data.n_products, dtype=bool)
    ids = np.array([int(k) for k in model.wv.index_to_key])
    vectors[ids] = model.wv.vectors
    trained[ids] = True
    auc, auc_seen = monitor_auc(Embeddings(vectors=vectors, trained=trained), val)
    # the same post-processing as our default (mean removed), to show what it is worth
    c_auc, c_seen = monitor_auc(Embeddings(vectors=centred(vectors, trained), trained=trained), val)
    return {
        "seconds": seconds, "cpu_s": cpu, "auc_all": auc, "auc_seen": auc_seen,
        "centred_auc_all": c_auc, "centred_auc_seen": c_seen, "peak_rss_gb": _peak_gb(),
    }  # fmt: skip


# Our variants: the default and the method's choices it departs from (bench/README.md).
OURS = {
    "default": {},
    "center-negatives": {"center_negatives": True},  # one draw per center occurrence
    "method": {"center_vectors": False},  # the method's raw vectors (+-0.5/dim start)
    "gensim-init": {"init_scale": 1.0},  # gensim 4's +-1/dim start
}


def run_ours(
    data: TrainingData,
    val: pd.DataFrame,
    epochs: int,
    threads: int,
    backend: str,
    variant: str = "default",
) -> dict:
    settings = SkipGramSettings(
        epochs=epochs, threads=threads, backend=backend, eval_every=0, **OURS[variant]
    )
    t0, c0 = time.perf_counter(), _cpu()
    emb = SkipGramModel(settings).fit(data)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    auc, auc_seen = monitor_auc(emb, val)
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "auc_all": auc,
        "auc_seen": auc_seen,
        "pairs": emb.info["training"]["pairs"],
        "peak_rss_gb": _peak_gb(),
    }


def _warm_up(data: TrainingData, backends: list[str]) -> None:
    """Compile the numba kernels on a tiny slice so compile time is not counted."""
    small = TrainingData(
        data.n_products, data.products, data.side_fields, data.train_pairs, data.graph,
        data.walks[:200], None, data.seen_products,
    )  # fmt: skip
    for backend in backends:
        SkipGramModel(SkipGramSettings(epochs=1, backend=backend, eval_every=0)).fit(small)


def run_side_info(data: TrainingData, val: pd.DataFrame, epochs: int, threads: int) -> dict:
    from recsys_core.models.side_info import (
        EgesModel,
        EgesSkipMissingModel,
        SideInfoSettings,
        SideMeanModel,
    )

    unseen = ~val["seen"].to_numpy()
    rows = {}
    for model in (SkipGramModel, SideMeanModel, EgesModel, EgesSkipMissingModel):
        cls = SkipGramSettings if model is SkipGramModel else SideInfoSettings
        t0 = time.perf_counter()
        emb = model(cls(epochs=epochs, threads=threads, eval_every=0)).fit(data)
        seconds = time.perf_counter() - t0
        auc, auc_seen = monitor_auc(emb, val)
        # unseen-involving pairs: the same median policy for unusable products
        auc_unseen = monitor_auc(emb, val[unseen].assign(seen=True))[0]
        rows[model.name] = {
            "seconds": seconds,
            "auc_all": auc,
            "auc_seen": auc_seen,
            "auc_unseen": auc_unseen,
            "field_weights": emb.info.get("field_weights"),
        }
        print(
            f"{model.name:<18}{seconds:>8.1f}{auc:>9.4f}{auc_seen:>10.4f}{auc_unseen:>12.4f}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="default", help="synthetic preset")
    parser.add_argument("--products", type=int, default=None, help="override the preset size")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="gensim workers / our threads")
    parser.add_argument("--backends", nargs="+", default=["numba"], choices=["numba", "torch"])
    parser.add_argument("--json", action="store_true", help="print one JSON line at the end")
    parser.add_argument("--side-info", action="store_true", help="compare side-info models")
    parser.add_argument(
        "--ours", nargs="+", default=["default", "center-negatives", "method"], choices=list(OURS),
        help="our variants to run (numba backend)",
    )  # fmt: skip
    parser.add_argument(
        "--load", type=int, default=0, help="busy processes running beside the timed runs"
    )
    parser.add_argument("--no-gensim", action="store_true", help="only our rows")
    parser.add_argument("--meta-coverage", type=float, default=None)
    parser.add_argument("--side-signal", type=float, default=None)
    args = parser.parse_args(argv)

    data, val, facts = prepare(args.preset, args.products, args.meta_coverage, args.side_signal)
    print(f"# {json.dumps(facts)}", flush=True)
    if args.side_info:
        facts["unseen_val_pairs"] = int((~val["seen"]).sum())
        print(f"{'model':<18}{'seconds':>8}{'auc_all':>9}{'auc_seen':>10}{'auc_unseen':>12}")
        result = {
            "facts": facts,
            "epochs": args.epochs,
            "rows": run_side_info(data, val, args.epochs, args.threads),
        }
        if args.json:
            print(json.dumps(result, default=float))
        return result
    _warm_up(data, args.backends)
    facts["peak_rss_gb_prepared"] = _peak_gb()
    rows: dict[str, dict] = {}
    with machine_load(args.load):
        # ours first: each row's peak memory is the process's peak so far, so our rows
        # show the pipeline's own peak before gensim's sentence lists exist
        for backend in args.backends:
            for variant in args.ours if backend == "numba" else ["default"]:
                name = f"ours-{backend}" + ("" if variant == "default" else f"-{variant}")
                rows[name] = run_ours(data, val, args.epochs, args.threads, backend, variant)
                print(f"# {name} done in {rows[name]['seconds']:.1f} s", flush=True)
        if not args.no_gensim:
            g = run_gensim(data, val, args.epochs, args.threads)
            print(f"# gensim done in {g['seconds']:.1f} s", flush=True)
            centred_row = {**g, "auc_all": g["centred_auc_all"], "auc_seen": g["centred_auc_seen"]}
            rows = {"gensim": g, "gensim-centred": centred_row, **rows}
    n_pairs = next(r["pairs"] for r in rows.values() if "pairs" in r)
    print(f"{'model':<24}{'seconds':>9}{'cpu_s':>9}{'pairs/s':>11}{'auc_all':>9}"
          f"{'auc_seen':>10}{'vs_gensim':>11}{'peak_gb':>9}")  # fmt: skip
    g = rows.get("gensim")
    for name, r in rows.items():
        r["pairs_per_s"] = n_pairs / r["seconds"]
        if g is not None:
            r["speed_vs_gensim"] = g["seconds"] / r["seconds"]
            r["time_vs_gensim"] = r["seconds"] / g["seconds"]
            r["auc_seen_minus_gensim"] = r["auc_seen"] - g["auc_seen"]
        print(
            f"{name:<24}{r['seconds']:>9.1f}{r['cpu_s']:>9.1f}{r['pairs_per_s']:>11,.0f}"
            f"{r['auc_all']:>9.4f}{r['auc_seen']:>10.4f}{r.get('speed_vs_gensim', 0):>11.2f}"
            f"{r['peak_rss_gb']:>9.2f}"
        )
    facts["peak_rss_gb"] = _peak_gb()
    result = {
        "facts": facts, "epochs": args.epochs, "threads": args.threads, "load": args.load,
        "rows": rows,
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, default=float))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
