"""InfoGAN losses: adversarial loss + λ·(mutual-information lower bound).

The MI lower bound is estimated by Q: cross-entropy for the categorical code and Gaussian negative
log-likelihood for the continuous codes, each with its own weight. Only :func:`real_loss` touches
real data; it returns one loss per sample so the private step can clip each sample's gradient.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .latent import Latent
from .models import DOutput


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_std: Optional[torch.Tensor]) -> torch.Tensor:
    """Per-sample Gaussian NLL summed over codes, shape (B,); log_std None means std = 1."""
    if log_std is None:
        nll = 0.5 * (x - mean) ** 2
    else:
        nll = 0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 + log_std
    return (nll + 0.5 * math.log(2 * math.pi)).sum(dim=1)


def info_loss(out: DOutput, latent: Latent, cfg: TrainConfig) -> torch.Tensor:
    """λ_cat·CE(c1) + λ_cont·NLL(c2..) on generated samples, scalar (mean over the batch)."""
    loss = cfg.lambda_cat * F.cross_entropy(out.cat_logits, latent.cat)
    if cfg.latent.n_continuous > 0:
        loss = loss + cfg.lambda_cont * gaussian_nll(latent.cont, out.cont_mean, out.cont_log_std).mean()
    return loss


def real_loss(out: DOutput, labels: Optional[torch.Tensor], cfg: TrainConfig) -> torch.Tensor:
    """Discriminator loss on real samples, one value per sample, shape (B,).

    ``-log D(x)``, plus in ``labels`` mode λ_label·CE(Q(x), y): Q learns that code value y draws
    class y. This is the only loss that sees real data, so only it goes through clipping and noise.
    """
    loss = F.binary_cross_entropy_with_logits(out.logit, torch.ones_like(out.logit), reduction="none")
    if cfg.code_mode == "labels":
        if labels is None:
            raise ValueError("labels mode needs the real labels")
        loss = loss + cfg.lambda_label * F.cross_entropy(out.cat_logits, labels, reduction="none")
    return loss


def fake_d_loss(out: DOutput, latent: Latent, cfg: TrainConfig) -> torch.Tensor:
    """Discriminator + Q loss on generated samples (no real data): ``-log(1 - D(G(z)))`` + info."""
    adv = F.binary_cross_entropy_with_logits(out.logit, torch.zeros_like(out.logit))
    return adv + info_loss(out, latent, cfg)


def generator_loss(out: DOutput, latent: Latent, cfg: TrainConfig) -> torch.Tensor:
    """Non-saturating generator loss ``-log D(G(z))`` + info, scalar."""
    adv = F.binary_cross_entropy_with_logits(out.logit, torch.ones_like(out.logit))
    return adv + info_loss(out, latent, cfg)
