"""App-side helpers for the Streamlit pages: sidebar state, caching, charts, formatting.

Streamlit's caching decorators live here and nowhere in ``recsys_core``: the engine caches
artifacts on disk, the app keeps hot objects (a loaded dataset, a search index) in memory.
"""
