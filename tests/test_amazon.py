"""Amazon metadata loader: both releases, hostile lines, the method's preparation rules."""

from __future__ import annotations

import ast
import gzip
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from recsys_core.common.settings import SettingsError
from recsys_core.data.amazon import (
    KIND_2014,
    KIND_2018,
    SIDE_FIELDS,
    AmazonPrepSettings,
    file_kind,
    load_amazon,
    parse_line,
    write_amazon_2014,
)
from recsys_core.data.dataset import Dataset

# A hand-made catalog whose pairs and weights are worked out below.
#   A: title, also_bought [B, C], bought_together [B], also_viewed [D]   -> kept
#   B: title, also_bought [A, C, E]                                      -> kept
#   C: no title, also_bought [A, B]                                      -> filtered (title)
#   F: title, also_bought [A] (only one)                                 -> filtered (>= 2)
#   E: title and brand, no related                                       -> metadata only
RECORDS_2014 = [
    {
        "asin": "A",
        "title": "Laptop Bag 15.6\" Men's &amp; Women's",
        "price": 12.5,
        "brand": "Acme",
        "imUrl": "http://example.com/a.jpg",
        "salesRank": {"Electronics": 12},
        "categories": [["Electronics", "Bags", "Laptop", "15 inch", "deep"], ["Other"]],
        "related": {"also_bought": ["B", "C"], "bought_together": ["B"], "also_viewed": ["D"]},
    },
    {"asin": "B", "title": "Mouse", "related": {"also_bought": ["A", "C", "E"]}},
    {"asin": "C", "price": 3.0, "related": {"also_bought": ["A", "B"]}},
    {
        "asin": "F",
        "title": "Lonely",
        "categories": [["Toys"]],
        "related": {"also_bought": ["A"]},
    },
    {"asin": "E", "title": "Cable", "brand": "Wire Co", "categories": [["Electronics", "Cables"]]},
]

# Unordered pair -> summed weight with the method's weights (bt 1.2, ab 1.0, av 0.5).
EXPECTED_WEIGHTS = {
    ("A", "B"): 1.0 + 1.2 + 1.0,  # A ab B, A bt B, B ab A
    ("A", "C"): 1.0,  # A ab C
    ("A", "D"): 0.5,  # A av D
    ("B", "C"): 1.0,  # B ab C
    ("B", "E"): 1.0,  # B ab E
}


def _weights_by_asin(ds: Dataset) -> dict[tuple[str, str], float]:
    asins = ds.asins
    out = {}
    for a, b, w in zip(*ds.pair_arrays(), strict=True):
        out[tuple(sorted((asins[a], asins[b])))] = float(w)
    return out


