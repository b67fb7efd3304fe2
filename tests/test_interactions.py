"""Interaction logs, pair files and item tables, on small files the tests write."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_core.data.interactions import load_interactions
from recsys_core.data.pairfile import load_pair_file
from recsys_core.data.registry import DatasetSettings, build_dataset, load_dataset

LOG = """user_id,item_id,timestamp,rating
u1,A,10,5
u1,B,20,4
u1,C,30,3
u2,C,5,5
u2,A,6,2
u3,B,1,1
u3,C,2,1
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _pairs(ds) -> dict[tuple[str, str], float]:
    asins = ds.asins
    a, b, w = ds.pair_arrays()
    return {(asins[x], asins[y]): float(v) for x, y, v in zip(a, b, w, strict=True)}


def test_consecutive_pairs_from_a_log_with_guessed_columns(tmp_path):
    ds = load_interactions(_write(tmp_path / "log.csv", LOG))
    # u1: A-B, B-C; u2: C-A; u3: B-C. Weights: the rating column is guessed as weight,
    # and a pair counts the smaller rating of its two ends.
    assert _pairs(ds) == {("A", "B"): 4.0, ("B", "C"): 3.0 + 1.0, ("A", "C"): 2.0}
    assert ds.name == "interactions:log.csv"
    assert ds.report.skipped == 0 and ds.report.records == 7
    assert len(ds.events) == 4
    assert set(ds.events.columns) == {"user", "a", "b", "time", "weight"}


def test_columns_named_by_flag_and_tsv(tmp_path):
    text = "who\twhat\twhen\nx\t1\t2024-01-02\nx\t2\t2024-01-01\ny\t2\t3\ny\t3\t4\n"
    ds = load_interactions(
        _write(tmp_path / "log.tsv", text), {"user": "who", "item": "what", "time": "when"}
    )
    assert _pairs(ds) == {("1", "2"): 1.0, ("2", "3"): 1.0}
    assert list(ds.asins) == ["1", "2", "3"]  # numeric ids in numeric order


def test_every_kind_of_bad_line_is_skipped_with_its_line_number(tmp_path):
    text = (
        "user,item,time,weight\n"  # 1
        "u1,A,1,1\n"  # 2
        "u1,B,2,1\n"  # 3
        ",C,3,1\n"  # 4 empty user
        "u1,,4,1\n"  # 5 empty item
        "u1,C,yesterday-ish,1\n"  # 6 bad time
        "u1,C,5,heavy\n"  # 7 bad weight
        "u1,C,5,1,extra\n"  # 8 too many fields
        "u1,B,2,1\n"  # 9 duplicate of line 3
        "u1,C,6,1\n"  # 10
        "\n"  # blank: not a bad line
        "u2,A,1,-3\n"  # 12 weight not above 0
    )
    ds = load_interactions(_write(tmp_path / "log.csv", text))
    reasons = dict(ds.report.skipped_examples)
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 12]
    assert "empty user id" in reasons[4]
    assert "empty item id" in reasons[5]
    assert "yesterday-ish" in reasons[6] and "date" in reasons[6]
    assert "heavy" in reasons[7]
    assert "5 fields" in reasons[8] and "4" in reasons[8]
    assert "repeats line 3" in reasons[9]
    assert "above 0" in reasons[12]
    assert ds.report.skipped == 7 and ds.report.lines_read == 10  # blank lines do not count
    assert _pairs(ds) == {("A", "B"): 1.0, ("B", "C"): 1.0}


def test_a_file_without_header_says_so_and_column_numbers_read_it(tmp_path):
    path = _write(tmp_path / "log.csv", "u1,A,1\nu1,B,2\nu2,B,1\nu2,C,2\n")
    with pytest.raises(ValueError) as err:
        load_interactions(path)
    message = str(err.value)
    assert "no header" in message and "--user-col 1" in message
    assert "\n" not in message
    ds = load_interactions(path, {"user": "1", "item": "2", "time": "3"})
    assert _pairs(ds) == {("A", "B"): 1.0, ("B", "C"): 1.0}
    assert ds.report.lines_read == 4  # the first line is data, not a header


