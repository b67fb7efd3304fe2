"""Every page of the Streamlit app through AppTest, on a small built-in catalog.

One small run is trained through the Train page (a real worker process via the job
layer) and shared by the pages that need a finished run.

No test measures time: a test that waits for runs waits on the job store (each run's
status), then reruns the page; deadlines are generous and only catch hangs.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

os.environ["RECSYS_DEFAULT_PRODUCTS"] = "1500"  # before the app reads it
os.environ["RECSYS_DEFAULT_MAP_METHOD"] = "pca"  # UMAP itself is tested in test_project
# The operator's data folder: the temporary folder the tests write their files into (a
# test that checks the confinement names its own).
os.environ["RECSYS_DATA_DIR"] = tempfile.gettempdir()

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
HANG_SECONDS = 600.0  # a deadline that only catches hangs, never a slow machine

PAGES = (
    "pages/data.py",
    "pages/graph.py",
    "pages/walks.py",
    "pages/train.py",
    "pages/evaluate.py",
    "pages/neighbours.py",
    "pages/embedding_map.py",
    "pages/side_info.py",
)


@pytest.fixture(scope="module")
def entry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wrapper script that calls ``app.main()`` from outside the repository.

    AppTest treats an app whose folder has a ``pages/`` directory as an old-style
    multipage app on every run, and then runs a page file without the entry script
    (so without the sidebar). From a folder without ``pages/``, ``st.navigation`` routes
    exactly as ``streamlit run app.py`` does once the app is up.
    """
    script = tmp_path_factory.mktemp("entry") / "entry.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport app\napp.main()\n")
    return script


ENTRY: list[Path] = []


@pytest.fixture(autouse=True)
def _entry(entry: Path) -> None:
    ENTRY[:] = [entry]


def fresh(page: str | None = None) -> AppTest:
    script = ENTRY[0]
    at = AppTest.from_file(str(script), default_timeout=HANG_SECONDS)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(os.path.relpath(ROOT / page, script.parent))
        at.run()
    return at


def problems(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


def settle_runs() -> None:
    """Wait, on the job store, until no job is queued or running."""
    import recsys_core.jobs as jobs

    for record in jobs.list_runs(kind=None):
        if record.active:
            after = jobs.wait(record.id, timeout=HANG_SECONDS)
            assert not after.active, f"run {record.id} still {after.status}: hung?"


def rerun_until(at: AppTest, done: Any, reruns: int = 10) -> Any:
    """Let the runs the page started finish, rerun it, until ``done(at)`` gives a value
    (not None or False).

    Bounded by reruns, not by time: each rerun first waits for the runs to settle, so
    a slow machine takes longer but gives the same answer.
    """
    for _ in range(reruns):
        assert not problems(at), problems(at)
        value = done(at)
        if value is not None and value is not False:
            return value
        settle_runs()
        at.run()
    assert not problems(at), problems(at)
    value = done(at)
    assert value is not None and value is not False, "the page did not show the finished runs"
    return value


@pytest.fixture(scope="module")
def trained(entry: Path) -> AppTest:
    """The Train page after one small run finished (started by clicking Start)."""
    ENTRY[:] = [entry]  # module fixtures are set up before the autouse one above
    at = fresh("pages/train.py")
    assert at.button(key="train.start").label == "Start training"
    at.number_input(key="model.sgns.epochs").set_value(1)
    at.run()
    at.button(key="train.start").click().run()
    rerun_until(at, lambda at: any(m.label == "AUC all" for m in at.metric))
    return at


def test_entry_file_routes_to_the_home_page() -> None:
    at = AppTest.from_file(APP, default_timeout=HANG_SECONDS)
    at.run()
    assert not at.exception
    assert at.title[0].value == "Item embeddings from product graphs"
    assert at.sidebar.button(key="ds.load")


def test_home_page_shows_the_dataset() -> None:
    at = fresh()
    assert not problems(at)
    labels = {m.label: m.value for m in at.metric}
    assert labels["products"] == "1,500"
    assert "metadata coverage" in labels
    assert at.button(key="ds.load").label == "Load dataset"
    assert at.selectbox(key="model.name").value == "sgns"
    assert len(at.get("plotly_chart")) >= 3  # relationships, coverage, degrees


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page: str, trained: AppTest) -> None:
    at = fresh(page)
    assert not problems(at), problems(at)
    assert at.title[0].value  # every page has a title


def test_pick_a_dataset_and_bad_inputs() -> None:
    at = fresh()
    at.number_input(key="ds.default.products").set_value(1200)
    at.button(key="ds.load").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["products"] == "1,200"
    at.selectbox(key="ds.choice").set_value("amazon").run()
    at.text_input(key="ds.amazon.path").input(f"{tempfile.gettempdir()}/no/such.json.gz").run()
    at.button(key="ds.load").click().run()
    assert any("No file at" in e.value for e in at.error)
    assert not at.exception  # a user mistake is a message, not a traceback
    # Outside the operator's data folder: one sentence, nothing about the file itself.
    at.text_input(key="ds.amazon.path").input("/etc/passwd").run()
    at.button(key="ds.load").click().run()
    errors = [e.value for e in at.error]
    assert any("not readable here" in e for e in errors), errors
    assert not any("No file" in e or "not Amazon" in e for e in errors)


