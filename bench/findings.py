"""Findings: run every declared study and write the README's Findings section from its JSON.

    python -m bench.findings                          # run all studies, write JSON + README
    python -m bench.findings --studies popularity,node2vec-vs-walks
    python -m bench.findings --from-json              # only regenerate the README section

Each study (``recsys_core/studies/``) runs at its stated small size (arms x datasets x
seeds, scored under each protocol) and its result is written to
``bench/results/findings/<study>.json``. The README section between
``<!-- findings:start -->`` and ``<!-- findings:end -->`` is then rebuilt from every JSON
file there, so it always matches the recorded output. A study that fails is reported in
the section as not run; no figure is ever written that a study did not print.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "findings"
README = ROOT / "README.md"
# Every study's tables and verdicts; the README keeps the summary and links here.
DOC = ROOT / "docs" / "findings.md"
START, END = "<!-- findings:start -->", "<!-- findings:end -->"


def run_studies(
    names: list[str],
    datasets: list[str] | None,
    seeds: int | None,
    products: int | None,
    use_jobs: bool,
    out: Path,
) -> dict[str, str]:
    """Run each study and save its JSON; ``{study: error}`` for those that failed."""
    from recsys_core.studies import get_study
    from recsys_core.studies.framework import run_study

    failed = {}
    for name in names:
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            result = run_study(
                get_study(name), datasets=datasets, seeds=seeds, products=products,
                use_jobs=use_jobs,
            )  # fmt: skip
        except Exception as exc:  # one failing study must not lose the others
            traceback.print_exc()
            failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        result.save(out / f"{name}.json")
        for v in result.verdicts:
            print(f"  {v['dataset']} · {v['protocol']}: {v['sentence']}", flush=True)
        print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    return failed


def _arm_table(payload: dict[str, Any], metric: str) -> list[str]:
    from recsys_core.studies.framework import METRICS, dataset_label

    cells = [c for c in payload["cells"] if c["metric"] == metric]
    columns = [(d, p) for d in payload["datasets"] for p in payload["protocols"]]
    columns = [
        (d, p) for d, p in columns if any(c["dataset"] == d and c["protocol"] == p for c in cells)
    ]
    if not METRICS[metric][2]:  # protocol-independent: one column per dataset
        columns = [(d, payload["protocols"][0]) for d in dict.fromkeys(d for d, _ in columns)]
        heads = [dataset_label(d) for d, _ in columns]
    else:
        heads = [f"{dataset_label(d)}, {p}" for d, p in columns]
    digits = ".2f" if metric == "train_seconds" else ".4f"
    lines = [
        f"| {METRICS[metric][0]} | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(heads),
    ]
    for arm in dict.fromkeys(c["arm"] for c in cells):
        row = []
        for d, p in columns:
            cell = next(
                (c for c in cells if c["arm"] == arm and c["dataset"] == d and c["protocol"] == p),
                None,
            )
            if cell is None or cell["mean"] is None:
                row.append("-")
            elif cell.get("low") is not None and cell.get("high") is not None:
                half = max(cell["high"] - cell["mean"], cell["mean"] - cell["low"])
                row.append(f"{format(cell['mean'], digits)} ± {format(half, digits)}")
            else:
                row.append(f"{format(cell['mean'], digits)} ± {format(cell['spread'], digits)}")
        lines.append(f"| {arm} | " + " | ".join(row) + " |")
    if any(c.get("low") is not None for c in cells):
        lines += [
            "",
            f"{METRICS[metric][0]}: mean over seeds ± half the 95% interval over seeds and "
            "queries (two-stage bootstrap); verdicts pair the arms query by query.",
        ]
    return lines


def _bucket_tables(payload: dict[str, Any]) -> list[str]:
    """AUC per popularity bucket of the pair (seed 0), one table per dataset."""
    from recsys_core.studies.framework import dataset_label

    rows = [r for r in payload.get("buckets") or [] if r.get("auc") is not None]
    out: list[str] = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        part = [r for r in rows if r["dataset"] == dataset]
        columns = list(dict.fromkeys((r["protocol"], r["bucket"]) for r in part))
        out += [
            f"AUC per popularity bucket of the pair, {dataset_label(dataset)}, seed 0:",
            "",
            "| arm | " + " | ".join(f"{b} ({p})" for p, b in columns) + " |",
            "|---|" + "---:|" * len(columns),
        ]
        for arm in dict.fromkeys(r["arm"] for r in part):
            cells = {(r["protocol"], r["bucket"]): r["auc"] for r in part if r["arm"] == arm}
            values = [f"{cells[c]:.3f}" if c in cells else "-" for c in columns]
            out.append(f"| {arm} | " + " | ".join(values) + " |")
        out.append("")
    return out


def compact(verdict: dict[str, Any]) -> str:
    """A verdict in a table cell: ``A > B (+0.035)`` or ``A ≈ B`` per comparison."""
    parts = []
    for c in verdict["comparisons"]:
        if c["better"] is None:
            parts.append(f"{c['a']} ≈ {c['b']}")
        else:
            worse = c["b"] if c["better"] == c["a"] else c["a"]
            amount = abs(c["difference"])
            unit = " s" if verdict["metric"] == "train_seconds" else ""
            parts.append(f"{c['better']} > {worse} ({amount:.3f}{unit})")
    group = f"{verdict['group']}: " if verdict["group"] else ""
    return group + "; ".join(parts)


def render(results: dict[str, dict[str, Any]], failed: dict[str, str]) -> str:
    """The Findings section (without the markers) from the studies' JSON."""
    from recsys_core.studies.framework import RANKING_VERDICTS, dataset_label

    out = [
        "## Findings",
        "",
        "Each open question of the method as a small declared study "
        "(`recsys_core/studies/`): arms that differ in one thing, run on the built-in "
        "catalog and MovieLens-100k with several seeds, scored on the test pairs under "
        "uniform negatives (the method's) and degree-matched negatives (popularity "
        "controlled). Each study leads with the ranking (NDCG@10, HitRate@10: the mean "
        "over seeds ± half the 95% interval over seeds and queries); its verdicts name a "
        "direction only when the interval of the paired difference excludes 0. The "
        "method's AUC follows, the mean over seeds ± the spread (max - min), with a "
        "direction only when the difference of the means exceeds the larger spread; "
        "otherwise a verdict says *no clear difference*. The studies are "
        "small on purpose (a 5,000-product catalog, 1-3 epochs), so they rank choices; "
        "they do not give the best AUC a model can reach (see Results for that).",
        "",
        "Generated by `python -m bench.findings` from `bench/results/findings/*.json`; "
        "reproduce one study with `python -m recsys_core study NAME --json`, or click "
        "**Run** on the app's Findings page.",
        "",
    ]
    summary = [
        "In short (NDCG@10 where a study has it; `>`: ahead beyond the 95% interval of the "
        "paired difference, or the seed spread for AUC; `≈`: no clear difference):",
        "",
        "| study | dataset | protocol | verdict |",
        "|---|---|---|---|",
    ]
    for name, payload in results.items():
        first = next(
            (m for m in RANKING_VERDICTS if any(c["metric"] == m for c in payload["cells"])),
            payload["cells"][0]["metric"] if payload["cells"] else "auc",
        )
        for v in payload["verdicts"]:
            if v["metric"] == first:
                summary.append(
                    f"| {name} | {dataset_label(v['dataset'])} | {v['protocol']} | {compact(v)} |"
                )
    if len(summary) > 4:
        out += [*summary, ""]
    out += [
        f"Every study's question, tables, verdicts and command: [{DOC.relative_to(ROOT)}]"
        f"({DOC.relative_to(ROOT)}).",
        "",
    ]
    return "\n".join(out).rstrip() + "\n"


