"""Which digits does a generator draw? The evaluator's reading of generated images, code by code.

For each categorical code c (labels mode: code c asks for digit c) draw ``n`` images and let the
evaluator CNN (``checkpoints/evaluator-mnist.safetensors``) classify them; the digit's accuracy is
the fraction read as digit c, and the digit is *covered* when that is at least ``threshold``
(0.5). Only generated images are looked at, so the numbers cost no privacy; the server uses them
only to report, never to train. No flwr here.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

import torch

from ..config import LatentConfig
from ..evaluator import FAMILY, default_evaluator_path, load_evaluator, predict_logits
from ..sampling import sample

COVERED_AT = 0.5  # a digit is covered when the evaluator reads at least half its code's images as it
PER_DIGIT = 100  # images per code in the per-round heat map (a digit's accuracy ± 5 points)


def _evaluator(dataset: str) -> Optional[torch.nn.Module]:
    if FAMILY.get(dataset) != "mnist":  # the heat map reads digits; other datasets have no digit codes
        return None
    path = default_evaluator_path(dataset)
    return _load(str(path)) if path.is_file() else None


@lru_cache(maxsize=2)
def _load(path: str) -> torch.nn.Module:
    return load_evaluator(path).model.eval()


@torch.no_grad()
def digit_accuracy(generator: torch.nn.Module, latent: LatentConfig, evaluator: torch.nn.Module, *,
                   n: int = PER_DIGIT, seed: int = 0, code_to_label: Optional[Sequence[int]] = None) -> list[float]:
    """Per code c, the fraction of ``n`` generated images the evaluator labels ``code_to_label[c]``.

    Images go through uint8 as every saved sample does (what `sample` and `evaluate` see).
    """
    mapping = list(code_to_label) if code_to_label is not None else list(range(latent.n_categories))
    was_training = generator.training
    generator.eval()
    out = []
    for c in range(latent.n_categories):
        s = sample(generator, latent, n, seed=seed + c, code=c)
        images = torch.from_numpy(s.images).float().div(127.5).sub(1.0).unsqueeze(1)  # (n, 1, 28, 28)
        pred = predict_logits(evaluator, images).argmax(1)
        out.append(float((pred == mapping[c]).float().mean()))
    generator.train(was_training)
    return out


def round_digit_accuracy(generator: torch.nn.Module, latent: LatentConfig, dataset: str,
                         code_mode: str) -> Optional[list[float]]:
    """The heat map's row for one round: per-digit accuracy, or None where it means nothing
    (unsupervised codes are not digits; no evaluator for the dataset)."""
    if code_mode != "labels":
        return None
    ev = _evaluator(dataset)
    if ev is None:
        return None
    return [round(x, 3) for x in digit_accuracy(generator, latent, ev)]


def covered(accuracy: Sequence[float], threshold: float = COVERED_AT) -> list[int]:
    """The digits whose accuracy reaches ``threshold``."""
    return [c for c, x in enumerate(accuracy) if x >= threshold]
