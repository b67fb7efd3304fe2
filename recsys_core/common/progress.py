"""Progress reporting for long stages, with no dependency on who listens.

A stage accepts ``on_progress: Progress | None`` and calls it with (done, total, message).
The CLI turns it into a tqdm bar; the job layer stores it; the app draws it.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, done: float, total: float, message: str) -> None: ...


def report(on_progress: Progress | None, done: float, total: float, message: str) -> None:
    """Call ``on_progress`` if given; the one place stages go through."""
    if on_progress is not None:
        on_progress(done, total, message)
