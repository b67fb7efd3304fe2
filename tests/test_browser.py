"""End to end in a real browser: the app under ``streamlit run``, driven by Playwright.

What a user meets: deep links on a fresh and on a restarted server, every page with the
shared sidebar, state in the URL (a refresh and a shared link open the same view),
a refresh while a run trains, Cancel from a page that is not Train, the MovieLens path
(small GroupLens files made here) and a link to a MovieLens run. Every request the
browser makes is recorded; one that leaves localhost fails the test.

Screenshots go to ``test-output/screenshots/``. Needs Debian's ``chromium``
(``apt-get install -y chromium``); skipped with the reason when it is missing.

Nothing here waits a fixed time: each step waits for the server's ``/_stcore/health``,
the app's websocket (``data-test-connection-state``) or a named element, each with an
explicit timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Ports the server may use: "first-last" (this project's machines give each session a range).
PORTS = os.environ.get("RECSYS_TEST_PORTS", "8600-8649")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_S = 600  # server start, first page: a deadline that only catches hangs
STEP_MS = 60_000  # one click or page to its result (generous: only catches hangs)
COMPUTE_MS = 180_000  # a page's first computation (walks, projections) on a busy machine
TRAIN_MS = 180_000  # a small run to its result, on a busy 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found: apt-get install -y chromium"),
]


def free_port() -> int:
    first, last = (int(p) for p in PORTS.split("-"))
    for port in range(first, last + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


class Server:
    """``streamlit run app.py`` on one port and one cache; restartable."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = cache / "streamlit.log"
        self.visited = False  # has a browser opened a page since the last start?
        # The operator's data folder: the only folder a link may name files in.
        self.data_dir = cache / "data"
        self.data_dir.mkdir(exist_ok=True)

    def start(self) -> None:
        env = dict(
            os.environ,
            RECSYS_DEFAULT_PRODUCTS="1500",
            RECSYS_DEFAULT_MAP_METHOD="pca",
            RECSYS_CACHE_DIR=str(self.cache),
            RECSYS_DATA_DIR=str(self.data_dir),
        )
        env.pop("RECSYS_RUNS_DB", None)
        self.visited = False
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py",
                 "--server.port", str(self.port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"streamlit exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"streamlit not healthy within {START_S} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("browser-cache"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        cancel_leftover_runs(srv.cache)


def cancel_leftover_runs(cache: Path) -> None:
    """Cancel what a failed test left running, so its worker does not train on for minutes."""
    from recsys_core.jobs import api
    from recsys_core.jobs.store import RunStore

    db = cache / "runs.sqlite"
    if db.exists():
        store = RunStore(db)
        for record in api.list_runs(store=store):
            if record.active:
                api.cancel(record.id, store=store)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Tab:
    """One browser context with one page; records every request it makes."""

    def __init__(self, browser: object, server: Server) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(STEP_MS)
        self.requests: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        # Nothing may leave localhost: such a request is recorded above and never sent.
        self.context.route(re.compile(r"^(?!https?://(localhost|127\.0\.0\.1)[:/]).*"), _abort)
        self.page = self.context.new_page()

    def outside(self) -> list[str]:
        local = ("http://localhost:", "ws://localhost:", "data:", "blob:", "about:")
        return [u for u in self.requests if not u.startswith(local)]

    def open(self, path: str) -> None:
        """Go to ``path`` and wait until the app is connected and the page drawn."""
        self.server.visited = True
        self.page.goto(self.server.url + path)
        self.wait_ready()

    def reload(self) -> None:
        self.page.reload()
        self.wait_ready()

    def wait_ready(self, timeout: int = START_S * 1000) -> None:
        from playwright.sync_api import expect

        app = self.page.locator("[data-testid='stApp']")
        expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
        expect(self.page.locator("h1").first).to_be_visible(timeout=timeout)
        expect(self.nav()).to_be_visible(timeout=timeout)

    def settle(self, timeout: int = COMPUTE_MS) -> None:
        """Wait until the app is connected and its script not running (a screenshot then
        shows the whole page; a dropped connection's dialog hides the page from roles)."""
        from playwright.sync_api import expect

        app = self.page.locator("[data-testid='stApp']")
        expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
        expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)

    def nav(self) -> object:
        return self.page.locator("[data-testid='stSidebarNav']")

    def go(self, title: str) -> None:
        """Open a page from the page list and wait for its title."""
        from playwright.sync_api import expect

        self.nav().get_by_role("link", name=title, exact=True).click()
        expect(self.page.locator("h1").first).to_be_visible(timeout=STEP_MS)

    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlparse(self.page.url).query).items()}

    def shot(self, name: str) -> None:
        """A screenshot of the page once its script has finished drawing."""
        self.settle()
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()


