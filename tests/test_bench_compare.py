"""bench.compare's README rewrite: only the marked section changes."""

from __future__ import annotations

import pytest

from bench.compare import README_END, README_START, rewrite_readme


def test_rewrite_readme_replaces_only_the_results_section(tmp_path) -> None:
    path = tmp_path / "README.md"
    path.write_text(f"# top\n\n{README_START}\nold table\n{README_END}\n\n## after\n")
    rewrite_readme(path, ["new intro\n", "| model |\n"])
    text = path.read_text()
    assert "old table" not in text and "new intro" in text and "| model |" in text
    assert text.startswith("# top\n") and text.endswith("\n## after\n")
    path.write_text("no markers")
    with pytest.raises(ValueError, match="results:start"):
        rewrite_readme(path, ["x"])
