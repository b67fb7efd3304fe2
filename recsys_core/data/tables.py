"""Reading a user's table (CSV, TSV or Parquet) into string columns with line numbers.

The interaction, pair and item-metadata loaders share this: it finds the separator,
reads every row with its line number, maps the user's column names (or 1-based column
numbers, for a file without a header) and turns what cannot be a table into one sentence.
Rows are skipped, counted and reported in a :class:`LoadReport` the way the Amazon loader
does, never dropped in silence.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.data.dataset import MAX_EXAMPLES, LoadReport

PARQUET_SUFFIXES = (".parquet", ".pq")
SEPARATORS = ("\t", ",", ";", "|")
_SNIFF_BYTES = 65536
_SHOWN_CHARS = 80


@dataclasses.dataclass
class Table:
    """A table's rows as text, one array per mapped role, with each row's line number.

    ``row_word`` is "line" for text files (numbers count the header line too, as an editor
    shows them) and "row" for Parquet (1-based data rows).
    """

    source: str
    columns: dict[str, np.ndarray]
    line: np.ndarray
    row_word: str = "line"

    def __len__(self) -> int:
        return len(self.line)

    def keep(self, mask: np.ndarray) -> Table:
        return Table(
            self.source,
            {k: v[mask] for k, v in self.columns.items()},
            self.line[mask],
            self.row_word,
        )


def _check_path(path: Path, what: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"No {what} file at {path}; give the full path of the file.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the {what} file itself (CSV, TSV or Parquet).")


def _text_of(path: Path, what: str) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path.name} is a truncated or corrupt gzip file ({exc}).") from None
    if b"\x00" in raw[:_SNIFF_BYTES]:
        raise ValueError(
            f"{path.name} is not a text table (it holds binary data); give the {what} as a "
            "CSV, TSV or Parquet file."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _separator(path: Path, first_line: str, what: str) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".tsv", ".tab")):
        return "\t"
    counts = {sep: first_line.count(sep) for sep in SEPARATORS}
    if name.endswith(".csv") and counts[","]:
        return ","
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    if counts[best] == 0:
        raise ValueError(
            f"{path.name} is not a table: its first line {first_line[:_SHOWN_CHARS]!r} has no "
            f"comma, tab, semicolon or '|' between columns; give the {what} as a CSV, TSV "
            "or Parquet file with one row per line."
        )
    return best


def _resolve(
    header: list[str], wanted: dict[str, str | None], guesses: dict[str, tuple[str, ...]]
) -> tuple[dict[str, int], bool]:
    """Column index per role, and whether the first line is a header.

    A wanted name matches a header field case-insensitively; a wanted number (1-based)
    that is no header field means the file has no header. A role with no wanted name takes
    the first header field among its ``guesses``; roles it cannot find are left out.
    """
    lowered = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    given = {role: str(name).strip().lower() for role, name in wanted.items() if name is not None}
    # All columns given as numbers: the file has no header (a header of numbers is rarer
    # than a headerless export).
    has_header = not given or not all(
        key.isdigit() and 1 <= int(key) <= len(header) for key in given.values()
    )
    for role, key in given.items():
        if not has_header:
            found[role] = int(key) - 1
        elif key in lowered:
            found[role] = lowered.index(key)
    if has_header:
        for role, options in guesses.items():
            if role in found or wanted.get(role) is not None:
                continue
            for option in options:
                if option in lowered:
                    found[role] = lowered.index(option)
                    break
    return found, has_header


def _missing_sentence(
    path: Path,
    header: list[str],
    missing: list[str],
    flags: dict[str, str],
    wanted: dict[str, str | None],
) -> str:
    given = ", ".join(f"{flags[r]} {wanted[r]}" for r in missing if wanted.get(r) is not None)
    names = ", ".join(repr(h) for h in header[:12]) + (" ..." if len(header) > 12 else "")
    numbered = " ".join(f"{flags[r]} {i + 1}" for i, r in enumerate(missing))
    looks_like_data = sum(_is_number(h) for h in header) >= max(1, len(header) // 2)
    hint = (
        f"it looks like a file with no header line: add a header line, or give column "
        f"numbers ({numbered} ...)"
        if looks_like_data
        else "give the right names with " + " / ".join(flags[r] for r in missing)
    )
    what = f"no column for {', '.join(missing)}" + (f" ({given} not found)" if given else "")
    return f"{path.name} has {what}; its first line has {names}; {hint}."


def _other_fields(header: list[str], found: dict[str, int]) -> dict[str, int]:
    taken = set(found.values())
    return {f"field:{name.strip()}": i for i, name in enumerate(header) if i not in taken}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table(
    path: str | Path,
    wanted: dict[str, str | None],
    required: tuple[str, ...],
    flags: dict[str, str],
    report: LoadReport,
    what: str,
    guesses: dict[str, tuple[str, ...]] | None = None,
    keep_all: bool = False,
) -> Table:
    """Read ``path`` and return the columns of the roles in ``wanted`` that it has.

    Parameters
    ----------
    wanted:
        Role -> the user's column name or 1-based number (None: guess from ``guesses``).
    required:
        Roles the table must have; a missing one is one sentence naming the flag to set.
    flags:
        Role -> the CLI flag that names its column, for the messages.
    report:
        Gets ``lines_read`` and every row skipped for a wrong number of fields.
    what:
        What the file holds ("interaction log"), for the messages.
    keep_all:
        Also return every other column, keyed ``"field:" + its header name``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a table, or lacks a required column (one sentence each).
    """
    path = Path(path).expanduser()
    _check_path(path, what)
    guesses = guesses or {}
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return _read_parquet(path, wanted, required, flags, report, what, guesses, keep_all)
    text = _text_of(path, what)
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ValueError(f"{path.name} is empty; give a {what} with a header line and rows.")
    sep = _separator(path, lines[first], what)
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader)
    while not any(f.strip() for f in header):
        header = next(reader)
    found, has_header = _resolve(header, wanted, guesses)
    missing = [r for r in required if r not in found]
    if missing:
        raise ValueError(_missing_sentence(path, header, missing, flags, wanted))
    if keep_all:
        found |= _other_fields(header, found)
    width = len(header)
    rows: list[list[str]] = [] if has_header else [header]
    numbers: list[int] = [] if has_header else [reader.line_num]
    lines_read = 0 if has_header else 1
    for row in reader:
        if not row or not any(field.strip() for field in row):
            continue
        lines_read += 1
        if len(row) != width:
            report.skip(
                reader.line_num,
                f"{len(row)} fields where the header line has {width}: "
                f"{sep.join(row)[:_SHOWN_CHARS]!r}",
            )
            continue
        rows.append(row)
        numbers.append(reader.line_num)
    report.lines_read = lines_read
    matrix = np.array(rows, dtype=object).reshape(len(rows), width)
    columns = {role: _stripped(matrix[:, i]) for role, i in found.items()}
    return Table(str(path), columns, np.asarray(numbers, dtype=np.int64), "line")


def _read_parquet(
    path: Path,
    wanted: dict[str, str | None],
    required: tuple[str, ...],
    flags: dict[str, str],
    report: LoadReport,
    what: str,
    guesses: dict[str, tuple[str, ...]],
    keep_all: bool,
) -> Table:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many kinds; all mean "not readable"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(
            f"{path.name} is not a readable Parquet file ({first[:_SHOWN_CHARS]}); export "
            f"the {what} again or give it as a CSV file."
        ) from None
    header = [str(c) for c in frame.columns]
    found, _ = _resolve(header, wanted, guesses)
    missing = [r for r in required if r not in found]
    if missing:
        raise ValueError(_missing_sentence(path, header, missing, flags, wanted))
    if keep_all:
        found |= _other_fields(header, found)
    report.lines_read = len(frame)
    columns = {}
    for role, i in found.items():
        col = frame.iloc[:, i]
        if pd.api.types.is_datetime64_any_dtype(col):
            # Parquet keeps real timestamps: pass them on as ISO text, parsed like a CSV's.
            text = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").fillna("")
        elif pd.api.types.is_float_dtype(col):
            # Ids stored as floats (1.0) read as the integers they are; text stays text.
            values = col.to_numpy(dtype=np.float64)
            whole = np.isfinite(values) & (values == np.round(values))
            text = pd.Series(col.astype(str).to_numpy(), dtype=object)
            text[whole] = values[whole].astype(np.int64).astype(str)
            text[~np.isfinite(values)] = ""
        else:
            text = col.astype("string").fillna("")
        columns[role] = _stripped(np.asarray(text, dtype=object))
    return Table(str(path), columns, np.arange(1, len(frame) + 1, dtype=np.int64), "row")


def _stripped(values: np.ndarray) -> np.ndarray:
    return pd.Series(values, dtype=object).astype(str).str.strip().to_numpy(dtype=object)


def skip_rows(
    table: Table, bad: np.ndarray, reason: str | Callable[[int], str], report: LoadReport
) -> Table:
    """Report the rows where ``bad`` holds and return the others.

    ``reason`` is the text, or a function of a bad row's index that makes it: it is
    called only for the few rows kept as examples, so a log with a million bad rows does
    not format a million sentences.
    """
    if not bad.any():
        return table
    rows = np.flatnonzero(bad)
    room = min(len(rows), max(0, MAX_EXAMPLES - len(report.skipped_examples)))
    for i in rows[:room].tolist():
        report.skip(int(table.line[i]), reason if isinstance(reason, str) else reason(i))
    report.skipped += len(rows) - room
    return table.keep(~bad)


def numbers(values: np.ndarray) -> np.ndarray:
    """Text to float64, NaN where the text is not a number."""
    return np.array(
        pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=np.float64
    )


def timestamps(values: np.ndarray) -> np.ndarray:
    """Text to seconds (float64): numbers as they are (Unix time), dates and date-times
    parsed (ISO or a common layout), NaN where neither."""
    seconds = numbers(values)
    text = ~np.isfinite(seconds) & (np.asarray(values, dtype=object) != "")
    if text.any():
        parsed = pd.to_datetime(
            pd.Series(np.asarray(values)[text], dtype=object),
            errors="coerce",
            utc=True,
            format="mixed",
        )
        epoch = pd.Timestamp(0, tz="UTC")
        seconds[text] = ((parsed - epoch).dt.total_seconds()).to_numpy(np.float64)
    return seconds


def duplicate_rows(table: Table, roles: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Rows equal to an earlier row in every one of ``roles``; with the earlier row's line."""
    frame = pd.DataFrame({r: table.columns[r] for r in roles if r in table.columns})
    dup = frame.duplicated(keep="first").to_numpy()
    first_line = np.zeros(len(table), dtype=np.int64)
    if dup.any():
        group = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
        first_of_group = np.full(group.max() + 1, -1, dtype=np.int64)
        order = np.arange(len(group))[::-1]
        first_of_group[group[order]] = table.line[order]
        first_line = first_of_group[group]
    return dup, first_line


