"""The data subcommands' flags: interaction logs, pair files, the split, dataset names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_core.cli import build_parser, main
from recsys_core.cli.common import dataset_settings_from_args
from recsys_core.cli.data import split_settings_from_args
from recsys_core.data.registry import DatasetSettings
from recsys_core.split import SplitSettings


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """A shop's order lines: customers, SKUs, dates, quantities."""
    rng = np.random.default_rng(7)
    n = 1500
    frame = pd.DataFrame(
        {
            "customer": [f"c{u}" for u in rng.integers(0, 80, n)],
            "sku": np.minimum(rng.zipf(1.5, n), 150),
            "ordered": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
            "qty": rng.integers(1, 4, n),
        }
    )
    path = tmp_path_factory.mktemp("shop") / "orders.csv"
    frame.to_csv(path, index=False)
    return path


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_prepare_interactions_with_mapped_columns_and_time_split(shop, capsys):
    args = [
        "prepare",
        "--interactions",
        str(shop),
        "--user-col",
        "customer",
        "--item-col",
        "sku",
        "--time-col",
        "ordered",
        "--weight-col",
        "qty",
        "--split",
        "time",
        "--json",
    ]
    assert main(args) == 0
    record = _last_json(capsys)
    assert record["dataset"] == "interactions:orders.csv"
    assert record["split"]["split"] == "time"
    assert record["split"]["test_positives"] > 0 and record["pairs"] > 0
    assert set(record["relationships"]) == {"consecutive"}
    assert record["skipped_lines"] == 0 and record["lines_read"] == 1500


def test_prepare_pairs_with_item_table(tmp_path, capsys):
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 60, 400), rng.integers(0, 60, 400)
    keep = a != b
    pd.DataFrame({"item_a": a[keep], "item_b": b[keep]}).drop_duplicates().to_csv(
        tmp_path / "pairs.csv", index=False
    )
    pd.DataFrame({"id": range(60), "title": [f"Item {i}" for i in range(60)]}).to_csv(
        tmp_path / "items.csv", index=False
    )
    args = ["prepare", "--pairs", str(tmp_path / "pairs.csv")]
    assert main([*args, "--item-meta", str(tmp_path / "items.csv"), "--json"]) == 0
    record = _last_json(capsys)
    assert record["dataset"] == "pairs:pairs.csv"
    assert record["metadata_coverage"]["title"] == 1.0


def test_time_split_of_a_pair_file_is_one_sentence(tmp_path, capsys):
    pd.DataFrame({"item_a": range(20), "item_b": range(1, 21)}).to_csv(
        tmp_path / "p.csv", index=False
    )
    assert main(["prepare", "--pairs", str(tmp_path / "p.csv"), "--split", "time"]) == 2
    err = capsys.readouterr().err
    assert "--split random" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_file_is_one_sentence_not_a_traceback(tmp_path, capsys):
    (tmp_path / "log.csv").write_bytes(b"\x00\x01\x02binary")
    assert main(["prepare", "--interactions", str(tmp_path / "log.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "binary" in err and len(err.strip().splitlines()) == 1


FILE_FLAGS = ["--interactions", "log.csv", "--user-col", "who", "--rule", "session"]


def test_every_subcommand_that_splits_takes_split_and_the_file_flags(tmp_path):
    for command in ("prepare", "walks", "train", "compare", "run", "sweep"):
        extra = ["--grid", "dim=8"] if command == "sweep" else []
        args = build_parser().parse_args(
            [command, *extra, "--split", "time", "--time-scope", "global", *FILE_FLAGS]
        )
        assert split_settings_from_args(args) == SplitSettings(strategy="time", time_scope="global")
        settings = dataset_settings_from_args(args)
        assert settings.source == "interactions" and settings.rule == "session"
        assert settings.column_map() == {"user": "who"}


def test_item_meta_without_a_file_source_is_an_error():
    args = build_parser().parse_args(["prepare", "--item-meta", "items.csv"])
    with pytest.raises(ValueError, match="--interactions"):
        dataset_settings_from_args(args)


def test_one_name_set_with_old_names_noted(capsys, tmp_path):
    parse = build_parser().parse_args
    assert dataset_settings_from_args(parse(["prepare", "--dataset", "builtin"])) == (
        DatasetSettings()
    )
    assert "'builtin' is now 'synthetic'" in capsys.readouterr().err
    books = dataset_settings_from_args(parse(["prepare", "--dataset", "books", "--seed", "2"]))
    assert (books.preset, books.seed) == ("books", 2)
    log = dataset_settings_from_args(parse(["compare", "--dataset", f"interactions:{tmp_path}"]))
    assert (log.source, log.path) == ("interactions", str(tmp_path))
    with pytest.raises(ValueError, match="synthetic, electronics, books"):
        dataset_settings_from_args(parse(["prepare", "--dataset", "nonsense"]))


def test_study_takes_the_same_names(monkeypatch):
    from recsys_core.studies import framework

    assert framework.dataset_settings("synthetic", 300) == framework.dataset_settings(
        "builtin", 300
    )
    monkeypatch.setenv("RECSYS_CACHE_DIR", "/nonexistent-cache")
    with pytest.raises(FileNotFoundError, match="fetch movielens-1m"):
        framework.dataset_settings("movielens-1m", 300)


def test_fetch_movielens_1m_command(tmp_path, monkeypatch, capsys):
    from recsys_core.data import fetch

    calls = []

    def fake_fetch(name, dest=None, on_progress=None, timeout=0.0):
        calls.append(name)
        dest.mkdir(parents=True)
        (dest / "ml-1m.inter").write_text("x")
        return dest

    monkeypatch.setattr(fetch, "fetch_movielens", fake_fetch)
    assert main(["fetch", "movielens-1m", "--dest", str(tmp_path / "m"), "--json"]) == 0
    assert calls == ["movielens-1m"]
    assert _last_json(capsys)["files"] == ["ml-1m.inter"]


def test_a_stored_run_spec_keeps_its_file_columns_and_time_split(tmp_path):
    from recsys_core.jobs.specs import spec_from_dict, submission
    from recsys_core.pipeline import RunSpec

    spec = RunSpec.create(
        "adamic-adar",
        dataset=DatasetSettings(
            source="interactions",
            path=str(tmp_path / "log.csv"),
            columns={"user": "customer", "item": "sku"},
            rule="session",
            window=3,
        ),
        split=SplitSettings(strategy="time", time_scope="global"),
    )
    stored = json.loads(json.dumps(submission(spec).spec))  # as the run store keeps it
    back = spec_from_dict(stored)
    assert back == spec and back.key() == spec.key()
