"""Entry point of the Streamlit app: draws the shared sidebar and routes to a page.

Run with ``streamlit run app.py``. Everything the pages show comes from ``recsys_core``;
see ``pages/`` for the pages and ``ui/`` for the app-side helpers. Every page URL
(``/train``, ``/evaluate``...) goes through :func:`main`, also when it is the first
request a fresh server gets (see ``ui/shell.py``), and the sidebar's choices live in the
URL (``ui/url.py``), so a refresh or a shared link opens the same view.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# Pages are named by absolute path so the app also runs from a wrapper script elsewhere
# (the AppTest suite does that: see tests/test_app.py).
ROOT = Path(__file__).resolve().parent

# (file, title); the first is the home page. No page icons: Streamlit turns a page's
# Material icon into the tab's favicon by fetching it from fonts.gstatic.com, and the app
# makes no request beyond localhost.
PAGES = (
    ("pages/data.py", "Data"),
    ("pages/graph.py", "Graph"),
    ("pages/walks.py", "Walks"),
    ("pages/train.py", "Train"),
    ("pages/evaluate.py", "Evaluate"),
    ("pages/neighbours.py", "Neighbours"),
    ("pages/embedding_map.py", "Embedding map"),
    ("pages/side_info.py", "Side info"),
    ("pages/tune.py", "Tune"),
    ("pages/findings.py", "Findings"),
)


def main() -> None:
    """Configure the page, draw the sidebar, run the chosen page."""
    from ui.shell import routing
    from ui.sidebar import draw_sidebar, draw_sidebar_rest

    st.set_page_config(page_title="Item embeddings from product graphs", layout="wide")
    page = st.navigation(
        [
            st.Page(ROOT / path, title=title, default=(i == 0))
            for i, (path, title) in enumerate(PAGES)
        ]
    )
    draw_sidebar(show_runs=page.title != "Train")
    try:
        with routing():
            page.run()
    finally:
        draw_sidebar_rest()  # model section (unless the page drew it) and the runs


if __name__ == "__main__":
    main()
