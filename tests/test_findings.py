"""Studies: the verdict rule on synthetic numbers, planning, a tiny study end to end, the
study CLI, the README section, and the Findings page through AppTest."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("RECSYS_DEFAULT_PRODUCTS", "500")  # the sidebar's dataset in AppTest

from recsys_core.data.registry import DatasetSettings
from recsys_core.studies import all_studies, get_study
from recsys_core.studies import framework as fw

ROOT = Path(__file__).resolve().parents[1]


# -- the verdict rule -----------------------------------------------------------------------


def test_direction_named_only_beyond_the_seed_spread() -> None:
    clear = fw.compare_arms("A", [0.80, 0.81, 0.82], "B", [0.70, 0.71, 0.72])
    assert clear.better == "A"
    assert clear.difference == pytest.approx(0.10)
    assert clear.spread == pytest.approx(0.02)
    assert clear.sentence.startswith("A is higher than B by 0.1000 AUC")

    # means 0.01 apart, ranges 0.04 wide: no direction
    close = fw.compare_arms("A", [0.80, 0.82, 0.84], "B", [0.79, 0.81, 0.83])
    assert close.better is None
    assert close.sentence.startswith("no clear difference between A and B")

    # the other way round: B named
    assert fw.compare_arms("A", [0.5, 0.51], "B", [0.6, 0.61]).better == "B"


def test_difference_equal_to_spread_is_not_enough() -> None:
    c = fw.compare_arms("A", [0.5, 0.6], "B", [0.4, 0.5])  # diff 0.1, spread 0.1
    assert c.better is None


def test_one_seed_names_no_direction() -> None:
    c = fw.compare_arms("A", [0.9], "B", [0.5])
    assert c.better is None
    assert "one seed" in c.sentence


def test_lower_is_better_for_time() -> None:
    c = fw.compare_arms("ours", [1.0, 1.1], "gensim", [3.0, 3.2], metric="train_seconds")
    assert c.better == "ours"
    assert "faster" in c.sentence


def test_missing_figures_give_no_direction() -> None:
    c = fw.compare_arms("A", [None, None], "B", [0.5, 0.6])
    assert c.better is None


def _two_arm_study(**changes) -> fw.Study:
    arms = (
        fw.Arm("control", fw.arm_spec("popularity"), reference=True),
        fw.Arm("treatment", fw.arm_spec("adamic-adar")),
        fw.Arm("other", fw.arm_spec("adamic-adar", dim=16)),
    )
    return dataclasses.replace(
        fw.Study(name="tiny", title="Tiny", question="Does it work?", arms=arms), **changes
    )


def test_group_verdict_against_reference_and_best() -> None:
    study = _two_arm_study()
    values = {"control": [0.5, 0.51], "treatment": [0.7, 0.71], "other": [0.505, 0.5]}
    comps = fw.group_verdict(study, "", "auc", values)
    assert [(c.a, c.b, c.better) for c in comps] == [
        ("treatment", "control", "treatment"),
        ("other", "control", None),
    ]
    # without a reference the best arm is compared against each other arm
    no_ref = dataclasses.replace(
        study, arms=tuple(dataclasses.replace(a, reference=False) for a in study.arms)
    )
    comps = fw.group_verdict(no_ref, "", "auc", values)
    assert {c.b for c in comps} == {"treatment"}
    assert all(c.better == "treatment" for c in comps)
    assert fw.sentence(comps, "g").startswith("g: Treatment is higher")


def _seeds(rates: list[float], n: int = 2000, seed: int = 0) -> fw.SeedQueries:
    """Per-seed per-query hits at the given rates, on queries 0..n-1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for s, rate in enumerate(rates):
        hits = (rng.random(n) < rate).astype(float)
        out.append((s, {"query": np.arange(n), "ndcg@10": hits, "hit_rate@10": hits}))
    return out


def test_ranked_verdict_names_a_direction_only_when_the_interval_excludes_zero() -> None:
    import numpy as np

    base = _seeds([0.20, 0.22, 0.21])
    better = [
        (s, {**a, "ndcg@10": np.maximum(a["ndcg@10"], (np.arange(2000) % 10 == 0) * 1.0)})
        for s, a in base
    ]
    clear = fw.compare_ranked("A", better, "B", base, "ndcg@10")
    assert clear.better == "A" and clear.low > 0
    assert clear.sentence.startswith("A is higher than B by")
    assert (
        "95% interval of the difference" in clear.sentence and "3 seeds x 2,000" in clear.sentence
    )
    # the same figures on other draws of the queries: no direction
    same = fw.compare_ranked("A", _seeds([0.2, 0.22, 0.21], seed=1), "B", base, "ndcg@10")
    assert same.better is None and same.low <= 0 <= same.high
    assert same.sentence.startswith("no clear difference between A and B on NDCG@10")
    # queries are paired by id: only the shared ones count
    half = [(s, {k: v[:1000] for k, v in a.items()}) for s, a in better]
    assert fw.compare_ranked("A", half, "B", base, "ndcg@10").queries == 1000
    assert fw.compare_ranked("A", [], "B", base, "ndcg@10").better is None


