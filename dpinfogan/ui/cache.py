"""Cached model loading and image drawing for the pages.

Models are cached with ``st.cache_resource`` keyed by (path, mtime), so a checkpoint rewritten by a
running trainer is reloaded; images are cached with ``st.cache_data`` keyed by the latent, so moving a
slider back to a value seen before costs nothing.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Optional

import streamlit as st
import torch

from .. import grid_quality as quality
from ..catalog import ModelEntry, discover_all, plain_error
from ..checkpoint import Checkpoint, load_checkpoint
from ..paths import eval_json_path, evaluator_path
from ..sampling import draw, fixed_grid, png_bytes
from ..zoo import ZOO, joint_release

torch.set_num_threads(1)  # the app draws single images; leave the other core to a training run


@st.cache_resource(max_entries=32, show_spinner=False)
def _load(path: str, mtime: float) -> Checkpoint:  # noqa: ARG001 - mtime is part of the key
    return load_checkpoint(path)


def load_model(entry: ModelEntry) -> tuple[Optional[Checkpoint], Optional[str]]:
    """(checkpoint, None) or (None, a plain error) — never raises for a bad file."""
    if entry.error:
        return None, entry.error
    try:
        return _load(str(entry.path), entry.mtime), None
    except ValueError as e:
        return None, plain_error(e, entry.path)


@st.cache_data(max_entries=4096, show_spinner=False)
def render_png(path: str, mtime: float, cats: tuple, conts: tuple, seeds: tuple, nrow: int, scale: int = 4) -> bytes:
    """PNG of the images for these latents (see :func:`dpinfogan.sampling.draw`)."""
    ck = _load(path, mtime)
    return png_bytes(draw(ck.generator, ck.config.latent, cats, conts, seeds), nrow=nrow, scale=scale)


def render(entry: ModelEntry, cats, conts, seeds, nrow: int, scale: int = 4) -> tuple[Optional[bytes], Optional[str]]:
    """(png, None) or (None, error)."""
    ck, err = load_model(entry)
    if ck is None:
        return None, err
    conts = tuple(tuple(float(round(v, 4)) for v in c) for c in conts)
    return render_png(str(entry.path), entry.mtime, tuple(int(c) for c in cats), conts,
                      tuple(int(s) for s in seeds), nrow, scale), None


def inline_png(png: bytes) -> str:
    """A ``data:`` URL for a small PNG: ``st.image`` sends it inside the page update, so the browser shows
    it without a second request for a media file (a slider step's image is about 2 KB)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@st.cache_data(max_entries=512, show_spinner=False)
def _code_labels(path: str, mtime: float, eval_mtime: float, _entry: ModelEntry) -> list[str]:  # noqa: ARG001 - mtimes key it
    return _entry.code_labels()


def code_labels(entry: ModelEntry) -> list[str]:
    """:meth:`ModelEntry.code_labels`, read from the checkpoint and its eval.json once per version of them."""
    try:
        eval_mtime = eval_json_path(entry.path).stat().st_mtime
    except OSError:
        eval_mtime = 0.0
    return _code_labels(str(entry.path), entry.mtime, eval_mtime, entry)


@st.cache_resource(max_entries=4, show_spinner=False)
def _evaluator(dataset: str, path: str, mtime: float):  # noqa: ARG001 - path and mtime key the cache
    return quality.load_evaluator_for(dataset)


def evaluator_for(dataset: str):
    """The dataset's evaluator (None without one), reloaded when its file changes."""
    try:
        path = evaluator_path(dataset)
        mtime = path.stat().st_mtime
    except (ValueError, OSError):
        return None
    return _evaluator(dataset, str(path), mtime)


@st.cache_data(max_entries=4096, show_spinner=False)
def grid_quality(path: str, mtime: float, n_categories: int, code_to_label: Optional[tuple], dataset: str,
                 evaluator_key: str) -> tuple[Optional[float], str]:  # noqa: ARG001 - mtime, evaluator_key key the cache
    """Quality of one progress grid, cached per file (a grid never changes once written) and evaluator."""
    try:
        return quality.grid_quality(Path(path), n_categories, code_to_label, evaluator_for(dataset), dataset)
    except (ValueError, OSError) as e:
        return None, f"unreadable grid: {e}"


def run_quality_curve(run_dir: Path, config: dict[str, Any], metrics: list[dict]) -> tuple[list[dict[str, Any]], str]:
    """[{step, epsilon, quality}] for a run's saved progress grids, and the metric's name."""
    lat = config.get("latent", {})
    n_cat = int(lat.get("n_categories", 10))
    mapping = tuple(range(n_cat)) if config.get("code_mode") == "labels" else None
    dataset = str(config.get("dataset", "mnist"))
    ev = evaluator_for(dataset)
    ev_key = ev.sha256 if ev is not None else ""
    pts, name = [], "quality"
    for step, p in quality.grids(run_dir):
        eps = quality.epsilon_at(metrics, step)
        if eps is None:
            continue
        try:
            mtime = p.stat().st_mtime
        except OSError:
            continue
        q, name = grid_quality(str(p), mtime, n_cat, mapping, dataset, ev_key)
        if q is not None:
            pts.append({"step": step, "epsilon": eps, "quality": q})
    return pts, name


@st.cache_data(ttl=5, show_spinner=False)
def discover(zoo_root: str, runs_root: str) -> list:
    """Zoo + run generators, re-read at most every 5 s (slider moves must not rescan the disk)."""
    return discover_all(Path(zoo_root), Path(runs_root))


@st.cache_data(max_entries=512, show_spinner=False)
def proxy_quality(path: str, mtime: float, dataset: str, code_to_label: Optional[tuple]) -> Optional[float]:
    """Template-match proxy of a generator (200 images), cached per checkpoint version."""
    ck = _load(path, mtime)
    return quality.model_proxy_quality(ck.generator, ck.config.latent, code_to_label, dataset)


@st.cache_data(ttl=60, show_spinner=False)
def zoo_joint_release(root: str) -> Optional[str]:
    """The sentence saying what releasing the zoo's private models together costs, or None."""
    joint = joint_release([Path(root) / f"{m.name}.safetensors" for m in ZOO])
    return joint.sentence() if joint else None


@st.cache_data(max_entries=4, show_spinner=False)
def warm_start_grid(path: str) -> Optional[bytes]:
    """The warm start's fixed-latent grid (same latents as a run's progress grid), or None if unreadable."""
    try:
        ck = _load(path, Path(path).stat().st_mtime)
    except (OSError, ValueError):
        return None
    return png_bytes(fixed_grid(ck.generator, ck.config.latent, 8), nrow=8, scale=2)


def entry_proxy_quality(entry: ModelEntry) -> Optional[float]:
    """:func:`proxy_quality` of a catalog entry (the chart's "proxy" metric)."""
    mapping = (entry.meta or {}).get("code_to_label")
    return proxy_quality(str(entry.path), entry.mtime, entry.dataset, tuple(mapping) if mapping else None)