def _write_lines(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(params=["meta_Test.json.gz", "meta_Test.json"])
def file_2014(request, tmp_path) -> Path:
    path = tmp_path / request.param
    assert write_amazon_2014(RECORDS_2014, path) == len(RECORDS_2014)
    return path


# -- the 2014 release ------------------------------------------------------------------


def test_2014_pairs_weights_and_counts(file_2014):
    assert file_kind(file_2014) == KIND_2014
    ds = load_amazon(file_2014)

    assert ds.name == f"amazon:{file_2014.name}"
    assert ds.side_fields == SIDE_FIELDS == ("cat_1", "cat_2", "cat_3", "cat_4", "brand", "price")
    assert _weights_by_asin(ds) == pytest.approx(EXPECTED_WEIGHTS)
    # Catalog = graph nodes, first-seen order; F is filtered and no kept record names it.
    assert ds.asins.tolist() == ["A", "B", "C", "D", "E"]
    a, b, _ = ds.pair_arrays()
    assert (a < b).all()
    assert np.all(np.diff(a.astype(np.int64) * ds.n_products + b) > 0)  # sorted, unique
    assert ds.pairs["a"].dtype == np.int32 and ds.pairs["weight"].dtype == np.float32

    rep = ds.report
    assert rep.lines_read == 5 and rep.records == 5 and rep.skipped == 0
    assert rep.records_kept == 2
    assert rep.relationship_counts == {"bought_together": 1, "also_bought": 5, "also_viewed": 1}
    assert rep.seconds > 0


def test_2014_metadata_from_every_record(file_2014):
    ds = load_amazon(file_2014)
    products = ds.products.set_index("asin")
    assert list(ds.products.columns) == [
        "asin", "title", "brand", "price", "cat_1", "cat_2", "cat_3", "cat_4", "has_meta"
    ]  # fmt: skip

    a = products.loc["A"]
    assert a["title"] == "Laptop Bag 15.6\" Men's & Women's"  # entity unescaped
    assert (a["brand"], a["price"]) == ("Acme", 12.5)
    # First category path only, levels 1-4.
    assert [a[f"cat_{i}"] for i in range(1, 5)] == ["Electronics", "Bags", "Laptop", "15 inch"]
    assert bool(a["has_meta"])

    # C was filtered (no title) but its record still gives metadata; has_meta needs a title.
    c = products.loc["C"]
    assert c["price"] == 3.0 and c["title"] is None and not bool(c["has_meta"])

    # E has no related list of its own: it is a node only through B, with its metadata.
    e = products.loc["E"]
    assert (e["title"], e["brand"], e["cat_2"], e["cat_3"]) == ("Cable", "Wire Co", "Cables", None)

    # D has no record at all.
    d = products.loc["D"]
    assert d["title"] is None and d["brand"] is None and d["cat_1"] is None
    assert math.isnan(d["price"]) and not bool(d["has_meta"])


def test_prep_rules_are_settings(file_2014):
    # Without the title rule, C is kept: adds C-A and C-B (also_bought, 1.0 each).
    ds = load_amazon(file_2014, AmazonPrepSettings(require_title=False))
    weights = _weights_by_asin(ds)
    assert weights[("A", "C")] == pytest.approx(2.0) and weights[("B", "C")] == pytest.approx(2.0)
    assert ds.report.records_kept == 3

    # With min_also_bought=1, F is kept too and enters the catalog.
    ds = load_amazon(file_2014, AmazonPrepSettings(min_also_bought=1))
    assert "F" in ds.asins.tolist()
    assert ds.products.set_index("asin").loc["F", "cat_1"] == "Toys"

    # min_also_bought=3 leaves only B.
    ds = load_amazon(file_2014, AmazonPrepSettings(min_also_bought=3))
    assert set(_weights_by_asin(ds)) == {("A", "B"), ("B", "C"), ("B", "E")}

    # Other weights; a zero weight drops the relationship.
    prep = AmazonPrepSettings(
        weight_bought_together=2.0, weight_also_bought=0.25, weight_also_viewed=0.0
    )
    weights = _weights_by_asin(load_amazon(file_2014, prep))
    assert ("A", "D") not in weights
    assert weights[("A", "B")] == pytest.approx(0.25 + 2.0 + 0.25)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"min_also_bought": -1}, "min_also_bought"),
        ({"min_also_bought": 2.5}, "min_also_bought"),
        ({"require_title": "yes"}, "require_title"),
        ({"weight_also_viewed": -0.5}, "weight_also_viewed"),
        ({"weight_bought_together": float("nan")}, "weight_bought_together"),
        ({"max_line_chars": 0}, "max_line_chars"),
        ({"max_related": -3}, "max_related"),
        ({"max_field_chars": True}, "max_field_chars"),
    ],
)
def test_settings_are_validated(changes, field):
    with pytest.raises(SettingsError, match=field):
        AmazonPrepSettings(**changes)
    with pytest.raises(SettingsError, match="at least one relationship weight"):
        AmazonPrepSettings(weight_bought_together=0, weight_also_bought=0, weight_also_viewed=0)


# -- the 2018 release and mixed files --------------------------------------------------


def test_2018_json_lines(tmp_path):
    lines = [
        {
            "asin": "X1",
            "title": "Phone &amp; Case",
            "brand": "Zed",
            "price": "$1,012.99",
            "main_cat": "Cell Phones",
            "category": ["Cell Phones & Accessories", "Cases", "Basic Cases"],
            "also_buy": ["X2", "X3"],
            "also_view": ["X3", "X4"],
        },
        {"asin": "X2", "title": "Strap", "price": "", "also_buy": ["X1", "X3"]},
        {"asin": "X3", "title": "Charger", "price": "$5.00 - $9.00", "also_buy": ["X1"]},
    ]
    path = _write_lines(tmp_path / "meta_Cell.json.gz", [json.dumps(r) for r in lines])
    assert file_kind(path) == KIND_2018
    ds = load_amazon(path)
    assert _weights_by_asin(ds) == pytest.approx(
        {("X1", "X2"): 2.0, ("X1", "X3"): 1.5, ("X1", "X4"): 0.5, ("X2", "X3"): 1.0}
    )
    products = ds.products.set_index("asin")
    assert products.loc["X1", "title"] == "Phone & Case"
    assert products.loc["X1", "price"] == pytest.approx(1012.99)
    assert products.loc["X1", "cat_3"] == "Basic Cases" and products.loc["X1", "cat_4"] is None
    assert math.isnan(products.loc["X2", "price"])
    assert products.loc["X3", "price"] == 5.0  # a range: its low end
    assert ds.report.records_kept == 2  # X3 has one also_buy
    assert ds.report.relationship_counts == {
        "bought_together": 0,
        "also_bought": 4,
        "also_viewed": 2,
    }


