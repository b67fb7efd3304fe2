"""A planted-cluster catalog shared by the model tests: the right answers are known.

Products ``i`` and ``j`` are in the same cluster when ``i % clusters == j % clusters``;
95% of pairs are inside a cluster, so any model that learns must score validation
positives well above the random negatives.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from recsys_core.data.dataset import pairs_from_edges
from recsys_core.evaluation.auc import make_monitor
from recsys_core.graph import build_graph
from recsys_core.models.base import TrainingData
from recsys_core.split import Split, SplitSettings, split_pairs
from recsys_core.walks import WalkSettings, generate_walks


@dataclasses.dataclass
class LabelledData(TrainingData):
    """Training data plus the validation pairs its monitor scores, for the tests' own checks.

    Models see only ``monitor``; ``val`` is here so a test can score the vectors it gets.
    """

    val: pd.DataFrame | None = None


def labelled(*fields: object, val: pd.DataFrame) -> LabelledData:
    """``TrainingData(*fields)`` with a monitor over ``val``, keeping ``val`` for the test."""
    n, products, side_fields, train, graph, walks, seen = fields
    return LabelledData(
        n, products, side_fields, train, graph, walks, make_monitor(val), seen, val=val
    )


def planted(
    n: int = 240, clusters: int = 8, degree: int = 8, walks_per_node: int = 5, seed: int = 0
) -> tuple[TrainingData, Split]:
    """Planted-cluster graph, its split and walks through the real engine stages."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), degree // 2)
    offset = rng.integers(1, n // clusters, len(src)) * clusters  # same cluster, other node
    dst = np.where(rng.random(len(src)) < 0.95, (src + offset) % n, rng.integers(0, n, len(src)))
    pairs = pairs_from_edges(src, dst, np.ones(len(src)), n)
    split = split_pairs(pairs, n, SplitSettings(seed=seed))
    graph = build_graph(n, *split.train_arrays())
    walks = generate_walks(graph, WalkSettings(walks_per_node=walks_per_node, seed=seed))
    products = pd.DataFrame({"asin": [f"A{i:04d}" for i in range(n)]})
    data = labelled(n, products, (), split.train, graph, walks, split.seen_products, val=split.val)
    return data, split