def test_missing_column_names_the_flag_and_the_columns_there(tmp_path):
    path = _write(tmp_path / "log.csv", LOG)
    with pytest.raises(ValueError) as err:
        load_interactions(path, {"user": "customer"})
    message = str(err.value)
    assert "--user-col customer" in message and "'user_id'" in message


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", "binary"),
        (b"just one column\nand another line\n", "not a table"),
        (b"", "empty"),
        (b"def f(x):\n    return x\n", "not a table"),
    ],
)
def test_files_that_are_not_tables_are_one_sentence(tmp_path, content, phrase):
    path = tmp_path / "log.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        load_interactions(path)
    assert phrase in str(err.value) and "\n" not in str(err.value)


def test_nothing_usable_is_one_sentence_naming_lines(tmp_path):
    text = "user,item,time\n,A,1\nu1,,2\nu2,B,later\n"
    with pytest.raises(ValueError) as err:
        load_interactions(_write(tmp_path / "log.csv", text))
    message = str(err.value)
    assert "no usable" in message and "line 2" in message and "\n" not in message


def test_no_pairs_says_why(tmp_path):
    text = "user,item,time\nu1,A,1\nu2,B,1\nu3,C,1\n"
    with pytest.raises(ValueError, match="no user has two different items"):
        load_interactions(_write(tmp_path / "log.csv", text))


def test_session_rule_pairs_items_within_the_window_of_a_basket(tmp_path):
    text = "order,item,user\no1,A,u1\no1,B,u1\no1,C,u1\no2,C,u1\no2,D,u1\no3,A,u2\n"
    ds = load_interactions(
        _write(tmp_path / "orders.csv", text), {"session": "order"}, rule="session", window=5
    )
    # Within baskets only: o1 gives A-B, A-C, B-C; o2 gives C-D; C (o1) - C (o2) is no pair.
    assert _pairs(ds) == {("A", "B"): 1.0, ("A", "C"): 1.0, ("B", "C"): 1.0, ("C", "D"): 1.0}
    narrow = load_interactions(
        tmp_path / "orders.csv", {"session": "order"}, rule="session", window=1
    )
    assert ("A", "C") not in _pairs(narrow)


def test_session_rule_without_session_column_splits_on_silence(tmp_path):
    text = "user,item,time\nu,A,0\nu,B,60\nu,C,100000\nu,D,100060\n"
    ds = load_interactions(
        _write(tmp_path / "log.csv", text), rule="session", window=3, session_gap=1800
    )
    assert _pairs(ds) == {("A", "B"): 1.0, ("C", "D"): 1.0}


def test_parquet_with_wrong_types_skips_rows_by_row_number(tmp_path):
    frame = pd.DataFrame(
        {
            "user_id": [1.0, 1.0, 2.0, np.nan, 2.0],
            "item_id": ["A", "B", "A", "C", "B"],
            "timestamp": ["1", "2", "soon", "4", "5"],
        }
    )
    path = tmp_path / "log.parquet"
    frame.to_parquet(path)
    ds = load_interactions(path)
    reasons = dict(ds.report.skipped_examples)
    assert sorted(reasons) == [3, 4]  # rows, 1-based: bad time, missing user
    assert "soon" in reasons[3] and "empty user id" in reasons[4]
    assert _pairs(ds) == {("A", "B"): 1.0}
    assert set(ds.events["user"]) == {0}  # user 1.0 reads as "1"


def test_parquet_with_real_timestamps(tmp_path):
    frame = pd.DataFrame(
        {
            "user": ["a", "a", "a"],
            "item": ["x", "y", "z"],
            "time": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02"]),
        }
    )
    frame.to_parquet(tmp_path / "log.parquet")
    ds = load_interactions(tmp_path / "log.parquet")
    assert _pairs(ds) == {("y", "z"): 1.0, ("x", "z"): 1.0}