def test_format_is_detected_per_line(tmp_path):
    lines = [
        repr({"asin": "P", "title": "p", "related": {"also_bought": ["Q", "R"]}}),
        json.dumps({"asin": "Q", "title": "q", "also_buy": ["P", "R"]}),
        "",  # blank lines are neither records nor skipped
    ]
    ds = load_amazon(_write_lines(tmp_path / "mixed.json", lines))
    assert _weights_by_asin(ds) == pytest.approx(
        {("P", "Q"): 2.0, ("P", "R"): 1.0, ("Q", "R"): 1.0}
    )
    assert ds.report.records == 2 and ds.report.skipped == 0


# -- hostile and broken lines ----------------------------------------------------------


def test_hostile_and_broken_lines_are_skipped_never_run(tmp_path):
    pwned = tmp_path / "PWNED_x"
    good = {"asin": "G1", "title": "Good", "related": {"also_bought": ["G2", "G3"]}}
    lines = [
        repr(good),  # 1
        f"__import__('os').system('touch {pwned}')",  # 2
        f"{{'asin': __import__('os').system('touch {pwned}'), 'title': 'x'}}",  # 3
        f"{{'asin': 'H1', 'title': (lambda: open('{pwned}', 'w'))()}}",  # 4
        "{'asin': 'B1', 'title': 'broken', 'related': {'also_bought': ['G1'",  # 5
        "{'asin': 'B2', 'related': ['G1', 'G2']}",  # 6: related not a dict
        "{'asin': 'B3', 'title': 't', 'related': {'also_bought': ['G1', 7]}}",  # 7
        "{'asin': 'B4', 'title': 't', 'related': {'also_bought': 'G1G2'}}",  # 8
        "{'title': 'no asin', 'related': {'also_bought': ['G1', 'G2']}}",  # 9
        "{'asin': '', 'title': 'empty asin'}",  # 10
        "{'asin': 'B5', 'title': '" + "x" * 5000 + "'}",  # 11: line > max_line_chars
        "[" * 100_000 + "]" * 100_000,  # 12: pathological nesting, also too long
        "[" * 150 + "]" * 150,  # 13: nested, short: parses to a list, not a record
        "{'asin': 'B6', 'title': ['not', 'text']}",  # 14
        "{'asin': 'B7', 'title': 't', 'price': {'$': 1}}",  # 15
        '{"asin": "B8", "title": "json", "also_buy": {"X": 1}}',  # 16
        "{'asin': 'B9', 'title': f'{__import__(\"os\")}'}",  # 17: f-string
        "{'asin': 'C1', 'title': '" + "y" * 600 + "'}",  # 18: field > max_field_chars
        "{'asin': 'C2', 'title': 't', 'related': {'also_viewed': ['Z'] * 3}}",  # 19
        repr({"asin": "G2", "title": "Good 2", "related": {"also_bought": ["G1", "G3"]}}),  # 20
    ]
    path = _write_lines(tmp_path / "hostile.json.gz", lines)
    prep = AmazonPrepSettings(max_line_chars=4000, max_field_chars=500)
    ds = load_amazon(path, prep)

    assert not pwned.exists()
    rep = ds.report
    assert rep.lines_read == 20
    assert rep.records == 2 and rep.skipped == 18
    assert [n for n, _ in rep.skipped_examples] == list(range(2, 12))  # first 10 kept
    reasons = dict(rep.skipped_examples)
    assert "max_line_chars" in reasons[11]
    assert "'related' is list" in reasons[6]
    assert "not text" in reasons[7]
    assert "asin" in reasons[9] and "asin" in reasons[10]
    assert _weights_by_asin(ds) == pytest.approx(
        {("G1", "G2"): 2.0, ("G1", "G3"): 1.0, ("G2", "G3"): 1.0}
    )


def test_limits_on_related_lists(tmp_path):
    record = {"asin": "M", "title": "m", "related": {"also_bought": [f"R{i}" for i in range(50)]}}
    path = tmp_path / "many.json"
    write_amazon_2014(
        [record, {"asin": "N", "title": "n", "related": {"also_bought": ["M", "O"]}}], path
    )
    ds = load_amazon(path, AmazonPrepSettings(max_related=10))
    assert ds.report.skipped == 1 and "max_related" in ds.report.skipped_examples[0][1]
    assert ds.n_products == 3
    assert load_amazon(path).n_products == 53


