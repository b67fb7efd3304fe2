"""recsys_core: product graphs -> random walks -> item embeddings -> evaluation.

The engine behind the Streamlit app. No Streamlit import anywhere in this package.
"""

__version__ = "0.1.0"
