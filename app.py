"""Entry point of the Streamlit app: draws the shared sidebar and routes to a page.

Run with ``streamlit run app.py``. Everything the pages show comes from ``recsys_core``;
see ``pages/`` for the pages and ``ui/`` for the app-side helpers.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# Pages are named by absolute path so the app also runs from a wrapper script elsewhere
# (the AppTest suite does that: see tests/test_app.py).
ROOT = Path(__file__).resolve().parent

# (file, title, icon); the first is the home page.
PAGES = (
    ("pages/data.py", "Data", ":material/dataset:"),
    ("pages/graph.py", "Graph", ":material/hub:"),
    ("pages/walks.py", "Walks", ":material/route:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/evaluate.py", "Evaluate", ":material/analytics:"),
    ("pages/neighbours.py", "Neighbours", ":material/join_inner:"),
    ("pages/embedding_map.py", "Embedding map", ":material/scatter_plot:"),
    ("pages/side_info.py", "Side info", ":material/category:"),
    ("pages/findings.py", "Findings", ":material/lightbulb:"),
)


def main() -> None:
    """Configure the page, draw the sidebar, run the chosen page."""
    from ui.state import sidebar

    st.set_page_config(page_title="Item embeddings from product graphs", layout="wide")
    page = st.navigation(
        [
            st.Page(ROOT / path, title=title, icon=icon, default=(i == 0))
            for i, (path, title, icon) in enumerate(PAGES)
        ]
    )
    sidebar()
    page.run()


if __name__ == "__main__":
    main()
