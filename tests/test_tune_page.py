"""The Tune page through AppTest: a button starts a tune in a background process, and
the page shows Optuna's figures and the chosen settings' one test evaluation."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("RECSYS_DEFAULT_PRODUCTS", "1500")  # before the app reads it

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
RUNNERS = Path(__file__).resolve().parent / "tuning_runners.py"


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    # from a folder without pages/, st.navigation routes as `streamlit run app.py` does
    script = tmp_path / "entry.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport app\napp.main()\n")
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RECSYS_RUNS_DB", raising=False)
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{RUNNERS}:epochs_runner")
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.01")
    at = AppTest.from_file(str(script), default_timeout=90)
    at.run()
    at.switch_page(os.path.relpath(ROOT / "pages/tune.py", script.parent))
    at.run()
    return at


def problems(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


def test_a_tune_starts_from_the_button_and_shows_its_figures_and_test(page: AppTest) -> None:
    at = page
    assert not problems(at), problems(at)
    assert at.title[0].value == "Tune"
    assert any("No trial yet" in i.value for i in at.info)  # rendering starts nothing
    at.selectbox(key="tune.model").set_value("mf-bias")
    at.number_input(key="tune.trials").set_value(3)
    at.run()
    at.button(key="tune.start").click().run()
    deadline = time.monotonic() + 180  # only catches a hang
    while time.monotonic() < deadline:
        at.run()
        assert not problems(at), problems(at)
        if at.table:
            break
        time.sleep(1)
    else:
        pytest.fail("the tune did not finish within 180 s")
    values = at.table[0].value
    assert list(values["metric"]) == ["NDCG@10", "HitRate@10", "AUC all"]
    assert values["test"].notna().all() and values["validation"].notna().all()
    assert len(at.get("plotly_chart")) >= 2  # optimisation history, importance, epochs
    assert any("evaluated once" in c.value for c in at.caption)
