"""Generating the synthetic catalog: the direct build against the file round trip.

    python -m bench.synthetic --preset books                     # ours only (the target)
    python -m bench.synthetic --preset electronics --reference   # ours beside the old path

Each path runs in its own process, so each peak is its own: "direct" is what
``load_synthetic`` does now (arrays straight into the Dataset), "file round trip" is the
old path (write the 2014-format file, read it back through the Amazon loader), which
tests keep at small sizes. Nothing is cached between the runs (a fresh cache folder).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from recsys_core.data import synthetic
settings = synthetic.PRESETS[sys.argv[1]]
load = synthetic.load_synthetic if sys.argv[2] == "direct" else synthetic.load_synthetic_file
t0, c0 = time.perf_counter(), time.process_time()
ds = load(settings)
print(json.dumps({
    "seconds": time.perf_counter() - t0,
    "cpu_seconds": time.process_time() - c0,
    "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    "products": ds.n_products,
    "pairs": len(ds.pairs),
}))
"""


def measure(preset: str, path: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-synthetic-") as cache:
        env = {**os.environ, "RECSYS_CACHE_DIR": cache}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, preset, path],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", default="electronics", choices=["default", "electronics", "books"]
    )
    parser.add_argument(
        "--reference", action="store_true", help="also run the old file round trip (slow)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {"direct": measure(args.preset, "direct")}
    if args.reference:
        rows["file round trip"] = measure(args.preset, "file")
    print(
        f"synthetic {args.preset}: {rows['direct']['products']:,} products, "
        f"{rows['direct']['pairs']:,} pairs"
    )
    print(f"{'path':<16} {'wall s':>8} {'cpu s':>8} {'peak GB':>8}")
    for name, row in rows.items():
        print(f"{name:<16} {row['seconds']:8.1f} {row['cpu_seconds']:8.1f} {row['peak_gb']:8.2f}")
    if args.json:
        print(json.dumps({"preset": args.preset, **rows}))


if __name__ == "__main__":
    main()