def test_not_a_parquet_file_is_one_sentence(tmp_path):
    (tmp_path / "log.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        load_interactions(tmp_path / "log.parquet")


def test_gzipped_csv(tmp_path):
    (tmp_path / "log.csv.gz").write_bytes(gzip.compress(LOG.encode()))
    assert len(load_interactions(tmp_path / "log.csv.gz").pairs) == 3


def test_item_metadata_becomes_catalog_and_side_fields(tmp_path):
    log = _write(tmp_path / "log.csv", LOG)
    meta = _write(
        tmp_path / "items.csv",
        "item_id,title,category,price,pages,colour\n"
        "A,Alpha,Books > Fiction,9.5,100,red\n"
        "B,Beta,Books > Science,20,300,blue\n"
        "B,Beta twice,,,,\n"
        ",Nobody,,,,\n"
        "Z,Not in the log,Toys,1,1,green\n",
    )
    ds = load_interactions(log, item_meta=meta)
    products = ds.products.set_index("asin")
    assert products.loc["A", "title"] == "Alpha" and products.loc["A", "cat_2"] == "Fiction"
    assert products.loc["B", "price"] == 20.0 and products.loc["B", "colour"] == "blue"
    assert bool(products.loc["A", "has_meta"]) and not bool(products.loc["C", "has_meta"])
    assert products.loc["C", "title"] is None
    assert "Z" not in products.index  # in no pair
    assert {"cat_1", "price", "colour", "pages decile"} <= set(ds.side_fields)
    reasons = [r for _, r in ds.report.skipped_examples]
    assert any("items.csv" in r and "repeats line 3" in r for r in reasons)
    assert any("items.csv" in r and "empty item id" in r for r in reasons)


def test_side_information_models_read_the_item_table(tmp_path):
    from recsys_core.models.side_info import encode_side_info

    log = _write(tmp_path / "log.csv", LOG)
    meta = _write(tmp_path / "items.csv", "item_id,colour\nA,red\nB,red\nC,blue\n")
    ds = load_interactions(log, item_meta=meta)
    codes, n_values, names = encode_side_info(ds.products, ds.side_fields, rare_min_count=0)
    assert names == ["colour"] and n_values == [2]
    assert codes[0, 0] == codes[1, 0] != codes[2, 0]


# -- pair files --------------------------------------------------------------------------


def test_pair_file_with_relations_uses_the_methods_weights(tmp_path):
    text = (
        "item_a,item_b,relation,weight\n"  # 1
        "A,B,bought together,1\n"  # 2
        "B,A,Also-Viewed,2\n"  # 3: the same unordered pair, summed
        "B,C,also_bought,1\n"  # 4
        "C,C,also_bought,1\n"  # 5 self pair
        "C,D,liked,1\n"  # 6 unknown relation
        "D,,also_bought,1\n"  # 7 empty id
        "B,C,also_bought,1\n"  # 8 duplicate
        "C,D,,x\n"  # 9 bad weight
        "C,D,,1\n"  # 10 no relation: 1.0
    )
    ds = load_pair_file(_write(tmp_path / "pairs.csv", text))
    assert _pairs(ds) == pytest.approx(
        {("A", "B"): 1.2 + 0.5 * 2, ("B", "C"): 1.0, ("C", "D"): 1.0}
    )
    reasons = dict(ds.report.skipped_examples)
    assert sorted(reasons) == [5, 6, 7, 8, 9]
    assert "itself" in reasons[5] and "liked" in reasons[6] and "also_bought" in reasons[6]
    assert "empty" in reasons[7] and "repeats line 4" in reasons[8] and "'x'" in reasons[9]
    assert ds.events is None
    assert ds.report.relationship_counts == {
        "also_bought": 1,
        "also_viewed": 1,
        "bought_together": 1,
        "pair": 1,
    }


def test_pair_file_columns_by_flag_with_item_table(tmp_path):
    pairs = _write(tmp_path / "p.csv", "left_sku,right_sku\n1,2\n2,3\n")
    meta = _write(tmp_path / "m.csv", "sku,name,brand\n1,One,Acme\n3,Three,Other\n")
    ds = load_pair_file(pairs, {"a": "left_sku", "b": "right_sku"}, item_meta=meta)
    products = ds.products.set_index("asin")
    assert products.loc["1", "title"] == "One" and products.loc["3", "brand"] == "Other"
    assert products.loc["2", "title"] is None
    assert "brand" in ds.side_fields


def test_pair_file_without_usable_rows_is_one_sentence(tmp_path):
    with pytest.raises(ValueError) as err:
        load_pair_file(_write(tmp_path / "p.csv", "item_a,item_b\nA,A\n,B\n"))
    assert "no usable pair rows" in str(err.value) and "\n" not in str(err.value)


# -- through the registry (the app and the pipeline) -------------------------------------


def test_registry_loads_and_caches_user_files(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    log = _write(tmp_path / "log.csv", LOG)
    settings = DatasetSettings(source="interactions", path=str(log), columns={"weight": "rating"})
    assert settings.columns == (("weight", "rating"),)
    first, hit = load_dataset(settings)
    again, hit_again = load_dataset(settings)
    assert not hit and hit_again
    pd.testing.assert_frame_equal(first.events, again.events)
    assert _pairs(again) == _pairs(first)
    session = DatasetSettings(source="interactions", path=str(log), rule="session")
    assert session.key() != settings.key()
    assert "session" in session.describe()
    pairs = _write(tmp_path / "p.csv", "item_a,item_b\nA,B\nB,C\n")
    assert len(build_dataset(DatasetSettings(source="pairs", path=str(pairs))).pairs) == 2


def test_registry_rejects_unknown_roles_and_rules():
    from recsys_core.common.settings import SettingsError

    with pytest.raises(SettingsError, match="roles are user, item"):
        DatasetSettings(source="interactions", path="x.csv", columns={"customer": "c"})
    with pytest.raises(SettingsError, match="rule"):
        DatasetSettings(source="interactions", path="x.csv", rule="cooccurrence")
    with pytest.raises(SettingsError, match="interaction log"):
        DatasetSettings(source="interactions")


def test_new_settings_fields_keep_old_keys():
    # An Amazon dataset's key from before the new fields existed (value from main): only
    # the sources whose loaders changed (synthetic, movielens) have new keys.
    assert DatasetSettings(source="amazon", path="/nonexistent/meta.json.gz").key() == (
        "cdace0e105c85f9a"
    )


def test_the_readme_examples_load(tmp_path):
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Datasets", 1)[1].split("\n## ", 1)[0]
    blocks = [
        "\n".join(line.strip() for line in block.strip().splitlines()) + "\n"
        for block in re.findall(r"```\n(.*?)```", section, flags=re.DOTALL)
    ]
    log, pairs, meta = (
        _write(tmp_path / f"{n}.csv", b) for n, b in zip("lpm", blocks, strict=True)
    )
    columns = {"user": "customer", "item": "sku", "time": "ordered", "weight": "qty"}
    ds = load_interactions(log, columns, item_meta=meta)
    assert ds.report.skipped == 0 and len(ds.pairs) == 2
    assert ds.products.set_index("asin").loc["B0042", "cat_2"] == "Running"
    ds = load_pair_file(pairs, item_meta=meta)
    assert ds.report.skipped == 0 and len(ds.pairs) == 4 and "colour" in ds.side_fields


def test_source_problem_names_a_missing_file_and_a_non_table(tmp_path):
    from recsys_core.data.registry import source_problem

    missing = DatasetSettings(source="interactions", path=str(tmp_path / "nope.csv"))
    assert "No file at" in source_problem(missing)
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01")
    assert "binary" in source_problem(
        DatasetSettings(source="pairs", path=str(tmp_path / "bin.csv"))
    )
    good = DatasetSettings(source="interactions", path=str(_write(tmp_path / "l.csv", LOG)))
    assert source_problem(good) == ""