# -- the safe parser -------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the reference literal_eval's
def test_parse_line_agrees_with_literal_eval():
    """The fast JSON rewrite must read exactly what Python would, or refuse."""
    rng = random.Random(7)
    pieces = ["a", " ", "'", '"', "\\", "é", '15.6"', "Men's", "\t", "\n", "&amp;", "NaN", "\\x"]

    def text() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))

    for _ in range(3000):
        record = {
            "asin": text(),
            "title": text(),
            "related": {"also_bought": [text() for _ in range(3)]},
            "price": rng.choice([1.5, None, True, 3, 1e-07]),
        }
        line = list(repr(record))
        for _ in range(rng.randint(0, 2)):  # sometimes corrupt it
            k = rng.randrange(len(line))
            line[k : k + rng.randint(0, 1)] = rng.choice(["'", '"', "\\", ",", "{", "]", ""])
        line = "".join(line)
        try:
            expected = ast.literal_eval(line)
        except (ValueError, SyntaxError, TypeError):
            expected = None
        try:
            got = parse_line(line)
        except ValueError:
            got = None
        assert got == expected and type(got) is type(expected), line


def test_parse_line_refuses_json_constants_in_literals():
    assert parse_line('{"asin": "a", "price": NaN}')["asin"] == "a"  # JSON allows it
    with pytest.raises(ValueError):
        parse_line("{'asin': 'a', 'price': NaN}")  # Python's literal syntax does not


def test_python2_utf8_escapes_are_repaired(tmp_path):
    # Python 2 wrote UTF-8 byte strings as '\xc3\xa9' escapes.
    line = (
        r"{'asin': 'U', 'title': 'Caf\xc3\xa9 \xe2\x80\x94 Cr\xc3\xa8me', "
        r"'related': {'also_bought': ['V', 'W']}}"
    )
    ds = load_amazon(_write_lines(tmp_path / "u.json", [line]))
    assert ds.products.set_index("asin").loc["U", "title"] == "Café — Crème"


# -- files, progress, streaming, errors ------------------------------------------------


