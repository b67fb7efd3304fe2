"""Loading what pages show, with a progress bar, in-memory reuse and readable errors.

Each function returns None after drawing an ``st.error`` when the user's input is the
problem (missing file, wrong format, bad setting), so pages never show a traceback for a
user mistake.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from recsys_core.common.settings import SettingsError
from ui import cached, datasets, jobgate, jobview, url
from ui.progress import progress_bar

USER_ERRORS = (SettingsError, ValueError, FileNotFoundError, KeyError)


def prepared(settings: Any = None, split: Any = None) -> Any:
    """The current dataset with its split and train graph (``pipeline.Prepared``).

    ``split`` (``SplitSettings``) defaults to the method's split. The server only reads
    a built dataset from the cache; one not built yet is built by a store job in a worker
    (started by a click, or without one for the operator's default catalog), whose
    progress is drawn with Cancel while the page returns None.
    """
    from recsys_core import pipeline
    from recsys_core.split import SplitSettings

    settings = settings or datasets.dataset_settings()
    split = split or SplitSettings()
    memo_key = split.key(settings.key())

    def load() -> Any:
        with progress_bar(f"Loading {datasets.shown_dataset(settings)}") as on_progress:
            prep = pipeline.load_prepared(settings, split, on_progress)
        if prep is None:  # found damaged: its marker is gone, and its build redoes it
            raise _NotBuilt
        return prep

    try:
        if cached.has("prepared", memo_key) or pipeline.is_prepared(settings, split):
            return cached.memo("prepared", memo_key, load)
    except _NotBuilt:
        pass
    except USER_ERRORS as exc:
        st.error(f"Could not load the dataset: {datasets.shown_error(str(exc), settings)}")
        return None
    draw_build(settings, split)
    return None


class _NotBuilt(Exception):
    """The dataset or its split is not in the cache (nothing is kept in memory then)."""


def draw_build(settings: Any, split: Any) -> None:
    """The dataset's build job: its progress with Cancel while it runs; else its last
    failure, if any, and a button that builds it (submitted at once, without a click,
    for the default catalog or a dataset this session asked for in the picker)."""
    from recsys_core import jobs, pipeline
    from recsys_core.jobs import BuildSpec

    spec = BuildSpec(settings, split)
    record = jobs.latest(spec.key())
    shown = datasets.shown_dataset(settings)
    if record is not None and record.active:
        jobview.draw_job_progress(record.id, f"Building {shown}", "ds.build")
        return
    jobview.rerun_if_finished_meanwhile(record, lambda: pipeline.is_prepared(settings, split))
    est = datasets.build_estimate(settings)
    if datasets.wants_build(settings, spec.key()):
        datasets.mark_submitted(settings, spec.key())
        ids = jobgate.submit(jobs, [spec], [est])
        if ids:
            jobview.draw_job_progress(ids[0], f"Building {shown}", "ds.build")
        return
    if record is not None and record.status != "finished":
        st.error(datasets.shown_error(jobview.failure_sentence(record), settings))
    failed = record is not None and record.status != "finished"
    draw_build_prompt(settings, spec, est, again=failed)


def draw_build_prompt(settings: Any, spec: Any, est: Any, again: bool = False) -> None:
    """A dataset this server has not built yet: what it is, and a button that builds it."""
    from recsys_core import jobs

    if not again:
        st.info(
            f"This view needs {datasets.shown_dataset(settings)}, which this server has not "
            "built yet. Nothing is built until you click."
        )
    label = "Build the dataset again" if again else "Build the dataset"
    # "ds.build" for the pages' own split; a page that also needs a run's split has two
    key = "ds.build" if spec.split == type(spec.split)() else f"ds.build.{spec.key()}"
    if jobgate.draw_start_button(label, est, key=key):
        ids = jobgate.submit(jobs, [spec], [est])
        if ids:
            st.rerun()


def search(prep: Any) -> Any:
    """The ASIN/title search of a prepared dataset."""
    from recsys_core.explore.similar import TitleSearch

    return cached.memo("search", prep.dataset_key, lambda: TitleSearch(prep.dataset.products))


# Below this many walk positions a corpus takes a few seconds and tens of MB: a page may
# build it as it opens. Above, a button with the estimate does.
QUICK_WALK_TOKENS = 5_000_000


def walks(prep: Any, walk_settings: Any) -> np.ndarray | None:
    """Walks over the train graph (disk-cached by the engine, kept in memory here).

    A large corpus not built yet waits for a click (None until then).
    """
    from recsys_core.common import cache
    from recsys_core.jobs import estimate
    from recsys_core.pipeline import make_walks

    key = walk_settings.key(prep.split_key)
    tokens = estimate.walk_tokens(walk_settings, prep.graph.shape[0])
    built = (cache.artifact_dir("walks", key) / cache.DONE_MARKER).exists()
    clicked = key in st.session_state.get("walks.allowed", set())
    if tokens > QUICK_WALK_TOKENS and not (cached.has("walks", key) or built or clicked):
        est = estimate.Estimate(
            "generating walks",
            estimate.BASE_BYTES + 8 * tokens,
            tokens / estimate.WALK_TOKENS_PER_SECOND,
        )
        if jobgate.draw_start_button(
            f"Generate {tokens:,} walk positions", est, f"walks.start.{key}"
        ):
            st.session_state.setdefault("walks.allowed", set()).add(key)
            st.rerun()
        return None

    def build() -> np.ndarray:
        with progress_bar("Generating walks") as on_progress:
            return make_walks(prep, walk_settings, on_progress)[0]

    return cached.memo("walks", key, build)


def product_picker(prep: Any, key: str, label: str = "") -> int | None:
    """Text box + select box of matches; returns the chosen product id or None.

    Starts on the product in the URL (or the one last looked up on any page), else on a
    product with metadata and a well-described neighbourhood
    (:func:`~recsys_core.explore.dataset_views.default_product`) so the page shows
    something at once; writes the choice to the URL. An unknown ASIN or a title that
    matches nothing gets a message that says what the catalog holds.
    """
    from recsys_core.explore.dataset_views import catalog_hint, default_product

    finder = search(prep)
    linked = url.url_value("product")
    first = finder.search(linked or "", limit=1)
    known = bool(len(first)) and str(finder.asins[int(first[0])]) == linked
    if f"{key}.text" not in st.session_state:
        if linked and not known:
            st.warning(
                f"product={linked} is not in this catalog; a well-described product is "
                "open instead."
            )
        if known:  # the product in the URL, or the one last looked up on another page
            st.session_state[f"{key}.text"] = linked
        else:
            start = cached.memo(
                "default_product",
                prep.split_key,
                lambda: default_product(prep.dataset.products, prep.graph),
            )
            # Movies open on their title (ids like "ml-50" mean nothing to a person).
            titled = prep.dataset.domain.item != "product" and finder.titles[start]
            st.session_state[f"{key}.text"] = str(
                finder.titles[start] if titled else finder.asins[start]
            )
    domain = prep.dataset.domain
    text = st.text_input(
        label or f"{domain.item.capitalize()} ({domain.id_name} or part of a title)",
        key=f"{key}.text",
        help="Type an ASIN (or its first characters) or any part of a title, any case.",
    )
    matches = finder.search(text, limit=25)
    if not len(matches):
        if text.strip():
            st.error(
                f"No product matches {text.strip()!r}: check the ASIN or try part of a title. "
                + catalog_hint(prep.dataset.products, prep.dataset.domain.item)
            )
        else:
            st.info("Type an ASIN or part of a product title to pick a product.")
        return None
    options = list(matches)
    wanted = [i for i in options if str(finder.asins[int(i)]) == linked]
    total = max(finder.count(text), len(matches))
    choice = st.selectbox(
        f"{total:,} match{'es' if total != 1 else ''}"
        + (f" (first {len(matches)})" if total > len(matches) else ""),
        options,
        index=options.index(wanted[0]) if wanted else 0,
        format_func=finder.label,
        key=f"{key}.choice.{text.strip().lower()}",
    )
    if choice is None:
        return None
    url.url_update({"product": str(finder.asins[int(choice)])})
    return int(choice)
