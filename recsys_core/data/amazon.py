"""Amazon product metadata (2014 Python-literal lines, 2018 JSON lines) -> :class:`Dataset`.

The files are read as users download them, gzipped or plain, one product per line. The
2014 release writes each record with Python's ``repr`` (single quotes), which the original
code parsed with ``eval``; here nothing in a line is ever executed. Each line goes through
:func:`parse_line`: JSON first, then a safe rewrite of the Python literal into JSON (string
tokens only), then :func:`ast.literal_eval` for whatever the rewrite cannot handle. A line
that fails all three, or whose record has the wrong shape, is skipped and counted in the
:class:`LoadReport`.

The file is streamed: lines are read with a length limit, ASINs are interned into dense
int ids as they appear, and edges go into compact arrays, so memory grows with the
catalog, not with the file.

Preparation follows the method (see ``AmazonPrepSettings``): keep records with a title and
at least two ``also_bought`` entries, explode ``related`` into (product, related product,
relationship) rows weighted 1.2 / 1.0 / 0.5 for bought_together / also_bought /
also_viewed, and sum the weights of each unordered pair.
"""

from __future__ import annotations

import ast
import dataclasses
import gzip
import html
import io
import json
import math
import re
import time
import warnings
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_core.common import cache
from recsys_core.common.progress import Progress, report
from recsys_core.common.settings import Settings, require
from recsys_core.data.dataset import Dataset, LoadReport, pairs_from_edges

KIND_2014 = "amazon-2014"
KIND_2018 = "amazon-2018"
SIDE_FIELDS = ("cat_1", "cat_2", "cat_3", "cat_4", "brand", "price")
PRODUCT_COLUMNS = (
    "asin",
    "title",
    "brand",
    "price",
    "cat_1",
    "cat_2",
    "cat_3",
    "cat_4",
    "has_meta",
)
# Order is the relationship code stored per edge run.
RELATIONSHIPS = ("bought_together", "also_bought", "also_viewed")
CATEGORY_LEVELS = 4

# Keys that only one release uses; they decide the kind when a line is ambiguous.
_KEYS_2014 = frozenset({"related", "categories", "salesRank", "imUrl"})
_KEYS_2018 = frozenset({"also_buy", "also_view", "category", "main_cat"})
_SNIFF_LINES = 20
_SNIFF_LINE_CHARS = 1_000_000
_PROGRESS_EVERY = 8192  # lines between progress calls
_REASON_CHARS = 160
_GZIP_MAGIC = b"\x1f\x8b"


