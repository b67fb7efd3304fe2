"""Every page of the Streamlit app through AppTest, on a small built-in catalog.

One small run is trained through the Train page (a real worker process via the job
layer) and shared by the pages that need a finished run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ["RECSYS_DEFAULT_PRODUCTS"] = "1500"  # before the app reads it
os.environ["RECSYS_DEFAULT_MAP_METHOD"] = "pca"  # UMAP itself is tested in test_project

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
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
    at = AppTest.from_file(str(script), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(os.path.relpath(ROOT / page, script.parent))
        at.run()
    return at


def problems(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


@pytest.fixture(scope="module")
def trained(entry: Path) -> AppTest:
    """The Train page after one small run finished (started by clicking Start)."""
    ENTRY[:] = [entry]  # module fixtures are set up before the autouse one above
    at = fresh("pages/train.py")
    assert at.button(key="train.start").label == "Start training"
    at.number_input(key="model.sgns.epochs").set_value(1)
    at.run()
    at.button(key="train.start").click().run()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        at.run()
        assert not problems(at), problems(at)
        if any(m.label == "AUC all" for m in at.metric):
            return at
        time.sleep(1)
    pytest.fail("the run did not finish within 120 s")


def test_entry_file_routes_to_the_home_page() -> None:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception
    assert at.title[0].value == "Item embeddings from product graphs"
    assert at.sidebar.button(key="ds.load")


def test_home_page_shows_the_dataset() -> None:
    start = time.perf_counter()
    at = fresh()
    assert not problems(at)
    labels = {m.label: m.value for m in at.metric}
    assert labels["products"] == "1,500"
    assert "metadata coverage" in labels
    assert at.button(key="ds.load").label == "Load dataset"
    assert at.selectbox(key="model.name").value == "sgns"
    assert len(at.get("plotly_chart")) >= 3  # relationships, coverage, degrees
    assert time.perf_counter() - start < 30


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
    at.text_input(key="ds.amazon.path").input("/no/such/meta.json.gz").run()
    at.button(key="ds.load").click().run()
    assert any("No file at" in e.value for e in at.error)
    assert not at.exception  # a user mistake is a message, not a traceback


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
    # A refresh (a new session) reattaches to the run from the job store.
    at = fresh("pages/train.py")
    assert any(m.label == "AUC all" for m in at.metric)


def test_neighbour_lookup(trained: AppTest) -> None:
    at = fresh("pages/neighbours.py")
    box = at.text_input(key="nb.product.text")
    asin = box.value
    assert asin
    frames = at.dataframe
    assert frames and len(frames[0].value) == 10
    assert asin not in frames[0].value["asin"].tolist()  # a product is not its own neighbour
    box.input("ZZZ-not-an-asin").run()
    assert any("No product matches" in e.value for e in at.error)
    assert not at.exception


def test_embedding_map_pca(trained: AppTest) -> None:
    at = fresh("pages/embedding_map.py")
    assert at.selectbox(key="map.method").value == "pca"
    at.selectbox(key="map.color").set_value("seen").run()
    assert not problems(at), problems(at)
    assert any("PCA" in c.value for c in at.caption)
    assert at.get("plotly_chart")


def test_evaluate_has_curves_and_downloads(trained: AppTest) -> None:
    at = fresh("pages/evaluate.py")
    assert not problems(at)
    assert len(at.get("plotly_chart")) == 3  # ROC, thresholds, AUC over steps
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
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert not problems(at), problems(at)
        keys = " ".join(c.proto.id for c in at.get("plotly_chart"))
        if "side.weights" in keys and "side.bars" in keys:
            break
        time.sleep(1)
        at.run()
    else:
        pytest.fail("the three side-info runs did not finish within 150 s")
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
    at = AppTest.from_file(str(ENTRY[0]), default_timeout=90)
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


QUICK_EPOCHS = 2  # ui.state.QUICK_DEFAULTS["epochs"]


def test_a_bad_link_is_a_message_not_a_traceback() -> None:
    at = fresh_with({"dataset": "builtin", "products": "lots", "model.window": "0"})
    assert not at.exception
    assert any("could not be opened" in e.value for e in at.error)
    assert {m.label: m.value for m in at.metric}["products"] == "1,500"  # the default


def test_a_failed_run_is_one_sentence_and_never_opened_by_default() -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.pipeline import RunSpec

    spec = RunSpec.create(
        "sgns", dataset=DatasetSettings(products=1500), model_params={"vector_size": 5_000_000}
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
    run_id = _queued_run(RunSpec.create("mf", dataset=other, model_params={"epochs": 1}))
    try:
        at = fresh("pages/train.py")
        assert any(f"#{run_id} mf" in m.value for m in at.markdown), [m.value for m in at.markdown]
        at.button(key=f"runs.train.watch.{run_id}").click().run()
        assert not problems(at), problems(at)
        assert at.session_state["dataset_settings"] == other
        assert at.query_params["products"] in ("1300", ["1300"])
        assert next(b for b in at.selectbox if b.label == "run to watch").value == run_id
        at.button(key=f"runs.train.cancel.{run_id}").click().run()
        assert api.get_run(run_id).status == "cancelled"
    finally:
        api.cancel(run_id)


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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(api.get_run(i).status == "cancelled" for i in started):
                break
            time.sleep(0.5)
        assert [api.get_run(i).status for i in started] == ["cancelled"] * 3
    finally:
        for run_id in started:
            api.cancel(run_id)