def render_detail(results: dict[str, dict[str, Any]], failed: dict[str, str]) -> str:
    """Every study's section: question, sizes, tables (ranking first), verdicts, command."""
    from recsys_core.studies import all_studies
    from recsys_core.studies.framework import (
        METRICS,
        RANKING_VERDICTS,
        StudyResult,
        dataset_label,
        ranking_first,
    )

    studies, problems = all_studies()
    out = [
        "# Findings: every study",
        "",
        "Generated by `python -m bench.findings` from `bench/results/findings/*.json` "
        "(the README's Findings section says how verdicts are made).",
        "",
    ]
    names = list(studies) + [n for n in results if n not in studies]
    for name in names:
        payload = results.get(name)
        study = studies.get(name)
        title = study.title if study is not None else name
        question = study.question if study is not None else payload["question"]
        out += [f"## {title}", "", f"*{question}*", ""]
        if payload is None:
            why = failed.get(name, "not run yet")
            out += [f"Not run in this record ({why}).", "", _command(name, None), ""]
            continue
        out.append(
            f"{payload['seeds']} seeds; built-in catalog of {payload['products']:,} products"
            + (
                " and MovieLens-100k"
                if "movielens" in payload["datasets"]
                else " (MovieLens-100k not fetched)"
            )
            + (f"; {study.sizes}" if study is not None else "")
            + _took(payload["seconds"])
        )
        out.append("")
        for note in payload["notes"]:
            out += [f"Note: {note}", ""]
        # the ranking leads, the method's AUC follows
        metrics = ranking_first(c["metric"] for c in payload["cells"])
        for metric in metrics:
            out += [*_arm_table(payload, metric), ""]
        if study is not None and study.figure == "buckets":
            out += _bucket_tables(payload)
        verdicts = StudyResult.from_dict(payload).distinct_verdicts()
        verdicts.sort(key=lambda v: v["metric"] not in RANKING_VERDICTS)
        for v in verdicts:
            protocol = f", {v['protocol']}" if METRICS[v["metric"]][2] else ""
            out.append(
                f"- {dataset_label(v['dataset'])}{protocol} "
                f"({METRICS[v['metric']][0]}): {v['sentence']}"
            )
        if study is not None:
            out += ["", f"What it means: {study.meaning}"]
        out += ["", _command(name, payload), ""]
    for module, problem in problems.items():
        out += [f"(Study module `{module}` is not available here: {problem}.)", ""]
    return "\n".join(out).rstrip() + "\n"


