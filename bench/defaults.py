"""Benchmark: do the walk and skip-gram defaults hold up on a real graph?

    python -m bench.defaults                                  # MovieLens-100k, 3 seeds
    python -m bench.defaults --dataset default --seeds 0      # built-in 20k catalog
    python -m bench.defaults --sweep                          # one setting at a time

Every row is scored twice on the same validation positives of the split:

* ``uniform``: the split's own negatives (random pairs of validation products, the
  method's protocol). Positives lean to popular products, negatives do not, so
  popularity alone scores well.
* ``degree-matched``: for each positive (a, b), a negative (a, b') with b' drawn from
  the products in b's log2 train-degree bucket, excluding real pairs. Popularity alone
  scores about 0.5 here; what a model scores above it, it learned from the graph.

``popularity`` (log(1+deg a) + log(1+deg b) on the train graph, no training) and
Adamic-Adar are the reference rows; every trained model is scored with the engine's own
code (``pipeline.make_walks`` -> ``Model.fit`` -> ``evaluation.evaluate``, the method's
median policy for unseen products). Figures are the mean over ``--seeds`` (walk and
model seed; the split is fixed) with the spread (max - min) beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_core.data.fetch import default_movielens_dir, fetch_movielens_100k
from recsys_core.data.registry import DatasetSettings
from recsys_core.evaluation.auc import rank_auc
from recsys_core.evaluation.evaluate import EvalSettings, evaluate, pair_scores
from recsys_core.models.registry import model_class
from recsys_core.pipeline import Prepared, make_walks, prepare, training_data
from recsys_core.walks import WalkSettings


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row: a model with walk and model settings (None / empty = the defaults)."""

    name: str
    model: str
    walks: dict[str, Any] | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


# The method's settings, spelled out, so "before" stays reproducible after the defaults
# change: 10 walks of 10 per product, and the skip-gram defaults the project started with.
METHOD_WALKS: dict[str, Any] = {"walks_per_node": 10, "length": 10}
METHOD_SGNS: dict[str, Any] = {
    "epochs": 5,
    "window": 5,
    "sample": 1e-3,
    "vector_size": 128,
    "init_scale": 0.5,
}
METHOD_GENSIM: dict[str, Any] = {"epochs": 5, "window": 5, "sample": 1e-3, "vector_size": 128}

BASELINES = [
    Variant("adamic-adar", "adamic-adar"),
    Variant("mf-bias", "mf-bias"),
]

BEFORE_AFTER = [
    Variant("sgns, method settings", "sgns", METHOD_WALKS, METHOD_SGNS),
    Variant("sgns, defaults", "sgns"),
    Variant("gensim-sg, method settings", "gensim-sg", METHOD_WALKS, METHOD_GENSIM),
    Variant("gensim-sg, defaults", "gensim-sg"),
]


def one_at_a_time() -> list[Variant]:
    """The method's sgns, then one setting changed at a time."""
    base_w, base_p = METHOD_WALKS, METHOD_SGNS
    rows = [Variant("sgns method", "sgns", base_w, base_p)]
    for wpn in (30, 100, 300):
        rows.append(Variant(f"walks_per_node={wpn}", "sgns", {**base_w, "walks_per_node": wpn}))
    for length in (20, 40, 80):
        rows.append(Variant(f"length={length}", "sgns", {**base_w, "length": length}, base_p))
    for key, values in {
        "epochs": (1, 2, 10),
        "window": (2, 10),
        "sample": (0.0, 1e-4, 1e-5),
        "vector_size": (32, 64),
        "init_scale": (1.0,),
        "alpha": (0.01, 0.05),
    }.items():
        for value in values:
            rows.append(Variant(f"{key}={value}", "sgns", base_w, {**base_p, key: value}))
    return [dataclasses.replace(v, params=v.params or base_p) for v in rows]


def negatives_and_budget() -> list[Variant]:
    """The negative exponent (study only: not a setting), and more walks, fewer passes."""
    w, p = METHOD_WALKS, METHOD_SGNS
    return [
        Variant("sgns method", "sgns", w, p),
        Variant("ns_exponent=0", "sgns", w, {**p, "ns_exponent": 0.0}),
        Variant("ns_exponent=0.5", "sgns", w, {**p, "ns_exponent": 0.5}),
        Variant("ns_exponent=1", "sgns", w, {**p, "ns_exponent": 1.0}),
        Variant("window=1", "sgns", w, {**p, "window": 1}),
        Variant("wpn=50 epochs=1", "sgns", {**w, "walks_per_node": 50}, {**p, "epochs": 1}),
        Variant("wpn=20 epochs=2", "sgns", {**w, "walks_per_node": 20}, {**p, "epochs": 2}),
        Variant("wpn=30 window=2", "sgns", {**w, "walks_per_node": 30}, {**p, "window": 2}),
        Variant("wpn=30 dim=32", "sgns", {**w, "walks_per_node": 30}, {**p, "vector_size": 32}),
    ]


