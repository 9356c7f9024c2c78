"""Streamlit app helpers. The only part of the package (with ``federated/``) that imports Streamlit;
``models`` and ``quality`` are plain Python, ``cache`` / ``charts`` / ``widgets`` serve the pages."""