def _abort(route: object) -> None:
    route.abort()


@pytest.fixture
def tabs(browser: object, server: Server, request: pytest.FixtureRequest) -> Iterator[list[Tab]]:
    """Browser tabs (each its own context); no tab may request anything off localhost.

    A failed test leaves a screenshot of each of its tabs (``FAILED-<test>-<n>.png``) and
    the server log's tail beside the other screenshots, for a failure seen only once.
    """
    opened: list[Tab] = []

    log_start = server.log.stat().st_size if server.log.exists() else 0
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SHOTS.mkdir(parents=True, exist_ok=True)
        for n, tab in enumerate(opened):
            try:
                tab.page.screenshot(path=str(SHOTS / f"FAILED-{request.node.name}-{n}.png"))
            except Exception as exc:  # a closed page: the failure itself says enough
                print(f"no screenshot of tab {n}: {exc}")
    outside = [u for tab in opened for u in tab.outside()]
    for tab in opened:
        tab.close()
    assert not outside, f"requests leaving localhost: {outside}"
    with open(server.log, errors="replace") as log:
        log.seek(log_start)
        written = log.read()
    for bad in ("Traceback", "inotify", "Inotify"):
        assert bad not in written, f"streamlit.log: {written[-3000:]}"


def new_tab(tabs: list[Tab], browser: object, server: Server) -> Tab:
    tab = Tab(browser, server)
    tabs.append(tab)
    return tab


def page_count() -> int:
    """How many pages the router lists (app.PAGES, read without running the app)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import app

    return len(app.PAGES)


def expect_full_app(tab: Tab, title: str) -> None:
    """The page ``title`` with the router's page list and the shared sidebar."""
    from playwright.sync_api import expect

    page = tab.page
    expect(page.locator("h1").first).to_have_text(re.compile(title), timeout=STEP_MS)
    links = tab.nav().get_by_role("link")
    expect(links).to_have_count(page_count(), timeout=STEP_MS)
    expect(links.first).to_have_text("Data", timeout=STEP_MS)  # not Streamlit's "app"
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_role("heading", name="Dataset")).to_be_visible(timeout=STEP_MS)
    expect(sidebar.get_by_role("heading", name="Model")).to_be_visible(timeout=STEP_MS)
    expect(page.locator("[data-testid='stException']")).to_have_count(0, timeout=STEP_MS)


def run_id_when_started(tab: Tab) -> int:
    """Click Start on the Train page; the id of the new run (the URL's ``run`` changes to it)."""
    from playwright.sync_api import expect

    tab.settle()  # the URL is complete once the script has finished
    before = tab.params().get("run")
    tab.page.get_by_role("button", name="Start training").click()
    if before is None:
        expect(tab.page).to_have_url(re.compile(r"[?&]run=\d+"), timeout=STEP_MS)
    else:
        expect(tab.page).not_to_have_url(re.compile(f"[?&]run={before}(&|$)"), timeout=STEP_MS)
    return int(tab.params()["run"])


def test_deep_links_on_a_fresh_and_a_restarted_server(
    server: Server, browser: object, tabs: list[Tab]
) -> None:
    """/evaluate as the first request of a fresh server, /train after a restart, a refresh."""
    if server.visited:
        server.restart()  # fresh, whatever ran before in this module
    tab = new_tab(tabs, browser, server)
    tab.open("/evaluate")
    expect_full_app(tab, "Evaluate")
    tab.settle()
    tab.shot("0-deep-link-evaluate-fresh-server")
    server.restart()
    tab.open("/train")
    expect_full_app(tab, "Train")
    tab.reload()
    expect_full_app(tab, "Train")
    tab.shot("0-deep-link-train-after-restart")