def _took(seconds: float) -> str:
    """How long the study ran; a study whose runs all came from the cache says so."""
    if seconds < 3:
        return ". Every run came from the cache (trained earlier by the same code)."
    return f". Took {seconds / 60:.1f} min."


def _command(name: str, payload: dict[str, Any] | None) -> str:
    args = f"python -m recsys_core study {name}"
    if payload is not None:
        args += f" --seeds {payload['seeds']} --products {payload['products']}"
        args += f" --datasets {','.join(payload['datasets'])}"
    return f"```\n{args} --json\n```"


def write_readme(section: str, readme: Path = README) -> None:
    """Replace the marked section, or insert it before the Benchmarks section."""
    text = readme.read_text()
    block = f"{START}\n{section}{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    elif "\n## Benchmarks" in text:
        head, tail = text.split("\n## Benchmarks", 1)
        text = head.rstrip("\n") + "\n\n" + block + "\n\n## Benchmarks" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(text)


def load_results(folder: Path) -> dict[str, dict[str, Any]]:
    from recsys_core.studies import all_studies

    studies, _ = all_studies()
    found = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    order = [n for n in studies if n in found] + [n for n in found if n not in studies]
    return {n: found[n] for n in order}


def main(argv: list[str] | None = None) -> int:
    from recsys_core.studies import all_studies

    parser = argparse.ArgumentParser(prog="python -m bench.findings", description=__doc__)
    parser.add_argument("--studies", help="comma-separated study names (default: all)")
    parser.add_argument("--datasets", help="comma-separated (default: each study's own)")
    parser.add_argument("--seeds", type=int, help="seeds per arm (default: each study's, 3)")
    parser.add_argument("--products", type=int, help="built-in catalog size (default 5000)")
    parser.add_argument("--jobs", action="store_true", help="run arms as background runs")
    parser.add_argument("--from-json", action="store_true", help="only rebuild the README")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON files")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    names = args.studies.split(",") if args.studies else list(all_studies()[0])
    failed: dict[str, str] = {}
    if not args.from_json:
        failed = run_studies(
            names,
            args.datasets.split(",") if args.datasets else None,
            args.seeds,
            args.products,
            args.jobs,
            args.out,
        )
    results = load_results(args.out)
    write_readme(render(results, failed), args.readme)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render_detail(results, failed))
    print(f"README Findings section and {DOC} written from {args.out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
