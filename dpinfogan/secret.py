"""The randomness differential privacy rests on: the Gaussian noise and the Poisson batches.

DP-SGD's guarantee assumes the adversary does not know the noise that was added or which records
each batch held. If both came from a generator seeded with a published number (the run's
``--seed``, written into every checkpoint), someone who knows the other records could replay
training with and without a target record and compare with the released weights: membership would
be decided with certainty at any ε. So this randomness comes from :class:`SecretRandom`, seeded
with 128 bits of operating-system entropy (``secrets.randbits``) in every process, never from a
user seed, and the seed is never written anywhere. A resumed run or a federated client draws a
fresh one. The user's seed still controls what may be public: initial weights, latents, sample
grids, evaluation.

The generator is numpy's PCG64DXSM (128-bit state and seed). It is not a cryptographic generator:
an adversary who saw many raw draws could recover its state. Nobody sees raw draws here, only
weights after thousands of noised, clipped steps. Opacus' ``secure_mode`` (a CSPRNG through
``torchcsprng`` plus noise drawn several times against floating-point attacks) is the heavier
option; ``torchcsprng`` has no build for this torch, see the README's "Privacy, exactly".
"""
from __future__ import annotations

import secrets

import numpy as np
import torch

SOURCE = "os-entropy-pcg64dxsm-128"  # recorded in checkpoint metadata as privacy.randomness


class SecretRandom:
    """Gaussian noise and Poisson sampling masks from a secret, never-stored 128-bit seed.

    There is deliberately no way to pass a seed: a reproducible noise source would make the
    resulting weights non-private, and nothing here could then tell the two apart.
    """

    source = SOURCE

    def __init__(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64DXSM(secrets.randbits(128)))

    def normal_(self, out: torch.Tensor) -> torch.Tensor:
        """Fill ``out`` (float32, contiguous, CPU) with i.i.d. N(0, 1) draws, in place; returns it."""
        if out.dtype != torch.float32 or not out.is_contiguous() or out.device.type != "cpu":
            raise ValueError("secret noise fills contiguous float32 CPU tensors only")
        if out.numel():
            self._rng.standard_normal(out=out.numpy().reshape(-1), dtype=np.float32)
        return out

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        """A new float32 tensor of i.i.d. N(0, 1) draws."""
        return self.normal_(torch.empty(shape, dtype=torch.float32))

    def poisson_indices(self, n: int, sample_rate: float) -> torch.Tensor:
        """Indices of a Poisson batch: each of ``n`` records is in it independently with
        probability q = ``sample_rate`` (the sampling the RDP accountant assumes). (batch,) int64."""
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample rate q must be in (0, 1], got {sample_rate}")
        mask = self._rng.random(n) < sample_rate
        return torch.from_numpy(np.flatnonzero(mask)).long()
