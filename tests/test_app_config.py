"""The project's Streamlit settings that the app's measurements depend on."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_no_full_garbage_collection_after_every_script_run() -> None:
    """Streamlit's post-run gc.collect(2) ran twice a second on the Train page while a
    run trained, and cost the server most of its CPU (bench/README.md)."""
    config = tomllib.loads(CONFIG.read_text())
    assert config["runner"]["postScriptGC"] is False


def test_no_file_watcher() -> None:
    assert tomllib.loads(CONFIG.read_text())["server"]["fileWatcherType"] == "none"
