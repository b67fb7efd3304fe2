"""Page-load times of the app in headless Chromium: first paint and fully drawn, per page.

    python -m bench.app                    # the default catalog (20,000 products)
    python -m bench.app --products 1500    # smaller, quicker
    python -m bench.app --json             # last line: one JSON object with every figure
    python -m bench.app --scale electronics --profile /tmp/spy   # the scale pass (below)

Three passes, each on a fresh server process (``streamlit run app.py``) and a fresh
browser context:

1. **cold**: an empty cache (the dataset is generated on the first page);
2. **restart**: the same cache after a server restart (the dataset is loaded from disk,
   imports are paid again);
3. **warm**: the same server again, a new browser tab (imports and in-memory objects
   reused).

In each pass every page is opened by its URL. *First paint* is the time from navigation
to the page's title on screen; *drawn* is the time until the script has finished
(``data-test-script-state="notRunning"``). Chromium must be at ``/usr/bin/chromium`` (or
``--chromium``); ports come from ``--ports`` (default 8600-8649).

``--scale PRESET`` runs the scale pass instead (:mod:`bench.app_scale`): the pages on a
large synthetic catalog, the server's peak memory, and one epoch of skip-gram started
from the Train page against the same run from the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("", "graph", "walks", "train", "evaluate", "neighbours", "embedding_map", "side_info")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port(ports: str) -> int:
    first, last = (int(p) for p in ports.split("-"))
    for port in range(first, last + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


def start_server(port: int, cache: Path, products: int | None) -> subprocess.Popen:
    env = dict(os.environ, RECSYS_CACHE_DIR=str(cache), RECSYS_DEFAULT_MAP_METHOD="pca")
    if products:
        env["RECSYS_DEFAULT_PRODUCTS"] = str(products)
    env.pop("RECSYS_RUNS_DB", None)
    with open(cache / "streamlit.log", "a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy within 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def time_pages(
    browser, url: str, pages: tuple[str, ...], timeout_s: float, query: str = ""
) -> list[dict]:
    """Open each page by URL (with ``query``, e.g. ``?dataset=electronics``) in one new
    context; seconds to first paint and to drawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside: list[str] = []
    local = ("http://localhost", "ws://localhost", "data:")
    page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
    rows = []
    try:
        for name in pages:
            t0 = time.perf_counter()
            page.goto(f"{url}/{name}{query}", wait_until="commit")
            page.locator("h1").first.wait_for(state="visible", timeout=timeout_s * 1000)
            paint = time.perf_counter() - t0
            page.wait_for_selector(
                "[data-testid='stApp'][data-test-script-state='notRunning']",
                timeout=timeout_s * 1000,
            )
            drawn = time.perf_counter() - t0
            rows.append({"page": name or "data", "first_paint_s": paint, "drawn_s": drawn})
    finally:
        context.close()
    if outside:
        rows.append({"page": "requests leaving localhost", "urls": outside})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=None, help="default: 20,000")
    parser.add_argument("--ports", default="8600-8649")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=300.0, help="per page, seconds")
    parser.add_argument("--json", action="store_true")
    scale = parser.add_argument_group("scale pass")
    scale.add_argument("--scale", choices=("electronics", "books", "default"), default=None)
    scale.add_argument("--cache", default=None, help="default: $RECSYS_CACHE_DIR/bench-app-scale")
    scale.add_argument("--profile", metavar="DIR", help="py-spy each run's worker into DIR")
    scale.add_argument("--skip-train", action="store_true", help="pages and memory only")
    scale.add_argument(
        "--cli-variants", nargs="*", default=["app-settings", "eval_every=0"],
        help="CLI runs after the app's: the app's settings, and eval_every=0",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.scale:
        from bench import app_scale

        unknown = sorted(set(args.cli_variants) - set(app_scale.CLI_VARIANTS))
        if unknown:
            parser.error(
                f"--cli-variants: unknown {', '.join(unknown)}; "
                f"known: {', '.join(app_scale.CLI_VARIANTS)}"
            )
        return app_scale.main(args)

    from playwright.sync_api import sync_playwright

    port = free_port(args.ports)
    url = f"http://localhost:{port}"
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp, sync_playwright() as pw:
        cache = Path(tmp)
        browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
        try:
            # cold: the first page builds the dataset; then the other pages on that server
            proc = start_server(port, cache, args.products)
            try:
                results["cold"] = time_pages(browser, url, PAGES, args.timeout)
            finally:
                stop_server(proc)
            proc = start_server(port, cache, args.products)
            try:
                results["restart"] = time_pages(browser, url, PAGES, args.timeout)
                results["warm"] = time_pages(browser, url, PAGES, args.timeout)
            finally:
                stop_server(proc)
        finally:
            browser.close()

    load = os.getloadavg()[0]
    print(f"app page loads, {args.products or 20_000:,} products; load average {load:.1f}")
    print(f"{'page':<16}" + "".join(f"{p + ' paint/drawn':>24}" for p in results))
    for i, name in enumerate(PAGES):
        cells = []
        for rows in results.values():
            row = rows[i]
            cells.append(f"{row['first_paint_s']:>10.2f} s /{row['drawn_s']:>7.2f} s")
        print(f"{name or 'data':<16}" + "".join(f"{c:>24}" for c in cells))
    leaks = [r for rows in results.values() for r in rows if "urls" in r]
    print(f"requests leaving localhost: {sum(len(r['urls']) for r in leaks)}")
    if args.json:
        print(json.dumps({"products": args.products or 20_000, "load": load, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
