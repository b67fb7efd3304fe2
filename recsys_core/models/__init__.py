"""Embedding models behind one interface (see :mod:`recsys_core.models.base`)."""
