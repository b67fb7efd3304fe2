"""Benchmark: do EGES's per-product field weights learn? Mean weights at two side signals.

    python -m bench.eges_weights                       # 5,000 products, signals 0 and 1
    python -m bench.eges_weights --signals 0 0.5 1 --epochs 2 --json
    python -m bench.eges_weights --set weight_lr=3 id_logit=0   # EGES settings to try

For each side signal (the synthetic catalog's share of products whose metadata is their
own product line's; 0 = metadata is noise, 1 = metadata says where the product links),
the same catalog (100 % metadata coverage) is split (67/33, ``SplitSettings()``), walked
(10 walks of 10 per product) and trained with plain skip-gram (``sgns``) and ``eges``
(default settings, ``epochs`` passes). Printed per signal: AUC all / seen of both
(cold-start vectors for EGES, the median policy for sgns), and EGES's mean learned weight
per field over trained products (uniform would be 1 / number of fields).

Targets (issue 8, item 9): at signal 0 the id weight is at least 0.5 and EGES is within
0.01 AUC of sgns; at signal 1 the fields carrying the signal outweigh id.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.training import prepare
from recsys_core.evaluation.auc import monitor_auc
from recsys_core.models.sgns import SkipGramModel, SkipGramSettings
from recsys_core.models.side_info import EgesModel, SideInfoSettings


def measure(
    products: int, signal: float, epochs: int, threads: int, eges: dict | None = None
) -> dict:
    """Train sgns and eges on one catalog; AUCs and EGES's mean field weights.

    ``eges``: EGES settings to override (e.g. ``{"weight_lr": 1.0}``).
    """
    data, val, facts = prepare("default", products, 1.0, signal)
    row: dict = {"side_signal": signal, "products": facts["products"]}
    eges_settings = SideInfoSettings(epochs=epochs, threads=threads, eval_every=0, **(eges or {}))
    for model, settings in (
        (SkipGramModel, SkipGramSettings(epochs=epochs, threads=threads, eval_every=0)),
        (EgesModel, eges_settings),
    ):
        t0 = time.perf_counter()
        emb = model(settings).fit(data)
        auc, auc_seen = monitor_auc(emb, val)
        row[model.name] = {
            "auc_all": auc,
            "auc_seen": auc_seen,
            "seconds": time.perf_counter() - t0,
        }
        if "field_weights" in emb.info:
            row["field_weights"] = emb.info["field_weights"]
    return row


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--signals", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON line at the end")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="EGES settings to override (numbers), e.g. --set weight_lr=1 weight_warmup=0",
    )
    args = parser.parse_args(argv)
    eges = {k: _number(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    rows = [measure(args.products, s, args.epochs, args.threads, eges) for s in args.signals]
    for r in rows:
        sg, eg = r["sgns"], r["eges"]
        print(
            f"signal {r['side_signal']:g}: sgns auc all {sg['auc_all']:.4f} seen "
            f"{sg['auc_seen']:.4f} | eges all {eg['auc_all']:.4f} seen {eg['auc_seen']:.4f}"
        )
        weights = sorted(r["field_weights"].items(), key=lambda kv: -kv[1])
        print("  field weights: " + ", ".join(f"{k} {v:.3f}" for k, v in weights))
    if args.json:
        print(json.dumps(rows, default=float))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
