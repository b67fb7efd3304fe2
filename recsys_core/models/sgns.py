"""Skip-gram with negative sampling on walks, written for speed (the method's model 5).

One training loop serves plain skip-gram and the side-information models
(:mod:`recsys_core.models.side_info`): walks are cut into chunks, each chunk becomes
(center, context) pairs with subsampling (:mod:`recsys_core.models.skipgram_pairs`),
and a backend applies
word2vec's SGD update to them with hand-derived gradients:

* ``backend="numba"`` (default): a compiled word2vec.c-style loop, one negative draw per
  pair, lock-free over ``threads`` threads (Hogwild, as gensim). Fastest measured on CPU.
* ``backend="torch"``: batches of ``batch_size`` pairs, gathers plus ``index_add_`` (no
  autograd, no optimiser object). With ``shared_negatives`` every group of
  ``negative_group`` consecutive pairs shares its negative draws, which turns the negative
  scores into small matrix products.

Plain skip-gram has separate center (``W_in``, uniform in +-0.5/dim) and context
(``W_out``, zeros) tables, as word2vec; the vectors returned are the center table.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable

import numba
import numpy as np
import torch

from recsys_core.common.settings import Settings, require
from recsys_core.models import sgns_kernels as K
from recsys_core.models.base import (
    Callback,
    Clock,
    Embeddings,
    Model,
    TrainEvent,
    TrainingData,
)
from recsys_core.models.skipgram_pairs import (
    NegativeSampler,
    skipgram_pairs,
    subsample_keep_prob,
    token_counts,
)

logger = logging.getLogger(__name__)

LR_SCHEDULES = ("linear", "cosine-restart")
BACKENDS = ("numba", "torch")
# Walk tokens per chunk: ~2M pairs at window 5, a few tens of MB of pair arrays.
CHUNK_TOKENS = 400_000


@dataclasses.dataclass(frozen=True)
class SkipGramSettings(Settings):
    """Hyper-parameters, with gensim's names where gensim has them.

    Parameters
    ----------
    vector_size, window, negative, epochs:
        As gensim: dimension, maximum context distance, negatives per pair, passes.
    alpha, min_alpha:
        Start and end learning rate (gensim's names).
    sample:
        Subsampling threshold for frequent products (0 = off).
    lr_schedule:
        "linear": alpha -> min_alpha over all epochs (word2vec, gensim; the default: it
        measured as well as or better than restarts). "cosine-restart": the method's
        cosine annealing from alpha to min_alpha, restarted every epoch.
    reduced_window:
        word2vec's dynamic window (each center draws its window from 1..window).
    batch_size:
        Pairs per optimiser step (torch) / per counted step (numba).
    shared_negatives, negative_group:
        torch backend only: groups of ``negative_group`` pairs share ``negative`` draws.
    eval_every:
        Steps between validation AUC reports (also reported at each epoch end; 0 = epoch
        ends only).
    report_every:
        Steps between loss reports.
    backend:
        "numba" (default, fastest) or "torch".
    init_scale:
        Center vectors start uniform in +-init_scale/vector_size: 0.5 is word2vec.c's and
        the method's; gensim 4 uses 1.0. On popularity-skewed data the cosine of rarely
        trained products depends on it: 0.1 (default) leaves less init noise in them
        (MovieLens-100k AUC 0.754 -> 0.773, see bench/README.md "MovieLens-100k defaults").
    seed, threads:
        Seed of every draw; CPU threads (one thread = bit-for-bit reproducible).
    """

    vector_size: int = 128
    window: int = 5
    negative: int = 5
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    sample: float = 1e-3
    lr_schedule: str = "linear"
    reduced_window: bool = True
    batch_size: int = 4096
    shared_negatives: bool = True
    negative_group: int = 64
    eval_every: int = 1000
    report_every: int = 50
    backend: str = "numba"
    init_scale: float = 0.1
    seed: int = 0
    threads: int = 2

    def validate(self) -> None:
        require(self.vector_size >= 1, f"vector_size must be >= 1, got {self.vector_size}")
        require(self.window >= 1, f"window must be >= 1, got {self.window}")
        require(self.negative >= 1, f"negative must be >= 1, got {self.negative}")
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.alpha > 0, f"alpha (learning rate) must be > 0, got {self.alpha}")
        require(
            0 <= self.min_alpha <= self.alpha,
            f"min_alpha must be between 0 and alpha ({self.alpha}), got {self.min_alpha}",
        )
        require(self.sample >= 0, f"sample must be >= 0 (0 disables), got {self.sample}")
        require(
            self.lr_schedule in LR_SCHEDULES,
            f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}",
        )
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.negative_group >= 1, f"negative_group must be >= 1, got {self.negative_group}")
        require(self.eval_every >= 0, f"eval_every must be >= 0, got {self.eval_every}")
        require(self.report_every >= 1, f"report_every must be >= 1, got {self.report_every}")
        require(
            self.backend in BACKENDS, f"backend must be one of {BACKENDS}, got {self.backend!r}"
        )
        require(self.init_scale > 0, f"init_scale must be > 0, got {self.init_scale}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require(self.threads >= 1, f"threads must be >= 1, got {self.threads}")


@dataclasses.dataclass
class CenterTables:
    """How center vectors are built: plain (``slots`` None) or a weighted sum of rows.

    ``table`` holds the rows (plain: one per product). With ``slots`` (n_products, S),
    product v's center is ``sum_s softmax(logits[v])_s * table[slots[v, s]]`` over slots
    >= 0; ``learn_weights`` False keeps the logits at 0 (an equal-weighted mean).
    """

    table: np.ndarray
    slots: np.ndarray | None = None
    logits: np.ndarray | None = None
    learn_weights: bool = False
    normalise_step: bool = True

    def weights(self) -> np.ndarray:
        """(n_products, S) softmax weights (plain: all ones, one slot)."""
        if self.slots is None:
            return np.ones((len(self.table), 1), dtype=np.float32)
        return K.softmax_rows(self.logits, self.slots)

    def centers(self) -> np.ndarray:
        """Center vector of every product."""
        if self.slots is None:
            return self.table
        rows = np.arange(len(self.slots), dtype=np.int64)
        return K.combine_rows(self.table, self.slots, self.weights(), rows)


def lr_at(settings: SkipGramSettings, epoch: int, frac: float) -> float:
    """Learning rate at fraction ``frac`` of epoch ``epoch``."""
    hi, lo = settings.alpha, settings.min_alpha
    if settings.lr_schedule == "cosine-restart":
        return lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * frac))
    progress = (epoch + frac) / settings.epochs
    return hi - (hi - lo) * progress


def init_center_table(
    rows: int, dim: int, rng: np.random.Generator, scale: float = 0.5
) -> np.ndarray:
    """Input vectors uniform in +-scale/dim (word2vec.c: 0.5, gensim 4: 1.0)."""
    table = rng.random((rows, dim), dtype=np.float32)
    return ((table - 0.5) * (2.0 * scale / dim)).astype(np.float32)


def train_skipgram(
    data: TrainingData,
    settings: SkipGramSettings,
    centers: CenterTables,
    w_out: np.ndarray,
    make_embeddings: Callable[[], Embeddings],
    callback: Callback | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """The shared training loop; updates ``centers`` and ``w_out`` in place.

    Returns a few facts for ``Embeddings.info`` (pairs trained, seconds, cancelled).
    """
    require(data.walks is not None, "skip-gram models train on walks; TrainingData.walks is None")
    walks = np.asarray(data.walks)
    require(walks.ndim == 2 and len(walks) > 0, "walks must be a non-empty (n_walks, length) array")
    s = settings
    rng = rng if rng is not None else np.random.default_rng(s.seed)
    clock = Clock()
    counts = token_counts(walks, data.n_products)
    keep = subsample_keep_prob(counts, s.sample) if s.sample > 0 else None
    sampler = NegativeSampler(counts, rng=rng)
    torch.set_num_threads(s.threads)
    n_blocks = s.threads
    if s.backend == "numba":
        numba.set_num_threads(min(s.threads, numba.config.NUMBA_NUM_THREADS))
        backend = _NumbaBackend(centers, w_out, sampler, s)
    else:
        torch.manual_seed(s.seed)
        backend = _TorchBackend(centers, w_out, sampler, s)

    chunk_walks = max(1, CHUNK_TOKENS // walks.shape[1])
    slice_pairs = s.batch_size * s.report_every
    step = 0
    pairs_done = 0
    last_eval_step = 0
    cancelled = False
    total_steps: int | None = None

    def emit(event: TrainEvent) -> bool:
        return bool(callback(event)) if callback is not None else False

    def evaluate() -> tuple[float | None, float | None]:
        return data.live_auc(make_embeddings())

    for epoch in range(s.epochs):
        order = rng.permutation(len(walks))
        epoch_pairs = 0
        loss_sum, loss_cnt = 0.0, 0
        epoch_loss_sum, epoch_loss_cnt = 0.0, 0
        lr = lr_at(s, epoch, 0.0)
        for start in range(0, len(walks), chunk_walks):
            chunk = walks[order[start : start + chunk_walks]]
            c, x = skipgram_pairs(chunk, s.window, rng, keep, s.reduced_window)
            if total_steps is None:
                # first chunk: extrapolate, so progress bars have a total from the start
                per_epoch = len(c) * len(walks) / max(len(chunk), 1)
                total_steps = max(1, int(per_epoch * s.epochs) // s.batch_size)
            f0 = start / len(walks)
            f1 = min(len(walks), start + chunk_walks) / len(walks)
            for lo in range(0, len(c), slice_pairs):
                hi = min(len(c), lo + slice_pairs)
                a = lr_at(s, epoch, f0 + (f1 - f0) * lo / len(c))
                lr = lr_at(s, epoch, f0 + (f1 - f0) * hi / len(c))
                seed = int(rng.integers(0, 2**62))
                ls, lc = backend.train(c[lo:hi], x[lo:hi], a, lr, seed, n_blocks)
                loss_sum += ls
                loss_cnt += lc
                pairs_done += hi - lo
                epoch_pairs += hi - lo
                new_step = pairs_done // s.batch_size
                auc = auc_seen = None
                if s.eval_every and new_step // s.eval_every > last_eval_step // s.eval_every:
                    auc, auc_seen = evaluate()
                    last_eval_step = new_step
                step = new_step
                loss = loss_sum / loss_cnt if loss_cnt else float("nan")
                epoch_loss_sum += loss_sum
                epoch_loss_cnt += loss_cnt
                loss_sum, loss_cnt = 0.0, 0
                event = TrainEvent(
                    step, epoch, loss, lr, clock(), auc, auc_seen, False, total_steps
                )
                if emit(event):
                    cancelled = True
                    break
            if cancelled:
                break
        if cancelled:
            break
        # the epoch's real size refines the estimate for the epochs still to come
        steps_per_epoch = max(1, epoch_pairs // s.batch_size)
        total_steps = max(step, step + steps_per_epoch * (s.epochs - epoch - 1))
        auc, auc_seen = evaluate()
        epoch_loss = epoch_loss_sum / epoch_loss_cnt if epoch_loss_cnt else float("nan")
        event = TrainEvent(step, epoch, epoch_loss, lr, clock(), auc, auc_seen, True, total_steps)
        if emit(event):
            cancelled = True
            break
    seconds = clock()
    return {
        "pairs": int(pairs_done),
        "seconds": float(seconds),
        "pairs_per_second": float(pairs_done / seconds) if seconds > 0 else 0.0,
        "cancelled": bool(cancelled),
        "backend": s.backend,
    }


class _NumbaBackend:
    def __init__(
        self,
        centers: CenterTables,
        w_out: np.ndarray,
        sampler: NegativeSampler,
        s: SkipGramSettings,
    ) -> None:
        self.c, self.w_out, self.s = centers, w_out, s
        self.accept, self.alias = sampler.accept, sampler.alias
        # sample the loss on ~1 pair in 16: enough for a smooth curve, ~free
        self.loss_every = 16

    def train(
        self, c: np.ndarray, x: np.ndarray, lr0: float, lr1: float, seed: int, n_blocks: int
    ) -> tuple[float, int]:
        s, ct = self.s, self.c
        if ct.slots is None:
            return K.train_plain(
                ct.table, self.w_out, c, x, self.accept, self.alias, s.negative, lr0, lr1, seed,
                n_blocks, self.loss_every,
            )  # fmt: skip
        return K.train_side(
            ct.table, ct.slots, ct.logits, ct.learn_weights, ct.normalise_step, self.w_out,
            c, x, self.accept, self.alias, s.negative, lr0, lr1, seed, n_blocks, self.loss_every,
        )  # fmt: skip


class _TorchBackend:
    """Batched SGD with gathers and ``index_add_``; the tables are shared with numpy."""

    def __init__(
        self,
        centers: CenterTables,
        w_out: np.ndarray,
        sampler: NegativeSampler,
        s: SkipGramSettings,
    ) -> None:
        self.s = s
        self.ct = centers
        self.table = torch.from_numpy(centers.table)  # shares memory: updates land in numpy
        self.w_out = torch.from_numpy(w_out)
        self.slots = None if centers.slots is None else torch.from_numpy(centers.slots)
        self.logits = None if centers.logits is None else torch.from_numpy(centers.logits)
        self.accept = torch.from_numpy(sampler.accept)
        self.alias = torch.from_numpy(sampler.alias).long()
        self.gen = torch.Generator().manual_seed(s.seed)

    def _negatives(self, shape: tuple[int, ...]) -> torch.Tensor:
        # alias method, as the numba kernels and NegativeSampler.sample
        u = torch.rand(shape, generator=self.gen, dtype=torch.float64) * len(self.accept)
        idx = u.long().clamp_(max=len(self.accept) - 1)
        frac = (u - idx).float()
        return torch.where(frac < self.accept[idx], idx, self.alias[idx])

    @torch.no_grad()
    def train(
        self, c: np.ndarray, x: np.ndarray, lr0: float, lr1: float, seed: int, n_blocks: int
    ) -> tuple[float, int]:
        s = self.s
        c_all = torch.from_numpy(c).long()
        x_all = torch.from_numpy(x).long()
        n = len(c)
        loss_sum, loss_cnt = 0.0, 0
        for lo in range(0, n, s.batch_size):
            hi = min(n, lo + s.batch_size)
            lr = lr0 + (lr1 - lr0) * lo / n
            ls = self._step(c_all[lo:hi], x_all[lo:hi], lr)
            loss_sum += ls * (hi - lo) * (s.negative + 1)
            loss_cnt += (hi - lo) * (s.negative + 1)
        return loss_sum, loss_cnt

    def _center(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Center vectors h (B, d), slot weights (B, S) or None, slot rows (B, S)."""
        if self.slots is None:
            return self.table[c], None, c
        rows = self.slots[c]  # (B, S), -1 = absent
        present = rows >= 0
        logit = self.logits[c].masked_fill(~present, -torch.inf)
        w = torch.softmax(logit, dim=1)
        safe = rows.clamp_min(0)
        h = torch.einsum("bs,bsd->bd", w, self.table[safe])
        return h, w, rows

    def _step(self, c: torch.Tensor, x: torch.Tensor, lr: float) -> float:
        s = self.s
        b = len(c)
        h, w, rows = self._center(c)
        u_pos = self.w_out[x]
        pos = (h * u_pos).sum(1).clamp_(-K.MAX_SCORE, K.MAX_SCORE)
        sp = torch.sigmoid(pos)
        g_pos = (1.0 - sp) * lr  # (B,)
        grad_h = g_pos[:, None] * u_pos
        self.w_out.index_add_(0, x, g_pos[:, None] * h)
        group = s.negative_group if s.shared_negatives else 1
        if group > 1 and b % group == 0:
            ng = b // group
            neg = self._negatives((ng, s.negative))
            u_neg = self.w_out[neg]  # (G, K, d)
            hg = h.view(ng, group, -1)
            scores = torch.bmm(hg, u_neg.transpose(1, 2)).clamp_(-K.MAX_SCORE, K.MAX_SCORE)
            sn = torch.sigmoid(scores)  # (G, g, K)
            g_neg = -sn * lr
            grad_h += torch.bmm(g_neg, u_neg).view(b, -1)
            self.w_out.index_add_(
                0, neg.reshape(-1), torch.bmm(g_neg.transpose(1, 2), hg).view(-1, h.shape[1])
            )
        else:
            neg = self._negatives((b, s.negative))
            u_neg = self.w_out[neg]  # (B, K, d)
            scores = torch.einsum("bd,bkd->bk", h, u_neg).clamp_(-K.MAX_SCORE, K.MAX_SCORE)
            sn = torch.sigmoid(scores)
            g_neg = -sn * lr
            grad_h += torch.einsum("bk,bkd->bd", g_neg, u_neg)
            self.w_out.index_add_(
                0, neg.reshape(-1), (g_neg[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1])
            )
        if w is None:
            self.table.index_add_(0, c, grad_h)
        else:
            present = rows >= 0
            safe = rows.clamp_min(0)
            if self.ct.learn_weights:
                he = (h * grad_h).sum(1, keepdim=True)
                re = torch.einsum("bsd,bd->bs", self.table[safe], grad_h)
                self.logits.index_add_(0, c, torch.where(present, w * (re - he), 0.0))
            step = w
            if self.ct.normalise_step:
                step = w / (w * w).sum(1, keepdim=True)
            upd = (step[:, :, None] * grad_h[:, None, :]).masked_fill(~present[:, :, None], 0.0)
            self.table.index_add_(0, safe.reshape(-1), upd.reshape(-1, h.shape[1]))
        # mean BCE of the batch (positive + negative terms), for the live curve
        loss = -(
            torch.log(sp.clamp_min(1e-7)).sum()
            + torch.log((1 - sn).clamp_min(1e-7)).sum() * (b * s.negative / sn.numel())
        )
        return float(loss) / (b * (s.negative + 1))


class SkipGramModel(Model):
    """Plain skip-gram with negative sampling on walks (the method's PyTorch word2vec)."""

    name = "sgns"
    label = "Skip-gram, ours (numba; torch backend too)"
    settings_cls = SkipGramSettings

    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        s: SkipGramSettings = self.settings
        rng = np.random.default_rng(s.seed)
        w_in = init_center_table(data.n_products, s.vector_size, rng, s.init_scale)
        w_out = np.zeros((data.n_products, s.vector_size), dtype=np.float32)
        centers = CenterTables(table=w_in)
        trained = token_counts(data.walks, data.n_products) > 0 if data.walks is not None else None

        def current() -> Embeddings:
            return Embeddings(vectors=w_in, trained=trained)

        facts = train_skipgram(data, s, centers, w_out, current, callback, rng)
        return Embeddings(vectors=w_in.copy(), trained=trained, info={"training": facts})


class Node2VecModel(SkipGramModel):
    """node2vec: the same skip-gram on second-order walks biased by return p, in-out q.

    The run's walks default to p=0.5 (return often) and q=2 (stay local, BFS-like), the
    setting the reference implementation could not finish at electronics scale.
    """

    name = "node2vec"
    label = "node2vec (p/q walks + skip-gram)"
    walk_p = 0.5
    walk_q = 2.0
