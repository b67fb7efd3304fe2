"""Tuning on validation: search spaces, pruning through real runs, and the promise that a
tune or a sweep never reads test labels until the one final evaluation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from recsys_core.data.registry import DatasetSettings
from recsys_core.jobs import RunStore
from recsys_core.pipeline import RunSpec
from recsys_core.tuning import Tuner, TuneSettings, space_for, trial_spec
from recsys_core.tuning.space import SPACES, WALKS
from recsys_core.tuning.tuner import epoch_values

RUNNERS = Path(__file__).resolve().parent / "tuning_runners.py"
TINY = DatasetSettings(source="synthetic", products=400, seed=3)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RECSYS_RUNS_DB", raising=False)
    monkeypatch.delenv("RECSYS_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RECSYS_WORKER_NICE", "0")
    monkeypatch.setenv("RECSYS_CANCEL_GRACE", "1")
    monkeypatch.setenv("RECSYS_WORKER_LINGER", "2")
    return tmp_path / "cache"


def test_space_follows_the_settings_fields_and_leaves_fixed_ones_out():
    names = [p.name for p in space_for("sgns")]
    assert {"vector_size", "window", "negative", "epochs", "alpha", "sample"} <= set(names)
    import dataclasses as dc

    from recsys_core.models.registry import model_class

    fields = {f.name for f in dc.fields(model_class("sgns").settings_cls)}
    for optional in ("score", "ns_exponent", "popularity_weight"):
        assert (optional in names) == (optional in fields)  # searched once the field exists
    assert "epochs" not in [p.name for p in space_for("sgns", fixed=["epochs"])]
    node2vec = {p.name: p.target for p in space_for("node2vec")}
    assert node2vec["p"] == node2vec["q"] == WALKS
    assert "p" not in {p.name for p in space_for("node2vec", walks_fixed=True)}
    with pytest.raises(ValueError, match=r"nothing to tune.*tune one of: .*sgns"):
        space_for("popularity")
    with pytest.raises(ValueError, match="unknown model"):
        space_for("no-such-model")
    assert "ease" in SPACES and "rp3beta" in SPACES and "item-knn" in SPACES


def test_trial_spec_puts_walk_settings_on_the_walks_and_keeps_fixed_settings():
    base = RunSpec.create("node2vec", dataset=TINY, model_params={"epochs": 1})
    space = space_for("node2vec", fixed=["epochs"])
    spec = trial_spec(base, {"window": 3, "p": 0.5, "q": 3.0}, space, "validation")
    assert dict(spec.model_params) == {"epochs": 1, "window": 3}
    assert (spec.walks.p, spec.walks.q) == (0.5, 3.0)
    assert spec.evaluate_on == "validation"
    assert spec.walks.walks_per_node == base.walk_settings().walks_per_node


def test_epoch_values_prefer_ndcg_when_the_events_carry_it():
    frame = pd.DataFrame(
        {
            "epoch": [0, 0, 1],
            "auc": [0.6, 0.7, 0.8],
            "epoch_end": [False, True, True],
        }
    )
    assert epoch_values(frame) == [(0, 0.7), (1, 0.8)]
    frame["ndcg"] = [None, 0.1, 0.2]
    assert epoch_values(frame) == [(0, 0.1), (1, 0.2)]


def test_bad_tune_settings_are_one_sentence():
    with pytest.raises(ValueError, match="--metric must be one of ndcg, hit_rate, auc_all"):
        TuneSettings(metric="mrr").validate()
    with pytest.raises(ValueError, match="--trials must be at least 1"):
        TuneSettings(trials=0).validate()


def _reads(cache: Path) -> list[str]:
    path = cache / "test-reads.log"
    return path.read_text().splitlines() if path.exists() else []


def test_tune_and_sweep_never_read_test_labels_and_the_end_reads_test_once(env, monkeypatch):
    from recsys_core.jobs.ray_sweep import run_all, sweep_specs
    from recsys_core.pipeline import prepare

    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{RUNNERS}:guarded_pipeline")
    base = RunSpec.create(
        "sgns", dataset=TINY, model_params={"epochs": 1, "vector_size": 16, "negative": 2}
    )
    prepare(base.dataset, base.split)  # the split is built (and saved) once, up front
    store = RunStore(env / "runs.sqlite")
    settings = TuneSettings(trials=3, poll=0.1, startup_trials=100)
    result = Tuner(base, settings, store=store).run()

    assert result.trials_done == 3 and result.trials_failed == 0
    assert result.best_trial is not None and result.test["part"] == "test"
    assert set(result.validation) == {"ndcg", "hit_rate", "auc_all"}
    runs = {r.id: r for r in store.list()}
    trial_runs = [r for r in runs.values() if r.id != result.test_run]
    assert {r.spec["evaluate_on"] for r in trial_runs} == {"validation"}
    assert {r.summary["part"] for r in trial_runs} == {"validation"}
    assert runs[result.test_run].spec["evaluate_on"] == "reported"
    assert _reads(env) == ["test reported"]  # only the final evaluation, once

    # resuming the finished study runs nothing new and reads test no more
    again = Tuner(base, settings, store=store).run()
    assert again.test_run == result.test_run and again.test == result.test
    assert _reads(env) == ["test reported"]

    # a sweep chooses settings too: its runs evaluate on validation
    specs = sweep_specs(base, {"window": [2, 4]})
    ids = run_all(specs, store, timeout=300)
    assert [store.get(i).status for i in ids] == ["finished", "finished"]
    assert {store.get(i).summary["part"] for i in ids} == {"validation"}
    from recsys_core.explore.sweeps import find_sweeps

    (sweep,) = find_sweeps([store.get(i) for i in ids])
    assert sweep.label.endswith("· on validation")  # the app's sweep view says so too
    assert _reads(env) == ["test reported"]


def test_pruned_trials_are_cancelled_runs_and_pruned_in_optuna(env, monkeypatch):
    import optuna

    from recsys_core.tuning import load_study

    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{RUNNERS}:epochs_runner")
    base = RunSpec.create("mf-bias", dataset=TINY)
    store = RunStore(env / "runs.sqlite")
    settings = TuneSettings(trials=8, poll=0.05, startup_trials=2, warmup_epochs=0)
    seen: list[dict] = []
    result = Tuner(base, settings, store=store, on_trial=seen.append).run()

    study = load_study(result.study)
    pruned = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert pruned, "no trial below the median was pruned"
    assert result.trials_pruned == len(pruned) and result.trials_done == 8
    for trial in pruned:
        run_id = trial.user_attrs["run_id"]
        assert store.get(run_id).status == "cancelled"
        assert trial.intermediate_values  # it was fed the live per-epoch metric
    assert {s["state"] for s in seen} <= {"complete", "pruned"}
    assert store.get(result.test_run).spec["evaluate_on"] == "reported"
    assert result.test["part"] == "test"
    json.dumps(result.as_record())  # the CLI's --json line


def test_cli_tune_json_line(env, monkeypatch, capsys):
    from recsys_core.cli import main

    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{RUNNERS}:epochs_runner")
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.01")
    args = ["--model", "mf-bias", "--products", "400", "--trials", "2", "--metric", "hit_rate"]
    code = main(["tune", *args, "--json"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    record = json.loads(lines[-1])
    assert record["metric"] == "hit_rate" and record["trials_done"] == 2
    assert set(record) >= {"best_params", "validation", "test", "trials_pruned", "seconds"}
    assert dataclasses.is_dataclass(TuneSettings)
    assert main(["tune", "--model", "popularity", "--trials", "2"]) == 2
    assert "nothing to tune" in capsys.readouterr().err
