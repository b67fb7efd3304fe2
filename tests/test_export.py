"""Exports load back in gensim with identical vectors; Projector files are well formed."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from gensim.models import KeyedVectors

from recsys_core.evaluation.export import (
    export_projector,
    export_word2vec,
    projector_zip_bytes,
    word2vec_bytes,
)
from recsys_core.models.base import Embeddings


def _embeddings() -> tuple[Embeddings, pd.DataFrame]:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 5)).astype(np.float32)
    vectors[0, 0] = 1e-30  # tiny and
    vectors[0, 1] = 123456.789  # large values must round-trip exactly
    trained = np.array([1, 1, 0, 1, 1, 0], bool)
    cold = np.array([0, 0, 0, 0, 0, 1], bool)
    products = pd.DataFrame(
        {
            "asin": [f"B00{i}X" for i in range(6)],
            "title": ["Tab\there", "New\nline", None, "plain", "x", "y"],
            "brand": ["Acme", None, "B", "C", "D", "E"],
            "price": [3.17, np.nan, 1.0, 2.0, 3.0, 4.0],
            "cat_1": ["Toys", "Toys", None, "Books", "Books", "Books"],
            "cat_2": ["Dance", None, None, "Fiction", None, "Poetry"],
        }
    )
    return Embeddings(vectors=vectors, trained=trained, cold_start=cold), products


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_roundtrip_in_gensim(tmp_path, binary: bool) -> None:
    emb, products = _embeddings()
    path = export_word2vec(emb, products["asin"].to_numpy(), tmp_path / "v.w2v", binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    usable = np.flatnonzero(emb.usable)
    assert kv.index_to_key == [products["asin"][i] for i in usable]
    np.testing.assert_array_equal(kv.vectors, emb.vectors[usable])
    data = word2vec_bytes(emb, products["asin"].to_numpy(), binary=binary)
    assert data == path.read_bytes()


def test_word2vec_all_rows_and_bad_keys(tmp_path) -> None:
    emb, products = _embeddings()
    path = export_word2vec(emb, products["asin"], tmp_path / "all.txt", only_usable=False)
    kv = KeyedVectors.load_word2vec_format(str(path))
    assert len(kv) == 6 and kv["B002X"].tolist() == emb.vectors[2].tolist()
    with pytest.raises(ValueError, match="whitespace"):
        word2vec_bytes(emb, np.array(["a b", "c", "d", "e", "f", "g"]))
    with pytest.raises(ValueError, match="ASINs"):
        word2vec_bytes(emb, np.array(["a"]))


def test_projector_files(tmp_path) -> None:
    emb, products = _embeddings()
    vec_path, meta_path = export_projector(emb, products, tmp_path / "proj")
    vectors = np.loadtxt(vec_path, delimiter="\t", dtype=np.float32)
    usable = np.flatnonzero(emb.usable)
    np.testing.assert_array_equal(vectors, emb.vectors[usable])
    lines = meta_path.read_text().splitlines()
    assert lines[0] == "asin\ttitle\tbrand\tcategory\tprice\tseen"
    assert len(lines) == 1 + len(usable)
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 6 for r in rows)
    assert rows[0] == ["B000X", "Tab here", "Acme", "Toys > Dance", "3.17", "yes"]
    assert rows[1][1:5] == ["New line", "", "Toys", ""]
    assert rows[-1][0] == "B005X" and rows[-1][5] == "no"  # cold-start: exported, not seen
    blob = projector_zip_bytes(emb, products)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert zf.read("metadata.tsv").decode() == meta_path.read_text()
        assert zf.read("vectors.tsv").decode() == vec_path.read_text()
