"""Drawing images from a trained generator."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .data import to_uint8
from .fileio import atomic_write_bytes
from .latent import Latent, sample_latent
from .models import Generator
from .config import LatentConfig


@dataclass
class Samples:
    images: np.ndarray  # (N, 28, 28) uint8
    codes: np.ndarray  # (N,) int64, categorical code
    cont: np.ndarray  # (N, k) float32, continuous codes


@torch.no_grad()
def generate(generator: Generator, latent: Latent, latent_cfg: LatentConfig, batch: int = 1000) -> torch.Tensor:
    """Images (N, 1, 28, 28) in [-1, 1] for given latents, in eval mode, batched."""
    generator.eval()
    vec = latent.vector(latent_cfg)
    return torch.cat([generator(vec[i : i + batch]) for i in range(0, len(vec), batch)] or [torch.zeros(0, 1, 28, 28)])


def sample(
    generator: Generator,
    latent_cfg: LatentConfig,
    n: int,
    seed: int = 0,
    code: Optional[int] = None,
) -> Samples:
    """Draw n samples with uniformly random codes (or all with categorical ``code``)."""
    if n <= 0:
        raise ValueError(f"number of samples must be positive, got {n}")
    if code is not None and not 0 <= code < latent_cfg.n_categories:
        raise ValueError(f"code must be in 0..{latent_cfg.n_categories - 1}, got {code}")
    g = torch.Generator().manual_seed(seed)
    cat = torch.full((n,), code, dtype=torch.long) if code is not None else None
    lat = sample_latent(latent_cfg, n, generator=g, cat=cat)
    imgs = to_uint8(generate(generator, lat, latent_cfg))
    return Samples(imgs.numpy(), lat.cat.numpy().astype(np.int64), lat.cont.numpy().astype(np.float32))


def save_npz(path: str | os.PathLike, s: Samples) -> None:
    """Atomically write ``images``, ``codes`` and ``cont`` to an .npz file."""
    buf = io.BytesIO()
    np.savez_compressed(buf, images=s.images, codes=s.codes, cont=s.cont)
    atomic_write_bytes(path, buf.getvalue())
