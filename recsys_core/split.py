"""Train / validation / test split of product pairs, with negatives under a protocol.

Shares of the pairs become validation and test positives; the train graph is built from
the remaining pairs only, so held-out products with no train pair are "unseen": models
have no walk through them. Validation drives live curves and the choice of defaults; test
is what reported tables use, so nothing reported was tuned on. The method's own split
(67/33, no test) stays available as :meth:`SplitSettings.method`.

Negatives of each part (as many as its positives times ``negatives_per_positive``) follow
one of :data:`NEGATIVE_PROTOCOLS`, and never are real pairs:

- ``"uniform"`` (the method's): random pairs among the products of that part's
  positives. Positives are real pairs and so lean to popular products, while random pairs
  lean to rare ones: scoring a pair by popularity alone already separates them well.
- ``"degree-matched"``: for each positive (a, b), a negative (a, b') with b' drawn from
  b's degree bucket (``floor(log2(train degree)) + 1``, 0 for an unseen product), among
  products that have at least one pair, in proportion to their number of pairs, as b
  itself was drawn. Which end is kept is a coin flip. Positives and negatives then share
  their popularity, so a popularity score ranks them at about 0.5: what a model scores
  above that it learned beyond popularity.
- ``"two-hop"``: for each positive (a, b), a negative (a, b') with b' two steps from a in
  the train graph (a random neighbour of a random neighbour), not a real pair (which end
  is kept is a coin flip); degree-matched where the kept product has no such product (an
  unseen product has no neighbour at all). These are the hard
  negatives of link prediction: products near a in the graph that still are not its
  partners, so common-neighbour heuristics (Adamic-Adar) lose most of their edge and what
  remains is whether a model tells related-looking products from real partners.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.common import cache
from recsys_core.common.settings import Settings, require, stable_hash

NEGATIVE_PROTOCOLS = ("uniform", "degree-matched", "two-hop")
STRATEGIES = ("random", "time")
TIME_SCOPES = ("user", "global")
# Fields added after splits were first cached: at their defaults they stay out of the
# key, so every split cached before keeps its key.
_LATER_FIELDS = {"strategy": "random", "time_scope": "user"}
PARTS = ("validation", "test")
MIN_PAIRS = 10
PAIR_COLUMNS = {"a": np.int32, "b": np.int32, "label": np.int8, "seen": bool}


@dataclasses.dataclass(frozen=True)
class SplitSettings(Settings):
    """How pairs are split.

    Parameters
    ----------
    val_fraction:
        Share of pairs held out as validation positives (the method: 0.33).
    test_fraction:
        Share of pairs held out as test positives (the method: 0, no test). The default
        splits the method's 33% into validation 15% and test 18%, so the train graph keeps
        the method's 67% of pairs (the same walks and degrees as the method's), and test,
        whose figures are reported, gets the larger share and the smaller error bars.
    negatives:
        Protocol of the negative pairs, one of :data:`NEGATIVE_PROTOCOLS` (see the module
        notes); applies to validation and test alike.
    negatives_per_positive:
        Negative pairs drawn per positive (the method: 1.0, balanced labels).
    seen_only:
        Keep only held-out pairs whose two products both have a train pair.
    holdout_products:
        Share of products treated as new to the catalog: every pair of theirs is held out
        (to validation and test in proportion to their fractions), so they are unseen in
        training whatever their degree. The method's random pair split makes only
        low-degree products unseen, and in Amazon-like data those are mostly the ones
        without metadata; holding products out makes the cold-start question (do
        side-information vectors rank new products?) answerable. 0 (the method's split)
        by default.
    seed:
        Seed of the split and of the negative draws.
    strategy:
        "random" (the method's: pairs drawn at random) or "time" (interaction data: the
        latest occurrences are held out, so evaluation asks "what comes next").
    time_scope:
        The time split: "user" holds out each user's latest occurrences (the last
        ``test_fraction`` of each user's pair occurrences to test, the
        ``val_fraction`` before them to validation); "global" holds out everything after
        a cutoff time (the latest ``test_fraction`` of all occurrences to test).
        A pair that also occurs in the train period stays a train pair (it is known);
        the others go to the earliest part they occur in.
    """

    CODE_VERSION = 2  # 2: test part, negative protocols

    val_fraction: float = 0.15
    test_fraction: float = 0.18
    negatives: str = "uniform"
    negatives_per_positive: float = 1.0
    seen_only: bool = False
    holdout_products: float = 0.0
    seed: int = 0
    strategy: str = "random"
    time_scope: str = "user"

    @classmethod
    def method(cls, **changes: object) -> SplitSettings:
        """The method's split: 67% train, 33% validation, no test, uniform negatives.

        Reported tables then use validation and say so.
        """
        return cls(**{"val_fraction": 0.33, "test_fraction": 0.0, **changes})  # type: ignore[arg-type]

    def validate(self) -> None:
        require(
            0.0 < self.val_fraction < 1.0,
            f"val_fraction must be between 0 and 1 (exclusive), got {self.val_fraction}",
        )
        require(
            0.0 <= self.test_fraction < 1.0,
            f"test_fraction must be in [0, 1), got {self.test_fraction}",
        )
        require(
            self.val_fraction + self.test_fraction < 0.9,
            f"val_fraction + test_fraction must leave at least 10% of pairs to train, got "
            f"{self.val_fraction} + {self.test_fraction}",
        )
        require(
            self.negatives in NEGATIVE_PROTOCOLS,
            f"negatives must be one of {', '.join(NEGATIVE_PROTOCOLS)}, got {self.negatives!r}",
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
        require(
            self.strategy in STRATEGIES,
            f"split must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}",
        )
        require(
            self.time_scope in TIME_SCOPES,
            f"time scope must be one of {', '.join(TIME_SCOPES)}, got {self.time_scope!r}",
        )
        require(
            self.strategy == "random" or self.holdout_products == 0,
            "the time split holds out the latest pairs, not products; use --split random "
            "with --holdout-products",
        )

    def key(self, *input_keys: str) -> str:
        fields = {
            name: value
            for name, value in self.as_dict().items()
            if name not in _LATER_FIELDS or value != _LATER_FIELDS[name]
        }
        return stable_hash(
            {
                "stage": type(self).__name__,
                "code_version": self.code_version(),
                "fields": fields,
                "inputs": list(input_keys),
            }
        )

    def label(self) -> str:
        """How pairs were held out, in two or three words: the "Split" of result tables."""
        return split_label(self.strategy, self.time_scope)

    def describe(self) -> str:
        """The split in a few words, for every table that reports on it."""
        how = (
            "random split"
            if self.strategy == "random"
            else "time split, "
            + ("each user's latest pairs" if self.time_scope == "user" else "after a cutoff")
            + " held out"
        )
        parts = f"train {1 - self.val_fraction - self.test_fraction:.0%}, validation " + (
            f"{self.val_fraction:.0%}, test {self.test_fraction:.0%}"
        )
        return f"{how} ({parts}; {self.negatives} negatives)"

    @property
    def reported_part(self) -> str:
        """The part reported tables use: "test", or "validation" when there is no test."""
        return "test" if self.test_fraction > 0 else "validation"


def split_label(strategy: str = "random", time_scope: str = "user") -> str:
    """ "random", "time, each user's latest" or "time, after a cutoff"."""
    if strategy != "time":
        return "random"
    return "time, each user's latest" if time_scope == "user" else "time, after a cutoff"


def empty_pairs() -> pd.DataFrame:
    """A labelled-pairs frame with no rows (the test part of the method's split)."""
    return pd.DataFrame({c: np.empty(0, dtype=t) for c, t in PAIR_COLUMNS.items()})


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
    test:
        Test pairs, same columns as ``val``, negatives under the same protocol; empty in
        the method's split.
    negatives:
        The protocol the negatives of ``val`` and ``test`` were drawn with.
    """

    n_products: int
    train: pd.DataFrame
    val: pd.DataFrame
    seen_products: np.ndarray
    test: pd.DataFrame = dataclasses.field(default_factory=empty_pairs)
    negatives: str = "uniform"
    strategy: str = "random"

    def train_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            self.train["a"].to_numpy(np.int32),
            self.train["b"].to_numpy(np.int32),
            self.train["weight"].to_numpy(np.float32),
        )

    @property
    def reported_part(self) -> str:
        """ "test" when there is a test part, else "validation" (the method's split)."""
        return "test" if len(self.test) else "validation"

    def part(self, name: str) -> pd.DataFrame:
        """The labelled pairs of part ``name`` ("validation" or "test")."""
        require(name in PARTS, f"part must be one of {', '.join(PARTS)}, got {name!r}")
        return self.test if name == "test" else self.val

    def reported(self) -> pd.DataFrame:
        """The pairs reported tables use: :attr:`test`, or :attr:`val` when there is none."""
        return self.part(self.reported_part)

    def train_degree(self) -> np.ndarray:
        """Number of train pairs of each product (int64)."""
        return train_degree(self.n_products, self.train)

    def summary(self) -> dict[str, float]:
        """Counts a user wants to see: pairs per part and the seen/unseen shares."""
        out: dict[str, float] = {"train_pairs": len(self.train)}
        for prefix, frame in (("val", self.val), ("test", self.test)):
            positives = int((frame["label"] == 1).sum())
            products = np.unique(np.concatenate([frame["a"].to_numpy(), frame["b"].to_numpy()]))
            unseen = int((~self.seen_products[products]).sum()) if len(products) else 0
            out |= {
                f"{prefix}_pairs": len(frame),
                f"{prefix}_positives": positives,
                f"{prefix}_negatives": len(frame) - positives,
                f"{prefix}_pairs_seen_share": float(frame["seen"].mean()) if len(frame) else 0.0,
                f"{prefix}_products": len(products),
                f"{prefix}_products_unseen": unseen,
                f"{prefix}_products_unseen_share": unseen / max(len(products), 1),
            }
        out["train_products"] = int(self.seen_products.sum())
        out["negatives"] = self.negatives  # type: ignore[assignment]
        out["split"] = self.strategy  # type: ignore[assignment]
        out["reported_part"] = self.reported_part  # type: ignore[assignment]
        return out

    def save(self, folder: Path) -> None:
        cache.save_frame(folder / "train.parquet", self.train)
        cache.save_frame(folder / "val.parquet", self.val)
        cache.save_frame(folder / "test.parquet", self.test)
        cache.save_arrays(folder / "seen.npz", seen_products=self.seen_products)
        cache.save_json(
            folder / "split.json", {"negatives": self.negatives, "strategy": self.strategy}
        )

    @classmethod
    def load(cls, folder: Path) -> Split:
        seen = cache.load_arrays(folder / "seen.npz")["seen_products"]
        record = cache.load_json(folder / "split.json")
        return cls(
            n_products=len(seen),
            train=cache.load_frame(folder / "train.parquet"),
            val=cache.load_frame(folder / "val.parquet"),
            seen_products=seen,
            test=cache.load_frame(folder / "test.parquet"),
            negatives=record["negatives"],
            strategy=record.get("strategy", "random"),
        )


def train_degree(n_products: int, train: pd.DataFrame) -> np.ndarray:
    """Number of train pairs of each product (a self-pair counts once)."""
    a = train["a"].to_numpy(np.int64)
    b = train["b"].to_numpy(np.int64)
    return np.bincount(a, minlength=n_products) + np.bincount(b[a != b], minlength=n_products)


def degree_bucket(degree: np.ndarray) -> np.ndarray:
    """``floor(log2(degree)) + 1``, and 0 for degree 0: buckets 0, 1, 2-3, 4-7, ..."""
    degree = np.asarray(degree, dtype=np.int64)
    out = np.zeros(len(degree), dtype=np.int64)
    pos = degree > 0
    out[pos] = np.floor(np.log2(degree[pos])).astype(np.int64) + 1
    return out


def split_pairs(
    pairs: pd.DataFrame,
    n_products: int,
    settings: SplitSettings,
    events: pd.DataFrame | None = None,
) -> Split:
    """Split unordered weighted pairs into train pairs and labelled validation/test pairs.

    ``events`` (interaction data: one row per occurrence of a pair, with user and time,
    see :class:`~recsys_core.data.dataset.Dataset`) is needed by the time split only.
    """
    require(
        len(pairs) >= MIN_PAIRS,
        f"the dataset has only {len(pairs)} product pairs; a split needs at least "
        f"{MIN_PAIRS}: load a larger file or a larger catalog",
    )
    rng = np.random.default_rng(settings.seed)
    a = pairs["a"].to_numpy(np.int64)
    b = pairs["b"].to_numpy(np.int64)
    if settings.strategy == "time":
        require(
            events is not None and len(events) > 0,
            "the time split needs interaction data with times (an interaction log or "
            "MovieLens); this dataset has pairs only: use --split random",
        )
        part, train_weight = time_parts(pairs, events, settings)
        train = pairs.loc[part == 0, ["a", "b"]].reset_index(drop=True)
        train["weight"] = train_weight[part == 0].astype(np.float32)
    else:
        part = _assign_parts(a, b, n_products, settings, rng)
        train = pairs.loc[part == 0, ["a", "b", "weight"]].reset_index(drop=True)
    require(
        len(train) > 0 and (part > 0).any(),
        f"the {settings.strategy} split left "
        + ("no train pair" if len(train) == 0 else "no held-out pair")
        + f" among {len(pairs)} pairs; load more data or change the split fractions",
    )
    seen_products = np.zeros(n_products, dtype=bool)
    seen_products[train["a"].to_numpy()] = True
    seen_products[train["b"].to_numpy()] = True

    sampler = NegativeSampler(a, b, n_products, train, settings.negatives)
    frames = []
    for index in (1, 2):
        pos_a, pos_b = a[part == index], b[part == index]
        if len(pos_a) == 0:
            frames.append(empty_pairs())
            continue
        n_neg = max(1, round(len(pos_a) * settings.negatives_per_positive))
        neg_a, neg_b = sampler.draw(pos_a, pos_b, n_neg, rng)
        frame = pd.DataFrame(
            {
                "a": np.concatenate([pos_a, neg_a]).astype(np.int32),
                "b": np.concatenate([pos_b, neg_b]).astype(np.int32),
                "label": np.r_[np.ones(len(pos_a)), np.zeros(len(neg_a))].astype(np.int8),
            }
        )
        frame["seen"] = seen_products[frame["a"].to_numpy()] & seen_products[frame["b"].to_numpy()]
        if settings.seen_only:
            frame = frame[frame["seen"]].reset_index(drop=True)
        frames.append(frame)
    return Split(
        n_products=n_products,
        train=train,
        val=frames[0],
        seen_products=seen_products,
        test=frames[1],
        negatives=settings.negatives,
        strategy=settings.strategy,
    )


def event_parts(events: pd.DataFrame, settings: SplitSettings) -> np.ndarray:
    """0 (train), 1 (validation) or 2 (test) per event (occurrence of a pair).

    Events are ranked by (time, row) within each user ("user" scope) or over all of
    them ("global"); the last ``test_fraction`` of a rank go to test and the
    ``val_fraction`` before them to validation, so no held-out event of a user is older
    than a train event of that user (or than any train event, globally).
    """
    n = len(events)
    time = events["time"].to_numpy(np.float64)
    rows = np.arange(n)
    if settings.time_scope == "user":
        user = events["user"].to_numpy(np.int64)
        order = np.lexsort((rows, time, user))
        sorted_user = user[order]
        starts = np.r_[0, np.flatnonzero(sorted_user[1:] != sorted_user[:-1]) + 1]
        sizes = np.diff(np.r_[starts, n])
        group_start = np.repeat(starts, sizes)
        group_size = np.repeat(sizes, sizes)
        rank = np.arange(n) - group_start
    else:
        order = np.lexsort((rows, time))
        rank = np.arange(n)
        group_size = np.full(n, n)
    n_test = np.round(group_size * settings.test_fraction).astype(np.int64)
    n_val = (
        np.round(group_size * (settings.val_fraction + settings.test_fraction)).astype(np.int64)
        - n_test
    )
    from_end = group_size - rank
    part_sorted = np.where(from_end <= n_test, 2, np.where(from_end <= n_test + n_val, 1, 0))
    part = np.empty(n, dtype=np.int8)
    part[order] = part_sorted
    return part


def time_parts(
    pairs: pd.DataFrame, events: pd.DataFrame, settings: SplitSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Part per pair, and each pair's weight summed over its train events only.

    A pair with an event in the train period is a train pair; any other goes to the
    earliest part it has an event in.
    """
    n_products = int(max(pairs["a"].max(), pairs["b"].max(), events["b"].max())) + 1
    pair_code = pairs["a"].to_numpy(np.int64) * n_products + pairs["b"].to_numpy(np.int64)
    event_code = events["a"].to_numpy(np.int64) * n_products + events["b"].to_numpy(np.int64)
    sorter = np.argsort(pair_code, kind="stable")
    found = np.searchsorted(pair_code, event_code, sorter=sorter)
    index = sorter[np.minimum(found, len(pair_code) - 1)]
    require(
        bool((pair_code[index] == event_code).all()),
        "the dataset's events name pairs it does not have; reload the dataset",
    )
    eparts = event_parts(events, settings)
    part = np.full(len(pair_code), 3, dtype=np.int8)
    np.minimum.at(part, index, eparts)
    part[part == 3] = 0  # a pair without events (none in a loader's output) trains
    weights = events["weight"].to_numpy(np.float64) * (eparts == 0)
    train_weight = np.bincount(index, weights=weights, minlength=len(pair_code))
    return part, train_weight


def _assign_parts(
    a: np.ndarray, b: np.ndarray, n_products: int, settings: SplitSettings, rng: np.random.Generator
) -> np.ndarray:
    """0 (train), 1 (validation) or 2 (test) per pair.

    Held-out products' pairs first, shared between validation and test in proportion to
    their fractions; then random pairs until each part has its share. With no test and
    no held-out products the draws are the method's (one random choice of pairs).
    """
    n = len(a)
    part = np.zeros(n, dtype=np.int8)
    if settings.holdout_products > 0:
        linked = np.unique(np.concatenate([a, b]))
        n_new = round(len(linked) * settings.holdout_products)
        new = np.zeros(n_products, dtype=bool)
        new[rng.choice(linked, size=n_new, replace=False)] = True
        held = np.flatnonzero(new[a] | new[b])
        require(len(held) < n, "holdout_products leaves no train pair; use a smaller share")
        part[held] = 1
        if settings.test_fraction > 0:
            share = settings.test_fraction / (settings.val_fraction + settings.test_fraction)
            part[held[rng.random(len(held)) < share]] = 2
    for index, fraction in ((1, settings.val_fraction), (2, settings.test_fraction)):
        if fraction <= 0:
            continue
        rest = np.flatnonzero(part == 0)
        wanted = max(1, round(n * fraction))
        n_more = min(len(rest) - 1, max(0, wanted - int((part == index).sum())))
        part[rng.choice(rest, size=n_more, replace=False)] = index
    return part


class NegativeSampler:
    """Draws negative pairs under one protocol; never a real pair, never a self-pair."""

    def __init__(
        self,
        a: np.ndarray,
        b: np.ndarray,
        n_products: int,
        train: pd.DataFrame,
        protocol: str,
    ) -> None:
        self.n = n_products
        self.protocol = protocol
        self.real_sorted = np.sort(np.minimum(a, b) * n_products + np.maximum(a, b))
        self.pair_count = np.bincount(a, minlength=n_products) + np.bincount(
            b, minlength=n_products
        )
        self.degree = train_degree(n_products, train)
        self.bucket = degree_bucket(self.degree)
        if protocol == "two-hop":
            ta = train["a"].to_numpy(np.int64)
            tb = train["b"].to_numpy(np.int64)
            adj = sp.coo_matrix(
                (np.ones(2 * len(ta), dtype=np.int8), (np.r_[ta, tb], np.r_[tb, ta])),
                shape=(n_products, n_products),
            ).tocsr()
            adj.sum_duplicates()
            self.adj = adj

    def draw(
        self, pos_a: np.ndarray, pos_b: np.ndarray, n_wanted: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.protocol == "uniform":
            candidates = np.unique(np.concatenate([pos_a, pos_b]))
            return _draw_uniform(candidates, self.real_sorted, self.n, n_wanted, rng)
        # one negative per positive, cycling through the positives for ratios above 1
        order = np.arange(n_wanted) % len(pos_a)
        keep, swap = pos_a[order], pos_b[order]
        flip = rng.random(n_wanted) < 0.5
        keep, swap = np.where(flip, swap, keep), np.where(flip, keep, swap)
        if self.protocol == "degree-matched":
            other = self._degree_matched(keep, swap, rng)
        else:
            other = self._two_hop(keep, swap, rng)
        return np.minimum(keep, other), np.maximum(keep, other)

    def _is_real(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        codes = np.minimum(u, v) * self.n + np.maximum(u, v)
        pos = np.searchsorted(self.real_sorted, codes)
        pos[pos == len(self.real_sorted)] = 0
        return (self.real_sorted[pos] == codes) | (u == v)

    def _degree_matched(
        self, keep: np.ndarray, like: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """For each ``keep[i]``, a partner from ``like[i]``'s degree bucket, weighted by
        number of pairs (as ``like[i]`` itself was drawn by the split)."""
        linked = np.flatnonzero(self.pair_count > 0)
        by_bucket = linked[np.argsort(self.bucket[linked], kind="stable")]
        buckets = self.bucket[by_bucket]
        weights = self.pair_count[by_bucket].astype(np.float64)
        # cum[i] is the weight of by_bucket[:i]; a bucket's run [i, j) spans cum[i]..cum[j]
        cum = np.r_[0.0, np.cumsum(weights)]
        out = np.full(len(keep), -1, dtype=np.int64)
        todo = np.arange(len(keep))
        # A bucket whose products are all partners of the kept one (the few most popular
        # products) widens to its neighbouring buckets after 30 failed rounds.
        for widen in range(4):
            target = self.bucket[like[todo]]
            lo = cum[np.searchsorted(buckets, target - widen, side="left")]
            hi = cum[np.searchsorted(buckets, target + widen, side="right")]
            for _ in range(30):
                if len(todo) == 0:
                    return out
                u = lo + rng.random(len(todo)) * (hi - lo)
                pick = by_bucket[
                    np.minimum(np.searchsorted(cum, u, side="right") - 1, len(by_bucket) - 1)
                ]
                ok = ~self._is_real(keep[todo], pick)
                out[todo[ok]] = pick[ok]
                todo, lo, hi = todo[~ok], lo[~ok], hi[~ok]
        require(
            len(todo) == 0,
            f"could not draw {len(todo)} degree-matched negatives: their degree buckets are "
            "almost fully connected; use a larger dataset or the uniform protocol",
        )
        return out

    def _two_hop(self, keep: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random neighbour of a random neighbour of ``keep[i]``; where none is found
        (no neighbours, or only partners), a product from ``other[i]``'s degree bucket."""
        out = np.full(len(keep), -1, dtype=np.int64)
        for _ in range(20):
            todo = np.flatnonzero(out < 0)
            if len(todo) == 0:
                break
            step = self._random_neighbour(self._random_neighbour(keep[todo], rng), rng)
            ok = (step >= 0) & ~self._is_real(keep[todo], np.maximum(step, 0))
            out[todo[ok]] = step[ok]
        todo = np.flatnonzero(out < 0)
        if len(todo):
            # no two-hop product that is not a partner: match the degree instead
            out[todo] = self._degree_matched(keep[todo], other[todo], rng)
        return out

    def _random_neighbour(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly drawn train neighbour of each node; -1 where there is none."""
        out = np.full(len(nodes), -1, dtype=np.int64)
        valid = nodes >= 0
        starts = self.adj.indptr[nodes[valid]]
        deg = self.adj.indptr[nodes[valid] + 1] - starts
        has = deg > 0
        pos = starts[has] + (rng.random(int(has.sum())) * deg[has]).astype(np.int64)
        idx = np.flatnonzero(valid)[has]
        out[idx] = self.adj.indices[pos]
        return out


def _draw_uniform(
    candidates: np.ndarray,
    real_sorted: np.ndarray,
    n_products: int,
    n_wanted: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random unordered pairs of ``candidates`` that are not real pairs.

    Vectorised rejection sampling: draw a batch, drop self-pairs, real pairs and repeats,
    and draw again for the shortfall. Bounded, so a near-complete graph fails clearly.
    """
    require(len(candidates) >= 2, "a held-out part has fewer than 2 products; use more data")
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
        f"could only draw {len(taken)} of {n_wanted} negative pairs: the "
        f"{len(candidates)} held-out products are almost all linked to each other, so "
        "there are too few unlinked pairs to test against; load a larger dataset",
    )
    return taken // n_products, taken % n_products
