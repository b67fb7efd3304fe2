"""The built-in synthetic catalog: shape, signal, coverage, determinism, and the round trip
through the real Amazon loader."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_core.common.settings import SettingsError
from recsys_core.data.amazon import load_amazon, parse_line
from recsys_core.data.synthetic import (
    PRESETS,
    SyntheticSettings,
    generate_records,
    load_synthetic,
    load_synthetic_file,
    synthetic_file,
    write_synthetic,
)

SMALL = SyntheticSettings(products=3000, seed=7)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(SMALL, tmp_path_factory.mktemp("syn") / "small.json.gz")


@pytest.fixture(scope="module")
def small(small_file: Path):
    return load_amazon(small_file)


@pytest.fixture(scope="module")
def small_truth() -> dict:
    records, summary = generate_records(SMALL)
    summary["records"] = list(records)
    return summary


def _degrees(dataset) -> np.ndarray:
    a, b, _ = dataset.pair_arrays()
    return np.bincount(np.concatenate([a, b]), minlength=dataset.n_products)


def _same_leaf_share(settings: SyntheticSettings) -> float:
    """Share of distinct pairs whose two products share a (hidden) leaf category."""
    _, summary = generate_records(settings)
    links, leaf, n = summary["links"], summary["leaf"], settings.products
    code = np.unique(np.minimum(links.src, links.dst) * n + np.maximum(links.src, links.dst))
    return float(np.mean(leaf[code // n] == leaf[code % n]))


# -- the round trip through the loader ---------------------------------------------------
def test_loads_with_target_size(small) -> None:
    assert small.n_products == SMALL.products
    assert len(small.pairs) == SMALL.target_pairs
    assert small.report.records == SMALL.n_records
    assert small.report.records_kept == SMALL.n_records  # every record passes the filter
    assert small.report.skipped == 0
    counts = small.report.relationship_counts
    assert counts["also_bought"] > counts["also_viewed"] > counts["bought_together"] > 0


def test_every_line_is_a_2014_literal(small_file: Path) -> None:
    import gzip

    with gzip.open(small_file, "rt", encoding="utf-8") as fh:
        first = fh.readline()
    assert first.startswith("{'asin': 'B00")  # Python literal (single quotes), not JSON
    record = parse_line(first)
    assert set(record) >= {"asin", "title", "categories", "related"}
    assert len(record["categories"][0]) == 4
    assert len(record["related"]["also_bought"]) >= 2


def test_asins_look_real_and_unique(small) -> None:
    asins = small.products["asin"]
    assert asins.is_unique
    assert all(re.fullmatch(r"B00[0-9A-Z]{7}", a) for a in asins)


def test_load_synthetic_file_names_and_reuses_file() -> None:
    settings = SyntheticSettings(products=1000, meta_coverage=0.5, seed=3)
    first = load_synthetic_file(settings)
    assert first.name == "synthetic-1000 (meta 50%, signal 0.8, seed 3)"
    path = synthetic_file(settings)
    stamp = path.stat().st_mtime_ns
    second = load_synthetic_file(settings)
    assert path.stat().st_mtime_ns == stamp  # reused, not rewritten
    pd.testing.assert_frame_equal(first.pairs, second.pairs)


@pytest.mark.parametrize(
    "settings",
    [
        SMALL,
        SyntheticSettings(products=1500, meta_coverage=1.0, side_signal=0.2, seed=5),
        SyntheticSettings(products=2500, meta_coverage=0.3, brand_missing=0.0, seed=11),
        SyntheticSettings(products=800, avg_degree=4.0, price_missing=1.0, seed=2),
    ],
)
def test_direct_build_equals_the_round_trip_through_the_loader(settings, tmp_path) -> None:
    """The arrays the generator builds directly are what the Amazon loader reads from the
    written file: same products (ids, ASINs, metadata), same pairs and weights."""
    direct = load_synthetic(settings)
    loaded = load_amazon(write_synthetic(settings, tmp_path / "c.json.gz"))
    pd.testing.assert_frame_equal(direct.products, loaded.products)
    pd.testing.assert_frame_equal(direct.pairs, loaded.pairs)
    assert direct.name == settings.describe() and direct.side_fields == loaded.side_fields
    for field in ("lines_read", "records", "records_kept", "skipped", "relationship_counts"):
        assert getattr(direct.report, field) == getattr(loaded.report, field), field
    assert not list(tmp_path.glob("*.tmp*"))


# -- determinism --------------------------------------------------------------------------
def test_same_settings_same_bytes_and_dataset(tmp_path: Path, small_file: Path, small) -> None:
    again = write_synthetic(SMALL, tmp_path / "again.json.gz")
    assert again.read_bytes() == small_file.read_bytes()
    reloaded = load_amazon(again)
    pd.testing.assert_frame_equal(reloaded.products, small.products)
    pd.testing.assert_frame_equal(reloaded.pairs, small.pairs)


def test_other_seed_other_catalog(tmp_path: Path, small_file: Path) -> None:
    other = write_synthetic(SMALL.replace(seed=8), tmp_path / "other.json.gz")
    assert other.read_bytes() != small_file.read_bytes()


# -- graph shape --------------------------------------------------------------------------
def test_degrees_are_heavy_tailed(small) -> None:
    deg = _degrees(small)
    assert deg.min() >= 1
    assert deg.max() >= 15 * np.median(deg)  # 3k products: ~18x; 20k: ~50x
    assert np.mean(deg <= 3) >= 0.2  # these become unseen after an edge split


def test_also_viewed_within_leaf_also_bought_across(small_truth: dict) -> None:
    links = small_truth["links"]
    leaf = small_truth["line_leaf"][small_truth["line"]]  # hidden, not the shown leaf
    same = leaf[links.src] == leaf[links.dst]
    viewed, bought = same[links.rel == 1].mean(), same[links.rel == 0].mean()
    assert viewed > 0.8
    assert bought < 0.3
    assert viewed > 2 * bought


def _structured_share(summary: dict, a: np.ndarray, b: np.ndarray) -> float:
    """Share of pairs (a, b) in one hidden line, one leaf or complementary lines."""
    line, line_leaf = summary["line"], summary["line_leaf"]
    offsets, targets = summary["line_complements"]
    n_lines = len(line_leaf)
    comp = np.repeat(np.arange(n_lines), np.diff(offsets)) * n_lines + targets
    la, lb = line[a], line[b]
    same_leaf = line_leaf[la] == line_leaf[lb]
    return float(np.mean(same_leaf | np.isin(la * n_lines + lb, comp)))


@pytest.mark.parametrize("signal", [0.0, 0.8])
def test_links_follow_hidden_lines_whatever_the_signal(signal: float) -> None:
    # The community structure that walk embeddings learn from: most pairs lie within a
    # line or leaf or between complementary lines, against a few percent of random pairs.
    settings = SyntheticSettings(products=3000, side_signal=signal, seed=5)
    _, summary = generate_records(settings)
    links, n = summary["links"], settings.products
    code = np.unique(np.minimum(links.src, links.dst) * n + np.maximum(links.src, links.dst))
    a, b = code // n, code % n
    same_line = np.mean(summary["line"][a] == summary["line"][b])
    assert same_line > 0.2
    assert _structured_share(summary, a, b) > 0.85
    rng = np.random.default_rng(0)
    ra, rb = rng.integers(0, n, 20_000), rng.integers(0, n, 20_000)
    assert _structured_share(summary, ra, rb) < 0.15


def test_lines_are_small_and_cover_every_product(small_truth: dict) -> None:
    sizes = np.bincount(small_truth["line"])
    assert sizes.min() >= 1
    assert 10 <= np.median(sizes) <= 80
    # Lines of a leaf: every leaf holds at least one line.
    assert len(np.unique(small_truth["line_leaf"])) == len(small_truth["paths"])


def test_two_hop_paths_close_most_held_out_pairs(small) -> None:
    # Hide a third of the pairs: most hidden pairs still have a 2-hop path in the rest
    # (that is what walks exploit), far more than random pairs of the same products.
    import scipy.sparse as sp

    a, b, _ = small.pair_arrays()
    rng = np.random.default_rng(1)
    held = rng.random(len(a)) < 0.33
    n = small.n_products
    adj = sp.coo_matrix((np.ones((~held).sum()), (a[~held], b[~held])), shape=(n, n)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64)

    def two_hop(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.asarray(adj[x].multiply(adj[y]).sum(axis=1)).ravel() > 0))

    ha, hb = a[held], b[held]
    ra, rb = rng.permutation(ha), rng.permutation(hb)
    positive, random = two_hop(ha, hb), two_hop(ra, rb)
    assert positive > 0.6
    assert positive > 2 * random


def test_bought_together_mostly_within_also_bought(small_truth: dict) -> None:
    links, n = small_truth["links"], SMALL.products
    code = links.src * n + links.dst
    bt, ab = code[links.rel == 2], code[links.rel == 0]
    assert len(bt) > 0
    assert np.isin(bt, ab).mean() > 0.8


def test_side_signal_controls_same_category_links() -> None:
    base = SyntheticSettings(products=2000, seed=1)
    with_signal = _same_leaf_share(base.replace(side_signal=1.0))
    without = _same_leaf_share(base.replace(side_signal=0.0))
    assert with_signal > 0.3
    assert without < 0.1
    assert with_signal > 5 * without


def test_side_signal_visible_in_loaded_metadata() -> None:
    def same_leaf(signal: float) -> float:
        ds = load_synthetic(SyntheticSettings(products=2000, side_signal=signal, seed=2))
        cat = ds.products["cat_4"].to_numpy()
        a, b, _ = ds.pair_arrays()
        both = pd.notna(cat[a]) & pd.notna(cat[b])
        return float(np.mean(cat[a][both] == cat[b][both]))

    assert same_leaf(1.0) > 3 * same_leaf(0.0)


# -- metadata -----------------------------------------------------------------------------
@pytest.mark.parametrize("coverage", [0.39, 1.0])
def test_meta_coverage(coverage: float) -> None:
    settings = SyntheticSettings(products=2000, meta_coverage=coverage, seed=4)
    ds = load_synthetic(settings)
    assert ds.n_products == settings.products
    assert ds.products["has_meta"].mean() == pytest.approx(coverage, abs=0.005)


def test_brand_missing_share(small) -> None:
    meta = small.products[small.products["has_meta"]]
    assert meta["brand"].isna().mean() == pytest.approx(SMALL.brand_missing, abs=0.05)
    none_missing = load_synthetic(SyntheticSettings(products=1000, brand_missing=0.0))
    meta = none_missing.products[none_missing.products["has_meta"]]
    assert meta["brand"].notna().all()


def test_titles_hold_brand_and_category_words(small) -> None:
    meta = small.products[small.products["has_meta"]]
    branded = meta[meta["brand"].notna()]
    assert len(branded) > 100
    assert all(
        t.startswith(b + " ") for t, b in zip(branded["title"], branded["brand"], strict=True)
    )
    # The leaf's modifier ("USB" of "USB Cables") and the level-3 noun stem are in the title.
    for title, cat3, cat4 in zip(meta["title"], meta["cat_3"], meta["cat_4"], strict=True):
        modifier = cat4[: len(cat4) - len(cat3)].strip()
        assert modifier and modifier in title
        assert cat3[:-3] in title


def test_category_tree_and_brands_nest(small) -> None:
    meta = small.products[small.products["has_meta"]]
    assert meta[["cat_1", "cat_2", "cat_3", "cat_4"]].notna().all().all()
    # A leaf has exactly one parent path.
    assert (meta.groupby("cat_4")["cat_3"].nunique() == 1).all()
    # Brands live in a few subtrees, not everywhere.
    spread = meta.dropna(subset=["brand"]).groupby("brand")["cat_3"].nunique()
    assert spread.median() <= 4
    assert spread.median() < meta["cat_3"].nunique() / 3


def test_prices_cluster_by_leaf(small) -> None:
    meta = small.products[small.products["has_meta"] & small.products["price"].notna()]
    assert (meta["price"] > 0).all()
    logp = np.log(meta["price"])
    within = logp.groupby(meta["cat_4"]).transform(lambda x: x - x.mean()).var()
    assert within < 0.6 * logp.var()
    missing = small.products.loc[small.products["has_meta"], "price"].isna().mean()
    assert missing == pytest.approx(SMALL.price_missing, abs=0.05)


# -- settings -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"meta_coverage": 1.5}, "meta_coverage must be in (0, 1], got 1.5"),
        ({"meta_coverage": 0.0}, "meta_coverage must be in (0, 1]"),
        ({"brand_missing": -0.1}, "brand_missing must be in [0, 1]"),
        ({"side_signal": 2}, "side_signal must be in [0, 1]"),
        ({"products": 10}, "products must be an integer"),
        ({"avg_degree": 1.0}, "avg_degree must be in [4, 200]"),
        ({"products": 1000, "meta_coverage": 0.01}, "too few to carry"),
    ],
)
def test_bad_settings_are_named(change: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        SyntheticSettings(**change)


def test_presets() -> None:
    assert set(PRESETS) == {"default", "electronics", "books"}
    assert PRESETS["default"].products == 20_000
    assert PRESETS["electronics"].products == 420_000
    assert PRESETS["electronics"].target_pairs == pytest.approx(4_000_000, rel=0.02)
    assert PRESETS["books"].products == 2_000_000
    assert PRESETS["books"].target_pairs == pytest.approx(26_500_000, rel=0.02)
    assert PRESETS["default"].key() != PRESETS["default"].replace(seed=1).key()


def test_top_ups_in_many_chunks_reach_the_target_deterministically(monkeypatch, tmp_path) -> None:
    """Large catalogs draw their top-up links in chunks (books: dozens); small chunks here
    take that path at a small size."""
    import recsys_core.data.synthetic as synthetic

    monkeypatch.setattr(synthetic, "FORWARD_CHUNK", 20_000)
    settings = SyntheticSettings(products=6000, seed=4)
    first = load_synthetic(settings)
    assert len(first.pairs) == settings.target_pairs and first.n_products == settings.products
    again = load_synthetic(settings)
    pd.testing.assert_frame_equal(first.pairs, again.pairs)
    loaded = load_amazon(write_synthetic(settings, tmp_path / "c.json.gz"))
    pd.testing.assert_frame_equal(first.products, loaded.products)
    pd.testing.assert_frame_equal(first.pairs, loaded.pairs)


# -- large catalogs: compiled link draws ---------------------------------------------------
def _fingerprint(dataset) -> str:
    import hashlib

    digest = hashlib.sha256()
    for array in dataset.pair_arrays():
        digest.update(array.tobytes())
    digest.update("\n".join(dataset.products["asin"]).encode())
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (SMALL, "5c43fcca8e6c46a8f8197df00a83ee097dea7fcdc69f53ea26e1196ae06fe232"),
        (PRESETS["default"], "b009d0fc81314629f4a800c7bbaf753d481422def0310bb1719f01a66a61b2ed"),
    ],
)
def test_catalogs_below_the_compiled_threshold_are_unchanged(settings, expected) -> None:
    """Every figure in README.md and docs/ was measured on the default catalog: the numpy
    link draws keep it byte for byte (the fingerprints are those of generator v3)."""
    import recsys_core.data.synthetic as synthetic

    assert settings.target_pairs < synthetic.COMPILED_LINKS_PAIRS
    assert PRESETS["electronics"].target_pairs < synthetic.COMPILED_LINKS_PAIRS
    assert PRESETS["books"].target_pairs >= synthetic.COMPILED_LINKS_PAIRS
    assert _fingerprint(load_synthetic(settings)) == expected


@pytest.fixture()
def compiled_links(monkeypatch):
    """Small catalogs take the compiled path (books' at full size) while this is active."""
    import recsys_core.data.link_kernels as link_kernels
    import recsys_core.data.synthetic as synthetic

    monkeypatch.setattr(synthetic, "COMPILED_LINKS_PAIRS", 1)
    calls = {"by_record": 0, "forward": 0}
    by_record, forward = link_kernels.draw_by_record, link_kernels.draw_forward

    def count(name, kernel):
        def wrapped(*args):
            calls[name] += 1
            return kernel(*args)

        return wrapped

    monkeypatch.setattr(link_kernels, "draw_by_record", count("by_record", by_record))
    monkeypatch.setattr(link_kernels, "draw_forward", count("forward", forward))
    return calls


@pytest.mark.parametrize(
    "settings",
    [
        SyntheticSettings(products=6000, seed=4),
        SyntheticSettings(products=4000, avg_degree=26.5, meta_coverage=0.5, seed=9),
        SyntheticSettings(products=800, avg_degree=4.0, price_missing=1.0, seed=2),
    ],
)
def test_compiled_links_give_a_valid_catalog(compiled_links, settings, tmp_path) -> None:
    first = load_synthetic(settings)
    assert compiled_links["by_record"] > 0  # the compiled path ran
    assert compiled_links["forward"] > 0  # its last pairs drawn one at a time
    assert first.n_products == settings.products
    assert len(first.pairs) == settings.target_pairs
    a, b, _ = first.pair_arrays()
    assert (a != b).all()
    assert len(
        np.unique(np.minimum(a, b).astype(np.int64) * first.n_products + np.maximum(a, b))
    ) == len(a)
    # every record passes the loader's rule of two also_bought
    assert first.report.records_kept == settings.n_records
    # deterministic, and the written file reads back as the same catalog
    again = load_synthetic(settings)
    pd.testing.assert_frame_equal(first.pairs, again.pairs)
    loaded = load_amazon(write_synthetic(settings, tmp_path / "c.json.gz"))
    pd.testing.assert_frame_equal(first.products, loaded.products)
    pd.testing.assert_frame_equal(first.pairs, loaded.pairs)


def test_compiled_links_keep_the_catalogs_shape(compiled_links, monkeypatch) -> None:
    """The same link model, other random draws: the shape of the numpy path's catalog."""
    import recsys_core.data.synthetic as synthetic

    settings = SyntheticSettings(products=8000, avg_degree=26.5, meta_coverage=0.5, seed=3)

    def shape() -> dict:
        _, summary = generate_records(settings)
        links, n, line = summary["links"], settings.products, summary["line"]
        lo, hi = np.minimum(links.src, links.dst), np.maximum(links.src, links.dst)
        code = np.unique(lo * n + hi)
        a, b = code // n, code % n
        deg = np.bincount(np.concatenate([a, b]), minlength=n)
        rel = np.bincount(links.rel, minlength=3) / len(links.rel)
        return {
            "pairs": len(code),
            "same_line": float(np.mean(line[a] == line[b])),
            "structured": _structured_share(summary, a, b),
            "max_degree": float(deg.max() / np.median(deg)),
            "low_degree": float(np.mean(deg <= 3)),
            "also_viewed": float(rel[1]),
            "bought_together": float(rel[2]),
        }

    compiled = shape()
    assert compiled_links["by_record"] > 0
    monkeypatch.setattr(synthetic, "COMPILED_LINKS_PAIRS", 10**12)
    numpy_path = shape()
    assert compiled["pairs"] == numpy_path["pairs"] == settings.target_pairs
    for key in ("same_line", "structured", "low_degree", "also_viewed", "bought_together"):
        assert compiled[key] == pytest.approx(numpy_path[key], abs=0.03), key
    assert compiled["max_degree"] == pytest.approx(numpy_path["max_degree"], rel=0.5)


def test_pair_table_counts_pairs_and_entries_through_growth() -> None:
    from recsys_core.data.link_kernels import PairTable

    n = 500
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, n, 40_000), rng.integers(0, n, 40_000)
    keep = src != dst
    rel = rng.integers(0, 3, 40_000)
    codes = ((src * 3 + rel) * n + dst)[keep]
    table = PairTable(n, expected_pairs=100)  # grows several times
    for part in np.array_split(codes, 7):
        table.add(part)
    pairs = np.unique(np.minimum(src, dst)[keep] * n + np.maximum(src, dst)[keep])
    assert table.pairs == len(pairs)
    slots = table.table[table.table >= 0]
    assert len(slots) == len(pairs)
    # each slot's six flag bits are the distinct entries of its pair
    flags = (slots >> 50).astype(np.int64)
    entries = sum(int(np.sum((flags >> bit) & 1)) for bit in range(6))
    assert entries == len(np.unique(codes))
    before = table.pairs
    table.add(codes)
    assert table.pairs == before
