"""Streamlit helpers for the pages, and nothing else: ``cache`` (cached model loading and drawing),
``charts`` (every Plotly figure) and ``widgets`` (shared widgets, the live run panel). What the app
knows without Streamlit is in :mod:`dpinfogan.catalog` and :mod:`dpinfogan.grid_quality`."""