@dataclasses.dataclass(frozen=True)
class AmazonPrepSettings(Settings):
    """How Amazon metadata becomes weighted product pairs; defaults are the method's.

    Attributes
    ----------
    require_title:
        Keep only source records that have a (non-empty) title.
    min_also_bought:
        Keep only source records with at least this many ``also_bought`` entries.
    weight_bought_together, weight_also_bought, weight_also_viewed:
        Edge weight per relationship; a pair's weight is the sum over its rows. A weight
        of 0 drops that relationship.
    max_line_chars:
        Longer lines are skipped before any parsing (guards the literal parser).
    max_field_chars:
        A record whose ASIN, title, brand, price text or category name is longer is skipped.
    max_related:
        A record with a related list longer than this is skipped.
    """

    require_title: bool = True
    min_also_bought: int = 2
    weight_bought_together: float = 1.2
    weight_also_bought: float = 1.0
    weight_also_viewed: float = 0.5
    max_line_chars: int = 1_000_000
    max_field_chars: int = 10_000
    max_related: int = 10_000

    def validate(self) -> None:
        name = type(self).__name__
        require(
            isinstance(self.require_title, bool),
            f"{name}.require_title must be True or False (got {self.require_title!r}).",
        )
        require(
            _is_int(self.min_also_bought) and self.min_also_bought >= 0,
            f"{name}.min_also_bought must be an integer >= 0 (got {self.min_also_bought!r}); "
            "use 0 to keep records without also_bought.",
        )
        for field in ("weight_bought_together", "weight_also_bought", "weight_also_viewed"):
            value = getattr(self, field)
            require(
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value >= 0,
                f"{name}.{field} must be a finite number >= 0 (got {value!r}); "
                "use 0 to ignore that relationship.",
            )
        require(
            self.weight_bought_together + self.weight_also_bought + self.weight_also_viewed > 0,
            f"{name}: at least one relationship weight must be > 0, or there are no pairs.",
        )
        for field, low in (("max_line_chars", 100), ("max_field_chars", 10), ("max_related", 1)):
            value = getattr(self, field)
            require(
                _is_int(value) and value >= low,
                f"{name}.{field} must be an integer >= {low} (got {value!r}).",
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


# -- parsing one line, safely ----------------------------------------------------------

# One token per match, scanning left to right so matches stay aligned with Python's own
# tokens: (1) a run of plain text and single-quoted strings without '"' or '\' (rewriting
# it is a quote swap), (2) a single-quoted string with '"' or an escape, (3) a
# double-quoted string, (4) any other single character: an unterminated string or a stray
# backslash, which ends the rewrite. Possessive quantifiers keep the scan linear.
_LITERAL_TOKEN = re.compile(
    r"""(?:'[^'"\\]*'|[^'"\\]++)++|'(?:[^'\\]|\\.)*+'|"(?:[^"\\]|\\.)*+"|.""", re.DOTALL
)


def _token_to_json(match: re.Match[str]) -> str:
    token = match.group(0)
    first = token[0]
    if len(token) == 1 and first in "'\"\\":
        raise ValueError("not a complete string token")
    if first == '"':
        # Python only double-quotes a string that has a "'"; without escapes it is JSON.
        return token if "\\" not in token else json.dumps(_literal_eval(token))
    if first == "'" and ('"' in token or "\\" in token):
        if "\\" in token:
            # One string literal: literal_eval decodes its escapes and cannot run code.
            return json.dumps(_literal_eval(token))
        return '"' + token[1:-1].replace('"', '\\"') + '"'
    return token.replace("'", '"')


def _literal_eval(text: str) -> Any:
    # Lines with stray backslashes ("\c") make the compiler warn once per line; a file
    # can hold thousands of them and the warning says nothing about the data.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=SyntaxWarning)
        return ast.literal_eval(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a Python literal")


# One decoder each for all lines; json.loads(..., strict=False) would build one per call.
# strict=False: Python string literals may hold raw tabs, JSON strings may not. Rewritten
# 2014 lines must not gain JSON's NaN / Infinity, which Python's literal syntax lacks.
_json_decode = json.JSONDecoder(strict=False).decode
_literal_json_decode = json.JSONDecoder(strict=False, parse_constant=_no_constant).decode


def _literal_as_json(text: str) -> Any:
    """Parse a Python literal by rewriting its string tokens into JSON; raise on failure."""
    if "\\" not in text:
        if '"' not in text:
            # No escapes and no double quotes: every "'" delimits a string.
            return _literal_json_decode(text.replace("'", '"'))
        if '"' not in "".join(text.split("'")[0::2]):
            # Every '"' sits inside a single-quoted string (none is outside one, so no
            # string is double-quoted): escape them, then swap the quotes.
            return _literal_json_decode(text.replace('"', '\\"').replace("'", '"'))
    return _literal_json_decode(_LITERAL_TOKEN.sub(_token_to_json, text))


def parse_line(line: str) -> Any:
    """Parse one metadata line as JSON or as a Python literal, never executing it.

    Raises
    ------
    ValueError
        The line is neither valid JSON nor a valid Python literal.
    """
    text = line.strip()
    if text.startswith('{"'):
        try:
            return _json_decode(text)
        except (ValueError, RecursionError):
            pass
    elif text.startswith("{'"):
        try:
            return _literal_as_json(text)
        except (ValueError, RecursionError, SyntaxError, TypeError, MemoryError):
            pass  # the rewrite only covers the common case; literal_eval decides
    try:
        return _literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(_readable_reason(exc)[:_REASON_CHARS]) from None


# literal_eval names the node it refused as "<ast.Call object at 0x7f...>": say what that
# is in the line instead.
_AST_NODE = re.compile(
    r"malformed node or string(?: on line \d+)?: <ast\.(\w+) object at 0x[0-9a-f]+>"
)
_NODE_WORDS = {
    "Call": "a function call",
    "Name": "a bare name (a variable, not a quoted string)",
    "Attribute": "an attribute access (x.y)",
    "BinOp": "arithmetic",
    "UnaryOp": "arithmetic",
    "Lambda": "a lambda",
    "Subscript": "an index or slice (x[...])",
    "Compare": "a comparison",
    "BoolOp": "a logical expression",
    "JoinedStr": "an f-string",
    # A value refused where it stands is an operand: 'a' + 'b', [1] * 2.
    "Constant": "arithmetic or another operator on values",
    "List": "arithmetic or another operator on values",
    "Tuple": "arithmetic or another operator on values",
    "Dict": "arithmetic or another operator on values",
    "Set": "a set, or an operator on values",
}


def _readable_reason(exc: BaseException) -> str:
    """Why a line is not a record, in words a person can act on (no parser internals)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    node = _AST_NODE.search(text)
    if node:
        what = _NODE_WORDS.get(node.group(1), "an expression that would have to be run")
        return f"not JSON or a Python literal: it holds {what}, which is never run"
    if isinstance(exc, SyntaxError):
        return f"not JSON or a Python literal: {exc.msg}"
    if isinstance(exc, MemoryError | RecursionError):
        return "not JSON or a Python literal: nested too deeply"
    return f"not JSON or a Python literal ({text or type(exc).__name__})"


# -- reading lines, streamed -----------------------------------------------------------


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(
            f"Amazon metadata file {str(path)!r} does not exist; download e.g. "
            "meta_Electronics.json.gz and give its full path."
        )
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is not a file (a folder?); give the file's path.")


class _LineReader:
    """Lines of a gzipped or plain text file, each at most ``max_chars`` long.

    Yields ``(line_number, text)``; a longer line yields ``(line_number, None)`` and is
    consumed in bounded chunks, so one giant line never sits in memory. ``tell()`` is the
    position in the file on disk (compressed bytes for .gz), for progress.
    """

    def __init__(self, path: Path, max_chars: int) -> None:
        self.path = path
        self.max_chars = max_chars
        self.size = path.stat().st_size
        self._raw: io.BufferedReader | None = None

    def tell(self) -> int:
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        with open(self.path, "rb") as raw:
            self._raw = raw
            is_gzip = raw.read(2) == _GZIP_MAGIC  # sniff: names do not always say
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
            # errors="replace": a stray bad byte spoils a character, not the whole load.
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace")
            readline = text.readline
            limit = self.max_chars
            number = 0
            while True:
                line = readline(limit + 1)
                if not line:
                    break
                number += 1
                if len(line) > limit and not line.endswith("\n"):
                    yield number, None  # before draining: a caller that stops reads no more
                    while line and not line.endswith("\n"):  # drain the rest, bounded
                        line = readline(limit)
                    continue
                yield number, line


# -- checking one record ---------------------------------------------------------------


class _BadRecord(ValueError):
    """A parsed line whose record cannot be used; the message is the reported reason."""


_PRICE_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _text(value: Any, field: str, max_chars: int) -> str | None:
    """A clean optional text field: None if missing or blank; bad type or size raises."""
    if value is None:
        return None
    if type(value) is not str:
        raise _BadRecord(f"'{field}' is {type(value).__name__}, not text")
    if len(value) > max_chars:
        raise _BadRecord(f"'{field}' longer than max_field_chars={max_chars}")
    if "&" in value:
        value = html.unescape(value)
    if not value.isascii():
        value = _fix_mojibake(value)
    value = value.strip()
    return value or None


def _fix_mojibake(value: str) -> str:
    # Python 2 wrote UTF-8 bytes as '\xc3\xa9' escapes; decoded as str they read 'Ã©'.
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _price(value: Any, max_chars: int) -> float:
    """Price as float (NaN if missing); 2018 strings like "$12.99" or "$5 - $9" -> first."""
    if value is None:
        return math.nan
    kind = type(value)
    if kind is float or kind is int:
        price = float(value)
        return price if math.isfinite(price) and price >= 0 else math.nan
    if kind is str:
        if len(value) > max_chars:
            raise _BadRecord(f"'price' longer than max_field_chars={max_chars}")
        match = _PRICE_NUMBER.search(value)
        return float(match.group(0).replace(",", "")) if match else math.nan
    raise _BadRecord(f"'price' is {kind.__name__}, not a number or text")


def _asin_list(value: Any, field: str, prep: AmazonPrepSettings) -> list[str]:
    if value is None:
        return []
    if type(value) is not list:
        raise _BadRecord(f"'{field}' is {type(value).__name__}, not a list of ASINs")
    if not value:
        return value
    if len(value) > prep.max_related:
        raise _BadRecord(f"'{field}' has {len(value)} entries > max_related={prep.max_related}")
    # The checks stay in C (join, map); this runs for millions of entries.
    try:
        "".join(value)
    except TypeError:
        raise _BadRecord(f"'{field}' has an entry that is not text") from None
    if min(map(len, value)) == 0 or max(map(len, value)) > prep.max_field_chars:
        raise _BadRecord(f"'{field}' has an empty or over-long ASIN")
    return value


def _categories(record: dict, max_chars: int) -> tuple[str | None, ...]:
    """Levels 1-4 of the first category path (2014 ``categories``) or 2018 ``category``."""
    if "categories" in record and record["categories"] is not None:
        paths = record["categories"]
        if type(paths) is not list or any(type(p) is not list for p in paths):
            raise _BadRecord("'categories' is not a list of category paths")
        path = paths[0] if paths else []
        for other in paths[1:]:
            _check_names(other, "categories", max_chars)
    else:
        path = record.get("category")
        if path is None:
            path = []
        elif type(path) is not list:
            raise _BadRecord("'category' is not a list of category names")
    _check_names(path, "categories", max_chars)
    levels = [_text(name, "categories", max_chars) for name in path[:CATEGORY_LEVELS]]
    levels += [None] * (CATEGORY_LEVELS - len(levels))
    return tuple(levels)


def _check_names(path: list, field: str, max_chars: int) -> None:
    for name in path:
        if type(name) is not str:
            raise _BadRecord(f"'{field}' has a {type(name).__name__}, not text")
        if len(name) > max_chars:
            raise _BadRecord(f"'{field}' has a name longer than max_field_chars={max_chars}")


def _related(record: dict, prep: AmazonPrepSettings) -> tuple[list[str], list[str], list[str]]:
    """(bought_together, also_bought, also_viewed), from 2014 ``related`` or 2018 keys."""
    related = record.get("related")
    if related is None:
        related = {}
    elif type(related) is not dict:
        raise _BadRecord(f"'related' is {type(related).__name__}, not a dict")
    together = _asin_list(related.get("bought_together"), "bought_together", prep)
    bought = related.get("also_bought")
    bought = _asin_list(
        bought if bought is not None else record.get("also_buy"), "also_bought", prep
    )
    viewed = related.get("also_viewed")
    viewed = _asin_list(
        viewed if viewed is not None else record.get("also_view"), "also_viewed", prep
    )
    return together, bought, viewed


# -- the catalog and edges, built while streaming --------------------------------------


class _Builder:
    """Interns ASINs into ids, keeps metadata per id and edges as compact runs."""

    def __init__(self, prep: AmazonPrepSettings) -> None:
        self.prep = prep
        self.index: dict[str, int] = {}
        self.meta: dict[int, tuple] = {}  # id -> (title, brand, price, cat_1..cat_4)
        self.dst = array("i")  # one entry per exploded row
        self.run_src = array("i")  # one entry per (record, relationship) run of rows
        self.run_rel = array("B")
        self.run_len = array("i")
        self.rel_counts = [0] * len(RELATIONSHIPS)
        self.kept = 0

    def add(self, record: Any) -> None:
        """Check one parsed record and add it; raise :class:`_BadRecord` if unusable."""
        if type(record) is not dict:
            raise _BadRecord(f"line is a {type(record).__name__}, not a product record (dict)")
        prep = self.prep
        max_chars = prep.max_field_chars
        asin = record.get("asin")
        if type(asin) is not str or not asin.strip():
            raise _BadRecord("missing or empty 'asin'")
        if len(asin) > max_chars:
            raise _BadRecord(f"'asin' longer than max_field_chars={max_chars}")
        asin = asin.strip()
        title = _text(record.get("title"), "title", max_chars)
        brand = _text(record.get("brand"), "brand", max_chars)
        price = _price(record.get("price"), max_chars)
        cats = _categories(record, max_chars)
        together, bought, viewed = _related(record, prep)

        index = self.index
        pid = index.setdefault(asin, len(index))
        old = self.meta.get(pid)
        if old is None or (old[0] is None and title is not None):
            self.meta[pid] = (title, brand, price, *cats)

        if prep.require_title and title is None:
            return
        if len(bought) < prep.min_also_bought:
            return
        rows = 0
        get = index.get
        for code, asins in enumerate((together, bought, viewed)):
            if not asins:
                continue
            # Most related ASINs were seen before: look them up in C, then intern the new
            # ones (len(index) is re-read each time, so each gets the next free id).
            ids = list(map(get, asins))
            if None in ids:
                setdefault = index.setdefault
                ids = [
                    setdefault(a, len(index)) if i is None else i
                    for a, i in zip(asins, ids, strict=True)
                ]
            self.dst.extend(ids)
            self.run_src.append(pid)
            self.run_rel.append(code)
            self.run_len.append(len(asins))
            self.rel_counts[code] += len(asins)
            rows += len(asins)
        if rows:
            self.kept += 1

    def dataset(self, name: str, load_report: LoadReport) -> Dataset:
        run_len = _int_array(self.run_len, np.int32)
        missing = (None, None, math.nan, None, None, None, None)
        meta_get = self.meta.get

        def meta_of(ids: np.ndarray) -> list[list]:
            rows = [meta_get(i, missing) for i in ids.tolist()]
            return [[row[k] for row in rows] for k in range(len(missing))]

        load_report.records_kept = self.kept
        load_report.relationship_counts = dict(zip(RELATIONSHIPS, self.rel_counts, strict=True))
        return assemble_dataset(
            name,
            np.array(list(self.index), dtype=object),
            np.repeat(_int_array(self.run_src, np.int32), run_len),
            _int_array(self.dst, np.int32),
            np.repeat(_int_array(self.run_rel, np.uint8), run_len),
            meta_of,
            self.prep,
            load_report,
        )


def assemble_dataset(
    name: str,
    asins: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    rel: np.ndarray,
    meta_of: Callable[[np.ndarray], list[list]],
    prep: AmazonPrepSettings,
    load_report: LoadReport,
) -> Dataset:
    """The Dataset of interned products and their related-list rows.

    ``asins[i]`` is id i's ASIN (ids in first-seen order); ``src``, ``dst``, ``rel`` are
    one row per related-list entry (``rel`` indexes :data:`RELATIONSHIPS`), in file order;
    ``meta_of(ids)`` gives the columns title, brand, price, cat_1..cat_4 of those ids
    (None / NaN where an id has no record). The loader and the synthetic generator's
    direct path both end here, so both give the same catalog from the same rows.
    """
    n_ids = len(asins)
    weight_of = np.array(
        [prep.weight_bought_together, prep.weight_also_bought, prep.weight_also_viewed]
    )
    weight = weight_of[rel]
    live = weight > 0  # a zero weight means "ignore this relationship"
    if not live.all():  # copies only when a relationship is switched off
        src, dst, weight = src[live], dst[live], weight[live]
    del live
    pairs = pairs_from_edges(src, dst, weight, max(n_ids, 1))
    del src, dst, weight

    # The catalog is the graph's nodes: ids used by a pair, renumbered in first-seen
    # order (a monotone map, so pairs stay sorted by (a, b)).
    used = np.zeros(n_ids, dtype=bool)
    used[pairs["a"].to_numpy()] = True
    used[pairs["b"].to_numpy()] = True
    new_id = (np.cumsum(used) - 1).astype(np.int32)
    pairs["a"] = new_id[pairs["a"].to_numpy()]
    pairs["b"] = new_id[pairs["b"].to_numpy()]
    keep = np.flatnonzero(used)

    kept_asins = np.asarray(asins, dtype=object)[keep] if n_ids else np.zeros(0, object)
    columns = meta_of(keep)
    products = pd.DataFrame(
        {
            "asin": _text_column(kept_asins),
            "title": _text_column(columns[0]),
            "brand": _text_column(columns[1]),
            "price": np.array(columns[2], dtype=np.float64),
            "cat_1": _text_column(columns[3]),
            "cat_2": _text_column(columns[4]),
            "cat_3": _text_column(columns[5]),
            "cat_4": _text_column(columns[6]),
            "has_meta": np.array([t is not None for t in columns[0]], dtype=bool),
        },
        columns=list(PRODUCT_COLUMNS),
    )
    return Dataset(
        name=name,
        products=products,
        pairs=pairs.reset_index(drop=True),
        side_fields=SIDE_FIELDS,
        report=load_report,
    )


def clean_text(value: Any, field: str = "text", max_chars: int = 10_000) -> str | None:
    """A text field as the loader keeps it: entities decoded, mojibake fixed, stripped,
    None if blank (for writers that build the catalog without the file)."""
    return _text(value, field, max_chars)


def _text_column(values: Iterable) -> pd.Series:
    # object dtype keeps missing text as None (the catalog convention), not NaN.
    return pd.Series(list(values), dtype=object)


def _int_array(values: array, dtype: type) -> np.ndarray:
    # frombuffer refuses an empty buffer's zero-length view on some numpy versions.
    return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)


# -- public API -------------------------------------------------------------------------


def file_kind(path: str | Path) -> str:
    """Say which Amazon release a metadata file is: ``"amazon-2014"`` or ``"amazon-2018"``.

    Looks at the first non-empty lines only (up to 20), gzipped or plain.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file does not look like Amazon metadata (the message says why).
    """
    path = Path(path)
    _check_exists(path)
    problem = "the file is empty"
    seen = 0
    try:
        for _, line in _LineReader(path, _SNIFF_LINE_CHARS):
            if line is not None and not line.strip():
                continue
            seen += 1
            if line is None:
                reason = f"is longer than {_SNIFF_LINE_CHARS:,} characters"
            else:
                try:
                    record = parse_line(line)
                except ValueError:
                    reason = "is neither JSON nor a Python literal"
                else:
                    asin = record.get("asin") if isinstance(record, dict) else None
                    if isinstance(asin, str) and asin.strip():
                        return _kind_of(record, line)
                    reason = "has no 'asin' field"
            if seen == 1:
                problem = f"first line {reason}"
            if seen >= _SNIFF_LINES or line is None:  # a giant line: not worth draining
                break
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable gzip or text file: {exc}") from None
    raise ValueError(
        f"{path} is not Amazon metadata: {problem}; expected one product per line like "
        "{'asin': ..., 'related': ...}"
    )


def _kind_of(record: dict, line: str) -> str:
    keys = record.keys()
    if not _KEYS_2014.isdisjoint(keys):
        return KIND_2014
    if not _KEYS_2018.isdisjoint(keys):
        return KIND_2018
    return KIND_2018 if line.lstrip().startswith('{"') else KIND_2014


def load_amazon(
    path: str | Path,
    prep: AmazonPrepSettings = AmazonPrepSettings(),
    on_progress: Progress | None = None,
) -> Dataset:
    """Load an Amazon metadata file (2014 or 2018 release, .gz or plain) as a Dataset.

    Parameters
    ----------
    path:
        The metadata file, e.g. ``meta_Electronics.json.gz``.
    prep:
        Preparation rules; the defaults are the method's.
    on_progress:
        Called with (bytes of the file read, file size, message) while reading.

    Returns
    -------
    Dataset
        ``products`` has one row per product in at least one pair, columns ``asin``,
        ``title``, ``brand``, ``price`` (NaN if missing), ``cat_1``..``cat_4`` (first
        category path) and ``has_meta``; ``pairs`` the summed unordered weights. Bad lines
        are skipped and counted in ``report``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not Amazon metadata, is a truncated gzip, or gives no pairs.
    """
    start = time.perf_counter()
    path = Path(path)
    file_kind(path)  # a clear error for the wrong file, before reading all of it
    load_report = LoadReport(source=str(path))
    builder = _Builder(prep)
    reader = _LineReader(path, prep.max_line_chars)
    message = f"reading {path.name}"
    report(on_progress, 0, reader.size, message)
    skip = load_report.skip
    lines = 0
    records = 0
    try:
        for number, line in reader:
            lines += 1
            if lines % _PROGRESS_EVERY == 0:
                report(on_progress, reader.tell(), reader.size, message)
            if line is None:
                skip(number, f"line longer than max_line_chars={prep.max_line_chars}")
                continue
            if not line or line.isspace():
                continue
            try:
                builder.add(parse_line(line))
            except ValueError as exc:  # _BadRecord too
                skip(number, str(exc)[:_REASON_CHARS])
                continue
            records += 1
    except (OSError, EOFError) as exc:
        raise ValueError(
            f"{path} is truncated or corrupt after {lines} lines ({exc}); download it again."
        ) from None
    load_report.lines_read = lines
    load_report.records = records
    report(on_progress, reader.size, reader.size, message)
    dataset = builder.dataset(f"amazon:{path.name}", load_report)
    if not len(dataset.pairs):
        raise ValueError(_no_pairs_sentence(path, prep, lines, records, builder.kept, load_report))
    load_report.seconds = time.perf_counter() - start
    return dataset


def _no_pairs_sentence(
    path: Path, prep: AmazonPrepSettings, lines: int, records: int, kept: int, rep: LoadReport
) -> str:
    """One sentence: why a file gave no pairs, and what file would."""
    if records == 0:
        first = rep.skipped_examples[0] if rep.skipped_examples else None
        example = f" (line {first[0]}: {first[1]})" if first else ""
        return (
            f"{path.name} has no product records: all {lines:,} of its lines were skipped"
            f"{example}; an Amazon metadata file has one product per line, like "
            "{'asin': ..., 'title': ..., 'related': {'also_bought': [...]}}."
        )
    rules = (
        f"a title and at least {prep.min_also_bought} also-bought products"
        if prep.require_title
        else f"at least {prep.min_also_bought} also-bought products"
    )
    skipped = f" ({rep.skipped:,} more lines were skipped)" if rep.skipped else ""
    return (
        f"{path.name} gives no product pairs: {kept:,} of its {records:,} products have "
        f"{rules} (the method's rule){skipped}; load a larger part of the metadata file, "
        "with products that list each other as related."
    )


def write_amazon_2014(records: Iterable[dict], path: str | Path) -> int:
    """Write records as 2014-release lines (``repr`` of each dict); gzip if path ends .gz.

    Values should be plain Python (str, int, float, list, dict); numpy arrays and scalars
    at the top level or inside ``related`` are converted with ``tolist()``; None and NaN
    values are left out (the field is missing). The file is written to a temporary name
    and renamed, so a crash leaves no partial file; the same records give the same bytes.

    Returns
    -------
    int
        The number of lines written.

    Raises
    ------
    ValueError
        A record does not read back as itself (it holds values ``repr`` cannot express
        as a literal).
    """
    path = Path(path)
    count = 0
    batch: list[str] = []
    with cache.atomic_path(path) as tmp, open(tmp, "wb") as raw:
        # A fixed gzip header (no time, no temporary name): same records, same bytes.
        out = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3)
            if path.name.endswith(".gz")
            else raw
        )
        for record in records:
            line = repr(_plain_record(record))
            if count == 0 and not batch:
                _check_round_trip(record, line)
            batch.append(line)
            if len(batch) >= 4096:
                out.write(("\n".join(batch) + "\n").encode())
                count += len(batch)
                batch.clear()
        if batch:
            out.write(("\n".join(batch) + "\n").encode())
            count += len(batch)
        if out is not raw:
            out.close()  # writes the gzip trailer; raw stays open for atomic_path
    return count


def _plain_record(record: dict) -> dict:
    # Converts only where numpy values are likely (whole lists, scalars); a full deep walk
    # would cost more than the repr itself. Missing values (None, NaN) are left out.
    if not isinstance(record, dict):
        raise ValueError(f"each record must be a dict, got {type(record).__name__}")
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            value = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in value.items()}
        elif hasattr(value, "tolist"):
            value = value.tolist()
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue  # missing: "None"/"nan" would force the slow parser or not parse at all
        out[key] = value
    return out


def _check_round_trip(record: dict, line: str) -> None:
    try:
        back = parse_line(line)
    except ValueError:
        back = None
    if back != _plain_record(record):
        raise ValueError(
            "write_amazon_2014: a record does not read back as itself; use plain Python "
            f"values (str, int, float, list, dict). First line: {line[:200]}"
        )


__all__ = [
    "KIND_2014",
    "KIND_2018",
    "RELATIONSHIPS",
    "SIDE_FIELDS",
    "AmazonPrepSettings",
    "file_kind",
    "load_amazon",
    "parse_line",
    "write_amazon_2014",
]