def test_every_page_and_state_in_the_url(server: Server, browser: object, tabs: list[Tab]) -> None:
    """Train a fast model, then every page; the URL keeps dataset, model, runs and product."""
    from playwright.sync_api import expect

    tab = new_tab(tabs, browser, server)
    tab.open("/train?dataset=builtin&products=1500&model=mf&model.epochs=3")
    page = tab.page
    expect(page.get_by_text("epochs=3", exact=False).first).to_be_visible(timeout=STEP_MS)
    run_id = run_id_when_started(tab)
    auc = page.locator("[data-testid='stMetricLabel']", has_text="AUC all")
    expect(auc).to_be_visible(timeout=TRAIN_MS)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=STEP_MS)
    tab.shot("1-train")
    for title, shot in (
        ("Data", "2-data"),
        ("Graph", "3-graph"),
        ("Walks", "4-walks"),
        ("Evaluate", "5-evaluate"),
        ("Neighbours", "6-neighbours"),
        ("Embedding map", "7-map"),
        ("Side info", "8-side-info"),
        ("Findings", "9-findings"),
    ):
        tab.go(title)
        expect_full_app(tab, "Item embeddings" if title == "Data" else title.split()[0])
        # A page's first computation (walks, projections, numba's first compile) may take
        # longer than a step on a busy machine: wait for the script, then check.
        tab.settle()
        if title == "Data":
            expect(page.get_by_text("1,500", exact=True).first).to_be_visible(timeout=STEP_MS)
        if title in ("Data", "Graph", "Walks", "Evaluate", "Embedding map"):
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=STEP_MS)
        if title in ("Neighbours", "Walks"):
            expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible(timeout=STEP_MS)
        # The sidebar's state survives page switches (Streamlit clears the query string).
        expect(page).to_have_url(re.compile(r"model=mf"), timeout=STEP_MS)
        tab.shot(shot)

    # Neighbours: look up the first neighbour of the default product; the URL names it.
    tab.go("Neighbours")
    box = page.get_by_role("textbox", name="Product (ASIN or part of a title)")
    expect(box).to_be_visible(timeout=STEP_MS)
    expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible(timeout=COMPUTE_MS)
    first = box.input_value()
    box.fill(first[:3])
    box.press("Enter")
    matches = page.get_by_role("combobox", name=re.compile(r"\d+ matches"))
    expect(matches).to_be_visible(timeout=STEP_MS)
    matches.click()
    option = page.get_by_role("option").nth(1)
    chosen = option.inner_text().split(" - ")[0].strip()
    option.click()
    expect(matches).to_have_value(re.compile(f"^{chosen} - "), timeout=STEP_MS)
    expect(page).to_have_url(re.compile(f"product={chosen}"), timeout=STEP_MS)
    expect(page).to_have_url(re.compile(r"[?&]model=mf(&|$)"), timeout=STEP_MS)
    expect(page).to_have_url(re.compile(f"[?&]runs={run_id}(&|$)"), timeout=STEP_MS)
    params = tab.params()
    assert params["runs"] == str(run_id) and params["model"] == "mf", params
    assert params["model.epochs"] == "3" and params["dataset"] == "builtin", params

    # The same link in a new browser (a shared link) opens the same view.
    shared = new_tab(tabs, browser, server)
    shared.open(urlparse(page.url).path + "?" + urlparse(page.url).query)
    expect_full_app(shared, "Neighbours")
    expect(
        shared.page.get_by_role("textbox", name="Product (ASIN or part of a title)")
    ).to_have_value(params["product"], timeout=STEP_MS)
    assert shared.params() == params, (shared.params(), params)
    shared.shot("9-shared-link")


