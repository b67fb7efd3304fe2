"""Train / validation split of product pairs, as the method does it.

A share of the pairs (33% by default) becomes validation positives; as many negatives are
drawn among the products that appear in validation, excluding every real pair. The train
graph is built from the remaining pairs only, so validation products with no train pair
are "unseen": models have no walk through them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.common import cache
from recsys_core.common.settings import Settings, require


@dataclasses.dataclass(frozen=True)
class SplitSettings(Settings):
    """How pairs are split.

    Parameters
    ----------
    val_fraction:
        Share of pairs held out as validation positives (the method: 0.33).
    negatives_per_positive:
        Negative validation pairs drawn per positive (the method: 1.0, balanced labels).
    seen_only:
        Keep only validation pairs whose two products both have a train pair.
    holdout_products:
        Share of products treated as new to the catalog: every pair of theirs goes to
        validation, so they are unseen in training whatever their degree. The method's
        random pair split makes only low-degree products unseen, and in Amazon-like data
        those are mostly the ones without metadata; holding products out makes the
        cold-start question (do side-information vectors rank new products?) answerable.
        0 (the method's split) by default.
    seed:
        Seed of the split and of the negative draws.
    """

    val_fraction: float = 0.33
    negatives_per_positive: float = 1.0
    seen_only: bool = False
    holdout_products: float = 0.0
    seed: int = 0

    def validate(self) -> None:
        require(
            0.0 < self.val_fraction < 1.0,
            f"val_fraction must be between 0 and 1 (exclusive), got {self.val_fraction}",
        )
        require(
            0.0 < self.negatives_per_positive <= 10.0,
            f"negatives_per_positive must be in (0, 10], got {self.negatives_per_positive}",
        )
        require(
            0.0 <= self.holdout_products < 0.5,
            f"holdout_products must be in [0, 0.5), got {self.holdout_products}",
        )
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")


@dataclasses.dataclass
class Split:
    """Result of :func:`split_pairs`.

    Attributes
    ----------
    train:
        Train pairs: columns ``a`` < ``b`` (int32), ``weight`` (float32).
    val:
        Validation pairs: ``a``, ``b`` (int32), ``label`` (int8, 1 = real pair),
        ``seen`` (bool, both products have a train pair).
    seen_products:
        Bool mask over all products: True where the product has at least one train pair.
    """

    n_products: int
    train: pd.DataFrame
    val: pd.DataFrame
    seen_products: np.ndarray

    def train_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            self.train["a"].to_numpy(np.int32),
            self.train["b"].to_numpy(np.int32),
            self.train["weight"].to_numpy(np.float32),
        )

    def summary(self) -> dict[str, float]:
        """Counts a user wants to see: pairs per side and the seen/unseen shares."""
        val = self.val
        positives = val[val["label"] == 1]
        val_products = np.unique(np.concatenate([val["a"].to_numpy(), val["b"].to_numpy()]))
        unseen_products = int((~self.seen_products[val_products]).sum()) if len(val_products) else 0
        return {
            "train_pairs": len(self.train),
            "val_pairs": len(val),
            "val_positives": len(positives),
            "val_negatives": len(val) - len(positives),
            "val_pairs_seen_share": float(val["seen"].mean()) if len(val) else 0.0,
            "val_products": len(val_products),
            "val_products_unseen": unseen_products,
            "val_products_unseen_share": unseen_products / max(len(val_products), 1),
            "train_products": int(self.seen_products.sum()),
        }

    def save(self, folder: Path) -> None:
        cache.save_frame(folder / "train.parquet", self.train)
        cache.save_frame(folder / "val.parquet", self.val)
        cache.save_arrays(folder / "seen.npz", seen_products=self.seen_products)

    @classmethod
    def load(cls, folder: Path) -> Split:
        seen = cache.load_arrays(folder / "seen.npz")["seen_products"]
        return cls(
            n_products=len(seen),
            train=cache.load_frame(folder / "train.parquet"),
            val=cache.load_frame(folder / "val.parquet"),
            seen_products=seen,
        )


def split_pairs(pairs: pd.DataFrame, n_products: int, settings: SplitSettings) -> Split:
    """Split unordered weighted pairs into train pairs and labelled validation pairs."""
    require(len(pairs) >= 3, f"need at least 3 product pairs to split, got {len(pairs)}")
    rng = np.random.default_rng(settings.seed)
    a = pairs["a"].to_numpy(np.int64)
    b = pairs["b"].to_numpy(np.int64)
    n_val = max(1, round(len(pairs) * settings.val_fraction))
    is_val = np.zeros(len(pairs), dtype=bool)
    if settings.holdout_products > 0:
        linked = np.unique(np.concatenate([a, b]))
        n_new = round(len(linked) * settings.holdout_products)
        new = np.zeros(n_products, dtype=bool)
        new[rng.choice(linked, size=n_new, replace=False)] = True
        is_val = new[a] | new[b]
        require(
            is_val.sum() < len(pairs),
            "holdout_products leaves no train pair; use a smaller share",
        )
    # the method's random share, drawn from the pairs not already held out
    rest = np.flatnonzero(~is_val)
    n_more = min(len(rest) - 1, max(0, n_val - int(is_val.sum())))
    is_val[rng.choice(rest, size=n_more, replace=False)] = True
    n_val = int(is_val.sum())

    train = pairs.loc[~is_val, ["a", "b", "weight"]].reset_index(drop=True)
    seen_products = np.zeros(n_products, dtype=bool)
    seen_products[train["a"].to_numpy()] = True
    seen_products[train["b"].to_numpy()] = True

    pos_a, pos_b = a[is_val], b[is_val]
    n_neg = max(1, round(n_val * settings.negatives_per_positive))
    neg_a, neg_b = _draw_negatives(
        np.unique(np.concatenate([pos_a, pos_b])), a * n_products + b, n_products, n_neg, rng
    )
    val = pd.DataFrame(
        {
            "a": np.concatenate([pos_a, neg_a]).astype(np.int32),
            "b": np.concatenate([pos_b, neg_b]).astype(np.int32),
            "label": np.concatenate([np.ones(len(pos_a)), np.zeros(len(neg_a))]).astype(np.int8),
        }
    )
    val["seen"] = seen_products[val["a"].to_numpy()] & seen_products[val["b"].to_numpy()]
    if settings.seen_only:
        val = val[val["seen"]].reset_index(drop=True)
    return Split(n_products=n_products, train=train, val=val, seen_products=seen_products)


def _draw_negatives(
    candidates: np.ndarray,
    real_codes: np.ndarray,
    n_products: int,
    n_wanted: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random unordered pairs of ``candidates`` that are not real pairs.

    Vectorised rejection sampling: draw a batch, drop self-pairs, real pairs and repeats,
    and draw again for the shortfall. Bounded, so a near-complete graph fails clearly.
    """
    require(len(candidates) >= 2, "validation has fewer than 2 products; use a larger dataset")
    real_sorted = np.sort(real_codes)
    taken = np.empty(0, dtype=np.int64)
    for _ in range(50):
        short = n_wanted - len(taken)
        if short <= 0:
            break
        draw = int(short * 1.2) + 16
        u = candidates[rng.integers(0, len(candidates), size=draw)]
        v = candidates[rng.integers(0, len(candidates), size=draw)]
        keep = u != v
        codes = np.minimum(u, v)[keep] * n_products + np.maximum(u, v)[keep]
        pos = np.searchsorted(real_sorted, codes)
        pos[pos == len(real_sorted)] = 0
        codes = codes[real_sorted[pos] != codes]
        # keep first occurrences, in draw order, so the result depends only on the seed
        _, first = np.unique(codes, return_index=True)
        codes = codes[np.sort(first)]
        codes = codes[~np.isin(codes, taken)]
        taken = np.concatenate([taken, codes[:short]])
    require(
        len(taken) == n_wanted,
        f"could only draw {len(taken)} of {n_wanted} negative pairs: the validation "
        "products are almost fully connected; use a larger dataset or fewer negatives",
    )
    return taken // n_products, taken % n_products
