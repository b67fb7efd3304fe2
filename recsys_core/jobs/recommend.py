"""A finished run's top-k recommendations per product, as one table in CSV or Parquet.

The one place that builds it: the ``recommend`` subcommand writes it to a file and the
app's Neighbours page serves it as a download, so both hold the same rows and columns
(:func:`recsys_core.explore.topk.recommendations_frame`). Scores are the model's own rule;
catalogs above :data:`recsys_core.explore.topk.ANN_THRESHOLD` products take the
approximate index unless ``ann`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

FORMATS = ("csv", "parquet")


@dataclasses.dataclass(frozen=True)
class Recommendations:
    """The table, how many products it covers, and how it was ranked."""

    frame: pd.DataFrame
    products: int
    exact: bool
    score: str


def usable(outcome: Any) -> np.ndarray:
    """The products that get a list and may be recommended: those the run's unseen policy
    may score."""
    from recsys_core.evaluation.auc import usable_mask

    return usable_mask(outcome.embeddings, outcome.spec.eval_settings().unseen_policy)


def recommendations(
    outcome: Any, k: int, ann: bool | None = None, exclude_known: bool = False
) -> Recommendations:
    """Top ``k`` per product of a finished run's :class:`~recsys_core.pipeline.RunOutcome`.

    ``ann``: None picks by catalog size, True forces the approximate index, False exact.
    ``exclude_known`` leaves out each product's train neighbours (new pairs only).
    """
    from recsys_core.data.registry import load_dataset
    from recsys_core.explore.topk import recommendations_frame, top_k, use_ann
    from recsys_core.pipeline import prepare

    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    spec, emb = outcome.spec, outcome.embeddings
    known = None
    if exclude_known:
        prepared = prepare(spec.dataset, spec.split)
        products, known = prepared.dataset.products, prepared.graph
    else:
        products = load_dataset(spec.dataset)[0].products
    mask = usable(outcome)
    approximate = use_ann(emb, ann)
    queries = mask.nonzero()[0]
    found = top_k(emb, queries, k, mask, known, ann=approximate)
    frame = recommendations_frame(found, products)
    return Recommendations(frame, len(queries), not approximate, emb.score)


def write_table(frame: pd.DataFrame, out: Path | IO[bytes], fmt: str) -> None:
    """``frame`` as CSV or Parquet (no index) to a path or a binary stream."""
    if fmt not in FORMATS:
        raise ValueError(f"the format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)


def table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The file :func:`write_table` would write, as bytes (for a download)."""
    buffer = io.BytesIO()
    write_table(frame, buffer, fmt)
    return buffer.getvalue()