def test_refresh_during_a_run_and_cancel_from_another_page(
    server: Server, browser: object, tabs: list[Tab]
) -> None:
    """A long run: refresh reattaches to it; Cancel in the Side info page's sidebar stops it."""
    from playwright.sync_api import expect

    tab = new_tab(tabs, browser, server)
    # 50 epochs over 4x the default walks: minutes, far longer than the test, which cancels it.
    tab.open(
        "/train?dataset=builtin&model=sgns&model.epochs=50&model.vector_size=8"
        "&walks.walks_per_node=20&walks.length=20"
    )
    page = tab.page
    run_id = run_id_when_started(tab)
    progress = page.locator("[data-testid='stProgress']", has_text="running")
    expect(progress.first).to_be_visible(timeout=TRAIN_MS)
    tab.reload()
    picker = page.get_by_role("combobox", name="run to watch")
    expect(picker).to_have_value(re.compile(f"^#{run_id} sgns · running"), timeout=STEP_MS)
    expect(page.get_by_text(re.compile(r"\d+ reports")).first).to_be_visible(timeout=TRAIN_MS)
    assert tab.params()["run"] == str(run_id)
    tab.shot("10-train-after-refresh-during-run")

    tab.go("Side info")
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_text(f"#{run_id} sgns", exact=False)).to_be_visible(timeout=STEP_MS)
    tab.shot("11-side-info-running-now")
    sidebar.get_by_role("button", name="Cancel").click()  # the only run going on
    expect(sidebar.get_by_text(f"#{run_id} sgns", exact=False)).to_have_count(0, timeout=STEP_MS)
    tab.go("Train")
    expect(picker).to_have_value(re.compile(f"^#{run_id} sgns · cancelled"), timeout=STEP_MS)


