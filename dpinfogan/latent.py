"""The one place that samples, builds and splits generator latents.

A latent is ``[z | one_hot(c1) | c2..]``: noise z ~ N(0, 1) of ``noise_dim``, one categorical code
c1 with ``n_categories`` values (one-hot), and ``n_continuous`` codes ~ U(-1, 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .config import LatentConfig


@dataclass
class Latent:
    z: torch.Tensor  # (B, noise_dim) float
    cat: torch.Tensor  # (B,) long, categorical code index
    cont: torch.Tensor  # (B, n_continuous) float

    def vector(self, cfg: LatentConfig) -> torch.Tensor:
        """Concatenate into the generator input, shape (B, cfg.dim)."""
        one_hot = F.one_hot(self.cat, cfg.n_categories).to(self.z.dtype)
        return torch.cat([self.z, one_hot, self.cont], dim=1)

    def __len__(self) -> int:
        return self.z.shape[0]


def sample_latent(
    cfg: LatentConfig,
    n: int,
    generator: Optional[torch.Generator] = None,
    cat: Optional[torch.Tensor] = None,
    device: str | torch.device = "cpu",
) -> Latent:
    """Draw n latents; ``cat`` fixes the categorical codes (e.g. to the real labels)."""
    z = torch.randn(n, cfg.noise_dim, generator=generator, device=device)
    if cat is None:
        cat = torch.randint(0, cfg.n_categories, (n,), generator=generator, device=device)
    cont = torch.rand(n, cfg.n_continuous, generator=generator, device=device) * 2 - 1
    return Latent(z=z, cat=cat.long(), cont=cont)


def make_latent(
    cfg: LatentConfig,
    cat: torch.Tensor,
    cont: torch.Tensor,
    seed: int = 0,
) -> Latent:
    """Latents with chosen codes and noise drawn from ``seed`` (the explorer's sliders)."""
    n = cat.shape[0]
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, cfg.noise_dim, generator=g)
    cont = cont.reshape(n, cfg.n_continuous).float()
    return Latent(z=z, cat=cat.long(), cont=cont)


def fixed_grid_latent(cfg: LatentConfig, per_code: int = 8, seed: int = 1234) -> Latent:
    """A fixed latent for progress grids: one row per categorical value, ``per_code`` columns.

    Noise and continuous codes are shared across rows, so a row differs from the next only by c1.
    """
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(per_code, cfg.noise_dim, generator=g).repeat(cfg.n_categories, 1)
    cont = (torch.rand(per_code, cfg.n_continuous, generator=g) * 2 - 1).repeat(cfg.n_categories, 1)
    cat = torch.arange(cfg.n_categories).repeat_interleave(per_code)
    return Latent(z=z, cat=cat, cont=cont)


def seeded_latent(cfg: LatentConfig, cats: Sequence[int], conts: Sequence[Sequence[float]],
                  seeds: Sequence[int]) -> Latent:
    """Latents chosen one by one (the app's explorer): latent i has categorical code ``cats[i]``
    (modulo ``n_categories``), continuous codes ``conts[i]`` (missing ones 0, extra ones dropped)
    and noise z drawn from ``seeds[i]`` alone — so a seed gives the same z in every generator with
    the same noise width (the "same latent" across models)."""
    n = len(cats)
    if not (len(conts) == len(seeds) == n) or n == 0:
        raise ValueError("cats, conts and seeds must have the same, non-zero length")
    z = torch.cat([torch.randn(1, cfg.noise_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    cont = torch.zeros(n, cfg.n_continuous)
    for i, c in enumerate(conts):
        vals = list(c)[: cfg.n_continuous]
        if vals:
            cont[i, : len(vals)] = torch.as_tensor(vals, dtype=torch.float32)
    cat = torch.as_tensor(list(cats), dtype=torch.long) % cfg.n_categories
    return Latent(z=z, cat=cat, cont=cont)
