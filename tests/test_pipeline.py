"""The pipeline: final figures on test with their part, protocol and policy; live and
final AUC agree; every stage's code version is part of its cache key."""

from __future__ import annotations

import pytest

from recsys_core.data.registry import DatasetSettings
from recsys_core.evaluation.evaluate import EvalSettings
from recsys_core.models.heuristic import HeuristicSettings
from recsys_core.pipeline import RunSpec, make_walks, prepare, run
from recsys_core.split import SplitSettings
from recsys_core.walks import WalkSettings

DATA = DatasetSettings(source="synthetic", products=400, seed=3)


def spec(model: str = "popularity", **kwargs) -> RunSpec:
    return RunSpec.create(model, dataset=DATA, model_params={"dim": 0}, **kwargs)


def test_run_reports_on_test_with_part_protocol_and_policy() -> None:
    split = SplitSettings(negatives="degree-matched")
    outcome = run(spec(split=split))
    report = outcome.evaluation
    prepared = prepare(DATA, split)
    assert report.part == "test" and report.protocol == "degree-matched"
    assert report.unseen_policy == "median"  # popularity has no cold-start vectors
    assert report.counts["pairs"] == len(prepared.split.test)
    assert set(report.by_bucket["bucket"]) == {"head", "torso", "tail", "unseen"}
    method = run(spec(split=SplitSettings.method()))
    assert method.evaluation.part == "validation"
    assert method.evaluation.counts["pairs"] == len(prepare(DATA, SplitSettings.method()).split.val)


def test_live_auc_uses_the_run_policy() -> None:
    # the monitor scores validation; with the monitor covering all of it, the one live
    # event of a no-training model equals the final evaluation on the method's split
    outcome = run(spec(split=SplitSettings.method(), monitor_pairs=10**6))
    live = outcome.events[-1]
    assert live["auc"] == pytest.approx(outcome.evaluation.auc_all)
    assert live["auc_seen"] == pytest.approx(outcome.evaluation.auc_seen)


@pytest.mark.parametrize(
    "stage",
    [DatasetSettings, SplitSettings, WalkSettings, HeuristicSettings, EvalSettings, RunSpec],
)
def test_a_code_version_change_rebuilds(stage, monkeypatch) -> None:
    walks = WalkSettings(walks_per_node=1, length=5)
    first = spec(walks=walks)
    run(first)
    make_walks(prepare(DATA, first.split), walks)
    again = run(first)
    assert again.cache_hits["run"] and again.cache_hits["split"] and again.cache_hits["dataset"]
    key = first.key()
    monkeypatch.setattr(stage, "CODE_VERSION", stage.CODE_VERSION + 1)
    assert first.key() != key, f"{stage.__name__}'s version is not in the run key"
    rebuilt = run(first)
    assert not rebuilt.cache_hits["run"]
    if stage is DatasetSettings:
        assert not rebuilt.cache_hits["dataset"]
    if stage is SplitSettings:
        assert rebuilt.cache_hits["dataset"] and not rebuilt.cache_hits["split"]
    walks_hit = make_walks(prepare(DATA, first.split), walks)[2]
    assert walks_hit == (stage not in (DatasetSettings, SplitSettings, WalkSettings))


def test_compare_json_has_baselines_lift_and_buckets(capsys) -> None:
    import json

    from recsys_core.cli import main

    args = ["compare", "--models", "adamic-adar", "--products", "400", "--seed", "3"]
    assert main([*args, "--negatives", "degree-matched", "--set", "dim=0", "--json"]) == 0
    out = capsys.readouterr().out
    record = json.loads(out.strip().splitlines()[-1])
    assert (record["part"], record["protocol"]) == ("test", "degree-matched")
    models = record["models"]
    from recsys_core.models.registry import BASELINES

    assert list(models) == list(BASELINES), "baselines always come first"
    assert models["popularity"]["lift_over_popularity"] == 0.0
    aa = models["adamic-adar"]
    assert aa["lift_over_popularity"] == pytest.approx(
        aa["AUC all"] - models["popularity"]["AUC all"]
    )
    assert {"AUC all", "AUC seen", "AUC unseen", "unseen_policy"} <= set(aa)
    assert [b["bucket"] for b in aa["by_bucket"]] == ["head", "torso", "tail", "unseen"]
    assert "Pairs: test; Negatives: degree-matched" in out


def test_split_options_reach_the_split() -> None:
    from recsys_core.cli import build_parser
    from recsys_core.cli.data import split_settings_from_args

    for command in ("prepare", "walks", "train", "compare"):
        args = build_parser().parse_args([command, "--negatives", "two-hop"])
        assert split_settings_from_args(args) == SplitSettings(negatives="two-hop")
    args = build_parser().parse_args(["prepare", "--method-split", "--holdout-products", "0.1"])
    assert split_settings_from_args(args) == SplitSettings.method(holdout_products=0.1)


def test_projection_key_has_its_code_version(monkeypatch) -> None:
    from recsys_core.explore.projection import ProjectionSettings

    key = ProjectionSettings().key("run-key")
    monkeypatch.setattr(ProjectionSettings, "CODE_VERSION", ProjectionSettings.CODE_VERSION + 1)
    assert ProjectionSettings().key("run-key") != key