def test_a_file_that_is_not_amazon_metadata(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.json"
    bogus.write_text("hello world\nnot metadata\n")
    at = fresh()
    at.selectbox(key="ds.choice").set_value("amazon").run()
    at.text_input(key="ds.amazon.path").input(str(bogus)).run()
    at.button(key="ds.load").click().run()
    assert any("not Amazon metadata" in e.value for e in at.error)
    assert not at.exception


def test_out_of_range_setting_is_reported() -> None:
    at = fresh("pages/train.py")
    at.number_input(key="model.sgns.window").set_value(0).run()
    assert any("Model settings" in e.value for e in at.error)
    assert not at.exception


def test_train_shows_live_metrics(trained: AppTest) -> None:
    assert len(trained.get("plotly_chart")) == 1  # loss / AUC / lr
    assert any("reports" in c.value for c in trained.caption)
    # The picker names the run with its current status, not the one it had at Start.
    picker = next(b for b in trained.selectbox if b.label == "run to watch")
    assert "finished" in picker.options[0] and "queued" not in picker.options[0]
    # A refresh (a new session) reattaches to the run from the job store (the newest
    # active one, else the newest: let the baselines the Evaluate page started settle).
    settle_runs()
    at = fresh("pages/train.py")
    assert any(m.label == "AUC all" for m in at.metric)


def test_neighbour_lookup(trained: AppTest) -> None:
    at = fresh("pages/neighbours.py")
    box = at.text_input(key="nb.product.text")
    asin = box.value
    assert asin
    frames = at.dataframe
    assert frames and len(frames[0].value) == 10
    assert asin not in frames[0].value["ASIN"].tolist()  # a product is not its own neighbour
    box.input("ZZZ-not-an-asin").run()
    assert any("No product matches" in e.value for e in at.error)
    assert not at.exception


def test_neighbours_run_choice_survives_a_dropped_widget_value(trained: AppTest) -> None:
    """Streamlit can empty a multiselect between reruns (a rerun from a fragment): the
    page restores the user's last choice; a box the user cleared stays clear."""
    at = fresh("pages/neighbours.py")
    picked = at.multiselect(key="nb.runs").value
    assert picked
    at.session_state["nb.runs"] = []  # what Streamlit did, not the user
    at.run()
    assert at.multiselect(key="nb.runs").value == picked
    assert at.get("download_button") or at.button(key="nb.export.prepare")
    at.multiselect(key="nb.runs").set_value([]).run()  # the user's own choice
    assert at.multiselect(key="nb.runs").value == []
    at.run()
    assert at.multiselect(key="nb.runs").value == []
    assert not problems(at), problems(at)


def test_neighbours_topk_download_equals_the_cli(trained: AppTest, tmp_path: Path) -> None:
    """Prepare top-k file on a click, then a download; its rows are the CLI's rows."""
    import io

    import pandas as pd

    from recsys_core.cli import main

    at = fresh("pages/neighbours.py")
    assert not at.get("download_button")  # nothing built before the click
    assert at.number_input(key="nb.export.k").value == 20
    run_id = at.selectbox(key="nb.export.run").value
    at.number_input(key="nb.export.k").set_value(5)
    at.radio(key="nb.export.format").set_value("csv").run()
    assert any("rows (" in c.value and "as CSV" in c.value for c in at.caption)
    at.button(key="nb.export.prepare").click().run()
    assert not problems(at), problems(at)
    (download,) = at.get("download_button")
    assert f"run{run_id}-top5.csv" in download.proto.label
    ready = at.session_state["nb.export"]
    mine = pd.read_csv(io.BytesIO(ready["data"]))
    out = tmp_path / "recs.csv"
    assert main(["recommend", "--run", str(run_id), "--k", "5", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(mine, pd.read_csv(out))
    assert len(mine) == ready["rows"] and mine["rank"].max() == 5
    # Another k is another file: the old one is not offered for it.
    at.number_input(key="nb.export.k").set_value(6).run()
    assert not at.get("download_button")
    at.radio(key="nb.export.format").set_value("parquet").run()
    at.button(key="nb.export.prepare").click().run()
    parquet = pd.read_parquet(io.BytesIO(at.session_state["nb.export"]["data"]))
    assert parquet["rank"].max() == 6 and list(parquet.columns) == list(mine.columns)


def test_embedding_map_pca(trained: AppTest) -> None:
    at = fresh("pages/embedding_map.py")
    assert at.selectbox(key="map.method").value == "pca"
    at.selectbox(key="map.color.product").set_value("seen").run()
    assert not problems(at), problems(at)
    assert any("PCA" in c.value for c in at.caption)
    assert at.get("plotly_chart")


def test_evaluate_has_curves_and_downloads(trained: AppTest) -> None:
    at = fresh("pages/evaluate.py")
    assert not problems(at)
    assert len(at.get("plotly_chart")) == 4  # ROC, AUC by bucket, thresholds, AUC over steps
    assert len(at.get("download_button")) == 4


def _figure(at: AppTest, key: str) -> dict:
    """The plotly figure (as a dict) of the chart drawn with ``key``."""
    import json

    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith(key) or key in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {key!r} among {[c.proto.id for c in at.get('plotly_chart')]}")


def _points(values: object) -> int:
    """How many values a figure array holds (plotly 6 writes numbers as typed arrays)."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        import numpy as np

        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)  # type: ignore[arg-type]


def test_side_info_comparison_draws_its_charts() -> None:
    """One click trains sgns, side-mean and EGES on the same walks; every chart has data."""
    at = fresh("pages/side_info.py")
    at.number_input(key="model.sgns.epochs").set_value(1)
    at.number_input(key="model.sgns.vector_size").set_value(16)
    at.run()
    at.button(key="side.start").click().run()

    def drawn(at: AppTest) -> bool:
        keys = " ".join(c.proto.id for c in at.get("plotly_chart"))
        return "side.weights" in keys and "side.bars" in keys

    rerun_until(at, drawn)
    table = at.dataframe[0].value
    assert set(table["label"]) == {
        "skip-gram (no side info)",
        "side info, equal weights",
        "side info, learned weights (EGES)",
    }
    assert (table["status"] == "finished").all()
    assert "—" not in set(table["AUC seen"])  # every run has its AUCs
    curves = _figure(at, "side.auc")["data"]
    assert len(curves) == 3 and all(_points(t["y"]) >= 1 for t in curves)
    bars = _figure(at, "side.bars")["data"]
    assert [t["name"] for t in bars] == ["AUC all", "AUC seen", "AUC unseen"]
    assert all(_points(t["y"]) == 3 for t in bars)
    weights = _figure(at, "side.weights")["data"][0]
    assert weights["x"][0] == "id" and len(weights["x"]) >= 3
    assert any("cold-start vector" in c.value for c in at.caption)


def test_tables_never_show_none() -> None:
    import numpy as np
    import pandas as pd

    from ui.fmt import readable

    frame = pd.DataFrame(
        {
            "title": pd.Series(["a", None, ""], dtype="str"),
            "price": [1.5, np.nan, 3.0],
            "auc": [0.9, np.nan, 0.8],
            "n": [1, 2, 3],
        }
    )
    shown, config = readable(frame, {"price": "${:,.2f}"})
    assert shown["title"].tolist() == ["a", "—", "—"]
    assert shown["price"].tolist() == ["$1.50", "—", "$3.00"]
    assert shown["auc"].tolist() == ["0.9000", "—", "0.8000"]
    assert shown["n"].tolist() == [1, 2, 3]  # complete number columns stay numbers
    assert set(config) == {"price", "auc"}


def test_chart_helpers() -> None:
    import pandas as pd

    from ui import charts

    ticks = charts.log_ticks([1, 7, 420])
    assert ticks["tickvals"] == [1.0, 10.0, 100.0, 1000.0]
    assert ticks["ticktext"] == ["1", "10", "100", "1,000"]
    ours = pd.DataFrame({"step": [100, 200, 200, 300], "epoch_end": [False, False, True, False]})
    assert charts.epochs_done(ours).tolist() == [0.5, 1.0, 1.0, 1.5]
    gensim = pd.DataFrame({"step": [0, 1], "epoch_end": [True, True]})
    assert charts.epochs_done(gensim).tolist() == [1.0, 2.0]
    sweep = pd.DataFrame(
        {
            "label": ["a", "a", "b", "b"],
            "coverage": [0.1, 1.0, 0.1, 1.0],
            "AUC all": [0.8, 0.9, 0.7, 0.95],
            "AUC seen": [0.8, 0.9, 0.7, 0.95],
            "AUC unseen": [0.5, 0.5, 0.5, 0.9],
        }
    )
    fig = charts.coverage_sweep(sweep)
    assert len(fig.data) == 6  # two methods x three panels


# -- the app shell: URL state, runs on any dataset, failures ----------------------------------


def fresh_with(params: dict[str, str], page: str | None = None) -> AppTest:
    """The app opened at a URL with these query parameters (a new session)."""
    at = AppTest.from_file(str(ENTRY[0]), default_timeout=HANG_SECONDS)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(os.path.relpath(ROOT / page, ENTRY[0].parent))
        at.run()
    return at


def _queued_run(spec: object, status: str = "queued", error: str | None = None) -> int:
    """A run in the store without a worker: queued (left for the test), or finished as
    ``status`` with ``error``."""
    from recsys_core.jobs import api
    from recsys_core.jobs.specs import submission

    store = api.default_store()
    sub = submission(spec)
    run_id, _ = store.enqueue(sub.spec, sub.key, sub.model, sub.dataset)
    if status != "queued":
        store.mark(run_id, status, error)
    return run_id


def test_the_url_restores_dataset_and_model_settings() -> None:
    at = fresh_with({"dataset": "builtin", "products": "1200", "model": "mf", "model.epochs": "7"})
    assert not problems(at), problems(at)
    assert {m.label: m.value for m in at.metric}["products"] == "1,200"
    assert at.selectbox(key="model.name").value == "mf"
    assert at.number_input(key="model.mf.epochs").value == 7
    assert at.number_input(key="ds.default.products").value == 1200
    # The app writes back what it shows, so a refresh or a copied link opens the same.
    assert at.query_params["products"] in ("1200", ["1200"])
    assert at.query_params["model.epochs"] in ("7", ["7"])
    # A setting back at its start value leaves the URL.
    at.number_input(key="model.mf.epochs").set_value(QUICK_EPOCHS).run()
    assert "model.epochs" not in at.query_params


QUICK_EPOCHS = 2  # ui.runspec.QUICK_DEFAULTS["epochs"]


def test_a_bad_link_is_a_message_not_a_traceback() -> None:
    at = fresh_with({"dataset": "builtin", "products": "lots", "model.window": "0"})
    assert not at.exception
    assert any("could not be opened" in e.value for e in at.error)
    assert {m.label: m.value for m in at.metric}["products"] == "1,500"  # the default


def test_a_failed_run_is_one_sentence_and_never_opened_by_default() -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.pipeline import RunSpec

    spec = RunSpec.create(
        "sgns", dataset=DatasetSettings(products=1500), model_params={"vector_size": 4096}
    )
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1\nMemoryError: ...'
    run_id = _queued_run(
        spec, "failed", f"MemoryError: Unable to allocate 373. GiB for an array\n\n{trace}"
    )
    # A new visitor does not land on it.
    at = fresh("pages/train.py")
    picker = next(b for b in at.selectbox if b.label == "run to watch")
    assert picker.value != run_id
    assert not any("MemoryError" in e.value for e in at.error)
    # A link to it shows one sentence with the cause; the traceback only in an expander.
    at = fresh_with({"run": str(run_id)}, "pages/train.py")
    errors = [e.value for e in at.error if "MemoryError" in e.value]
    assert len(errors) == 1 and "Traceback" not in errors[0], errors
    assert "373. GiB" in errors[0] and "lower the vector size" in errors[0]
    details = [x for x in at.expander if x.label == "details (traceback)"]
    assert details and "Traceback" in details[0].code[0].value
    assert not at.exception


def test_train_lists_runs_on_other_datasets_and_switches_to_them() -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.jobs import api
    from recsys_core.pipeline import RunSpec

    other = DatasetSettings(products=1300)
    # Long enough that a worker left over from another test cannot finish it before Cancel.
    run_id = _queued_run(RunSpec.create("mf", dataset=other, model_params={"epochs": 1000}))
    try:
        at = fresh("pages/train.py")
        assert any(f"#{run_id} mf" in m.value for m in at.markdown), [m.value for m in at.markdown]
        at.button(key=f"runs.train.watch.{run_id}").click().run()
        assert not problems(at), problems(at)
        assert at.session_state["dataset_settings"] == other
        assert at.query_params["products"] in ("1300", ["1300"])
        assert next(b for b in at.selectbox if b.label == "run to watch").value == run_id
        # Started elsewhere (here: through the API, as the CLI does): not this visitor's
        # to cancel, unless the operator allows anyone to.
        assert at.button(key=f"runs.train.cancel.{run_id}").disabled
        os.environ["RECSYS_CANCEL_ANY"] = "1"
        at.run()
        at.button(key=f"runs.train.cancel.{run_id}").click().run()
        # Queued: cancelled at once; claimed by a lingering worker: at its next event.
        assert api.wait(run_id, timeout=HANG_SECONDS).status == "cancelled"
    finally:
        os.environ.pop("RECSYS_CANCEL_ANY", None)
        api.cancel(run_id)


# -- page contents: domain-aware pages, map, curves, tables (issue 11) -----------------------

GENRES_USED = ("Action", "Comedy", "Drama", "Sci-Fi", "War", "Romance", "Horror", "Musical")


def _tiny_movielens(folder: Path, movies: int = 80, users: int = 60) -> Path:
    """A small MovieLens-100k in the GroupLens layout (u.data, u.item), made here."""
    import numpy as np

    from recsys_core.data import movielens

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for user in range(1, users + 1):
        seen = rng.choice(np.arange(1, movies + 1), size=25, replace=False)
        rows += [f"{user}\t{m}\t4\t{t}\n" for t, m in enumerate(seen)]
    (folder / "u.data").write_text("".join(rows))
    lines = []
    for m in range(1, movies + 1):
        genres = {GENRES_USED[m % len(GENRES_USED)], GENRES_USED[(m * 3) % len(GENRES_USED)]}
        flags = ["1" if g in genres else "0" for g in movielens.GENRES]
        year = 1950 + m % 50
        lines.append("|".join([str(m), f"Film {m} ({year})", f"01-Jan-{year}", "", "x", *flags]))
    (folder / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return folder


def _load_movielens(at: AppTest, folder: Path) -> AppTest:
    at.sidebar.selectbox(key="ds.choice").set_value("movielens").run()
    at.sidebar.text_input(key="ds.ml.folder").input(str(folder)).run()
    at.sidebar.button(key="ds.load").click().run()
    assert not problems(at), problems(at)
    return at


def _go(at: AppTest, page: str) -> AppTest:
    at.switch_page(os.path.relpath(ROOT / page, ENTRY[0].parent))
    at.run()
    assert not problems(at), problems(at)
    return at


def test_movielens_pages_show_movies(tmp_path: Path) -> None:
    at = _load_movielens(fresh(), _tiny_movielens(tmp_path / "ml"))
    labels = {m.label: m.value for m in at.metric}
    assert labels["movies"] == "80"
    assert "consecutive in a user's history" in _figure(at, "data.rel")["data"][0]["x"]
    fields = list(_figure(at, "data.cov")["data"][0]["x"])
    assert fields == ["title", "genres", "year"]  # no always-empty brand or price
    assert any("rated one right after the other" in m.value for m in at.markdown)

    _go(at, "pages/graph.py")
    text = " ".join(m.value for m in at.markdown)
    assert "consecutive in that user's history" in text and "bought" not in text
    heat = _figure(at, "graph.heat")["data"][0]
    assert all(str(y).startswith("Film ") for y in heat["y"])  # titles, not ml-<id>
    ego = next(t for t in _figure(at, "graph.ego")["data"] if t.get("mode") == "markers+text")
    assert all(str(t).startswith("Film ") for t in ego["text"])
    table = at.dataframe[0].value
    assert {"title", "genres", "year", "movie id"} <= set(table.columns)
    assert not {"brand", "price", "category", "product"} & set(table.columns)
    assert any("," in g for g in table["genres"])  # every genre, not only the first

    _go(at, "pages/walks.py")
    steps = at.dataframe[0].value
    assert {"genres", "year"} <= set(steps.columns)
    assert not {"brand", "price", "price bucket"} & set(steps.columns)
    at.text_input(key="walks.product.text").input("no such film").run()
    assert any("The catalog holds 80 movies" in e.value for e in at.error)


def test_fetch_movielens_button(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidebar button runs the CLI's fetch (here on a local wheel: no network)."""
    import zipfile

    from recsys_core.data import fetch

    source = _tiny_movielens(tmp_path / "src")
    atomic = tmp_path / "atomic"
    atomic.mkdir()
    (atomic / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + (source / "u.data").read_text()
    )
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    items += [f"{m}\tFilm {m}\t{1950 + m % 50}\tDrama" for m in range(1, 81)]
    (atomic / "ml-100k.item").write_text("\n".join(items) + "\n")

    def fake_wheel(folder: Path, timeout: float = 0) -> Path:
        wheel = folder / f"recbole-{fetch.RECBOLE_VERSION}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            for name in ("ml-100k.inter", "ml-100k.item"):
                zf.write(atomic / name, fetch.WHEEL_PREFIX + name)
        return wheel

    target = tmp_path / "fetched"
    monkeypatch.setattr(fetch, "download_wheel", fake_wheel)
    monkeypatch.setattr(fetch, "default_movielens_dir", lambda: target)
    at = fresh()
    at.sidebar.selectbox(key="ds.choice").set_value("movielens").run()
    assert at.sidebar.text_input(key="ds.ml.folder").value == ""
    at.sidebar.button(key="ds.ml.fetch").click().run()
    assert not problems(at), problems(at)
    assert (target / "ml-100k.inter").is_file()
    assert at.sidebar.text_input(key="ds.ml.folder").value == str(target)
    at.sidebar.button(key="ds.load").click().run()
    assert {m.label: m.value for m in at.metric}["movies"] == "80"


def test_model_forms_offer_only_accepted_values() -> None:
    """Every select box of every model's form holds values its settings class accepts."""
    import dataclasses

    from recsys_core.models.registry import model_classes
    from recsys_core.walks import WalkSettings

    at = fresh()
    checked = 0
    for name, cls in model_classes().items():
        at.sidebar.selectbox(key="model.name").set_value(name).run()
        assert not problems(at), (name, problems(at))
        for box in at.sidebar.selectbox:
            for prefix, settings_cls in ((f"model.{name}.", cls.settings_cls),
                                         (f"walks.{name}.", WalkSettings)):  # fmt: skip
                if not (box.key or "").startswith(prefix):
                    continue
                field = box.key[len(prefix) :]
                for option in box.options:
                    settings_cls(**{field: option})  # raises if the engine rejects it
                    checked += 1
        if "optimizer" in {f.name for f in dataclasses.fields(cls.settings_cls)}:
            assert at.sidebar.selectbox(key=f"model.{name}.optimizer")  # not a text box
    assert checked >= 10


def test_neighbour_table_reads(trained: AppTest) -> None:
    at = fresh("pages/neighbours.py")
    table = at.dataframe[0].value
    # The id always in view, then the seen / no-metadata mark, then the title.
    assert list(table.columns[:4]) == ["rank", "ASIN", "mark", "title"]
    assert "product" not in table.columns  # no internal ids
    assert table["ASIN"].notna().all()
    # Neighbours without metadata (most of the catalog has none) say so in their title
    # (side by side, that is their mark) and keep their id.
    bare = table[table["title"] == "(no metadata)"]
    assert bare["ASIN"].str.len().gt(0).all()
    at.text_input(key="nb.product.text").input("zzz no such thing").run()
    assert any("The catalog holds 1,500 products" in e.value for e in at.error)


def test_graph_table_has_no_internal_ids() -> None:
    at = fresh("pages/graph.py")
    assert not problems(at), problems(at)
    table = at.dataframe[0].value
    assert "product" not in table.columns and "ASIN" in table.columns
    heat = _figure(at, "graph.heat")["data"][0]
    assert len(set(heat["y"])) == len(heat["y"])  # unique labels


def test_data_caption_matches_the_settings() -> None:
    at = fresh()
    caption = " ".join(c.value for c in at.caption)
    assert "1,500 products (preset: 20,000)" in caption


def test_embedding_map_colours_carry_information(trained: AppTest) -> None:
    at = fresh("pages/embedding_map.py")
    runs = at.selectbox(key="map.run")  # the first sgns run (other tests add more runs)
    runs.select_index(max(i for i, o in enumerate(runs.options) if " sgns " in o)).run()
    box = at.selectbox(key="map.color.product")
    assert box.options[:2] == ["degree bucket", "seen"]
    fig = _figure(at, "map.chart")
    names = [t["name"].rsplit(" (", 1)[0] for t in fig["data"] if t["name"] not in ("chosen",
             "neighbour")]  # fmt: skip
    from recsys_core.explore.dataset_views import DEGREE_BUCKETS

    assert names == [b for b in DEGREE_BUCKETS if b in names] and len(names) >= 3
    assert any("stratified by train-degree bucket" in c.value for c in at.caption)
    for option in box.options[1:]:
        at.selectbox(key="map.color.product").set_value(option).run()
        assert not problems(at), (option, problems(at))
    at.selectbox(key="map.color.product").set_value("seen").run()
    assert any("Every drawn product is seen" in c.value for c in at.caption)


def test_evaluate_precision_recall_small_multiples(trained: AppTest) -> None:
    at = fresh("pages/evaluate.py")
    fig = _figure(at, "eval.thr")
    legend = [t["name"] for t in fig["data"] if t.get("showlegend", True)]
    assert sorted(legend) == sorted(
        f"{m} · {p} pairs" for m in ("precision", "recall") for p in ("all", "seen")
    )
    colours = {t["name"].split(" · ")[0]: t["line"]["color"] for t in fig["data"]}
    assert colours["precision"] != colours["recall"]
    # A quantile axis every model's scores can be read on: the share of pairs at or above.
    assert fig["layout"]["xaxis"]["range"] == [0, 1]
    assert "share of pairs" in fig["layout"]["xaxis"]["title"]["text"]


# -- Evaluate: protocols, baselines, buckets; comparable runs only (issue 8) ----------------


def _results(at: AppTest) -> Any:
    return next(d.value for d in at.dataframe if "lift over popularity" in d.value.columns)


def _wait_for_rows(at: AppTest, rows: int) -> Any:
    def table(at: AppTest) -> Any:
        frames = [d.value for d in at.dataframe if "lift over popularity" in d.value.columns]
        return frames[0] if frames and len(frames[0]) >= rows else None

    return rerun_until(at, table)


def test_evaluate_protocols_and_baselines(trained: AppTest) -> None:
    from recsys_core.jobs import api
    from recsys_core.split import NEGATIVE_PROTOCOLS

    before = {r.id for r in api.list_runs()}
    at = fresh("pages/evaluate.py")
    picker = at.selectbox(key="eval.protocol")
    assert tuple(picker.options) == NEGATIVE_PROTOCOLS and picker.value == "uniform"
    # Viewing starts nothing: the baselines are scored from a button with its estimate.
    assert {r.id for r in api.list_runs()} == before
    assert any(c.value.startswith("Estimated ~") for c in at.caption)
    at.button(key="eval.baselines").click().run()
    from recsys_core.models.registry import BASELINES

    table = _wait_for_rows(at, 1 + len(BASELINES))  # the trained run and every baseline
    models = table["model"].tolist()
    assert {*BASELINES, "sgns"} <= set(models)
    lift = dict(zip(models, table["lift over popularity"], strict=True))
    assert lift["popularity"] == "+0.0000"
    assert any("uniform negatives" in c.value for c in at.caption)
    buckets = _figure(at, "eval.buckets")["data"]
    dashed = {t["name"] for t in buckets if t["line"].get("dash") == "dash"}
    assert {n.split(" ", 1)[1] for n in dashed} == set(BASELINES)
    assert {"head", "tail"} <= set(buckets[0]["x"])

    # Under degree-matched negatives the trained run (uniform) is not offered, and
    # popularity, which the protocol controls for, ranks at about chance.
    before = {r.id for r in api.list_runs()}
    at.selectbox(key="eval.protocol").set_value("degree-matched").run()
    assert {r.id for r in api.list_runs()} == before  # a protocol switch starts nothing
    # The trained run is offered for evaluation under the other protocol, no retraining.
    assert at.button(key="eval.reprotocol.degree-matched")
    assert any("evaluated under other negatives only" in c.value for c in at.caption)
    at.button(key="eval.baselines").click().run()
    table = _wait_for_rows(at, len(BASELINES))
    assert set(table["model"]) == set(BASELINES)
    assert any("evaluated on other pairs" in c.value for c in at.caption)
    popularity = float(table.loc[table["model"] == "popularity", "AUC all"].iloc[0].split()[0])
    assert abs(popularity - 0.5) < 0.06


def test_runs_started_on_side_info_are_cancelled_from_its_sidebar() -> None:
    from recsys_core.jobs import api

    at = fresh("pages/side_info.py")
    at.number_input(key="model.sgns.epochs").set_value(50).run()  # far longer than the test
    before = {r.id for r in api.list_runs()}
    at.button(key="side.start").click().run()
    started = [r.id for r in api.list_runs() if r.id not in before]
    assert len(started) == 3, started
    try:
        # The sidebar, drawn after the page, lists them at once, each with Cancel.
        for run_id in started:
            at.button(key=f"runs.side.cancel.{run_id}").click().run()
            assert not problems(at), problems(at)
        finals = [api.wait(i, timeout=HANG_SECONDS).status for i in started]
        assert finals == ["cancelled"] * 3
    finally:
        for run_id in started:
            api.cancel(run_id)


def test_the_executor_is_the_operators_and_shown_read_only() -> None:
    import subprocess
    import sys

    from recsys_core.cluster import executor
    from recsys_core.jobs import api, procs

    assert executor.address() is None
    at = fresh()
    assert any(x.label == "executor: local workers" for x in at.expander)
    # No visitor can redirect the server's workers: there is no field to type into.
    assert not any(w.key and str(w.key).startswith("exec.") for w in at.text_input)
    assert any("read-only" in c.value and "data folder" in c.value for c in at.caption)
    fake: subprocess.Popen | None = None
    try:
        # A bad operator setting is one clear message.
        executor.set_address("my cluster")
        at.run()
        assert any("not an executor setting" in e.value for e in at.error), problems(at)
        # A valid one is what new workers inherit; nothing is started.
        executor.set_address("local")
        at.run()
        assert any(x.label == "executor: ray local" for x in at.expander)
        assert executor.local_head() is None and not executor.connected()
        # A worker alive with another setting (here: an idle one started before the
        # change, without the variable) is named in the sidebar, not silently used.
        env = {k: v for k, v in os.environ.items() if k != executor.ADDRESS_ENV}
        fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env)
        store = api.default_store()
        deadline = time.monotonic() + HANG_SECONDS
        while procs.process_token(fake.pid) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        store.set_idle(fake.pid, procs.process_token(fake.pid))
        executor.set_address("127.0.0.1:26379")
        at.run()
        warnings = [w.value for w in at.warning if f"pid {fake.pid}" in w.value]
        assert warnings and "on local workers" in warnings[0], [w.value for w in at.warning]
        assert executor.local_head() is None and not executor.connected()
    finally:
        executor.set_address(None)
        if fake is not None:
            fake.kill()
            fake.wait()
            api.default_store().workers_needed()  # forgets the dead idle entry


def _sweep_record(run_id: int, params: dict, auc: float, walks: object = None) -> object:
    from types import SimpleNamespace

    def no_spec() -> None:
        raise ValueError("not decodable")

    return SimpleNamespace(
        id=run_id,
        model="sgns",
        status="finished",
        spec={"model": "sgns", "walks": walks, "model_params": sorted(params.items())},
        summary={"auc_all": auc, "auc_seen": auc + 0.01},
        run_spec=no_spec,
    )


def test_sweeps_are_found_from_specs_and_drawn_per_setting() -> None:
    from recsys_core.explore import sweeps
    from ui import charts

    records = [
        _sweep_record(i + 1, {"dim": d, "window": w, "epochs": 1}, 0.6 + 0.01 * i)
        for i, (d, w) in enumerate([(32, 3), (64, 3), (32, 5), (64, 5)])
    ]
    records.append(_sweep_record(9, {"dim": 32, "window": 3}, 0.7, walks={"p": 2}))  # other walks
    found = sweeps.find_sweeps(records)
    assert len(found) == 1
    sweep = found[0]
    assert sweep.keys == ("dim", "window") and list(sweep.frame["run"]) == [1, 3, 2, 4]
    lines = sweeps.sweep_lines(sweep, "dim")
    assert list(lines) == ["window=3", "window=5"]
    assert list(lines["window=5"]["dim"]) == [32, 64]
    assert list(lines["window=5"]["AUC all"]) == [0.62, 0.63]
    figure = charts.sweep_auc({k: sweeps.sweep_lines(sweep, k) for k in sweep.keys})
    assert len(figure.data) == 2 * 2 * 2  # 2 panels x 2 lines x (all, seen)


def test_evaluate_shows_a_sweep_of_mf_runs() -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.jobs import api
    from recsys_core.pipeline import RunSpec

    ids = [
        api.submit(
            RunSpec.create(
                "mf",
                dataset=DatasetSettings(products=1500),
                model_params={"dim": size, "epochs": 1},
            )
        )
        for size in (8, 16)
    ]
    for run_id in ids:
        assert api.wait(run_id, timeout=HANG_SECONDS).status == "finished", api.get_run(
            run_id
        ).error
    at = fresh("pages/evaluate.py")
    assert not problems(at), problems(at)
    picker = at.selectbox(key="eval.sweep")
    assert any(o.startswith("mf · 2 runs · dim = 8, 16") for o in picker.options), picker.options
    figure = _figure(at, "eval.sweep_chart")
    names = [t["name"] for t in figure["data"]]
    assert names == ["all runs · all", "all runs · seen"]
    assert all(_points(t["y"]) == 2 for t in figure["data"])
    assert figure["layout"]["xaxis"]["title"]["text"] == "dim"


# -- hostile links: one sentence, nothing started, nothing read outside the data folder ------


def opened(params: dict[str, str], page: str | None = None) -> AppTest:
    """The app opened by a link with ``params`` (on ``page``), after its first run."""
    script = ENTRY[0]
    at = AppTest.from_file(str(script), default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.first_texts = _texts(at)  # what the link's first view said
    if page:
        at.switch_page(os.path.relpath(ROOT / page, script.parent))
        at.run()
    return at


def _texts(at: AppTest) -> list[str]:
    return [str(e.value) for kind in (at.error, at.warning, at.info, at.caption) for e in kind]


def _built_datasets() -> set[str]:
    from recsys_core.common import cache

    folder = cache.cache_root() / "dataset"
    # artifact folders only: a build's lock file (".<key>.lock") is not a dataset
    return {p.name for p in folder.iterdir() if p.is_dir()} if folder.exists() else set()


HOSTILE_LINKS = [
    ({"dataset": "builtin", "products": "20000000"}, None, "products=20000000"),
    ({"dataset": "builtin", "products": "1000000000"}, None, "products=1000000000"),
    ({"dataset": "books", "products": "abc"}, None, "products='abc' is not a number"),
    ({"dataset": "movielens", "path": "/root"}, None, "'/root' is not readable here"),
    ({"dataset": "movielens", "path": "/etc/passwd"}, None, "'/etc/passwd' is not readable"),
    ({"dataset": "amazon", "path": "/etc/passwd"}, None, "'/etc/passwd' is not readable"),
    ({"dataset": "amazon", "path": "/no/such/file.json"}, None, "is not readable here"),
    ({"dataset": "amazon", "path": "../../etc/passwd"}, None, "is not readable here"),
    ({"model": "nonsense"}, None, "model=nonsense is not a model here; sgns is open"),
    ({"run": "999999"}, "pages/train.py", "run=999999 is not a run"),
    ({"runs": "999999"}, "pages/neighbours.py", "runs=999999 names no finished run"),
    ({"runs": "999999"}, "pages/evaluate.py", "runs=999999 names no finished run"),
    ({"products": "abc"}, None, "products='abc' is not a number"),
    ({"product": "NOPE-NOPE"}, "pages/graph.py", "product=NOPE-NOPE is not in this catalog"),
    ({"walks.walks_per_node": "1000000"}, "pages/train.py", "walks_per_node must be"),
    ({"model.epochs": "many"}, "pages/train.py", "model.epochs=many is not a setting"),
]


@pytest.mark.parametrize(("params", "page", "sentence"), HOSTILE_LINKS)
def test_a_hostile_link_gets_one_sentence_and_starts_nothing(
    params: dict[str, str], page: str | None, sentence: str
) -> None:
    from recsys_core.jobs import api

    runs_before = {r.id for r in api.list_runs()}
    built_before = _built_datasets()
    at = opened(params, page)
    assert not at.exception, at.exception
    texts = at.first_texts + _texts(at)
    assert any(sentence in t for t in texts), texts
    # Nothing about the server's files: no listing, no hint of existence.
    assert not any(".bashrc" in t or "root:x:" in t or "No file at" in t for t in texts)
    assert {r.id for r in api.list_runs()} == runs_before
    assert _built_datasets() <= built_before | _built_datasets_of_default()


def _built_datasets_of_default() -> set[str]:
    from ui.datasets import default_dataset

    return {default_dataset().key()}


def test_a_missing_and_a_forbidden_path_read_the_same() -> None:
    """A link cannot tell whether a file outside the data folder exists."""
    there = opened({"dataset": "amazon", "path": "/etc/passwd"})
    missing = opened({"dataset": "amazon", "path": "/etc/no-such-file"})
    a = [t.replace("/etc/passwd", "X") for t in _texts(there) if "not readable" in t]
    b = [t.replace("/etc/no-such-file", "X") for t in _texts(missing) if "not readable" in t]
    assert a and a == b


def test_a_link_to_a_big_catalog_asks_before_building() -> None:
    built_before = _built_datasets()
    at = opened({"dataset": "builtin", "products": "5000"}, "pages/graph.py")
    assert not problems(at), problems(at)
    assert any("has not built yet" in i.value for i in at.info)
    assert any(c.value.startswith("Estimated ~") for c in at.caption)
    assert _built_datasets() == built_before  # the view built nothing
    at.button(key="ds.build").click().run()
    assert not problems(at), problems(at)
    assert len(_built_datasets() - built_before) == 1  # the click did


def test_a_build_that_finishes_while_the_page_looks_is_loaded_not_offered_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen in a browser run under load: a page read "not built", the build job finished,
    then the page read the store and offered to build a dataset that was there. It reruns
    once and loads it instead."""
    from recsys_core import pipeline
    from ui import cached

    at = opened({"dataset": "builtin", "products": "5300"}, "pages/graph.py")
    at.button(key="ds.build").click().run()
    settle_runs()  # built: its artifacts and a finished build job
    cached.forget("prepared")  # the page reads the cache again, as a fresh server would
    real = pipeline.is_prepared
    calls: list[bool] = []

    def not_yet_at_first(*args: Any) -> bool:  # the job finishes right after this read
        calls.append(True)
        return False if len(calls) == 1 else real(*args)

    monkeypatch.setattr(pipeline, "is_prepared", not_yet_at_first)
    at.run()
    assert len(calls) >= 2  # it looked again
    assert not problems(at), problems(at)
    assert not [i.value for i in at.info if "has not built yet" in i.value]
    assert not [b for b in at.button if b.key == "ds.build"]


def test_a_job_above_the_memory_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MEMORY_LIMIT", "1M")
    at = opened({"dataset": "builtin", "products": "5100"}, "pages/graph.py")
    assert at.button(key="ds.build").disabled
    assert any("more than this server allows one job (1 MB)" in w.value for w in at.warning)


def test_the_sidebar_caps_products_at_the_operators_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MAX_PRODUCTS", "3000")
    at = fresh()
    assert at.number_input(key="ds.default.products").max == 3000
    at = opened({"dataset": "builtin", "products": "4000"})
    assert any("products=4000 is more than this server builds (3,000" in e.value for e in at.error)


def test_the_server_queue_cap_refuses_with_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.jobs import api
    from recsys_core.pipeline import RunSpec

    run_id = _queued_run(
        RunSpec.create("mf", dataset=DatasetSettings(products=1300), model_params={"epochs": 999})
    )
    try:
        monkeypatch.setenv("RECSYS_MAX_QUEUED", "1")
        at = fresh("pages/train.py")
        before = {r.id for r in api.list_runs()}
        at.button(key="train.start").click().run()
        assert any("takes at most 1" in w.value for w in at.warning), _texts(at)
        assert {r.id for r in api.list_runs()} == before
    finally:
        api.cancel(run_id)


def test_an_upload_is_keyed_by_its_content(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from ui.datasets import saved_upload

    first = saved_upload(SimpleNamespace(name="meta.json", getvalue=lambda: b'{"asin": "A"}\n'))
    edited = saved_upload(SimpleNamespace(name="meta.json", getvalue=lambda: b'{"asin": "B"}\n'))
    again = saved_upload(SimpleNamespace(name="other.json", getvalue=lambda: b'{"asin": "A"}\n'))
    assert first != edited and first == again  # same name and size, other bytes: new file
    assert edited.read_bytes() == b'{"asin": "B"}\n'


def test_outcomes_are_memory_mapped_under_a_budget(
    trained: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:

    from recsys_core.jobs import api
    from ui import cached, runs

    record = next(r for r in api.list_runs() if r.status == "finished" and r.model == "sgns")
    outcome = runs.outcome(record)
    assert runs.file_backed(outcome.embeddings.vectors)  # read from disk when used
    curves = sum(int(f.memory_usage(index=False).sum()) for f in outcome.evaluation.curves.values())
    assert runs.resident_bytes(outcome) < curves + outcome.embeddings.vectors.nbytes
    assert cached.budget("outcome") == cached.BUDGETS["outcome"]
    monkeypatch.setenv(cached.BUDGET_ENV, "256M")
    assert cached.budget("outcome") == 256 * 1024**2
    monkeypatch.setitem(cached.BUDGETS, "budget-test", 100)
    for i in range(3):
        cached.memo("budget-test", str(i), lambda: b"x" * 80, size=len)
    held = [k for k in "012" if cached.get("budget-test", k) is not None]
    assert held == ["2"]  # over 100 bytes: only the newest stays


def test_a_browser_stays_the_owner_of_its_runs_across_reloads() -> None:
    """Streamlit re-masks its XSRF cookie on every load; the token under it is the owner."""
    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    from ui.jobgate import _xsrf_token

    browser, other = b"0123456789abcdef", b"fedcba9876543210"
    first, reloaded = generate_xsrf_token_string(browser), generate_xsrf_token_string(browser)
    assert first != reloaded and _xsrf_token(first) == _xsrf_token(reloaded) == browser.hex()
    assert _xsrf_token(generate_xsrf_token_string(other)) != _xsrf_token(first)


def test_a_large_walk_corpus_waits_for_a_click(monkeypatch: pytest.MonkeyPatch) -> None:
    from ui import cached, load

    monkeypatch.setattr(load, "QUICK_WALK_TOKENS", 0)  # every corpus counts as large
    cached.forget("walks")
    at = opened({"dataset": "builtin", "products": "1500"}, "pages/walks.py")
    at.number_input(key="walks.length").set_value(17).run()  # walks no test has made
    assert not problems(at), problems(at)
    buttons = [b for b in at.button if str(b.key).startswith("walks.start.")]
    assert len(buttons) == 2 and not at.dataframe  # nothing walked on view
    buttons[0].click().run()
    assert not problems(at), problems(at)
    assert len(at.dataframe) >= 1  # the clicked corpus is drawn


def test_a_model_picked_in_the_sidebar_survives_page_switches() -> None:
    """The model section is drawn at different places on different pages (inside a page,
    or after it), so Streamlit sees a new widget there; the pick is this session's view
    and must follow it across pages."""
    at = fresh("pages/train.py")
    at.selectbox(key="model.name").set_value("mf").run()
    at.number_input(key="model.mf.epochs").set_value(3).run()
    script = ENTRY[0]
    for page in ("pages/data.py", "pages/evaluate.py", "pages/train.py"):
        at.switch_page(os.path.relpath(ROOT / page, script.parent))
        at.run()
        assert not problems(at), problems(at)
        assert at.selectbox(key="model.name").value == "mf", page
    assert at.number_input(key="model.mf.epochs").value == 3


# -- builds and maps are store jobs: progress, Cancel, failure, owner ------------------------


def _held_job(spec: object) -> int:
    """A job of ``spec`` held "running" with no worker behind it (its executor is the
    test: it ends the job with ``store.finish``), so a page's progress bar stays up."""
    from recsys_core.jobs import api
    from recsys_core.jobs.specs import submission

    store = api.default_store()
    sub = submission(spec)
    job, created = store.enqueue(sub.spec, sub.key, sub.model, sub.dataset, sub.kind)
    assert created
    claimed = store.claim(None, None, None, None)
    assert claimed is not None and claimed.id == job, "another job was waiting"
    return job


def test_a_build_shows_progress_and_only_its_owner_cancels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.jobs import BuildSpec, api
    from recsys_core.split import SplitSettings

    settings = DatasetSettings(products=1400)
    job = _held_job(BuildSpec(settings, SplitSettings()))
    store = api.default_store()
    try:
        at = AppTest.from_file(str(ENTRY[0]), default_timeout=HANG_SECONDS)
        at.wait_for_builds = False
        at.query_params.update({"dataset": "builtin", "products": "1400"})
        at.run()
        assert not problems(at), problems(at)
        texts = [p.proto.text for p in at.get("progress")]
        assert any(f"(job #{job})" in t and "Building" in t for t in texts), texts
        cancel = at.button(key=f"ds.build.cancel.{job}")
        assert cancel.disabled  # another visitor's build (this session did not start it)
        monkeypatch.setenv("RECSYS_CANCEL_ANY", "1")
        at.run()
        at.button(key=f"ds.build.cancel.{job}").click().run()
        assert store.get(job).cancel_requested
        # The worker would stop at its next report; here the test is the executor.
        store.finish(job, "cancelled", error="cancelled during: synthetic: links")
        at.run()
        assert any(f"Job #{job} (dataset build) was cancelled." in e.value for e in at.error)
        assert at.button(key="ds.build").label == "Build the dataset again"
        # The store lists the build among the jobs, never among model runs.
        assert job in {r.id for r in api.list_runs(kind="build")}
        assert job not in {r.id for r in api.list_runs()}
        at.wait_for_builds = True
        at.button(key="ds.build").click().run()
        assert not problems(at), problems(at)
        assert {m.label: m.value for m in at.metric}["products"] == "1,400"
    finally:
        if store.get(job).active:
            store.finish(job, "cancelled")


def test_a_failed_build_is_one_sentence_and_not_retried_on_its_own(tmp_path: Path) -> None:
    from recsys_core.jobs import api

    folder = tmp_path / "broken-ml"
    folder.mkdir()
    (folder / "u.data").write_text("1\t2\n")  # too few fields
    (folder / "u.item").write_text("1|A\n", encoding="latin-1")
    at = fresh()
    before = {r.id for r in api.list_runs(kind="build")}
    at = _load_movielens_unchecked(at, folder)
    builds = [r for r in api.list_runs(kind="build") if r.id not in before]
    assert len(builds) == 1 and builds[0].status == "failed"
    errors = [e.value for e in at.error]
    assert any(
        e.startswith(f"Job #{builds[0].id} (dataset build) failed: Could not") for e in errors
    )
    assert not any("Traceback" in e or "Error:" in e for e in errors), errors
    at.run()  # a rerun shows the failure; it does not submit the build again
    assert {r.id for r in api.list_runs(kind="build")} - before == {builds[0].id}
    assert at.button(key="ds.build").label == "Build the dataset again"


def _load_movielens_unchecked(at: AppTest, folder: Path) -> AppTest:
    at.sidebar.selectbox(key="ds.choice").set_value("movielens").run()
    at.sidebar.text_input(key="ds.ml.folder").input(str(folder)).run()
    at.sidebar.button(key="ds.load").click().run()
    return at


def test_umap_is_a_projection_job_with_progress_and_cancel(
    trained: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys_core.explore.projection import ProjectionSettings, stored_projection
    from recsys_core.jobs import ProjectionSpec, api

    at = fresh("pages/embedding_map.py")
    at.selectbox(key="map.method").set_value("umap").run()
    at.number_input(key="map.points").set_value(300).run()
    assert any("UMAP is not computed for this run yet" in c.value for c in at.caption)
    run = api.get_run(int(at.selectbox(key="map.run").value))
    held = ProjectionSpec.of_run(run, ProjectionSettings(method="umap", max_points=300))
    job = _held_job(held)
    store = api.default_store()
    try:
        at.run()  # a job of these settings runs (another tab's click): the page follows it
        texts = [p.proto.text for p in at.get("progress")]
        assert any("UMAP in the background" in t and f"job #{job}" in t for t in texts), texts
        assert any(c.value.startswith("PCA (UMAP still computing)") for c in at.caption)
        monkeypatch.setenv("RECSYS_CANCEL_ANY", "1")
        at.run()
        at.button(key=f"map.umap.cancel.{job}").click().run()
        assert store.get(job).cancel_requested
        store.finish(job, "cancelled", error="cancelled during: layout: epoch 3 of 500")
        at.run()
        assert any(
            f"Job #{job} (UMAP of run #{run.id}) was cancelled" in w.value for w in at.warning
        )
        assert stored_projection(run.key, held.settings) is None
        # A click computes it for real, in a worker; the page then draws UMAP.
        at.button(key="map.umap.start").click().run()
        new = api.latest(held.key())
        assert new.id != job and new.kind == "projection"
        assert api.wait(new.id, timeout=HANG_SECONDS).status == "finished", new.error
        at.run()
        assert not problems(at), problems(at)
        assert any(c.value.startswith("UMAP · 300 points") for c in at.caption), _texts(at)
        assert stored_projection(run.key, held.settings) is not None
        # The job finishing while the page looks (it read "no projection", then the
        # store): the page reruns once and draws UMAP, not the start button again.
        import recsys_core.explore.projection as projection

        real = projection.stored_projection
        calls: list[bool] = []

        def none_at_first(*args: Any) -> Any:
            calls.append(True)
            return None if len(calls) == 1 else real(*args)

        monkeypatch.setattr(projection, "stored_projection", none_at_first)
        at.run()
        assert len(calls) >= 2
        assert not problems(at), problems(at)
        assert any(c.value.startswith("UMAP · 300 points") for c in at.caption), _texts(at)
    finally:
        if store.get(job).active:
            store.finish(job, "cancelled")


def test_the_queue_cap_counts_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.jobs import BuildSpec, api
    from recsys_core.split import SplitSettings

    at = fresh("pages/train.py")  # the default catalog is built (or is built now)
    at.wait_for_builds = False  # the held build below never ends on its own
    job = _held_job(BuildSpec(DatasetSettings(products=1350), SplitSettings()))
    store = api.default_store()
    try:
        monkeypatch.setenv("RECSYS_MAX_QUEUED", "1")
        before = {r.id for r in api.list_runs(kind=None)}
        at.button(key="train.start").click().run()
        assert any("already has 1 job(s) queued or running" in w.value for w in at.warning)
        assert {r.id for r in api.list_runs(kind=None)} == before
        # the Train page lists the build among what runs, with its Cancel and no Watch
        assert at.button(key=f"runs.train.cancel.{job}")
        assert not [b for b in at.button if b.key == f"runs.train.watch.{job}"]
    finally:
        store.finish(job, "cancelled")
