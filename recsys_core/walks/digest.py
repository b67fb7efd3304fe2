"""A content hash of a walks array, the same however the array was produced or stored.

sha256 over the dtype, the shape and the rows in order, read in chunks, so the walks of
one machine and the shards written by Ray workers (:mod:`recsys_core.cluster.walks`)
give the same digest exactly when they hold the same walks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

CHUNK_ROWS = 1 << 16


def walks_digest(parts: np.ndarray | Iterable[np.ndarray], n_rows: int | None = None) -> str:
    """Hex sha256 of walks given whole or as consecutive row blocks (e.g. shards).

    ``n_rows`` is required with an iterable of parts (their total row count); parts must
    share the column count. Arrays may be memory-mapped: only a chunk is read at a time.
    """
    if isinstance(parts, np.ndarray):
        n_rows = parts.shape[0]
        blocks: Iterable[np.ndarray] = [parts]
    else:
        if n_rows is None:
            raise ValueError("n_rows is required when the walks come in parts")
        blocks = parts
    digest = hashlib.sha256()
    header_written = False
    for block in blocks:
        block = np.asarray(block)
        if not header_written:
            digest.update(f"int32:{n_rows}x{block.shape[1]}:".encode())
            header_written = True
        for lo in range(0, block.shape[0], CHUNK_ROWS):
            chunk = np.ascontiguousarray(block[lo : lo + CHUNK_ROWS], dtype=np.int32)
            digest.update(chunk.tobytes())
    if not header_written:
        digest.update(f"int32:{n_rows}x0:".encode())
    return digest.hexdigest()
