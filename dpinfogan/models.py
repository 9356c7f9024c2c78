"""InfoGAN networks: an up-convolutional generator and a discriminator whose trunk is shared
with the Q head.

The discriminator sees real data, so it has no BatchNorm (BatchNorm mixes samples in a batch,
which breaks per-sample gradient clipping); it is built from Conv2d, Linear and LeakyReLU only,
which both Opacus' validator and the project's fast private step support. The generator never
sees real data, so BatchNorm there is safe.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import nn

from .config import LatentConfig, ModelConfig


class Generator(nn.Module):
    """Latent (B, latent.dim) -> image (B, C, 28, 28) in [-1, 1]."""

    def __init__(self, model: ModelConfig, latent: LatentConfig):
        super().__init__()
        w = model.g_width
        self.width = w
        self.fc = nn.Sequential(nn.Linear(latent.dim, w * 7 * 7), nn.BatchNorm1d(w * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(w, w, 4, 2, 1),  # 7 -> 14
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.ConvTranspose2d(w, model.channels, 4, 2, 1),  # 14 -> 28
            nn.Tanh(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.fc(latent).view(-1, self.width, 7, 7)  # (B, w, 7, 7)
        return self.up(h)  # (B, C, 28, 28)


class DOutput(NamedTuple):
    logit: torch.Tensor  # (B,) real-vs-fake logit
    cat_logits: torch.Tensor  # (B, n_categories) Q's categorical code logits
    cont_mean: torch.Tensor  # (B, n_continuous) Q's continuous code means
    cont_log_std: Optional[torch.Tensor]  # (B, n_continuous) or None (fixed std 1)


class Discriminator(nn.Module):
    """Image (B, C, 28, 28) -> D logit and Q's code estimates, from one shared trunk."""

    def __init__(self, model: ModelConfig, latent: LatentConfig):
        super().__init__()
        w = model.d_width
        self.n_continuous = latent.n_continuous
        self.q_log_std = model.q_log_std
        self.trunk = nn.Sequential(
            nn.Conv2d(model.channels, w, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1),  # 14 -> 7
            nn.LeakyReLU(0.2),
            nn.Flatten(),  # (B, 2w·7·7)
            nn.Linear(2 * w * 7 * 7, model.d_hidden),
            nn.LeakyReLU(0.2),
        )
        self.d_head = nn.Linear(model.d_hidden, 1)
        self.q_cat = nn.Linear(model.d_hidden, latent.n_categories)
        n_cont_out = latent.n_continuous * (2 if model.q_log_std else 1)
        self.q_cont = nn.Linear(model.d_hidden, max(n_cont_out, 1))

    def forward(self, x: torch.Tensor) -> DOutput:
        h = self.trunk(x)  # (B, d_hidden)
        cont = self.q_cont(h)
        k = self.n_continuous
        mean = cont[:, :k]
        log_std = cont[:, k : 2 * k].clamp(-5, 2) if self.q_log_std else None
        return DOutput(self.d_head(h).squeeze(1), self.q_cat(h), mean, log_std)


def build_models(model: ModelConfig, latent: LatentConfig) -> tuple[Generator, Discriminator]:
    """Fresh generator and discriminator for a config, initialised DCGAN-style (N(0, 0.02))."""
    g, d = Generator(model, latent), Discriminator(model, latent)
    for m in list(g.modules()) + list(d.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
    return g, d


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
