"""The Home page's cached comparison. Imports no torch: on a cold start the drawn comparison comes
from the disk cache (:mod:`dpinfogan.comparison`), and torch loads only when it has to be drawn."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from .. import comparison as _comparison
from ..paths import cache_root, checkpoints_root


def _load_model(entry):
    from . import cache  # imports torch: only when a comparison is drawn rather than read

    return cache.load_model(entry)


@st.cache_data(max_entries=64, show_spinner=False)
def _cached(root: str, cache_dir: str, seed: int, stamp: tuple) -> _comparison.Comparison:  # noqa: ARG001 - stamp keys the cache
    return _comparison.comparison(Path(root), seed, cache_dir=Path(cache_dir) / "home-comparison", load=_load_model)


def comparison(seed: int) -> _comparison.Comparison:
    """The three-ε comparison for ``seed``; in memory until a zoo file changes (one ``stat`` per file and rerun)."""
    root = checkpoints_root()
    return _cached(str(root), str(cache_root()), int(seed), _comparison.stamp(root))