def test_restart_dip() -> None:
    events = [
        {"step": 0, "auc": 0.6},
        {"step": 1, "auc": 0.8, "epoch_end": True},
        {"step": 2, "auc": 0.7},  # dip 0.1 after the restart
        {"step": 3, "auc": 0.85, "epoch_end": True},
        {"step": 4, "auc": 0.9},  # no dip
        {"step": 5, "auc": 0.92, "epoch_end": True},
    ]
    assert fw.restart_dip(events) == pytest.approx(0.05)
    assert fw.restart_dip([{"step": 0, "auc": 0.5}]) != fw.restart_dip([{"step": 0, "auc": 0.5}])


# -- planning -------------------------------------------------------------------------------


def test_plan_sets_seeds_and_dataset() -> None:
    study = get_study("node2vec-vs-walks")
    trials, notes = fw.plan(study, ["builtin"], seeds=2, products=300)
    assert len(trials) == len(study.arms) * 2
    for t in trials:
        assert t.spec.dataset == DatasetSettings(products=300)
        assert t.spec.split.seed == t.seed
        assert t.spec.walks.seed == t.seed
        assert dict(t.spec.model_params)["seed"] == t.seed
    p = {(t.spec.walks.p, t.spec.walks.q) for t in trials}
    assert (1.0, 1.0) in p and (0.5, 2.0) in p
    assert notes == []


def test_plan_dedups_scoring_arms_and_skips_synthetic_arms_on_real_data() -> None:
    unseen = get_study("unseen-treatment")
    trials, _ = fw.plan(unseen, ["builtin"], seeds=1, products=300)
    assert len(trials) == len(unseen.arms)
    assert len(fw.unique_specs(trials)) == 2  # one sgns and one eges run, many policies

    side = get_study("side-info")
    trials, notes = fw.plan(side, ["builtin"], seeds=1, products=1000)
    assert {t.spec.dataset.meta_coverage for t in trials} == {0.1, 1.0} and not notes
    # 10% of 300 products is too little metadata to generate: those arms are left out
    trials, notes = fw.plan(side, ["builtin"], seeds=1, products=300)
    assert {t.spec.dataset.meta_coverage for t in trials} == {1.0}
    assert len(notes) == 3 and all("left out at 300 products" in n for n in notes)
    real = [a for a in side.arms if fw._applies(a, DatasetSettings(source="movielens", path="x"))]
    assert real and all(a.where == "real" for a in real)


def test_unfetched_movielens_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    import recsys_core.data.fetch as fetch

    monkeypatch.setattr(fetch, "movielens_available", lambda folder=None: False)
    names, notes = fw.available_datasets(["builtin", "movielens"], 300)
    assert names == ["builtin"]
    assert "fetch movielens-100k" in notes[0]


def test_every_study_declares_a_question_and_sizes() -> None:
    found, problems = all_studies()
    assert problems == {}
    assert {
        "side-info",
        "unseen-treatment",
        "mf-walks-vs-pairs",
        "mf-forgetting",
        "node2vec-vs-walks",
        "sgns-vs-gensim",
        "popularity",
    } <= set(found)
    for study in found.values():
        assert study.question.endswith("?") and study.sizes and study.meaning
        # a study judged by ranking alone needs one protocol: ranking ignores negatives
        assert study.protocols in (("uniform", "degree-matched"), ("uniform",))
        assert study.seeds == 3
        trials, _ = fw.plan(study, ["builtin"], seeds=1, products=300)
        assert trials
        for spec in fw.unique_specs(trials):
            spec.validate()
    with pytest.raises(ValueError, match="unknown study"):
        get_study("no-such-study")


# -- a tiny study end to end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_result() -> fw.StudyResult:
    study = _two_arm_study(products=300, seeds=2, datasets=("builtin",))
    return fw.run_study(study, use_jobs=False)


