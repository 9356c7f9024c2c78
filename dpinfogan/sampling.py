"""Drawing images from a trained generator: random samples, chosen latents, the fixed progress
grid, and the PNG bytes the app and the CLI show. Latents always come from :mod:`dpinfogan.latent`."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from .config import LatentConfig
from .data import to_uint8
from .fileio import atomic_write_bytes, image_grid
from .latent import Latent, fixed_grid_latent, sample_latent, seeded_latent
from .models import Generator


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


def draw(generator: Generator, latent_cfg: LatentConfig, cats: Sequence[int], conts: Sequence[Sequence[float]],
         seeds: Sequence[int]) -> torch.Tensor:
    """uint8 images (N, 28, 28) for chosen latents (see :func:`dpinfogan.latent.seeded_latent`)."""
    return to_uint8(generate(generator, seeded_latent(latent_cfg, cats, conts, seeds), latent_cfg))


def fixed_grid(generator: Generator, latent_cfg: LatentConfig, per_code: int = 8) -> torch.Tensor:
    """uint8 images (n_categories·per_code, 28, 28) of the progress grid's fixed latent, one row per code."""
    return to_uint8(generate(generator, fixed_grid_latent(latent_cfg, per_code), latent_cfg))


def png_bytes(images_u8: torch.Tensor, nrow: int, scale: int = 4, pad: int = 2) -> bytes:
    """A PNG grid of uint8 images (N, 28, 28), upscaled with nearest-neighbour so pixels stay crisp."""
    buf = io.BytesIO()
    image_grid(images_u8, nrow=nrow, pad=pad, scale=scale).save(buf, format="PNG")
    return buf.getvalue()


def save_npz(path: str | os.PathLike, s: Samples) -> None:
    """Atomically write ``images``, ``codes`` and ``cont`` to an .npz file."""
    buf = io.BytesIO()
    np.savez_compressed(buf, images=s.images, codes=s.codes, cont=s.cont)
    atomic_write_bytes(path, buf.getvalue())