def init_and_epochs() -> list[Variant]:
    """Initialisation, negatives per pair, epochs near the peak."""
    w, p = METHOD_WALKS, METHOD_SGNS
    w50 = {**w, "walks_per_node": 50}
    return [
        Variant("init_scale=0.1", "sgns", w, {**p, "init_scale": 0.1}),
        Variant("init_scale=0.25", "sgns", w, {**p, "init_scale": 0.25}),
        Variant("negative=10", "sgns", w, {**p, "negative": 10}),
        Variant("negative=15", "sgns", w, {**p, "negative": 15}),
        Variant("epochs=3", "sgns", w, {**p, "epochs": 3}),
        Variant("epochs=4", "sgns", w, {**p, "epochs": 4}),
        Variant("wpn=50 epochs=1 ns=0", "sgns", w50, {**p, "epochs": 1, "ns_exponent": 0.0}),
        Variant("wpn=50 epochs=1 init=0.1", "sgns", w50, {**p, "epochs": 1, "init_scale": 0.1}),
    ]


def candidates() -> list[Variant]:
    """The candidates, for several seeds and both datasets."""
    w, p, g = METHOD_WALKS, METHOD_SGNS, METHOD_GENSIM
    w50, w20 = {**w, "walks_per_node": 50}, {**w, "walks_per_node": 20}
    return [
        Variant("sgns method", "sgns", w, p),
        Variant("sgns init=0.1", "sgns", w, {**p, "init_scale": 0.1}),
        Variant("sgns wpn=50 ep=1", "sgns", w50, {**p, "epochs": 1}),
        Variant("sgns wpn=50 ep=1 init=0.1", "sgns", w50, {**p, "epochs": 1, "init_scale": 0.1}),
        Variant("sgns wpn=20 ep=2 init=0.1", "sgns", w20, {**p, "epochs": 2, "init_scale": 0.1}),
        Variant("gensim-sg method", "gensim-sg", w, g),
        Variant("gensim-sg wpn=50 ep=1", "gensim-sg", w50, {**g, "epochs": 1}),
        Variant("gensim-sg wpn=20 ep=2", "gensim-sg", w20, {**g, "epochs": 2}),
    ]


def walk_length() -> list[Variant]:
    """Walk length at a fixed token budget (walks x length = 100 per node), all walk models."""
    p = METHOD_SGNS
    return [
        Variant("len=5 wpn=20", "sgns", {"walks_per_node": 20, "length": 5}, p),
        Variant("len=20 wpn=5", "sgns", {"walks_per_node": 5, "length": 20}, p),
        Variant("len=50 wpn=2", "sgns", {"walks_per_node": 2, "length": 50}, p),
        Variant(
            "len=5 wpn=20 init=0.1",
            "sgns",
            {"walks_per_node": 20, "length": 5},
            {**p, "init_scale": 0.1},
        ),
        Variant(
            "len=20 wpn=5 init=0.1",
            "sgns",
            {"walks_per_node": 5, "length": 20},
            {**p, "init_scale": 0.1},
        ),
        Variant(
            "gensim len=5 wpn=20", "gensim-sg", {"walks_per_node": 20, "length": 5}, METHOD_GENSIM
        ),
        Variant("gensim-cbow method", "gensim-cbow", METHOD_WALKS, {}),
        Variant("gensim-cbow len=5 wpn=20", "gensim-cbow", {"walks_per_node": 20, "length": 5}, {}),
        Variant("mf-bias-seq method", "mf-bias-seq", METHOD_WALKS, {}),
        Variant("mf-bias-seq len=5 wpn=20", "mf-bias-seq", {"walks_per_node": 20, "length": 5}, {}),
    ]


def side_info() -> list[Variant]:
    """Side-information models share SkipGramSettings: the init change must not hurt them."""
    return [
        Variant("eges init=0.5", "eges", None, {"init_scale": 0.5}),
        Variant("eges init=0.1", "eges", None, {"init_scale": 0.1}),
        Variant("sgns-side-mean init=0.5", "sgns-side-mean", None, {"init_scale": 0.5}),
        Variant("sgns-side-mean init=0.1", "sgns-side-mean", None, {"init_scale": 0.1}),
    ]


