"""Train the attack-lab models and attack them (the shipped ``checkpoints/attack-lab/``).

Members: 1,000 of the 5,000 offline digits (permutation seed 0); non-members: the next 1,000.
Each model trains with the core :class:`dpinfogan.train.Trainer` on the members only, on one CPU
thread, then ``python -m dpinfogan attack`` (the same code) writes its results JSON beside it.

    python scripts/attack_lab.py train --name nonprivate --epsilon inf
    python scripts/attack_lab.py train --name eps10 --epsilon 10
    python scripts/attack_lab.py train --name eps1 --epsilon 1
    python scripts/attack_lab.py train --name nonprivate-long --epsilon inf --steps 6000 \
        --resume checkpoints/attack-lab/nonprivate.safetensors --max-seconds 3000  # more steps (Adam restarts)
      (note: resuming a non-private checkpoint currently restores σ = 0 as a fixed noise multiplier, so
      these extra steps clip each sample's gradient to C = 1 with no noise; ε stays ∞)
    python -m dpinfogan attack checkpoints/attack-lab/nonprivate.safetensors   # likewise for each
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dpinfogan.attacks import LAB_SEED, LAB_SIZE, lab_split  # noqa: E402
from dpinfogan.checkpoint import load_checkpoint  # noqa: E402
from dpinfogan.config import PrivacyConfig, TrainConfig  # noqa: E402
from dpinfogan.train import Trainer  # noqa: E402

LAB_DIR = ROOT / "checkpoints" / "attack-lab"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--name", required=True)
    t.add_argument("--epsilon", type=float, required=True, help="target ε, or inf for the non-private model")
    t.add_argument("--delta", type=float, default=1e-4, help="δ < 1/N = 1e-3")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-seconds", type=float, default=None, help="stop and save after this much wall time")
    t.add_argument("--resume", type=Path, default=None, help="continue a saved attack-lab model (total --steps)")
    a = ap.parse_args()

    members, _ = lab_split(LAB_SEED, LAB_SIZE)
    cfg = TrainConfig(
        dataset="offline-digits", batch_size=a.batch_size, steps=a.steps, threads=1, seed=a.seed,
        privacy=PrivacyConfig(epsilon=a.epsilon, delta=a.delta),
    )
    resume = load_checkpoint(a.resume) if a.resume else None
    trainer = Trainer(cfg, members, resume=resume)
    t0 = time.perf_counter()
    while trainer.budget_steps > 0 and (a.max_seconds is None or time.perf_counter() - t0 < a.max_seconds):
        stats = trainer.step()
        if trainer.step_count % 200 == 0:
            print(f"{a.name}: step {trainer.step_count}/{trainer.target_steps} ε={trainer.epsilon():.3g} "
                  f"d_real={stats['loss_d_real']:.3f} {time.perf_counter() - t0:.0f}s", flush=True)
    out = trainer.save(LAB_DIR / f"{a.name}.safetensors", half=True, with_optimizers=False)
    eps = trainer.epsilon()
    print(f"{a.name}: saved {out}: {trainer.step_count} steps, σ={trainer.sigma:.4g}, "
          f"ε={eps if math.isinf(eps) else round(eps, 3)} (δ={a.delta:g}), {time.perf_counter() - t0:.0f}s on "
          f"{torch.get_num_threads()} thread(s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
