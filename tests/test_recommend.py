"""`recommend`: a real finished run's top-k per product in both formats, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys_core import jobs
from recsys_core.cli import main
from recsys_core.data.registry import DatasetSettings, load_dataset
from recsys_core.pipeline import RunSpec, prepare

DATASET = DatasetSettings(source="synthetic", products=400)


@pytest.fixture
def runs_db(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_RUNS_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("RECSYS_WORKER_NICE", "0")
    monkeypatch.setenv("RECSYS_WORKER_LINGER", "0")
    return tmp_path


def _finished(model: str, **params) -> int:
    run_id = jobs.submit(RunSpec.create(model, dataset=DATASET, model_params=params))
    record = jobs.wait(run_id, timeout=300)  # generous: only catches a hang
    assert record.status == "finished", record.error
    return run_id


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_recommend_writes_both_formats_equal_to_brute_force(runs_db, capsys) -> None:
    run_id = _finished("item-knn", dim=4)
    outcome = jobs.load_outcome(run_id)
    emb = outcome.embeddings
    csv, parquet = runs_db / "recs.csv", runs_db / "out" / "recs.parquet"
    assert main(["recommend", "--run", str(run_id), "--k", "5", "--out", str(csv), "--json"]) == 0
    summary = _last_json(capsys)
    assert summary["exact"] and summary["score"] == "item-knn"
    assert main(["recommend", "--run", str(run_id), "--k", "5", "--out", str(parquet)]) == 0
    table, other = pd.read_csv(csv), pd.read_parquet(parquet)
    assert len(table) == summary["rows"] == len(other)
    np.testing.assert_array_equal(table["recommended"], other["recommended"])
    products = load_dataset(DATASET)[0].products
    assert {"asin", "title", "rank", "recommended_asin", "recommended_title", "score"} <= set(table)
    # brute force: every candidate by score_pairs, the query and unusable products left out
    usable = emb.trained
    for product in table["product"].unique()[:15]:
        mine = table[table["product"] == product].sort_values("rank")
        scores = emb.score_pairs(np.full(len(usable), product), np.arange(len(usable)))
        scores[~usable] = -np.inf
        scores[product] = -np.inf
        np.testing.assert_allclose(mine["score"], np.sort(scores)[::-1][:5], rtol=1e-5)
        assert mine["asin"].iloc[0] == products["asin"].iloc[product]
        assert (
            mine["recommended_asin"].to_numpy() == products["asin"].to_numpy()[mine["recommended"]]
        ).all()
    # leaving out train neighbours removes every known pair
    known = prepare(DATASET, outcome.spec.split).graph
    assert (
        main(["recommend", "--run", str(run_id), "--k", "5", "--out", str(csv), "--exclude-known"])
        == 0
    )
    fresh = pd.read_csv(csv)
    assert not np.asarray(known[fresh["product"].to_numpy(), fresh["recommended"].to_numpy()]).any()


def test_recommend_through_the_index(runs_db, capsys) -> None:
    run_id = _finished("popularity", dim=4)
    out = runs_db / "ann.parquet"
    assert (
        main(["recommend", "--run", str(run_id), "--k", "3", "--out", str(out), "--ann", "--json"])
        == 0
    )
    assert not _last_json(capsys)["exact"]
    ann = pd.read_parquet(out)
    assert main(["recommend", "--run", str(run_id), "--k", "3", "--out", str(out), "--exact"]) == 0
    exact = pd.read_parquet(out)
    # popularity ranks every query's candidates alike: the index finds the same scores
    np.testing.assert_allclose(ann["score"].to_numpy(), exact["score"].to_numpy(), rtol=1e-5)


def test_recommend_errors_are_one_sentence(runs_db, monkeypatch, capsys) -> None:
    assert main(["recommend", "--run", "1", "--out", str(runs_db / "r.txt")]) == 2
    assert "--out must end in .parquet or .csv" in capsys.readouterr().err
    assert main(["recommend", "--run", "99", "--out", str(runs_db / "r.csv")]) == 2
    assert "no run 99" in capsys.readouterr().err
    monkeypatch.setenv("RECSYS_EASE_MEMORY_GIB", "0.0000001")  # EASE refuses: a failed run
    run_id = jobs.submit(RunSpec.create("ease", dataset=DATASET, model_params={"dim": 4}))
    assert jobs.wait(run_id, timeout=300).status == "failed"
    assert main(["recommend", "--run", str(run_id), "--out", str(runs_db / "r.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"run {run_id} is failed" in err and "EASE needs a dense" in err
    assert len(err.splitlines()) == 1