def write_movielens(folder: Path, movies: int = 120, users: int = 150) -> Path:
    """A small MovieLens in the GroupLens u.data / u.item format: users watch in clusters."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    genres = 19
    lines = []
    for item in range(1, movies + 1):
        flags = ["0"] * genres
        flags[1 + item % 6] = "1"
        flags[8 + item % 5] = "1"
        year = 1970 + item % 25
        lines.append(
            f"{item}|Film {item} ({year})|01-Jan-{year}||http://example.org|" + "|".join(flags)
        )
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    rows = []
    for user in range(1, users + 1):
        cluster = user % 6
        pool = [m for m in range(1, movies + 1) if m % 6 == cluster]
        seen = rng.choice(pool, size=min(12, len(pool)), replace=False)
        for t, item in enumerate(seen):
            rows.append(f"{user}\t{item}\t{int(rng.integers(1, 6))}\t{880000000 + 60 * t}")
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    return folder


def test_movielens_and_a_link_to_its_run(
    server: Server, browser: object, tabs: list[Tab], tmp_path: Path
) -> None:
    """Load MovieLens by URL, train on it; a bare link to that run opens MovieLens."""
    from playwright.sync_api import expect

    folder = write_movielens(server.data_dir / "ml-small")
    tab = new_tab(tabs, browser, server)
    tab.open(f"/?dataset=movielens&path={folder}")
    page = tab.page
    expect(page.get_by_text(f"Loaded: MovieLens-100k from {folder}")).to_be_visible(timeout=STEP_MS)
    # A link opens the view; the dataset is built by a click, its estimate beside it.
    expect(page.get_by_text(re.compile(r"^Estimated ~"))).to_be_visible(timeout=STEP_MS)
    tab.shot("12-movielens-before-build")
    page.get_by_role("button", name="Build the dataset").click()
    # The build is a job in a worker process (started for it): its progress shows with
    # Cancel, and the page draws the dataset when it ends.
    expect(
        page.locator("[data-testid='stMetricLabel']", has_text=re.compile(r"^movies$"))
    ).to_be_visible(timeout=COMPUTE_MS)
    tab.shot("12-movielens-data")
    # The Train page with mf (trains in a second), its link made by hand.
    tab.open(f"/train?dataset=movielens&path={folder}&model=mf")
    expect(page.get_by_text(f"Loaded: MovieLens-100k from {folder}")).to_be_visible(timeout=STEP_MS)
    tab.settle()
    run_id = run_id_when_started(tab)
    expect(page.locator("[data-testid='stMetricLabel']", has_text="AUC all")).to_be_visible(
        timeout=TRAIN_MS
    )
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=STEP_MS)
    tab.shot("13-movielens-train")

    # A new visitor with only the run's number lands on MovieLens, watching that run.
    link = new_tab(tabs, browser, server)
    link.open(f"/train?run={run_id}")
    expect(link.page.get_by_text(f"Loaded: MovieLens-100k from {folder}")).to_be_visible(
        timeout=STEP_MS
    )
    source = link.page.get_by_role("combobox", name="source")
    expect(source).to_have_value("MovieLens-100k", timeout=STEP_MS)
    picker = link.page.get_by_role("combobox", name="run to watch")
    expect(picker).to_have_value(re.compile(f"^#{run_id} mf · finished"), timeout=STEP_MS)
    assert link.params()["dataset"] == "movielens" and link.params()["model"] == "mf"
    expect(link.page.locator(".js-plotly-plot").first).to_be_visible(timeout=STEP_MS)
    link.shot("14-movielens-run-link")


# -- hostile links and uploads: one sentence, nothing started, nothing read outside ---------

HOSTILE = (
    ("/?dataset=builtin&products=20000000", "products=20000000 is more than this server builds"),
    ("/?dataset=builtin&products=1000000000", "products=1000000000 is more than this server"),
    ("/?dataset=books&products=abc", "products='abc' is not a number"),
    ("/?dataset=movielens&path=/root", "'/root' is not readable here"),
    ("/?dataset=movielens&path=/etc/passwd", "'/etc/passwd' is not readable here"),
    ("/?dataset=amazon&path=/etc/passwd", "'/etc/passwd' is not readable here"),
    ("/?dataset=amazon&path=/etc/no-such-file", "'/etc/no-such-file' is not readable here"),
    ("/?dataset=amazon&path=../../../etc/passwd", "is not readable here"),
    ("/?model=nonsense", "model=nonsense is not a model here; sgns is open instead"),
    ("/train?run=999999", "run=999999 is not a run on this dataset here"),
    ("/train?walks.walks_per_node=1000000", "walks_per_node must be an integer in 1..10000"),
    ("/evaluate", None),  # a plain view: starts no baseline
    ("/embedding_map?dataset=builtin&products=1500", None),  # starts no projection
)
SECRETS = (".bashrc", ".ssh", "root:x:", "No file at", "Traceback")


def _store_state(server: Server, kind: str | None = "model") -> tuple[set[int], set[str]]:
    """(ids of the jobs of ``kind`` in the server's store (None: every job), dataset
    artifacts in its cache)."""
    from recsys_core.jobs import api
    from recsys_core.jobs.store import RunStore

    db = server.cache / "runs.sqlite"
    ids = {r.id for r in api.list_runs(store=RunStore(db), kind=kind)} if db.exists() else set()
    folder = server.cache / "dataset"
    return ids, ({p.name for p in folder.iterdir()} if folder.exists() else set())


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_hostile_links_get_one_sentence_and_start_nothing(
    server: Server, browser: object, tabs: list[Tab]
) -> None:
    from playwright.sync_api import expect

    tab = new_tab(tabs, browser, server)
    tab.open("/")  # the default catalog (the operator's) may build; links may not
    tab.settle()
    # every kind of job: a link starts no run, no build and no projection
    runs_before, built_before = _store_state(server, kind=None)
    for i, (path, sentence) in enumerate(HOSTILE):
        tab.open(path)
        tab.settle()
        if sentence is not None:
            expect(tab.page.get_by_text(sentence, exact=False).first).to_be_visible(timeout=STEP_MS)
        body = tab.page.locator("body").inner_text()
        leaked = [s for s in SECRETS if s in body]
        assert not leaked, (path, leaked)
        expect(tab.page.locator("[data-testid='stException']")).to_have_count(0)
        tab.shot(f"20-hostile-{i:02d}")
        assert _store_state(server, kind=None) == (runs_before, built_before), path
    # The worst link, opened 20 times, leaves the server's memory where it was.
    start = _rss_bytes(server.proc.pid)
    for _ in range(20):
        tab.open(HOSTILE[0][0])
    tab.settle()
    assert _rss_bytes(server.proc.pid) < start + 500 * 1024**2
    assert _store_state(server, kind=None) == (runs_before, built_before)


def test_hostile_uploads_are_one_sentence_and_never_run(
    server: Server, browser: object, tabs: list[Tab], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    marker = tmp_path / "executed"
    code = tmp_path / "code.json"
    code.write_text(f"__import__('os').system('touch {marker}')\n" * 20)
    tiny = tmp_path / "one.json"
    tiny.write_text('{"asin": "A1", "title": "One", "related": {"also_bought": ["B2"]}}\n')
    tab = new_tab(tabs, browser, server)
    tab.open("/")
    page = tab.page
    sidebar = page.locator("[data-testid='stSidebar']")
    for i, upload in enumerate((code, tiny)):
        runs_before, _ = _store_state(server)
        sidebar.get_by_role("combobox", name="source").click()
        page.get_by_role("option", name="Amazon metadata file").click()
        sidebar.locator("input[type='file']").set_input_files(str(upload))
        expect(sidebar.get_by_text(upload.name)).to_be_visible(timeout=STEP_MS)
        tab.settle()
        sidebar.get_by_role("button", name="Load dataset").click()
        tab.settle()
        alert = page.locator("[data-testid='stAlert']").first
        expect(alert).to_be_visible(timeout=COMPUTE_MS)
        body = page.locator("body").inner_text()
        assert "Traceback" not in body and "<ast." not in body, body[-2000:]
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        assert not marker.exists()  # parsed as data, never executed
        assert _store_state(server)[0] == runs_before
        tab.shot(f"21-hostile-upload-{i}")


# -- your own file: upload an interaction log, map its columns, train, export --------------


def write_orders(path: Path, users: int = 60, per_user: int = 8, groups: int = 5) -> Path:
    """A shop's order log: each user buys ``per_user`` items of one group of ``per_user``
    items, in a random order, one a day; consecutive purchases make the item pairs.

    The time column has a name the app does not guess (``purchased_at``), so the test
    maps it by hand; the others are guessed.
    """
    rng = np.random.default_rng(1)
    lines = ["customer_id,sku,purchased_at,qty"]
    for user in range(users):
        group = user % groups
        items = rng.permutation(per_user) + group * per_user
        for day, item in enumerate(items):
            when = f"2024-03-{1 + day:02d} {8 + user % 10:02d}:00:00"
            lines.append(f"c{user:03d},SKU-{item:03d},{when},{1 + (user + day) % 3}")
    path.write_text("\n".join(lines) + "\n")
    return path


def pick(page: object, box: object, option: str | re.Pattern) -> None:
    """Choose ``option`` (its text, or a pattern of it) in the select box ``box``.

    From the keyboard: after a file is set on an uploader, the first click on a select
    box only focuses it (in headless Chromium), while ArrowDown always opens its list.
    A rerun of the script (the upload being read) redraws the sidebar and closes an open
    list, so each try first waits for the script to be idle, and a list that did not open
    is opened again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    app = page.locator("[data-testid='stApp']")
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=COMPUTE_MS)
        box.focus()
        box.press("ArrowDown")
        try:
            wanted.wait_for(state="visible", timeout=STEP_MS)
            wanted.click(timeout=STEP_MS)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        break
    expect(box).to_have_value(option, timeout=STEP_MS)