def test_tiny_study_end_to_end(tiny_result: fw.StudyResult) -> None:
    r = tiny_result
    assert r.protocols == ["uniform", "degree-matched"]
    assert r.datasets == ["builtin"] and r.seeds == 2 and r.products == 300
    auc_cells = [c for c in r.cells if c["metric"] == "auc"]
    assert len(auc_cells) == 3 * 2  # arms x protocols
    # NDCG@10 and HitRate@10 once (they do not depend on the negatives), with intervals
    ranked = [c for c in r.cells if c["metric"] in fw.RANKING_VERDICTS]
    assert len(ranked) == 3 * 2 and {c["protocol"] for c in ranked} == {"uniform"}
    for cell in ranked:
        assert cell["low"] <= cell["mean"] <= cell["high"] and len(cell["values"]) == 2
    for cell in auc_cells:
        assert len(cell["values"]) == 2
        assert 0.0 <= cell["mean"] <= 1.0
        assert cell["spread"] == pytest.approx(max(cell["values"]) - min(cell["values"]))
    by = {(c["protocol"], c["arm"]): c["mean"] for c in auc_cells}
    # popularity is near chance once negatives match the positives' degrees
    assert abs(by[("degree-matched", "control")] - 0.5) < 0.1
    assert by[("uniform", "treatment")] > by[("uniform", "control")]
    assert [v["metric"] for v in r.verdicts] == ["auc", "auc", "ndcg@10", "hit_rate@10"]
    ndcg = next(v for v in r.verdicts if v["metric"] == "ndcg@10")
    assert "95% interval of the difference" in ndcg["sentence"]
    for v in r.verdicts:
        assert v["sentence"].endswith(".")
        assert len(v["comparisons"]) == 2
    json.dumps(r.as_dict())  # JSON-able
    again = fw.StudyResult.from_dict(json.loads(json.dumps(r.as_dict())))
    assert again.summary_rows() == r.summary_rows()


def test_scores_use_the_test_pairs_of_each_protocol(tiny_result: fw.StudyResult) -> None:
    study = _two_arm_study(products=300, seeds=1, datasets=("builtin",))
    trials, _ = fw.plan(study)
    outcomes = fw.run_in_process(trials[:1])
    spec = trials[0].spec
    figures = {p: fw.score(outcomes[spec.key()], spec, p, None) for p in study.protocols}
    assert {f["pairs"] for f in figures.values()} == {"test"}
    assert figures["uniform"]["auc_all"] != figures["degree-matched"]["auc_all"]


# -- CLI and README -------------------------------------------------------------------------


def test_cli_list_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    from recsys_core.cli import main

    assert main(["study", "list"]) == 0
    out = capsys.readouterr().out
    assert "node2vec-vs-walks:" in out and "runs by default" in out
    assert main(["study", "no-such-study"]) == 2
    assert "unknown study" in capsys.readouterr().err


