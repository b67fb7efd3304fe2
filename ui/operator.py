"""What the operator of an app server sets and a visitor cannot: read from the environment."""

from __future__ import annotations

import os

DEFAULT_MAP_ENV = "RECSYS_DEFAULT_MAP_METHOD"


def default_map_method() -> str:
    """UMAP unless ``$RECSYS_DEFAULT_MAP_METHOD`` says "pca" (quick tests and demos)."""
    return "pca" if os.environ.get(DEFAULT_MAP_ENV, "").lower() == "pca" else "umap"
