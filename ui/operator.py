"""What the operator of an app server sets and a visitor cannot.

A server is shared by everyone who can reach it, so what affects all of them (where runs
execute, which files may be read, how much one job may ask for, how much work may wait)
is set where only the operator can: command-line flags after ``--``
(``streamlit run app.py -- --data-dir /data``), else environment variables, else
``recsys.toml`` beside ``app.py`` (or ``.streamlit/recsys.toml``), else the defaults
below. The sidebar shows them read-only.

=========================  =====================  ============================================
flag                       environment            meaning (default)
=========================  =====================  ============================================
``--data-dir``             ``RECSYS_DATA_DIR``    the only folder files are read from, besides
                                                  uploads and the fetched MovieLens (none)
``--executor``             ``RECSYS_RAY_ADDRESS`` local workers (empty), ``local`` Ray, or
                                                  ``host:port`` of a Ray cluster
``--memory-limit``         ``RECSYS_MEMORY_LIMIT`` most memory one job may need (available
                                                  memory less 25%)
``--max-products``         ``RECSYS_MAX_PRODUCTS`` largest built-in catalog (2,000,000)
``--max-queued``           ``RECSYS_MAX_QUEUED``  runs queued or running at once (64)
``--max-queued-session``   ``RECSYS_MAX_QUEUED_SESSION`` per browser session (32; a
                                                  Findings study queues up to 18)
``--cancel-any``           ``RECSYS_CANCEL_ANY``  any visitor may cancel any run (off: only
                                                  the runs their session started)
=========================  =====================  ============================================
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tomllib
from pathlib import Path

from recsys_core.jobs import estimate

ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILES = (ROOT / "recsys.toml", ROOT / ".streamlit" / "recsys.toml")
DEFAULT_MAP_ENV = "RECSYS_DEFAULT_MAP_METHOD"

# name -> (flag, environment variable, default text)
FIELDS = {
    "data_dir": ("--data-dir", "RECSYS_DATA_DIR", ""),
    "executor": ("--executor", "RECSYS_RAY_ADDRESS", ""),
    "memory_limit": ("--memory-limit", estimate.LIMIT_ENV, ""),
    "max_products": ("--max-products", "RECSYS_MAX_PRODUCTS", "2000000"),
    "max_queued": ("--max-queued", "RECSYS_MAX_QUEUED", "64"),
    "max_queued_session": ("--max-queued-session", "RECSYS_MAX_QUEUED_SESSION", "32"),
    "cancel_any": ("--cancel-any", "RECSYS_CANCEL_ANY", ""),
}


@dataclasses.dataclass(frozen=True)
class OperatorSettings:
    """The server's settings (see the module docstring), parsed."""

    data_dir: Path | None
    executor: str
    memory_limit: int
    max_products: int
    max_queued: int
    max_queued_session: int
    cancel_any: bool
    sources: dict[str, str]  # name -> "flag", "environment", "recsys.toml" or "default"


def _flags(argv: list[str]) -> dict[str, str]:
    parser = argparse.ArgumentParser(add_help=False)
    for name, (flag, _, _) in FIELDS.items():
        if name == "cancel_any":
            parser.add_argument(flag, dest=name, action="store_const", const="1")
        else:
            parser.add_argument(flag, dest=name)
    known, _ = parser.parse_known_args(argv)
    return {k: v for k, v in vars(known).items() if v is not None}


def _config() -> dict[str, str]:
    for path in CONFIG_FILES:
        try:
            table = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        section = table.get("recsys", table)
        return {k: str(v) for k, v in section.items() if k in FIELDS}
    return {}


def raw_settings(argv: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """name -> (text, where it came from), in the order flags, environment, file, default."""
    flags = _flags(sys.argv[1:] if argv is None else argv)
    config = _config()
    out = {}
    for name, (_, env, default) in FIELDS.items():
        if name in flags:
            out[name] = (flags[name], "flag")
        elif os.environ.get(env, "").strip():
            out[name] = (os.environ[env].strip(), "environment")
        elif name in config:
            out[name] = (config[name], "recsys.toml")
        else:
            out[name] = (default, "default")
    return out


def _positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        flag, env, _ = FIELDS[name]
        raise ValueError(f"{env} ({flag}) must be a whole number above 0, got {text!r}")
    return value


def settings(argv: list[str] | None = None) -> OperatorSettings:
    """The operator's settings, read now (cheap: a few environment lookups)."""
    raw = raw_settings(argv)
    text = {k: v for k, (v, _) in raw.items()}
    data_dir = Path(text["data_dir"]).expanduser().resolve() if text["data_dir"] else None
    return OperatorSettings(
        data_dir=data_dir,
        executor=text["executor"],
        memory_limit=estimate.memory_limit(text["memory_limit"]),
        max_products=_positive("max_products", text["max_products"]),
        max_queued=_positive("max_queued", text["max_queued"]),
        max_queued_session=_positive("max_queued_session", text["max_queued_session"]),
        cancel_any=text["cancel_any"].lower() in ("1", "true", "yes", "on"),
        sources={k: where for k, (_, where) in raw.items()},
    )


def apply_executor(ops: OperatorSettings) -> None:
    """Make the operator's executor the one new runs use (the workers inherit it)."""
    from recsys_core.cluster import executor

    if ops.sources["executor"] in ("flag", "recsys.toml"):
        executor.set_address(ops.executor or None)


def default_map_method() -> str:
    """UMAP unless ``$RECSYS_DEFAULT_MAP_METHOD`` says "pca" (quick tests and demos)."""
    return "pca" if os.environ.get(DEFAULT_MAP_ENV, "").lower() == "pca" else "umap"


# -- which files a visitor may name ----------------------------------------------------------


def readable_roots(ops: OperatorSettings | None = None) -> list[Path]:
    """Folders files may be read from: the data folder, uploads, the fetched MovieLens."""
    from recsys_core.common import cache
    from recsys_core.data import registry

    ops = ops or settings()
    roots = [cache.cache_root() / "uploads"]
    if ops.data_dir is not None:
        roots.insert(0, ops.data_dir)
    fetched = registry.fetched_movielens()
    if fetched is not None:
        roots.append(Path(fetched))
    return [Path(os.path.realpath(r)) for r in roots]


def resolve_visitor_path(text: str, ops: OperatorSettings | None = None) -> Path | None:
    """The file or folder a visitor named, when it lies inside a readable root, else None.

    A relative name is taken inside the data folder. Nothing is opened or listed before
    the check: ``realpath`` resolves links first, so a link out of the folder is refused.
    """
    ops = ops or settings()
    raw = Path(text.strip()).expanduser()
    if not raw.is_absolute():
        if ops.data_dir is None:
            return None
        raw = ops.data_dir / raw
    real = Path(os.path.realpath(raw))
    for root in readable_roots(ops):
        if real == root or root in real.parents:
            return real
    return None


def outside_note(text: str, ops: OperatorSettings | None = None) -> str:
    """The one sentence for a path outside the readable folders (nothing about the path)."""
    ops = ops or settings()
    where = (
        f"the data folder {ops.data_dir}"
        if ops.data_dir is not None
        else "the data folder (none is set: the operator sets RECSYS_DATA_DIR)"
    )
    return (
        f"{text.strip()!r} is not readable here: this server reads files only from uploads "
        f"and {where}; upload the file or name one inside that folder."
    )