def test_upload_an_interaction_log_train_and_download_top_k(
    server: Server, browser: object, tabs: list[Tab], tmp_path: Path
) -> None:
    """A CSV of orders through the sidebar's own-file source: preview, column boxes
    (guessed, one set by hand), Load; train; on Neighbours prepare and download the
    top-k file; its rows are every item's top k of the uploaded items."""
    import pandas as pd
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    orders = write_orders(tmp_path / "shop-orders.csv")
    k = 5
    tab = new_tab(tabs, browser, server)
    tab.open("/")
    tab.settle()
    page = tab.page
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_role("combobox", name="source").click()
    page.get_by_role("option", name="Your file: interaction log or item pairs").click()
    expect(sidebar.get_by_text("interaction log (user, item, time)")).to_be_visible(timeout=STEP_MS)
    sidebar.locator("input[type='file']").first.set_input_files(str(orders))
    expect(sidebar.get_by_text(orders.name)).to_be_visible(timeout=STEP_MS)
    expect(sidebar.locator("[data-testid='stDataFrame']")).to_be_visible(timeout=STEP_MS)
    tab.settle()
    user = sidebar.get_by_role("combobox", name="user column")
    expect(user).to_have_value("customer_id", timeout=STEP_MS)
    expect(sidebar.get_by_role("combobox", name="item column")).to_have_value("sku")
    expect(sidebar.get_by_role("combobox", name="weight / rating column")).to_have_value("qty")
    when = sidebar.get_by_role("combobox", name="time column")
    expect(when).to_have_value("(none)")  # not a name the app guesses: mapped by hand
    pick(page, when, "purchased_at")
    tab.settle()
    tab.shot("30-upload-mapped")
    sidebar.get_by_role("button", name="Load dataset").click()
    expect(sidebar.get_by_text(re.compile(f"^Loaded: .*{re.escape(orders.name)}"))).to_be_visible(
        timeout=COMPUTE_MS
    )
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    tab.settle()
    tab.shot("31-upload-loaded")

    # The sidebar's default model: on 40 items its walks and epochs take a moment.
    expect(sidebar.get_by_role("combobox", name="model")).to_have_value(re.compile(r"^sgns · "))
    tab.go("Train")
    expect_full_app(tab, "Train")
    run_id = run_id_when_started(tab)
    expect(page.locator("[data-testid='stMetricLabel']", has_text="AUC all")).to_be_visible(
        timeout=TRAIN_MS
    )
    tab.shot("32-upload-trained")

    tab.go("Neighbours")
    expect_full_app(tab, "Neighbours")
    picker = page.get_by_role("combobox", name="run", exact=True)
    expect(picker).to_have_value(f"#{run_id} sgns", timeout=COMPUTE_MS)
    box = page.get_by_role("spinbutton", name="recommendations per product (k)")
    expect(box).to_have_value("20", timeout=STEP_MS)
    box.fill(str(k))
    box.press("Enter")
    tab.settle()
    expect(page.get_by_text(re.compile(rf"rows \(\d+ items x {k}\)"))).to_be_visible(
        timeout=STEP_MS
    )
    download = page.get_by_role("button", name=re.compile(rf"Download run{run_id}-top{k}\.csv"))
    # A click that lands while the script reruns (the page's run list refreshing) is
    # dropped by Streamlit: click again once the script is idle; building is idempotent.
    prepare = page.get_by_role("button", name="Prepare top-k file")
    for _ in range(3):
        tab.settle()
        # Fails with the page's aria snapshot (what was there instead), unlike click().
        expect(prepare).to_be_visible(timeout=COMPUTE_MS)
        prepare.click()
        tab.settle()
        try:
            download.wait_for(state="visible", timeout=STEP_MS)
            break
        except PlaywrightTimeout:
            continue
    expect(download).to_be_visible(timeout=COMPUTE_MS)
    tab.shot("33-upload-topk-ready")
    with page.expect_download(timeout=STEP_MS) as event:
        download.click()
    saved = tmp_path / event.value.suggested_filename
    event.value.save_as(saved)
    assert saved.name == f"run{run_id}-top{k}.csv"

    table = pd.read_csv(saved)
    assert list(table.columns) == [
        "product",
        "asin",
        "title",
        "rank",
        "recommended",
        "recommended_asin",
        "recommended_title",
        "score",
    ]
    skus = set(pd.read_csv(orders)["sku"])
    assert set(table["asin"]) == skus  # every uploaded item has a list
    assert set(table["recommended_asin"]) <= skus
    assert len(table) == len(skus) * k
    assert (table.groupby("asin")["rank"].apply(list) == [list(range(1, k + 1))] * len(skus)).all()
    assert (table["asin"] != table["recommended_asin"]).all()
    # Best first, by the model's own score.
    assert (table.groupby("asin")["score"].diff().dropna() <= 1e-6).all()
    tab.shot("34-upload-downloaded")