def preview(path: str | Path, rows: int = 20) -> pd.DataFrame:
    """The first ``rows`` rows of a table as text, for a preview before columns are mapped.

    The header line names the columns (a file without one shows its first row as names).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_table`: no file, or not a table (one sentence).
    """
    path = Path(path).expanduser()
    _check_path(path, "table")
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        try:
            import pyarrow.parquet as pq

            batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
        except Exception as exc:  # pyarrow raises many kinds; all mean "not readable"
            raise ValueError(f"{path.name} is not a readable Parquet file ({exc}).") from None
        frame = batch.to_pandas() if batch is not None else pd.DataFrame()
        return frame.astype("string")
    text = _text_of(path, "table")
    lines = [line for line in text.splitlines() if line.strip()][: rows + 1]
    if not lines:
        raise ValueError(f"{path.name} is empty; give a table with a header line and rows.")
    sep = _separator(path, lines[0], "table")
    parsed = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=sep))
    header = [h.strip() or f"column {i + 1}" for i, h in enumerate(parsed[0])]
    body = [(row + [""] * len(header))[: len(header)] for row in parsed[1:]]
    return pd.DataFrame(body, columns=header, dtype="string")


def guess_columns(header: list[str], guesses: dict[str, tuple[str, ...]]) -> dict[str, str | None]:
    """Role -> the first header field among the role's common names (case ignored)."""
    lowered = {h.strip().lower(): h for h in header}
    out: dict[str, str | None] = {}
    for role, options in guesses.items():
        out[role] = next((lowered[o] for o in options if o in lowered), None)
    return out