def test_cli_study_json(capsys: pytest.CaptureFixture[str]) -> None:
    from recsys_core.cli import main

    code = main(
        ["study", "sgns-vs-gensim", "--datasets", "builtin", "--seeds", "2",
         "--products", "300", "--no-jobs", "--json"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    record = json.loads(out[-1])
    assert record["study"] == "sgns-vs-gensim"
    arms = {(c["protocol"], c["arm"], c["metric"]) for c in record["cells"]}
    for protocol in ("uniform", "degree-matched"):
        assert (protocol, "our skip-gram", "auc") in arms
        assert (protocol, "gensim skip-gram", "auc") in arms
    assert any("verdict (AUC)" in line for line in out)


def test_readme_section_from_json(tiny_result: fw.StudyResult, tmp_path: Path) -> None:
    from bench import findings

    folder = tmp_path / "json"
    tiny_result.save(folder / "tiny.json")
    readme = tmp_path / "README.md"
    readme.write_text("# X\n\n## Results\n\nr\n\n## Benchmarks\n\nb\n")
    findings.write_readme(findings.render(findings.load_results(folder), {}), readme)
    text = readme.read_text()
    assert text.index("## Results") < text.index(findings.START) < text.index("## Benchmarks")
    assert "| tiny |" in text  # the README keeps the summary line of each study
    detail = findings.render_detail(findings.load_results(folder), {})
    for v in tiny_result.verdicts:  # every verdict, in full, in the detail document
        assert v["sentence"] in detail
    assert "Not run in this record" in detail  # the declared studies without JSON
    first = text
    findings.write_readme(findings.render(findings.load_results(folder), {}), readme)
    assert readme.read_text() == first  # regenerated in place, not appended


# -- the page -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wrapper entry outside the repository (see tests/test_app.py for why)."""
    script = tmp_path_factory.mktemp("entry") / "entry.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport app\napp.main()\n")
    return script


def _page(entry: Path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(entry), default_timeout=120)
    at.run()
    at.switch_page(os.path.relpath(ROOT / "pages/findings.py", entry.parent))
    at.run()
    assert not at.exception, at.exception
    at.number_input(key="findings.products").set_value(300)
    at.number_input(key="findings.seeds").set_value(2)
    at.multiselect(key="findings.datasets").set_value(["builtin"])
    at.run()
    assert not at.exception, at.exception
    return at


def _summary(at):
    return next(d.value for d in at.dataframe if "study" in d.value.columns)


def test_findings_page_runs_a_study(entry: Path) -> None:
    at = _page(entry)
    assert at.title[0].value == "Findings"
    summary = _summary(at)
    assert len(summary) >= 7
    # before a study runs here, its row is the shipped verdict, marked, or "not run yet"
    shown = summary["verdict"].map(
        lambda v: v.endswith("(shipped result)") or v.startswith("not run yet")
    )
    assert shown.all()
    # recommendations first: every shipped study's row is its NDCG@10 verdict
    shipped = summary[summary["verdict"].str.endswith("(shipped result)")]
    assert len(shipped) and set(shipped["metric"]) == {"NDCG@10"}
    assert set(shipped["protocol"]) == {"any"}  # ranking has no negatives
    for name in all_studies()[0]:
        assert at.button(key=f"findings.{name}.run").label == "Run"

    at.button(key="findings.mf-walks-vs-pairs.run").click().run()
    # right after the click the runs are queued: live progress per arm
    progress = [d.value for d in at.dataframe if "seeds finished" in d.value.columns]
    assert progress and set(progress[0]["arm"]) == {
        "MF-bias on pairs",
        "MF-bias on walk sequences",
    }
    assert at.get("progress")
    # Wait on the job store, not the clock: each rerun comes after the study's runs ended.
    import recsys_core.jobs as jobs

    for _ in range(10):
        for record in jobs.list_runs():
            if record.active:
                assert not jobs.wait(record.id, timeout=600).active, f"run {record.id} hung"
        at.run()
        assert not at.exception, at.exception
        if any(b.key == "findings.mf-walks-vs-pairs.rerun" for b in at.button):
            break
    assert any(b.key == "findings.mf-walks-vs-pairs.rerun" for b in at.button), [
        e.value for e in at.error
    ]
    # the runs may finish between the summary table and the card of one script run; the
    # page reruns itself then (as a browser would see it), so read it after one more run
    at.run()
    tables = [
        d.value
        for d in at.dataframe
        if "metric" in d.value.columns and "study" not in d.value.columns  # not the summary
    ]
    # the other studies' cards show their shipped verdicts; this study's card shows the
    # verdicts of the runs it just made (its shipped table is gone once it has run)
    tables = [t for t in tables if t["verdict"].str.contains("walk sequences").any()]
    assert len(tables) == 1
    verdicts = tables[0]
    assert set(verdicts["protocol"]) == {"uniform", "degree-matched", "any"}  # time: once
    # every study also judges NDCG@10 and HitRate@10 (once: ranking has no negatives)
    assert set(verdicts["metric"]) == {"AUC", "train seconds", "NDCG@10", "HitRate@10"}
    ranked = verdicts[verdicts["metric"].isin(["NDCG@10", "HitRate@10"])]
    assert set(ranked["protocol"]) == {"any"}
    assert list(verdicts["metric"][:2]) == ["NDCG@10", "HitRate@10"]  # the ranking leads
    import json

    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    mine = [t for t in titles if "95% interval over seeds and queries" in t]
    assert mine and all(t.startswith(("NDCG@10", "HitRate@10")) for t in mine), titles
    assert verdicts["verdict"].str.len().gt(20).all()
    links = [e.proto for e in at.get("page_link")]
    assert len(links) == 1 and "Evaluate" in links[0].label
    from urllib.parse import parse_qs

    ids = parse_qs(links[0].query_string)["runs"][0].split(",")
    assert len(ids) == 2 and all(i.isdigit() for i in ids)  # the seed-0 run of each arm
    summary = _summary(at)
    rows = summary[summary["study"] == "MF on walk sequences against MF on pairs"]
    assert len(rows) == 1 and not rows["verdict"].str.startswith("not run").any()
    assert list(rows["metric"]) == ["NDCG@10"]  # one ranking verdict on the one dataset
    assert not at.error, [e.value for e in at.error]


def test_readme_findings_match_the_recorded_json() -> None:
    """The README section is what ``python -m bench.findings --from-json`` writes."""
    from bench import findings

    folder = ROOT / "bench" / "results" / "findings"
    if not any(folder.glob("*.json")):
        pytest.skip("no recorded study results")
    text = (ROOT / "README.md").read_text()
    assert findings.START in text and findings.END in text
    section = text.split(findings.START, 1)[1].split(findings.END, 1)[0]
    results = findings.load_results(folder)
    assert section.strip() == findings.render(results, {}).strip()
    assert text.index("## Results") < text.index(findings.START)
    # every study's detail lives in docs/findings.md, written by the same command
    assert findings.DOC.read_text().strip() == findings.render_detail(results, {}).strip()
