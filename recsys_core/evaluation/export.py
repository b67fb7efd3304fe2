"""Export embeddings keyed by ASIN: word2vec format (gensim, word2vec.c) and the
TensorFlow Embedding Projector's TSV pair.

``only_usable=True`` (default) writes only products whose vector means something
(trained or cold-started); the zeros of unseen products would otherwise crowd every
neighbour list. Floats are written with 9 significant digits, which round-trips float32
exactly, so a reload gives identical vectors.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.common import cache
from recsys_core.models.base import Embeddings

CATEGORY_COLUMNS = ("cat_1", "cat_2", "cat_3", "cat_4")


def _rows(embeddings: Embeddings, only_usable: bool) -> np.ndarray:
    if only_usable:
        return np.flatnonzero(embeddings.usable)
    return np.arange(len(embeddings.vectors))


def word2vec_bytes(
    embeddings: Embeddings, asins: np.ndarray, only_usable: bool = True, binary: bool = False
) -> bytes:
    """The word2vec file as bytes (for download buttons); see :func:`export_word2vec`."""
    asins = np.asarray(asins).astype(str)
    if len(asins) != len(embeddings.vectors):
        raise ValueError(
            f"got {len(asins)} ASINs for {len(embeddings.vectors)} vectors; pass the catalog's"
        )
    rows = _rows(embeddings, only_usable)
    keys = asins[rows]
    bad = [k for k in keys if not k or any(ch.isspace() for ch in k)]
    if bad:
        raise ValueError(f"ASINs must be non-empty without whitespace, e.g. {bad[0]!r}")
    vectors = np.ascontiguousarray(embeddings.vectors[rows], dtype=np.float32)
    out = io.BytesIO()
    out.write(f"{len(rows)} {vectors.shape[1]}\n".encode())
    if binary:
        for key, vec in zip(keys, vectors, strict=True):
            out.write(key.encode() + b" " + vec.astype("<f4").tobytes() + b"\n")
    else:
        body = io.StringIO()
        np.savetxt(body, vectors, fmt="%.9g", delimiter=" ")
        for key, line in zip(keys, body.getvalue().splitlines(), strict=True):
            out.write(f"{key} {line}\n".encode())
    return out.getvalue()


def export_word2vec(
    embeddings: Embeddings,
    asins: np.ndarray,
    path: Path,
    only_usable: bool = True,
    binary: bool = False,
) -> Path:
    """Write vectors keyed by ASIN in word2vec format.

    Loadable with ``KeyedVectors.load_word2vec_format(path, binary=binary)``.
    """
    path = Path(path)
    data = word2vec_bytes(embeddings, asins, only_usable, binary)
    with cache.atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _clean(values: pd.Series) -> pd.Series:
    """TSV-safe text: tabs and newlines would break the Projector's columns."""
    text = values.astype(object).where(values.notna(), "")
    return text.astype(str).str.replace(r"[\t\r\n]+", " ", regex=True)


def projector_frames(
    embeddings: Embeddings,
    products: pd.DataFrame,
    only_usable: bool = True,
    seen: np.ndarray | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Vectors and metadata (asin, title, brand, category, price, seen) of the rows kept."""
    rows = _rows(embeddings, only_usable)
    seen = np.asarray(embeddings.trained if seen is None else seen, dtype=bool)
    chosen = products.iloc[rows]
    levels = [_clean(chosen[c]) for c in CATEGORY_COLUMNS if c in chosen]
    if levels:
        parts = pd.concat(levels, axis=1).to_numpy()
        category = [" > ".join(p for p in row if p) for row in parts]
    else:
        category = [""] * len(rows)
    price = chosen["price"] if "price" in chosen else pd.Series([np.nan] * len(rows))
    meta = pd.DataFrame(
        {
            "asin": _clean(chosen["asin"]).to_numpy(),
            "title": _clean(chosen["title"]).to_numpy() if "title" in chosen else "",
            "brand": _clean(chosen["brand"]).to_numpy() if "brand" in chosen else "",
            "category": category,
            "price": [f"{p:.2f}" if pd.notna(p) else "" for p in price],
            "seen": np.where(seen[rows], "yes", "no"),
        }
    )
    return embeddings.vectors[rows], meta


def _projector_texts(vectors: np.ndarray, meta: pd.DataFrame) -> tuple[str, str]:
    body = io.StringIO()
    np.savetxt(body, np.asarray(vectors, dtype=np.float32), fmt="%.9g", delimiter="\t")
    header = "\t".join(meta.columns)
    lines = ["\t".join(map(str, r)) for r in meta.itertuples(index=False)]
    return body.getvalue(), header + "\n" + "".join(line + "\n" for line in lines)


def export_projector(
    embeddings: Embeddings,
    products: pd.DataFrame,
    folder: Path,
    only_usable: bool = True,
    seen: np.ndarray | None = None,
) -> tuple[Path, Path]:
    """Write ``vectors.tsv`` and ``metadata.tsv`` for projector.tensorflow.org.

    Returns (vectors path, metadata path). ``seen`` defaults to ``embeddings.trained``.
    """
    folder = Path(folder)
    vec_text, meta_text = _projector_texts(
        *projector_frames(embeddings, products, only_usable, seen)
    )
    paths = (folder / "vectors.tsv", folder / "metadata.tsv")
    for path, text in zip(paths, (vec_text, meta_text), strict=True):
        with cache.atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return paths


def projector_zip_bytes(
    embeddings: Embeddings,
    products: pd.DataFrame,
    only_usable: bool = True,
    seen: np.ndarray | None = None,
) -> bytes:
    """A zip holding ``vectors.tsv`` and ``metadata.tsv`` (for download buttons)."""
    vec_text, meta_text = _projector_texts(
        *projector_frames(embeddings, products, only_usable, seen)
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("vectors.tsv", vec_text)
        zf.writestr("metadata.tsv", meta_text)
    return out.getvalue()
