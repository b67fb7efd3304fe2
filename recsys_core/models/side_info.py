"""Skip-gram with side information: equal-weighted mean and EGES (the method's model 6).

Every product's center vector combines its own id embedding with one embedding per side
field value (category levels, brand, price bin, ...)::

    H_v = sum_j exp(a_v^j) W_v^j / sum_j exp(a_v^j)        (EGES, Wang et al. 2018)

* ``sgns-side-mean``: a_v fixed at 0, an equal-weighted mean; missing values get a
  learned "MISSING" embedding per field.
* ``eges``: a_v learned per product; missing values as in the mean model.
* ``eges-skip-missing``: a_v learned, missing values left out of the sum (a masked
  softmax) instead of embedded.

The context side is the item's own context embedding (``W_out``), as in EGES; the
original write-up took the context's metadata from the center product, one reason its
version collapsed to AUC 0.4-0.5. Training is the plain skip-gram loop
(:func:`recsys_core.models.sgns.train_skipgram`) with a weighted-sum center; gradients are
hand-derived (see :func:`recsys_core.models.sgns_kernels.train_side`).

Cold start: a product with no walk but at least one known side value gets the mean of its
known side embeddings weighted by the average learned weight of each field over trained
products (the MISSING embeddings are left out: they say nothing about the product).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import ClassVar

import numpy as np
import pandas as pd

from recsys_core.models import sgns_kernels as K
from recsys_core.models.base import Bound, Callback, Embeddings, Model, TrainingData
from recsys_core.models.sgns import (
    CenterTables,
    SkipGramSettings,
    init_center_table,
    scored_embeddings,
    train_skipgram,
)
from recsys_core.models.skipgram_pairs import token_counts

logger = logging.getLogger(__name__)

MISC = "MISC"  # the one value rare categorical values are mapped to
PRICE_FIELDS = ("price",)
# Catalog size at which the method's rare-value threshold of 100 was set (electronics).
REFERENCE_CATALOG = 420_000


def price_bin(price: np.ndarray) -> np.ndarray:
    """The method's price bins: rounded; <25 as is, 25-50 by 5, 50-500 by 10, else 500.

    Missing (NaN) prices give -1.
    """
    p = np.asarray(price, dtype=np.float64)
    out = np.full(p.shape, -1, dtype=np.int64)
    ok = np.isfinite(p)
    r = np.round(p[ok])
    binned = np.where(
        r < 25,
        r,
        np.where(r < 50, np.floor(r / 5) * 5, np.where(r < 500, np.floor(r / 10) * 10, 500)),
    )
    out[ok] = np.maximum(binned, 0).astype(np.int64)
    return out


def _is_missing(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy()
    text = values.astype("string").str.strip()
    return missing | (text == "").fillna(True).to_numpy()


def encode_side_info(
    products: pd.DataFrame, side_fields: tuple[str, ...] | list[str], rare_min_count: int
) -> tuple[np.ndarray, list[int], list[str]]:
    """Integer codes per product and side field, missing = -1.

    Parameters
    ----------
    products:
        The catalog (one row per product id).
    side_fields:
        Columns to encode; fields absent from ``products`` are skipped.
    rare_min_count:
        Categorical values held by this many products or fewer become one MISC value
        (the method: 100). Price is binned (:func:`price_bin`) and never merged.
        MovieLens ``genres`` ("|"-joined) is taken whole, as one categorical value per
        genre combination: its first genre is already the ``cat_1`` field.

    Returns
    -------
    codes:
        int32 (n_products, n_fields); each field's values are 0..n_values-1, -1 missing.
    n_values:
        Number of distinct values per field (MISC included).
    names:
        The encoded field names, in column order of ``codes``.
    """
    columns: list[np.ndarray] = []
    n_values: list[int] = []
    names: list[str] = []
    for field in side_fields:
        if field not in products.columns:
            logger.info("side field %r not in the catalog; skipped", field)
            continue
        col = products[field]
        if field in PRICE_FIELDS:
            binned = price_bin(pd.to_numeric(col, errors="coerce").to_numpy(np.float64))
            known = binned >= 0
            uniq, inv = np.unique(binned[known], return_inverse=True)
            codes = np.full(len(col), -1, dtype=np.int32)
            codes[known] = inv
            count = len(uniq)
        else:
            missing = _is_missing(col)
            text = col.astype("string").to_numpy(dtype=object, na_value=None)
            known = ~missing
            uniq, inv, freq = np.unique(
                text[known].astype(str), return_inverse=True, return_counts=True
            )
            rare = freq <= rare_min_count
            # common values keep their sorted order; every rare one goes to MISC (last)
            remap = np.full(len(uniq), -1, dtype=np.int32)
            remap[~rare] = np.arange(int((~rare).sum()), dtype=np.int32)
            remap[rare] = int((~rare).sum())
            codes = np.full(len(col), -1, dtype=np.int32)
            codes[known] = remap[inv]
            count = int((~rare).sum()) + int(rare.any())
        columns.append(codes)
        n_values.append(int(count))
        names.append(field)
    codes = (
        np.stack(columns, axis=1).astype(np.int32)
        if columns
        else np.zeros((len(products), 0), dtype=np.int32)
    )
    return codes, n_values, names


def effective_rare_min_count(rare_min_count: int, rare_scale: bool, n_products: int) -> int:
    """The method's threshold, scaled to the catalog when ``rare_scale``.

    100 products was set for ~420k electronics products; applied to a 20k catalog it would
    merge nearly every category into MISC, so it scales linearly (at least 1).
    """
    if not rare_scale:
        return rare_min_count
    return max(1, min(rare_min_count, math.ceil(rare_min_count * n_products / REFERENCE_CATALOG)))


@dataclasses.dataclass(frozen=True)
class SideInfoSettings(SkipGramSettings):
    """Skip-gram settings plus how side information is encoded.

    Parameters
    ----------
    side_fields:
        Columns to use; empty = the dataset's ``side_fields``.
    rare_min_count:
        Values held by this many products or fewer are merged into MISC (the method: 100).
    rare_scale:
        Scale ``rare_min_count`` by catalog size / 420k (the method's electronics), so a
        small catalog keeps its categories; False applies ``rare_min_count`` as is.
    normalise_step:
        Scale each center's row and logit updates so the combined vector moves as a plain
        skip-gram center would (True), instead of the raw gradient, which is S-fold smaller
        for S slots and leaves the id embedding under-trained.
    weight_lr:
        EGES only: the logits' step relative to the rows' (1 = the plain gradient's ratio,
        the paper's). 12 with ``id_logit`` 3 (measured on the synthetic catalog, 5,000
        products, full metadata, 2 epochs; ``python -m bench.eges_weights``, see
        bench/README.md): the leaf category overtakes the id where metadata is the signal,
        and the id keeps ~0.9 of the weight where it is noise.
    weight_warmup:
        EGES only: fraction of training before the logits start to learn, so the weights
        compare rows that have learned something.
    id_logit:
        EGES only: the id's starting logit (the fields start at 0): 3 gives the id about
        2/3 of the weight with 6 side fields. From uniform weights (0) the rows shared by
        many products learn the structure common to all products first and win the early
        attention even when they are noise (id 0.23 at side signal 0); starting from the
        id, a shared row's step is small until its logit earns more, and only a field that
        predicts the product's contexts better than its own id does.
    """

    side_fields: tuple[str, ...] = ()
    rare_min_count: int = 100
    rare_scale: bool = True
    normalise_step: bool = True
    weight_lr: float = 12.0
    weight_warmup: float = 0.1
    id_logit: float = 3.0

    BOUNDS: ClassVar[dict[str, Bound]] = {
        **SkipGramSettings.BOUNDS,
        "rare_min_count": Bound(0, 10**9),
        "weight_lr": Bound(0, 100, lo_open=True),
        "weight_warmup": Bound(0, 0.99),
        "id_logit": Bound(-10, 10),
    }


class _SideInfoModel(Model):
    """Shared fit for the three side-information variants."""

    settings_cls = SideInfoSettings
    learn_weights: bool = False
    skip_missing: bool = False

    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        s: SideInfoSettings = self.settings
        n = data.n_products
        fields = s.side_fields or tuple(data.side_fields)
        rare = effective_rare_min_count(s.rare_min_count, s.rare_scale, n)
        codes, n_values, names = encode_side_info(data.products, fields, rare)
        known = codes >= 0
        rng = np.random.default_rng(s.seed)

        # rows: products, then per field its values plus one MISSING row
        offsets = n + np.concatenate([[0], np.cumsum(np.asarray(n_values) + 1)])[:-1]
        slots = np.empty((n, len(names) + 1), dtype=np.int64)
        slots[:, 0] = np.arange(n)
        for j, nv in enumerate(n_values):
            value = np.where(known[:, j], codes[:, j], nv)  # nv = the MISSING row
            slots[:, j + 1] = offsets[j] + value
            if self.skip_missing:
                slots[~known[:, j], j + 1] = -1
        n_rows = int(n + sum(nv + 1 for nv in n_values))
        table = init_center_table(n_rows, s.vector_size, rng, s.init_scale)
        w_out = np.zeros((n, s.vector_size), dtype=np.float32)
        logits = np.zeros(slots.shape, dtype=np.float32)
        if self.learn_weights:
            logits[:, 0] = s.id_logit  # the id starts ahead; fields must earn their weight
        centers = CenterTables(
            table,
            slots,
            logits,
            weight_lr=s.weight_lr if self.learn_weights else 0.0,
            weight_warmup=s.weight_warmup,
            normalise_step=s.normalise_step,
        )
        trained = token_counts(data.walks, n) > 0 if data.walks is not None else np.zeros(n, bool)
        cold = ~trained & known.any(axis=1)

        def current() -> Embeddings:
            return self._embeddings(centers, w_out, trained, cold, codes, names, data)

        facts = train_skipgram(data, s, centers, w_out, current, callback, rng)
        emb = current()
        emb.info.update(
            {
                "training": facts,
                "side_fields": names,
                "n_values": n_values,
                "rare_min_count": rare,
                "coverage": {f: float(known[:, j].mean()) for j, f in enumerate(names)},
            }
        )
        return emb

    def _embeddings(
        self,
        centers: CenterTables,
        w_out: np.ndarray,
        trained: np.ndarray,
        cold: np.ndarray,
        codes: np.ndarray,
        names: list[str],
        data: TrainingData,
    ) -> Embeddings:
        n = len(trained)
        known = codes >= 0
        weights = centers.weights()
        vectors = centers.table[:n].copy()  # untrained, no side info: random id vector
        rows = np.flatnonzero(trained).astype(np.int64)
        vectors[rows] = K.combine_rows(centers.table, centers.slots, weights[rows], rows)
        mean_w = weights[trained].mean(axis=0) if trained.any() else np.ones(weights.shape[1])
        cold_rows = np.flatnonzero(cold).astype(np.int64)
        if len(cold_rows):
            cw = np.zeros((len(cold_rows), weights.shape[1]), dtype=np.float32)
            # known side values only, at the fields' average learned weight
            cw[:, 1:] = known[cold_rows] * np.maximum(mean_w[1:], 1e-6)
            cw /= cw.sum(axis=1, keepdims=True)
            vectors[cold_rows] = K.combine_rows(centers.table, centers.slots, cw, cold_rows)
            weights[cold_rows] = cw
        rest = ~trained & ~cold
        weights[rest] = 0.0
        weights[rest, 0] = 1.0
        field_weights = {"id": float(mean_w[0])}
        field_weights.update({f: float(mean_w[j + 1]) for j, f in enumerate(names)})
        context = cold_context(w_out, trained, cold_rows, codes, weights[cold_rows, 1:])
        return scored_embeddings(
            vectors,
            context,
            trained,
            self.settings,  # type: ignore[arg-type]
            data,
            cold_start=cold,
            extras={"side_weights": weights.astype(np.float32)},
            info={"field_weights": field_weights},
        )


def cold_context(
    w_out: np.ndarray,
    trained: np.ndarray,
    cold_rows: np.ndarray,
    codes: np.ndarray,
    field_weights: np.ndarray,
) -> np.ndarray:
    """Context vectors with one for each cold-start product, built from its side values.

    Only products that occur in walks get a trained context vector, so a cold-start
    product would score 0 under the in-out rules. Its context vector here is the weighted
    sum, over its known side values, of the mean context vector of the trained products
    that share that value, with the weights its input vector is combined with
    (``field_weights``, one column per field): the context counterpart of its cold-start
    input vector.
    """
    context = np.array(w_out, dtype=np.float32, copy=True)
    if len(cold_rows) == 0:
        return context
    built = np.zeros((len(cold_rows), w_out.shape[1]), dtype=np.float32)
    for j in range(codes.shape[1]):
        have = trained & (codes[:, j] >= 0)
        if not have.any():
            continue
        n_values = int(codes[:, j].max()) + 1
        sums = np.zeros((n_values, w_out.shape[1]), dtype=np.float64)
        np.add.at(sums, codes[have, j], w_out[have])
        counts = np.bincount(codes[have, j], minlength=n_values)[:, None]
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        value = codes[cold_rows, j]
        ok = value >= 0
        built[ok] += field_weights[ok, j, None] * means[value[ok]].astype(np.float32)
    context[cold_rows] = built
    return context


class SideMeanModel(_SideInfoModel):
    """Skip-gram whose center is the plain mean of id and side-value embeddings."""

    name = "sgns-side-mean"
    label = "Skip-gram + side info (mean)"


class EgesModel(_SideInfoModel):
    """EGES: learned per-product softmax weights over id and side-value embeddings."""

    name = "eges"
    label = "EGES (learned side-info weights)"
    learn_weights = True


class EgesSkipMissingModel(_SideInfoModel):
    """EGES with missing side values left out of the weighted sum (masked softmax)."""

    name = "eges-skip-missing"
    label = "EGES, missing side info skipped"
    learn_weights = True
    skip_missing = True
