"""Matrix factorisation in PyTorch: "mf", "mf-bias" on train pairs, "mf-bias-seq" on walks.

The method's implementations 1, 2 and 7. The score of a pair is
``sigmoid(dot(e_a, e_b) [+ bias_a + bias_b + global_bias])``, trained with binary
cross-entropy against positives and sampled negatives, L2 regularisation on the rows used,
and a cosine learning rate restarted every epoch. The method trained with Adam at lr 0.01;
here the default is per-pair SGD in a compiled loop (``optimizer="sgd"``, see
:class:`MFSettings`), which on the default synthetic catalog (20k products) trains
mf-bias for 5 epochs in ~1-3 s instead of ~55 s and mf-bias-seq for 1 epoch in ~12-25 s
instead of about an hour, at the same or better AUC. Adam stays as ``optimizer="adam"``.

- "mf", "mf-bias": positives are the train pairs (weights ignored: a pair is a positive),
  each with ``negatives`` pairs (a, random product), uniform over the catalog.
- "mf-bias-seq": positives are skip-gram pairs of the walks (window 5, subsampling of
  frequent products), negatives from the unigram distribution ** 0.75, the same data as
  the PyTorch skip-gram (:mod:`recsys_core.models.skipgram_pairs`).

Two of the method's open questions are settings: ``lr_schedule`` ("cosine-restart", the
method's; "constant"; "linear" decay over all epochs) asks whether the AUC dip at each
restart ("forgetting") comes from the restarts, and ``shared_embedding=False`` (separate
center and context tables) whether it comes from sharing one table. With separate tables
the vectors shown are the center table, the context table is kept in
``extras["context"]``, and the pair score is the symmetrised
``(c_a . x_b + x_a . c_b) / 2`` (:class:`MFEmbeddings`).

On the Adam path, ``optimizer="sparse-adam"`` uses sparse embedding gradients with
``SparseAdam`` (lazy Adam: only rows in the batch are updated); "adam" is dense Adam as
the original code had it; "adam-auto" picks by size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from recsys_core.common.settings import Settings
from recsys_core.models.base import (
    MAX_BATCH,
    MAX_DIM,
    MAX_EPOCHS,
    MAX_EVERY,
    MAX_LR,
    MAX_NEGATIVE,
    MAX_THREADS,
    MAX_WINDOW,
    SEED_MAX,
    Bound,
    Callback,
    Embeddings,
    Model,
    TrainingData,
    TrainLoop,
    as_column,
    check_settings,
    check_walks,
    scheduled_lr,
    side_by_side,
)

LR_SCHEDULES = ("cosine-restart", "constant", "linear")
OPTIMIZERS = ("sgd", "adam-auto", "adam", "sparse-adam")
# Above this many embedding parameters, "adam-auto" picks sparse gradients: dense Adam
# touches every row at every step, sparse Adam only the batch's (dense is faster on small
# tables).
AUTO_SPARSE_PARAMS = 2_000_000
# The SGD kernel sums the BCE of one pair in this many: a smooth curve for ~free.
LOSS_EVERY = 16
# Walks turned into skip-gram pairs at a time (mf-bias-seq): bounds memory of the pairs.
SEQ_CHUNK_WALKS = 50_000


@dataclasses.dataclass(frozen=True)
class MFSettings(Settings):
    """Matrix factorisation settings (the method's defaults).

    Parameters
    ----------
    dim:
        Embedding size.
    epochs:
        Passes over the positives.
    lr:
        Peak SGD step per pair (``optimizer="sgd"``). 0.2 measured best on the default
        synthetic catalog with ``init_std`` 0.05 (mf-bias 5 epochs: AUC 0.943 at 0.2, 0.939
        at 0.15 and 0.3, diverges at 1.0; mf: 0.867 at 0.2, 0.884 at 0.15).
    adam_lr:
        Peak learning rate of Adam (the Adam optimizers; the method's 0.01).
    lr_schedule:
        "cosine-restart" (cosine annealing to 0, restarted every epoch; the method's),
        "constant", or "linear" (from ``lr`` to 0 over all epochs).
    batch_size:
        Positives per batch (each brings ``negatives`` negatives). SGD updates per pair;
        there a batch is only the unit of ``step``, ``report_every`` and ``eval_every``.
    negatives:
        Negatives per positive.
    l2:
        Weight of the L2 penalty on the embedding and bias rows in each batch.
    shared_embedding:
        One table for both sides of a pair (the method's); False: center/context tables.
    optimizer:
        "sgd" (default): per-pair SGD in a compiled Hogwild loop, negatives drawn inside
        it (:mod:`recsys_core.models.mf_kernels`); 60-150x faster than Adam here at the
        same or better AUC. The PyTorch Adam path, as the method trained: "adam" (dense
        gradients, the original's), "sparse-adam" (lazy Adam updating only the rows in a
        batch, cheaper per step on big catalogs) or "adam-auto" (sparse-adam above 2M
        embedding parameters).
    init_std:
        Standard deviation of the normal initial vectors. 0.05 (was 0.1): with SGD the
        smaller start gave +0.01-0.03 AUC (mf 0.867 vs 0.853 at lr 0.2).
    eval_every:
        Steps between live validation AUCs (also at each epoch end).
    report_every:
        Steps between progress events.
    threads:
        ``torch.set_num_threads``.
    seed:
        Seed of initialisation, shuffling and negatives.
    """

    dim: int = 128
    epochs: int = 5
    lr: float = 0.2
    adam_lr: float = 0.01
    lr_schedule: str = "cosine-restart"
    batch_size: int = 1024
    negatives: int = 5
    l2: float = 1e-5
    shared_embedding: bool = True
    optimizer: str = "sgd"
    init_std: float = 0.05
    eval_every: int = 1000
    report_every: int = 20
    threads: int = 2
    seed: int = 0

    BOUNDS: ClassVar[dict[str, Bound]] = {
        "dim": Bound(1, MAX_DIM),
        "epochs": Bound(1, MAX_EPOCHS),
        "lr": Bound(0, MAX_LR, lo_open=True),
        "adam_lr": Bound(0, MAX_LR, lo_open=True),
        "batch_size": Bound(1, MAX_BATCH),
        "negatives": Bound(1, MAX_NEGATIVE),
        "l2": Bound(0, 1),
        "init_std": Bound(0, 10, lo_open=True),
        "eval_every": Bound(1, MAX_EVERY),
        "report_every": Bound(1, MAX_EVERY),
        "threads": Bound(1, MAX_THREADS),
        "seed": Bound(0, SEED_MAX),
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"lr_schedule": LR_SCHEDULES, "optimizer": OPTIMIZERS}

    def validate(self) -> None:
        check_settings(self)


@dataclasses.dataclass(frozen=True)
class MFSeqSettings(MFSettings):
    """:class:`MFSettings` plus the skip-gram pair generation of the walks.

    Parameters
    ----------
    lr:
        SGD step, 0.1 here: ~60x more positives per epoch than the train pairs, so a
        smaller step (0.9468 AUC after 1 epoch on the default catalog, 0.9434 at 0.2).
    window:
        Maximum distance between the two products of a pair in a walk.
    sample:
        Subsampling threshold of frequent products (gensim's ``sample``; 0 disables).
    negative_power:
        Exponent of the unigram distribution negatives are drawn from.
    """

    lr: float = 0.1
    window: int = 5
    sample: float = 1e-3
    negative_power: float = 0.75

    BOUNDS: ClassVar[dict[str, Bound]] = {
        **MFSettings.BOUNDS,
        "window": Bound(1, MAX_WINDOW),
        "sample": Bound(0, 1),
        "negative_power": Bound(0, 2),
    }


class MFEmbeddings(Embeddings):
    """MF embeddings with separate context vectors (``extras["context"]``).

    The pair score is ``sigmoid((c_a . x_b + x_a . c_b) / 2 + biases)``; without a context
    table it is the base class's dot-sigmoid.
    """

    @classmethod
    def from_embeddings(cls, embeddings: Embeddings) -> MFEmbeddings:
        fields = {f.name: getattr(embeddings, f.name) for f in dataclasses.fields(Embeddings)}
        return cls(**fields)

    def _logits_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx = self.extras["context"]
        va, vb, xa, xb = self.vectors[a], self.vectors[b], ctx[a], ctx[b]
        logits = 0.5 * (np.einsum("ij,ij->i", va, xb) + np.einsum("ij,ij->i", xa, vb))
        if self.bias is not None:
            logits = logits + self.bias[a] + self.bias[b]
        return logits + self.global_bias

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if "context" not in self.extras:
            return super().score_pairs(a, b)
        logits = self._logits_pairs(np.asarray(a), np.asarray(b))
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Logits of every (query, candidate) pair (monotone in the pair score)."""
        v, x = self.vectors, self.extras.get("context", self.vectors)
        block = 0.5 * (v[queries] @ x[candidates].T + x[queries] @ v[candidates].T)
        if self.bias is not None:
            block += self.bias[queries][:, None] + self.bias[candidates][None, :]
        return (block + self.global_bias).astype(np.float32)

    def ip_form(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``[v, x, 1]`` against ``[x / 2, v / 2, bias]`` (``x`` the context table):
        :meth:`score_block`'s logit up to the query's own bias and the global one."""
        v = np.asarray(self.vectors, dtype=np.float32)
        x = np.asarray(self.extras.get("context", v), dtype=np.float32)
        bias = np.zeros(len(v), np.float32) if self.bias is None else self.bias
        ones = np.ones((len(v), 1), np.float32)
        # No popularity coordinate: score_block above adds no popularity term.
        return side_by_side([v, x, ones]), side_by_side([0.5 * x, 0.5 * v, as_column(bias)])


def learning_rate(
    settings: MFSettings, epoch: int, frac_in_epoch: float, peak: float | None = None
) -> float:
    """Learning rate at a point of training (``frac_in_epoch`` in [0, 1]).

    ``peak`` defaults to ``settings.lr`` (the Adam path passes ``settings.adam_lr``). The
    shared schedule (:func:`~recsys_core.models.base.scheduled_lr`) with a floor of 0 and,
    for "linear", never below ``1e-4 * peak``.
    """
    peak = settings.lr if peak is None else peak
    return scheduled_lr(
        settings.lr_schedule, peak, 0.0, epoch, settings.epochs, frac_in_epoch, least=1e-4 * peak
    )


class MatrixFactorization(Model):
    """Matrix factorisation on train pairs, no bias: ``sigmoid(dot(e_a, e_b))``."""

    name = "mf"
    label = "MF on pairs"
    settings_cls = MFSettings
    uses_walks = False
    use_bias = False

    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        s: MFSettings = self.settings  # type: ignore[assignment]
        source = self._source(data, np.random.default_rng(s.seed))
        if s.optimizer == "sgd":
            return self._fit_sgd(data, callback, source)
        return self._fit_torch(data, callback, source)

    def _fit_torch(
        self, data: TrainingData, callback: Callback | None, source: _PairSource
    ) -> Embeddings:
        """Batched PyTorch training with (dense or sparse) Adam, the original's way."""
        s: MFSettings = self.settings  # type: ignore[assignment]
        net, optimisers, sparse = self._torch_setup(data.n_products)
        steps_per_epoch = source.steps_per_epoch(s.batch_size)
        loop = TrainLoop(
            s.epochs,
            data,
            lambda: self._embeddings(net, source),
            callback,
            s.eval_every,
            steps_per_epoch * s.epochs,
        )
        step = 0
        lr = s.adam_lr
        for epoch in loop.epochs():
            batches = _lookahead(source.batches(s.batch_size, s.negatives))
            for i, ((a, b, labels), last) in enumerate(batches):
                lr = learning_rate(s, epoch, i / steps_per_epoch, s.adam_lr)
                loop.add_loss(_adam_step(net, optimisers, lr, a, b, labels), 1)
                due_eval = (step + 1) % s.eval_every == 0
                if callback is None:
                    pass  # nobody listens: no events, no live AUC
                elif last:
                    loop.end_epoch(step, epoch, lr)
                elif due_eval or (step + 1) % s.report_every == 0:
                    loop.report(step, epoch, lr, evaluate=due_eval)
                step += 1
                if loop.cancelled:
                    break
        embeddings = self._embeddings(net, source)
        embeddings.info.update(
            {
                "steps": step,
                "cancelled": loop.cancelled,
                "lr_schedule": s.lr_schedule,
                "optimizer": "sparse-adam" if sparse else "adam",
            }
        )
        return embeddings

    def _torch_setup(self, n: int) -> tuple[_MFNet, list, bool]:
        """The tables and their Adam optimiser(s); sparse gradients when chosen or large."""
        import torch

        s: MFSettings = self.settings  # type: ignore[assignment]
        torch.set_num_threads(s.threads)
        gen = torch.Generator().manual_seed(s.seed)
        tables = 1 if s.shared_embedding else 2
        sparse = s.optimizer == "sparse-adam" or (
            s.optimizer == "adam-auto" and n * s.dim * tables > AUTO_SPARSE_PARAMS
        )
        net = _MFNet(n, s, self.use_bias, gen, sparse)
        sparse_params = list(net.tables())
        dense_params = [net.global_bias] if self.use_bias else []
        if not sparse:
            return net, [torch.optim.Adam(sparse_params + dense_params, lr=s.adam_lr)], sparse
        optimisers = [torch.optim.SparseAdam(sparse_params, lr=s.adam_lr)]
        if dense_params:
            optimisers.append(torch.optim.Adam(dense_params, lr=s.adam_lr))
        return net, optimisers, sparse

    def _fit_sgd(
        self, data: TrainingData, callback: Callback | None, source: _PairSource
    ) -> Embeddings:
        """Per-pair SGD in a compiled Hogwild loop (:func:`mf_kernels.train_mf`).

        The kernel trains slices of positives cut at the step counts where an event is due
        (every ``report_every`` and ``eval_every`` steps), so events land on the same steps
        as the batched path's.
        """
        import numba

        s: MFSettings = self.settings  # type: ignore[assignment]
        numba.set_num_threads(min(s.threads, numba.config.NUMBA_NUM_THREADS))
        rng = np.random.default_rng(s.seed + 1)
        tables = _SgdTables(data.n_products, s, rng)
        context = None if s.shared_embedding else tables.w_out
        total_steps = source.steps_per_epoch(s.batch_size) * s.epochs

        def current() -> Embeddings:
            return self._wrap(tables.w_in, context, tables.bias, tables.global_bias, source)

        loop = TrainLoop(s.epochs, data, current, callback, s.eval_every, total_steps)
        pairs_total = 0  # positives trained, over all epochs; steps are batches of them
        last_step = -1
        lr = s.lr
        for epoch in loop.epochs():
            pairs_total, last_step, lr = self._sgd_epoch(
                epoch, loop, source, tables, rng, pairs_total, last_step
            )
            if loop.cancelled:
                break
            # a partial last batch is a step, as in the batched path; epochs start on a step
            pairs_total = -(-pairs_total // s.batch_size) * s.batch_size
            last_step = max(last_step + 1, pairs_total // s.batch_size - 1)
            loop.end_epoch(last_step, epoch, lr)
        embeddings = self._wrap(
            tables.w_in.copy(),
            None if s.shared_embedding else tables.w_out.copy(),
            tables.bias.copy() if self.use_bias else None,
            tables.global_bias if self.use_bias else 0.0,
            source,
        )
        seconds = loop.clock()
        embeddings.info.update(
            {
                "steps": last_step + 1,
                "pairs": int(pairs_total),
                "seconds": float(seconds),
                "cancelled": loop.cancelled,
                "lr_schedule": s.lr_schedule,
                "optimizer": "sgd",
            }
        )
        return embeddings

    def _sgd_epoch(
        self,
        epoch: int,
        loop: TrainLoop,
        source: _PairSource,
        tables: _SgdTables,
        rng: np.random.Generator,
        pairs_total: int,
        last_step: int,
    ) -> tuple[int, int, float]:
        """One epoch of SGD slices and their events; (pairs_total, last_step, lr) after it."""
        from recsys_core.models import mf_kernels as K

        s: MFSettings = self.settings  # type: ignore[assignment]
        batch = s.batch_size
        accept, alias = source.negative_tables()

        def boundary(done: int) -> int:
            """The next step count at which an event is due."""
            return min(
                (done // s.report_every + 1) * s.report_every,
                (done // s.eval_every + 1) * s.eval_every,
            )

        lr = s.lr
        for a, b, f0, f1, last_chunk in source.chunks():
            lo = 0
            while lo < len(a):
                need = boundary(pairs_total // batch) * batch - pairs_total
                hi = min(len(a), lo + need)
                lr0 = learning_rate(s, epoch, f0 + (f1 - f0) * lo / len(a))
                lr = learning_rate(s, epoch, f0 + (f1 - f0) * hi / len(a))
                seed = int(rng.integers(0, 2**62))
                ls, lc, moved = K.train_mf(
                    tables.w_in, tables.w_out, tables.bias, tables.global_bias, a[lo:hi],
                    b[lo:hi], accept, alias, s.negatives, lr0, lr, s.l2, self.use_bias, seed,
                    s.threads, LOSS_EVERY,
                )  # fmt: skip
                if self.use_bias:
                    tables.global_bias += float(moved)
                loop.add_loss(ls, lc)
                pairs_total += hi - lo
                lo = hi
                done = pairs_total // batch
                if pairs_total % batch or done != boundary(done - 1):
                    continue  # not at an event
                if last_chunk and lo == len(a):
                    continue  # the epoch's last event is its end (the caller's)
                last_step = done - 1
                if loop.report(last_step, epoch, lr, evaluate=loop.eval_due(done)):
                    return pairs_total, last_step, lr
        return pairs_total, last_step, lr

    def _wrap(
        self,
        vectors: np.ndarray,
        context: np.ndarray | None,
        bias: np.ndarray | None,
        global_bias: float,
        source: _PairSource,
    ) -> Embeddings:
        extras = {} if context is None else {"context": context}
        cls = Embeddings if context is None else MFEmbeddings
        return cls(
            vectors=vectors,
            trained=source.trained,
            bias=bias if self.use_bias else None,
            global_bias=global_bias if self.use_bias else 0.0,
            score="dot-sigmoid",
            extras=extras,
            info={"shared_embedding": context is None, "bias": self.use_bias},
        )

    def _source(self, data: TrainingData, rng: np.random.Generator) -> _PairSource:
        return _TrainPairSource(data, rng)

    def _embeddings(self, net: _MFNet, source: _PairSource) -> Embeddings:
        vectors, context, bias, global_bias = net.export()
        extras = {} if context is None else {"context": context}
        cls = Embeddings if context is None else MFEmbeddings
        return cls(
            vectors=vectors,
            trained=source.trained,
            bias=bias,
            global_bias=global_bias,
            score="dot-sigmoid",
            extras=extras,
            info={"shared_embedding": context is None, "bias": bias is not None},
        )


class MatrixFactorizationBias(MatrixFactorization):
    """MF with per-product and global bias on train pairs (the method's implementation 2)."""

    name = "mf-bias"
    label = "MF with bias on pairs"
    use_bias = True


class MatrixFactorizationBiasSeq(MatrixFactorization):
    """MF with bias on skip-gram pairs of the walks (the method's implementation 7)."""

    name = "mf-bias-seq"
    label = "MF with bias on walk sequences"
    settings_cls = MFSeqSettings
    uses_walks = True
    use_bias = True

    def _source(self, data: TrainingData, rng: np.random.Generator) -> _PairSource:
        return _WalkPairSource(data, self.settings, rng)  # type: ignore[arg-type]


class _SgdTables:
    """The arrays the SGD kernel updates in place (one shared table: ``w_out is w_in``)."""

    def __init__(self, n: int, s: MFSettings, rng: np.random.Generator) -> None:
        self.w_in = rng.normal(0.0, s.init_std, size=(n, s.dim)).astype(np.float32)
        self.w_out = (
            self.w_in
            if s.shared_embedding
            else rng.normal(0.0, s.init_std, size=(n, s.dim)).astype(np.float32)
        )
        self.bias = np.zeros(n, dtype=np.float32)
        self.global_bias = 0.0


def _adam_step(net: _MFNet, optimisers: list, lr: float, a, b, labels) -> float:
    """One Adam step on a batch at learning rate ``lr``; returns the batch's mean loss."""
    for opt in optimisers:
        for group in opt.param_groups:
            group["lr"] = lr
    loss = net.loss(a, b, labels)
    for opt in optimisers:
        opt.zero_grad()
    loss.backward()
    for opt in optimisers:
        opt.step()
    return float(loss.detach())


def _lookahead(items: Iterator) -> Iterator[tuple]:
    """Yield ``(item, is_last)`` without materialising the iterator."""
    it = iter(items)
    try:
        current = next(it)
    except StopIteration:
        return
    for upcoming in it:
        yield current, False
        current = upcoming
    yield current, True


class _MFNet:
    """Embedding tables and the loss; plain tensors, no nn.Module needed."""

    def __init__(self, n: int, s: MFSettings, use_bias: bool, gen, sparse: bool) -> None:
        import torch

        self.torch = torch
        self.s = s

        def table(width: int, std: float):
            emb = torch.nn.Embedding(n, width, sparse=sparse)
            with torch.no_grad():
                if std > 0:
                    emb.weight.normal_(0.0, std, generator=gen)
                else:
                    emb.weight.zero_()
            return emb

        self.center = table(s.dim, s.init_std)
        self.context = None if s.shared_embedding else table(s.dim, s.init_std)
        self.bias = table(1, 0.0) if use_bias else None
        self.global_bias = torch.nn.Parameter(torch.zeros(1)) if use_bias else None
        self.bce = torch.nn.BCEWithLogitsLoss()

    def tables(self) -> list:
        found = [self.center.weight]
        if self.context is not None:
            found.append(self.context.weight)
        if self.bias is not None:
            found.append(self.bias.weight)
        return found

    def loss(self, a: np.ndarray, b: np.ndarray, labels: np.ndarray):
        torch = self.torch
        ta, tb = torch.from_numpy(a.astype(np.int64)), torch.from_numpy(b.astype(np.int64))
        ea = self.center(ta)
        eb = (self.context or self.center)(tb)
        logits = (ea * eb).sum(-1)
        penalty = (ea * ea).sum(-1) + (eb * eb).sum(-1)
        if self.bias is not None:
            ba, bb = self.bias(ta).squeeze(-1), self.bias(tb).squeeze(-1)
            logits = logits + ba + bb + self.global_bias
            penalty = penalty + ba * ba + bb * bb
        target = torch.from_numpy(labels)
        return self.bce(logits, target) + self.s.l2 * penalty.mean()

    def export(self):
        def arr(emb) -> np.ndarray:
            return emb.weight.detach().numpy().copy()

        context = arr(self.context) if self.context is not None else None
        bias = arr(self.bias)[:, 0] if self.bias is not None else None
        global_bias = float(self.global_bias.detach()) if self.global_bias is not None else 0.0
        return arr(self.center), context, bias, global_bias


class _PairSource:
    """Batches of (a, b, label) arrays for one epoch, positives with their negatives.

    For the compiled SGD path: :meth:`chunks` gives the epoch's positives without their
    negatives and :meth:`negative_tables` the alias table negatives are drawn from.
    """

    trained: np.ndarray

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, float, float, bool]]:
        """``(a, b, f0, f1, last)``: int32 positives spanning epoch fractions f0..f1."""
        raise NotImplementedError

    def negative_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(accept, alias)`` of the negative distribution (float32, int32)."""
        raise NotImplementedError

    def steps_per_epoch(self, batch_size: int) -> int:
        raise NotImplementedError

    def batches(self, batch_size: int, negatives: int) -> Iterator[tuple[np.ndarray, ...]]:
        raise NotImplementedError


def _with_negatives(
    a: np.ndarray, b: np.ndarray, neg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack positives (a, b) with negatives (a, neg[:, j]) and their labels."""
    k = neg.shape[1]
    aa = np.concatenate([a, np.repeat(a, k)])
    bb = np.concatenate([b, neg.ravel()])
    labels = np.concatenate([np.ones(len(a), np.float32), np.zeros(len(a) * k, np.float32)])
    return aa, bb, labels


class _TrainPairSource(_PairSource):
    """Train pairs as positives, in a random orientation each epoch; uniform negatives."""

    def __init__(self, data: TrainingData, rng: np.random.Generator) -> None:
        self.a = data.train_pairs["a"].to_numpy(np.int64)
        self.b = data.train_pairs["b"].to_numpy(np.int64)
        self.n = data.n_products
        self.rng = rng
        self.trained = np.zeros(self.n, dtype=bool)
        self.trained[self.a] = True
        self.trained[self.b] = True

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, math.ceil(len(self.a) / batch_size))

    def _epoch_order(self) -> tuple[np.ndarray, np.ndarray]:
        order = self.rng.permutation(len(self.a))
        flip = self.rng.random(len(order)) < 0.5
        a = np.where(flip, self.b[order], self.a[order])
        b = np.where(flip, self.a[order], self.b[order])
        return a, b

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, float, float, bool]]:
        a, b = self._epoch_order()
        yield a.astype(np.int32), b.astype(np.int32), 0.0, 1.0, True

    def negative_tables(self) -> tuple[np.ndarray, np.ndarray]:
        # uniform over the catalog, the method's MF negatives: accept every first draw
        return np.ones(self.n, np.float32), np.arange(self.n, dtype=np.int32)

    def batches(self, batch_size: int, negatives: int) -> Iterator[tuple[np.ndarray, ...]]:
        a, b = self._epoch_order()
        for start in range(0, len(a), batch_size):
            pa, pb = a[start : start + batch_size], b[start : start + batch_size]
            neg = self.rng.integers(0, self.n, size=(len(pa), negatives))
            yield _with_negatives(pa, pb, neg)


class _WalkPairSource(_PairSource):
    """Skip-gram pairs of the walks (``skipgram_pairs``), unigram ** power negatives."""

    def __init__(self, data: TrainingData, s: MFSeqSettings, rng: np.random.Generator) -> None:
        from recsys_core.models.skipgram_pairs import (
            NegativeSampler,
            subsample_keep_prob,
            token_counts,
        )

        self.walks = check_walks(data.walks, s.window)
        self.s = s
        self.rng = rng
        counts = token_counts(self.walks, data.n_products)
        self.trained = counts > 0
        self.keep = subsample_keep_prob(counts, s.sample) if s.sample > 0 else None
        self.sampler = NegativeSampler(counts, power=s.negative_power, rng=rng)
        # pairs per walk, measured on a sample, sizes the learning-rate schedule
        probe = self.walks[: min(len(self.walks), 2000)]
        centers, _ = self._pairs(probe, np.random.default_rng(s.seed))
        self.pairs_per_walk = len(centers) / max(len(probe), 1)

    def _pairs(self, walks: np.ndarray, rng: np.random.Generator):
        from recsys_core.models.skipgram_pairs import skipgram_pairs

        return skipgram_pairs(walks, self.s.window, rng, keep_prob=self.keep)

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, math.ceil(len(self.walks) * self.pairs_per_walk / batch_size))

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, float, float, bool]]:
        # walk order within a chunk, as word2vec: a center's pairs reuse its cached row
        order = self.rng.permutation(len(self.walks))
        for start in range(0, len(order), SEQ_CHUNK_WALKS):
            stop = min(len(order), start + SEQ_CHUNK_WALKS)
            centers, contexts = self._pairs(self.walks[order[start:stop]], self.rng)
            f0, f1 = start / len(order), stop / len(order)
            yield centers, contexts, f0, f1, stop == len(order)

    def negative_tables(self) -> tuple[np.ndarray, np.ndarray]:
        return self.sampler.accept, self.sampler.alias

    def batches(self, batch_size: int, negatives: int) -> Iterator[tuple[np.ndarray, ...]]:
        order = self.rng.permutation(len(self.walks))
        for start in range(0, len(order), SEQ_CHUNK_WALKS):
            chunk = self.walks[np.sort(order[start : start + SEQ_CHUNK_WALKS])]
            centers, contexts = self._pairs(chunk, self.rng)
            shuffle = self.rng.permutation(len(centers))
            centers, contexts = centers[shuffle], contexts[shuffle]
            for i in range(0, len(centers), batch_size):
                pa = centers[i : i + batch_size]
                pb = contexts[i : i + batch_size]
                yield _with_negatives(pa, pb, self.sampler.sample((len(pa), negatives)))