STUDIES = {
    "before-after": lambda: BEFORE_AFTER,
    "one-at-a-time": one_at_a_time,
    "negatives-and-budget": negatives_and_budget,
    "init-and-epochs": init_and_epochs,
    "candidates": candidates,
    "walk-length": walk_length,
    "side-info": side_info,
}


def degrees(prepared: Prepared) -> np.ndarray:
    """Train degree (number of distinct train neighbours) of every product."""
    return np.diff(prepared.graph.indptr).astype(np.int64)


def degree_bucket(deg: np.ndarray) -> np.ndarray:
    """log2 bucket of a degree: 0 for unseen products, 1 + floor(log2 deg) otherwise."""
    deg = np.asarray(deg, dtype=np.int64)
    out = np.zeros(len(deg), dtype=np.int64)
    nz = deg > 0
    out[nz] = 1 + np.floor(np.log2(deg[nz])).astype(np.int64)
    return out


def degree_matched_val(prepared: Prepared, seed: int) -> pd.DataFrame:
    """The split's validation positives, each with one negative from its degree bucket.

    For a positive (a, b), the negative is (a, b') with b' uniform among the products in
    b's bucket (:func:`degree_bucket` of the train degree), b' != a and (a, b') not a real
    pair in the dataset. A positive whose bucket has no valid b' after 100 draws gets no
    negative (counted in the frame's ``attrs["dropped"]``).
    """
    rng = np.random.default_rng(seed)
    n = prepared.dataset.n_products
    pairs = prepared.dataset.pairs
    lo = np.minimum(pairs["a"].to_numpy(np.int64), pairs["b"].to_numpy(np.int64))
    hi = np.maximum(pairs["a"].to_numpy(np.int64), pairs["b"].to_numpy(np.int64))
    real = np.sort(lo * n + hi)
    val = prepared.split.val
    pos = val[val["label"] == 1].reset_index(drop=True)
    a = pos["a"].to_numpy(np.int64)
    b = pos["b"].to_numpy(np.int64)
    # products that could be a negative: every product that occurs in some pair
    present = np.zeros(n, dtype=bool)
    present[lo] = True
    present[hi] = True
    bucket = degree_bucket(degrees(prepared))
    members = {k: np.flatnonzero(present & (bucket == k)) for k in np.unique(bucket[present])}
    neg_b = np.full(len(b), -1, dtype=np.int64)
    todo = np.arange(len(b))
    for _ in range(100):
        if len(todo) == 0:
            break
        draw = np.empty(len(todo), dtype=np.int64)
        for k in np.unique(bucket[b[todo]]):
            sel = bucket[b[todo]] == k
            pool = members[k]
            draw[sel] = pool[rng.integers(0, len(pool), size=int(sel.sum()))]
        aa = a[todo]
        codes = np.minimum(aa, draw) * n + np.maximum(aa, draw)
        at = np.minimum(np.searchsorted(real, codes), len(real) - 1)
        ok = (draw != aa) & (real[at] != codes)
        neg_b[todo[ok]] = draw[ok]
        todo = todo[~ok]
    keep = neg_b >= 0
    seen = prepared.split.seen_products
    frame = pd.DataFrame(
        {
            "a": np.concatenate([a, a[keep]]).astype(np.int32),
            "b": np.concatenate([b, neg_b[keep]]).astype(np.int32),
            "label": np.r_[np.ones(len(a)), np.zeros(int(keep.sum()))].astype(np.int8),
        }
    )
    frame["seen"] = seen[frame["a"].to_numpy()] & seen[frame["b"].to_numpy()]
    frame.attrs["dropped"] = int((~keep).sum())
    return frame


def popularity_auc(prepared: Prepared, val: pd.DataFrame) -> float:
    """AUC of log(1 + deg a) + log(1 + deg b) on the train graph (no training)."""
    deg = degrees(prepared).astype(np.float64)
    a = val["a"].to_numpy()
    b = val["b"].to_numpy()
    return rank_auc(np.log1p(deg[a]) + np.log1p(deg[b]), val["label"].to_numpy())


