"""Data-parallel training of the torch skip-gram with Ray Train (``TorchTrainer``, gloo).

Each of ``num_workers`` Ray Train workers holds a full replica of the input and output
tables (torch DDP), trains on its share of the walks (every ``num_workers``-th walk) and
averages dense gradients with the others after every batch. The loss is summed over a
batch, as the project's torch backend and word2vec update per pair, and the learning rate
is multiplied by the number of workers because DDP averages the workers' gradients:
each pair moves the tables as much as on one worker.

This is the scheme ``docs/scaling.md`` says stops paying once the tables no longer fit
in every worker or the per-step all-reduce of the whole table dominates (it moves
``2 x n_products x dim x 4`` bytes each step): it is here for catalogs of up to a few
million products, and as the measured baseline for that argument.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from recsys_core.models.sgns import SkipGramSettings


def _loop(config: dict[str, Any]) -> None:
    """``train_loop_per_worker``: runs on each Ray Train worker."""
    import ray
    import ray.train
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from ray.train.torch import prepare_model

    from recsys_core.common import cache
    from recsys_core.models.sgns import init_center_table
    from recsys_core.models.skipgram_pairs import (
        NegativeSampler,
        skipgram_pairs,
        subsample_keep_prob,
        token_counts,
    )

    torch.set_num_threads(1)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    s = SkipGramSettings(**config["settings"])
    walks = ray.get(config["walks"])
    n = int(config["n_products"])
    counts = token_counts(walks, n)
    keep = subsample_keep_prob(counts, s.sample) if s.sample > 0 else None
    mine = walks[rank::world]

    class SkipGram(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            init = init_center_table(n, s.vector_size, np.random.default_rng(s.seed), s.init_scale)
            self.inp = torch.nn.Embedding(n, s.vector_size, _weight=torch.from_numpy(init))
            self.out = torch.nn.Embedding(n, s.vector_size)
            torch.nn.init.zeros_(self.out.weight)

        def forward(self, c: Any, x: Any, neg: Any) -> Any:
            h = self.inp(c)
            pos = (h * self.out(x)).sum(1).clamp(-6.0, 6.0)
            negs = torch.bmm(self.out(neg), h.unsqueeze(2)).squeeze(2).clamp(-6.0, 6.0)
            return -(F.logsigmoid(pos).sum() + F.logsigmoid(-negs).sum())

    model = prepare_model(SkipGram())  # DDP over gloo; rank 0's tables everywhere
    optimizer = torch.optim.SGD(model.parameters(), lr=s.alpha)
    rng = np.random.default_rng([s.seed, rank])
    sampler = NegativeSampler(counts, power=s.ns_exponent, rng=rng)
    total_steps: int | None = None
    step = 0
    for epoch in range(s.epochs):
        order = rng.permutation(len(mine))
        c, x = skipgram_pairs(mine[order], s.window, rng, keep, s.reduced_window)
        # Every rank must take the same number of steps (each one is an all-reduce).
        steps = torch.tensor([math.ceil(len(c) / s.batch_size)])
        dist.all_reduce(steps, op=dist.ReduceOp.MIN)
        steps = int(steps)
        total_steps = total_steps or steps * s.epochs
        loss_sum, pairs = 0.0, 0
        for i in range(steps):
            lo, hi = i * s.batch_size, min(len(c), (i + 1) * s.batch_size)
            progress = step / max(1, total_steps)
            lr = max(s.min_alpha, s.alpha - (s.alpha - s.min_alpha) * progress)
            for group in optimizer.param_groups:
                group["lr"] = lr * world
            cb = torch.from_numpy(c[lo:hi].astype(np.int64))
            xb = torch.from_numpy(x[lo:hi].astype(np.int64))
            nb = torch.from_numpy(sampler.sample((hi - lo, s.negative)).astype(np.int64))
            optimizer.zero_grad()
            loss = model(cb, xb, nb)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss)
            pairs += hi - lo
            step += 1
        ray.train.report(
            {"epoch": epoch, "loss": loss_sum / max(1, pairs * (s.negative + 1)), "step": step}
        )
    if rank == 0:
        inner = getattr(model, "module", model)  # DDP wraps it; one worker may not
        vectors = inner.inp.weight.detach().numpy()
        with cache.atomic_path(Path(config["out"])) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32))


def train_data_parallel(
    walks: np.ndarray,
    n_products: int,
    settings: SkipGramSettings,
    num_workers: int,
    out_dir: Path,
) -> np.ndarray:
    """Input vectors (float32, ``n_products x vector_size``) trained by ``num_workers``
    Ray Train workers; needs a Ray connection. ``out_dir`` must be shared storage."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"vectors-{num_workers}w.npy"
    trainer = TorchTrainer(
        _loop,
        train_loop_config={
            "walks": ray.put(np.ascontiguousarray(walks, dtype=np.int32)),
            "n_products": int(n_products),
            "settings": settings.as_dict(),
            "out": str(out),
        },
        torch_config=TorchConfig(backend="gloo"),
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=False, resources_per_worker={"CPU": 1}
        ),
        run_config=RunConfig(storage_path=str(out_dir / "ray-train"), name=f"sgns-{os.getpid()}"),
    )
    trainer.fit()
    return np.load(out)
