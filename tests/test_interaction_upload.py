"""The sidebar's own-file source: preview, guessed column boxes, settings it returns."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recsys_core.data.interactions import GUESSES
from recsys_core.data.tables import guess_columns, preview


def test_preview_and_guesses(tmp_path):
    path = tmp_path / "orders.tsv"
    path.write_text("Customer_ID\tSKU\tOrder_Date\tqty\nc1\tA\t2024-01-01\t1\nc2\tB\t2024-01-02\n")
    head = preview(path)
    assert list(head.columns) == ["Customer_ID", "SKU", "Order_Date", "qty"]
    assert head.iloc[1].tolist() == ["c2", "B", "2024-01-02", ""]
    guessed = guess_columns(list(head.columns), GUESSES)
    assert guessed["user"] == "Customer_ID" and guessed["item"] == "SKU"
    assert guessed["time"] == "Order_Date" and guessed["weight"] == "qty"
    assert guessed["session"] is None


def test_preview_of_parquet_and_of_a_non_table(tmp_path):
    pd.DataFrame({"user": [1, 2], "item": ["a", "b"]}).to_parquet(tmp_path / "x.parquet")
    assert preview(tmp_path / "x.parquet").shape == (2, 2)
    (tmp_path / "x.csv").write_bytes(b"\x00\x01binary")
    with pytest.raises(ValueError, match="binary"):
        preview(tmp_path / "x.csv")


def _app(content: bytes, name: str):
    def script(content: bytes, name: str) -> None:
        import streamlit as st

        from recsys_core.data.registry import DatasetSettings
        from ui import interaction_upload

        class Upload:
            def __init__(self, data: bytes, filename: str) -> None:
                self.name, self._data = filename, data

            def getvalue(self) -> bytes:
                return self._data

        # The test cannot drive a browser upload: hand the module a file as the uploader.
        def uploader(label: str, **kwargs):
            return Upload(content, name) if kwargs.get("key") == "ds.own.file" else None

        st.file_uploader = uploader
        settings = interaction_upload.draw_own_file_source(DatasetSettings())
        st.session_state["result"] = settings

    return AppTest.from_function(script, args=(content, name), default_timeout=30)


def test_upload_maps_guessed_columns_into_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))
    at = _app(b"customer,sku,when,qty\nc1,A,1,2\nc1,B,2,1\n", "shop.csv").run()
    assert not at.exception
    assert at.dataframe[0].value.shape == (2, 4)
    boxes = {box.label: box.value for box in at.selectbox}
    assert boxes["user column"] == "customer" and boxes["item column"] == "sku"
    assert boxes["time column"] == "(none)"  # "when" is not a common name
    at.selectbox(key="ds.own.interactions.time").select("when").run()
    settings = at.session_state["result"]
    assert settings.source == "interactions"
    assert settings.column_map() == {
        "user": "customer",
        "item": "sku",
        "time": "when",
        "weight": "qty",
    }
    # stored by its content hash, with its own suffix so its reader knows its kind
    assert "uploads" in settings.path and settings.path.endswith(".csv")


def test_a_file_that_is_not_a_table_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))
    at = _app(b"\x00\x01\x02", "broken.csv").run()
    assert not at.exception
    assert "binary" in at.error[0].value
    assert at.session_state["result"] is None


def test_uploads_are_keyed_by_content(tmp_path, monkeypatch):
    from ui.interaction_upload import saved_upload

    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))

    class Upload:
        def __init__(self, data: bytes) -> None:
            self.name, self.data = "log.csv", data

        def getvalue(self) -> bytes:
            return self.data

    first = saved_upload(Upload(b"user,item\n1,2\n"))
    edited = saved_upload(Upload(b"user,item\n1,3\n"))  # same name and size
    assert first != edited and first.read_bytes() != edited.read_bytes()
    assert saved_upload(Upload(b"user,item\n1,2\n")) == first