def train_variant(
    prepared: Prepared, variant: Variant, seed: int, protocols: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    """Fit one variant with ``seed`` (walks and model) and score it under every protocol."""
    cls = model_class(variant.model)
    fields = set(cls.settings_cls.__dataclass_fields__)
    params = dict(variant.params)
    power = params.pop("ns_exponent", None)
    if power is not None:  # study only: the negative sampler's exponent (word2vec: 0.75)
        import functools

        import recsys_core.models.sgns as sgns_module
        from recsys_core.models.skipgram_pairs import NegativeSampler

        sgns_module.NegativeSampler = functools.partial(NegativeSampler, power=power)
    if "seed" in fields:
        params["seed"] = seed
    settings = cls.settings_cls(**params)
    walks = None
    row: dict[str, Any] = {"variant": variant.name, "seed": seed}
    t0 = time.perf_counter()
    if cls.uses_walks:
        wargs = {"p": cls.walk_p, "q": cls.walk_q, **(variant.walks or {}), "seed": seed}
        walks, _, _ = make_walks(prepared, WalkSettings(**wargs))
        row["tokens"] = int(walks.size)
    data = training_data(prepared, walks, monitor_pairs=100)
    data.monitor = None  # no live AUC: this bench reads the final figures only
    try:
        embeddings = cls(settings).fit(data)
    finally:
        if power is not None:
            sgns_module.NegativeSampler = NegativeSampler
    row["seconds"] = time.perf_counter() - t0
    for protocol, val in protocols.items():
        report = evaluate(
            embeddings,
            val,
            prepared.split.seen_products,
            EvalSettings(ranking_queries=2000 if protocol == "uniform" else 0),
            train_graph=prepared.graph,
        )
        row[f"auc {protocol}"] = report.auc_all
        if protocol == "uniform":
            row["hit@10"] = report.hit_rate
    return row


def dataset_settings(name: str, movielens: str | None) -> DatasetSettings:
    """MovieLens-100k (fetched into the cache when absent) or a synthetic preset."""
    if name != "movielens":
        return DatasetSettings(source="synthetic", preset=name)
    folder = Path(movielens) if movielens else default_movielens_dir()
    if not (folder / "ml-100k.inter").exists() and not (folder / "u.data").exists():
        folder = fetch_movielens_100k()
    return DatasetSettings(source="movielens", path=str(folder))


def summarise(rows: Iterable[dict[str, Any]], pop: dict[str, list[float]]) -> pd.DataFrame:
    """Mean over seeds with ± half the range, and the lift over popularity per protocol.

    Popularity comes first; the lift of a row is its mean AUC minus popularity's mean AUC
    under the same protocol (same validation pairs, same seeds).
    """
    frame = pd.DataFrame(list(rows))
    order = list(dict.fromkeys(frame["variant"]))
    protocols = [p for p in ("uniform", "degree-matched") if f"auc {p}" in frame]
    out = [{"row": "popularity (reference)"}]
    for p in protocols:
        out[0][f"auc {p}"] = f"{np.mean(pop[f'auc {p}']):.4f}"
        out[0][f"lift {p}"] = ""
    for name in order:
        part = frame[frame["variant"] == name]
        entry: dict[str, Any] = {"row": name}
        for p in protocols:
            vals = part[f"auc {p}"].to_numpy(np.float64)
            half = (vals.max() - vals.min()) / 2
            entry[f"auc {p}"] = f"{vals.mean():.4f}" + (f" ±{half:.4f}" if len(vals) > 1 else "")
            entry[f"lift {p}"] = f"{vals.mean() - np.mean(pop[f'auc {p}']):+.4f}"
        if "hit@10" in part:
            entry["hit@10"] = f"{part['hit@10'].mean():.4f}"
        entry["tokens"] = (
            f"{int(part['tokens'].mean()):,}"
            if "tokens" in part and part["tokens"].notna().all()
            else ""
        )
        entry["seconds"] = f"{part['seconds'].mean():.1f}"
        out.append(entry)
    columns = ["row"]
    for p in protocols:
        columns += [f"auc {p}", f"lift {p}"]
    columns += ["hit@10", "tokens", "seconds"]
    return pd.DataFrame(out).reindex(columns=columns).fillna("")


def to_markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def diagnose(prepared: Prepared, seed: int) -> None:
    """Where skip-gram's scores go: popularity, degree thirds, common direction, subsampling.

    For the method's settings and the defaults (one thread, so each line repeats): AUC per
    protocol, AUC within thirds of the pair's lower train degree, Spearman correlation of
    the cosine with pair popularity among negatives, AUC of rank(cosine) + rank(popularity),
    AUC after centring the vectors, and the mean cosine of a vector to the mean vector.
    """
    from scipy.stats import rankdata, spearmanr

    from recsys_core.models.base import Embeddings
    from recsys_core.models.skipgram_pairs import subsample_keep_prob, token_counts

    deg = degrees(prepared).astype(np.float64)
    protocols = {
        "uniform": prepared.split.val,
        "degree-matched": degree_matched_val(prepared, seed),
    }
    cls = model_class("sgns")
    walks, _, _ = make_walks(prepared, WalkSettings.method(seed=seed))
    counts = token_counts(walks, prepared.dataset.n_products)
    for t in (1e-3, 1e-4, 1e-5):
        keep = subsample_keep_prob(counts, t)
        print(
            f"sample {t:g}: {1 - (keep * counts).sum() / counts.sum():.1%} of tokens dropped, "
            f"{((keep < 1) & (counts > 0)).sum() / (counts > 0).sum():.1%} of products subsampled"
        )
    data = training_data(prepared, walks, monitor_pairs=100)
    data.monitor = None
    for name, params in (("method", METHOD_SGNS), ("defaults", {})):
        emb = cls(cls.settings_cls(**{**params, "seed": seed, "threads": 1})).fit(data)
        vec = emb.vectors.astype(np.float64)
        mean = vec[emb.trained].mean(0)
        to_mean = vec[emb.trained] @ mean / (np.linalg.norm(vec[emb.trained], axis=1) + 1e-12)
        centred = Embeddings(vectors=(vec - mean).astype(np.float32), trained=emb.trained)
        common = to_mean.mean() / np.linalg.norm(mean)
        print(f"sgns {name}: mean cosine to the mean vector {common:.3f}")
        for protocol, val in protocols.items():
            a, b = val["a"].to_numpy(), val["b"].to_numpy()
            y = val["label"].to_numpy().astype(bool)
            score, _ = pair_scores(emb, a, b)
            pop = np.log1p(deg[a]) + np.log1p(deg[b])
            low = np.minimum(deg[a], deg[b])
            cuts = np.quantile(low, [1 / 3, 2 / 3])
            third = np.searchsorted(cuts, low, side="left")
            thirds = " / ".join(
                f"{rank_auc(score[third == k], y[third == k]):.3f}" for k in range(3)
            )
            rho = spearmanr(score[~y], pop[~y]).correlation
            both = rank_auc(rankdata(score) + rankdata(pop), y)
            cen, _ = pair_scores(centred, a, b)
            print(
                f"  {protocol:15s} auc {rank_auc(score, y):.4f}; by lower-degree third "
                f"(cuts {cuts[0]:.0f}, {cuts[1]:.0f}) {thirds}; rho(cosine, popularity | "
                f"negatives) {rho:+.3f}; rank(cos)+rank(pop) {both:.4f}; centred "
                f"{rank_auc(cen, y):.4f}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="movielens", help="movielens or a synthetic preset")
    parser.add_argument("--movielens", metavar="DIR", help="MovieLens-100k folder")
    parser.add_argument("--products", type=int, help="synthetic: number of products")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--study", choices=list(STUDIES), default="before-after", help="which rows to train"
    )
    parser.add_argument(
        "--no-baselines", action="store_true", help="skip the Adamic-Adar and MF-bias rows"
    )
    parser.add_argument(
        "--diagnose", action="store_true", help="score diagnostics of sgns, first seed only"
    )
    parser.add_argument(
        "--only", help="comma-separated substrings: keep rows whose name contains one"
    )
    args = parser.parse_args(argv)

    settings = dataset_settings(args.dataset, args.movielens)
    if args.products:
        settings = dataclasses.replace(settings, products=args.products)
    prepared = prepare(settings)
    if args.diagnose:
        diagnose(prepared, args.seeds[0])
        return 0
    variants = STUDIES[args.study]()
    if not args.no_baselines:
        variants = BASELINES + variants
    if args.only:
        keys = args.only.split(",")
        variants = [v for v in variants if any(k in v.name for k in keys)]
    print(
        f"== {settings.describe()}: {prepared.dataset.n_products:,} products, "
        f"{len(prepared.split.train):,} train pairs, seeds {args.seeds}",
        flush=True,
    )
    rows = []
    pop: dict[str, list[float]] = {"auc uniform": [], "auc degree-matched": []}
    for seed in args.seeds:
        protocols = {
            "uniform": prepared.split.val,
            "degree-matched": degree_matched_val(prepared, seed),
        }
        for protocol, val in protocols.items():
            pop[f"auc {protocol}"].append(popularity_auc(prepared, val))
        for variant in variants:
            row = train_variant(prepared, variant, seed, protocols)
            rows.append(row)
            print(
                f"  seed {seed} {variant.name:32s} "
                + " ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith("auc"))
                + f"  ({row['seconds']:.1f} s)",
                flush=True,
            )
    print()
    print(to_markdown(summarise(rows, pop)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
