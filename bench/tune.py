"""A 30-trial tune of skip-gram on the default catalog, from a cold cache, with pruning.

    python bench/tune.py                     # sgns, 30 trials, default catalog (20k)
    python bench/tune.py --trials 10 --model mf-bias

Runs ``python -m recsys_core tune ... --json`` in a fresh cache folder (the dataset,
split and walks are built by the first trial, as in a user's first tune), then prints
the tune's wall time beside the target (10 minutes on 2 cores), how many trials were
pruned, the trials' own durations from the stored study, and the machine's load
average before and after: on a shared machine the figure moves with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 600.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sgns")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--cache", help="cache folder (default: a fresh one under /tmp)")
    args = parser.parse_args()

    cache = Path(args.cache or tempfile.mkdtemp(prefix="bench-tune-"))
    env = dict(os.environ, RECSYS_CACHE_DIR=str(cache))
    env.pop("RECSYS_RUNS_DB", None)
    env["RECSYS_WORKER_LINGER"] = "5"  # leave no idle worker behind
    command = [sys.executable, "-m", "recsys_core", "tune", "--model", args.model]
    command += ["--trials", str(args.trials), "--json"]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        return proc.returncode
    record = json.loads(proc.stdout.strip().splitlines()[-1])

    os.environ["RECSYS_CACHE_DIR"] = str(cache)
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere
    from recsys_core.tuning import load_study

    study = load_study(record["study"])
    durations: dict[str, list[float]] = {}
    for trial in study.trials:
        if trial.datetime_complete and trial.datetime_start:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
            durations.setdefault(trial.state.name.lower(), []).append(seconds)

    print(" ".join(command[1:]))
    print(f"cache: {cache}")
    print(f"| {'figure':<40} | {'ours':>10} | {'target':>10} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 12}|")
    print(f"| {'tune wall s (cold cache, CLI)':<40} | {wall:>10.1f} | {TARGET_SECONDS:>10.0f} |")
    print(f"| {'trials done':<40} | {record['trials_done']:>10} | {args.trials:>10} |")
    print(f"| {'trials pruned':<40} | {record['trials_pruned']:>10} | {'':>10} |")
    for state, values in sorted(durations.items()):
        mean = sum(values) / len(values)
        print(f"| {f'mean s per {state} trial ({len(values)})':<40} | {mean:>10.1f} | {'':>10} |")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"best: {record['best_params']}")
    print(f"validation: {record['validation']}")
    print(f"test (read once): {record['test']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
