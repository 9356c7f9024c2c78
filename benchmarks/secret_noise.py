"""Cost of the secret randomness: training steps/s with SecretRandom against the old seeded torch generator.

Same config, same process, alternating blocks of steps (so both see the same machine load):
(a) the trainer as shipped: Poisson masks and Gaussian noise from numpy PCG64DXSM seeded with 128 bits
    of OS entropy (dpinfogan/secret.py);
(b) the old source, for comparison only: one torch.Generator seeded with the public seed.
Prints steps/s of each and the ratio (a)/(b).

Usage: DPINFOGAN_DATA=../shared/data .venv/bin/python benchmarks/secret_noise.py [--steps 100] [--blocks 4]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dpinfogan.config import ModelConfig, PrivacyConfig, TrainConfig  # noqa: E402
from dpinfogan.data import load_dataset  # noqa: E402
from dpinfogan.train import Trainer  # noqa: E402


class SeededTorchRandom:
    """The pre-fix source (NOT private: its seed is public). Same interface as SecretRandom."""

    source = "seeded-torch (benchmark only)"

    def __init__(self, seed: int = 0):
        self.g = torch.Generator().manual_seed(seed)

    def normal_(self, out: torch.Tensor) -> torch.Tensor:
        return torch.randn(out.shape, generator=self.g, out=out)

    def normal(self, shape):
        return torch.randn(shape, generator=self.g)

    def poisson_indices(self, n: int, q: float) -> torch.Tensor:
        return torch.nonzero(torch.rand(n, generator=self.g) < q).flatten()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100, help="steps per timed block")
    ap.add_argument("--blocks", type=int, default=4, help="timed blocks per source (alternating)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load_dataset("mnist")
    # the zoo's private recipe at ε = 10 (dpinfogan/zoo.py)
    cfg = lambda: TrainConfig(dataset="mnist", batch_size=256, steps=10**6, d_steps_per_g=5, lr_d=1e-3, lr_g=1e-3,  # noqa: E731
                              model=ModelConfig(g_width=64, d_width=16), threads=a.threads,
                              privacy=PrivacyConfig(epsilon=None, noise_multiplier=0.59, delta=1e-6))
    trainers = {"secret": Trainer(cfg(), data), "seeded": Trainer(cfg(), data)}
    old = trainers["seeded"]
    old.secret = old.dstep.noise = SeededTorchRandom(0)
    for t in trainers.values():  # warm-up: workspaces, allocator
        for _ in range(10):
            t.step()
    rates: dict[str, list[float]] = {k: [] for k in trainers}
    for _ in range(a.blocks):
        for name, t in trainers.items():
            t0 = time.perf_counter()
            for _ in range(a.steps):
                t.step()
            rates[name].append(a.steps / (time.perf_counter() - t0))
    print(f"data: {data.source}, N = {len(data)}, batch 256, d_width 16, {a.threads} thread(s), "
          f"{a.blocks} blocks of {a.steps} steps each")
    for name, r in rates.items():
        print(f"  {name:7s} {statistics.median(r):6.2f} steps/s (blocks: {', '.join(f'{x:.2f}' for x in r)})")
    ratio = statistics.median(rates["secret"]) / statistics.median(rates["seeded"])
    print(f"secret / seeded speed: {ratio:.3f}  (1.0 = no cost)")


if __name__ == "__main__":
    main()
