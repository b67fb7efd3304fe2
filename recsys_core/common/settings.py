"""Frozen, validated settings shared by every pipeline stage.

Each stage takes one settings dataclass. ``key()`` is a stable hash of its fields, of the
keys of the stage's inputs and of the stage's ``CODE_VERSION``; it names the artifact on
disk, so the same settings over the same inputs and the same code load instead of
recompute. Bump a class's ``CODE_VERSION`` whenever a change to the code of its stage would
change the stage's output: every artifact built by the old code (and everything built
from it downstream, whose keys include this key) is then rebuilt instead of reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, ClassVar


class SettingsError(ValueError):
    """A setting has a value the stage cannot use; the message names the fix."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`SettingsError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SettingsError(message)


def stable_hash(payload: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable payload, independent of dict order."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base class: subclasses are frozen dataclasses that override :meth:`validate`.

    ``CODE_VERSION`` is the version of the code that makes the stage's output; it is part
    of :meth:`key` (a class attribute, not a field: it is not a setting a user picks).
    """

    CODE_VERSION: ClassVar[int] = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; raise :class:`SettingsError` naming the bad one."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self, *input_keys: str) -> str:
        """Stable identity of this stage's output given the keys of its inputs."""
        return stable_hash(
            {
                "stage": type(self).__name__,
                "code_version": self.code_version(),
                "fields": self.as_dict(),
                "inputs": list(input_keys),
            }
        )

    @classmethod
    def code_version(cls) -> int:
        """The stage's code version, as hashed into :meth:`key`."""
        return int(cls.CODE_VERSION)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)