def test_missing_and_wrong_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_amazon(tmp_path / "nope.json.gz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        file_kind(tmp_path / "nope.json.gz")

    csv = _write_lines(tmp_path / "ratings.csv", ["user,item,rating", "1,2,5"])
    with pytest.raises(ValueError, match="is not Amazon metadata: first line") as err:
        load_amazon(csv)
    assert "{'asin': ..., 'related': ...}" in str(err.value)

    no_asin = _write_lines(tmp_path / "other.json", [json.dumps({"id": 1, "name": "x"})])
    with pytest.raises(ValueError, match="first line has no 'asin' field"):
        file_kind(no_asin)

    giant = _write_lines(tmp_path / "giant.json", ["[" + "1," * 600_000 + "1]", "{'asin': 'a'}"])
    with pytest.raises(ValueError, match="first line is longer than"):
        file_kind(giant)

    empty = _write_lines(tmp_path / "empty.json", [""])
    with pytest.raises(ValueError, match="empty"):
        file_kind(empty)


def test_truncated_gzip_and_no_pairs(tmp_path):
    records = [
        {"asin": f"T{i}", "title": f"t{i}", "related": {"also_bought": [f"T{i + 1}", f"T{i + 2}"]}}
        for i in range(3000)
    ]
    full = tmp_path / "full.json.gz"
    write_amazon_2014(records, full)
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_amazon(cut)

    lonely = tmp_path / "lonely.json"
    write_amazon_2014([{"asin": "L", "title": "l", "related": {"also_bought": ["M"]}}], lonely)
    with pytest.raises(ValueError, match="no product pairs"):
        load_amazon(lonely)


def test_progress_reports_compressed_bytes(tmp_path):
    records = [
        {"asin": f"P{i}", "title": "p", "related": {"also_bought": [f"P{i + 1}", f"P{i + 7}"]}}
        for i in range(20_000)
    ]
    path = tmp_path / "meta_Electronics.json.gz"
    write_amazon_2014(records, path)
    calls = []
    ds = load_amazon(path, on_progress=lambda done, total, msg: calls.append((done, total, msg)))
    size = path.stat().st_size
    assert ds.report.records == 20_000
    assert all(
        total == size and msg == "reading meta_Electronics.json.gz" for _, total, msg in calls
    )
    done = [d for d, _, _ in calls]
    assert done[0] == 0 and done[-1] == size and done == sorted(done)
    assert len(calls) > 2  # in-between updates, not only start and end


def test_reading_is_streamed(tmp_path, monkeypatch):
    """The loader reads the decompressed stream in bounded chunks, never all at once."""
    records = [
        {"asin": f"S{i}", "title": "s", "related": {"also_bought": [f"S{i + 1}", f"S{i + 3}"]}}
        for i in range(30_000)
    ]
    path = tmp_path / "s.json.gz"
    write_amazon_2014(records, path)
    sizes: list[int] = []
    for name in ("read", "read1"):
        original = getattr(gzip.GzipFile, name)

        def spy(self, size=-1, _original=original):
            sizes.append(size)
            return _original(self, size)

        monkeypatch.setattr(gzip.GzipFile, name, spy)
    ds = load_amazon(path)
    assert ds.report.records == 30_000
    assert len(sizes) > 5
    assert all(size is not None and 0 < size <= 1 << 20 for size in sizes)


def test_writer_output_reads_back(tmp_path):
    records = [
        {
            "asin": "W1",
            "title": "Quote \" and apostrophe ' and backslash \\ and ünïcode",
            "price": np.float64(9.5),
            "brand": None,  # missing: left out rather than written as None
            "related": {"also_bought": np.array(["W2", "W3"]), "also_viewed": ["W4"]},
            "categories": [["Electronics", "Misc"]],
        },
        {
            "asin": "W2",
            "title": "two",
            "price": float("nan"),
            "related": {"also_bought": ["W1", "W3"]},
        },
    ]
    path = tmp_path / "w.json.gz"
    assert write_amazon_2014(records, path) == 2
    again = tmp_path / "again.json.gz"
    write_amazon_2014(records, again)
    assert again.read_bytes() == path.read_bytes()  # no time or name in the gzip header
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        first, second = fh.read().splitlines()
    assert "None" not in first and "nan" not in second and "np." not in first
    ds = load_amazon(path)
    products = ds.products.set_index("asin")
    assert products.loc["W1", "title"] == records[0]["title"]
    assert products.loc["W1", "price"] == 9.5 and math.isnan(products.loc["W2", "price"])
    assert ds.report.skipped == 0

    with pytest.raises(ValueError, match="plain Python values"):
        write_amazon_2014([{"asin": "Z", "title": {1, 2}.__class__}], tmp_path / "bad.json")


def test_dataset_survives_the_cache_round_trip(file_2014, tmp_path):
    ds = load_amazon(file_2014)
    ds.save(tmp_path / "saved")
    back = Dataset.load(tmp_path / "saved")
    assert back.asins.tolist() == ds.asins.tolist()
    assert back.report.records_kept == ds.report.records_kept
    assert np.allclose(back.pairs["weight"], ds.pairs["weight"])


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{'asin': print('x')}", "a function call"),
        ('{"asin": foo}', "a bare name"),
        ("{'asin': os.path}", "attribute access"),
        ("{'asin': 'a' + 'b'}", "arithmetic"),
        ("{'asin': ", "never closed"),
    ],
)
def test_skip_reasons_are_readable_text(line, words):
    with pytest.raises(ValueError) as err:
        parse_line(line)
    message = str(err.value)
    assert words in message
    assert "<ast." not in message and "object at 0x" not in message


def test_a_one_product_file_names_the_file_problem_not_a_settings_class(tmp_path):
    lonely = tmp_path / "lonely.json"
    write_amazon_2014([{"asin": "L", "title": "l", "related": {"also_bought": ["M"]}}], lonely)
    with pytest.raises(ValueError) as err:
        load_amazon(lonely)
    message = str(err.value)
    assert "AmazonPrepSettings" not in message and "\n" not in message
    assert "0 of its 1 products" in message and "also-bought" in message
    assert "load a larger part" in message


def test_a_file_of_code_lines_says_its_lines_were_skipped(tmp_path):
    from recsys_core.common.settings import SettingsError
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.pipeline import prepare

    records = [
        {"asin": f"A{i}", "title": f"t{i}", "related": {"also_bought": ["A0", "A1", "A2"]}}
        for i in range(3)
    ]
    path = tmp_path / "mostly_code.json"
    write_amazon_2014(records, path)
    code = "\n".join(f"def f{i}(x):\n    return x + {i}" for i in range(20))
    path.write_text(path.read_text() + code + "\n")
    with pytest.raises(SettingsError) as err:
        prepare(DatasetSettings(source="amazon", path=str(path)))
    message = str(err.value)
    assert "40 of its 43 lines were skipped" in message and "line 4" in message
    assert "too few" in message and "larger" in message
    assert "negative pairs" not in message and "\n" not in message
