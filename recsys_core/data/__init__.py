"""Dataset loaders. Every loader returns the same :class:`Dataset` (catalog + weighted pairs)."""

from recsys_core.data.dataset import Dataset, LoadReport, pairs_from_edges

__all__ = ["Dataset", "LoadReport", "pairs_from_edges"]
