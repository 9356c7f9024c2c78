"""Train the attack-lab models and attack them (the shipped ``checkpoints/attack-lab/``).

The lab (``dpinfogan.attack_lab``): 256 members and 32 stamped canaries to train on, 1,000
non-members and 32 held-out canaries, all from the 5,000 offline digits (permutation seed 0). Every
model uses the same recipe (RECIPE below) and the same number of steps; only clipping and noise
differ. Each command trains on one CPU thread with the core :class:`dpinfogan.train.Trainer`, then
attacks the saved model with the same code as ``python -m dpinfogan attack --features`` and writes
``<name>.attack.json`` beside it (atomically; the evaluator's sha256 inside, paths project-relative):

    python scripts/attack_lab.py train --name nonprivate --epsilon inf
    python scripts/attack_lab.py train --name eps10 --epsilon 10
    python scripts/attack_lab.py train --name eps1 --epsilon 1
    python scripts/attack_lab.py attack          # re-attack every shipped lab model (the README table)
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

from dpinfogan.attack_lab import attack_checkpoint, lab_sets, results_path, summary_lines  # noqa: E402
from dpinfogan.config import ModelConfig, PrivacyConfig, TrainConfig, default_delta  # noqa: E402
from dpinfogan.fileio import atomic_write_json  # noqa: E402
from dpinfogan.train import Trainer  # noqa: E402

LAB_DIR = ROOT / "checkpoints" / "attack-lab"
# One recipe for every lab model (chosen by the measurements in the README's attack-lab section):
# the default discriminator width with twice its hidden layer, ~555 passes over a small set.
RECIPE = dict(batch_size=32, steps=5000, lr_d=2e-4, lr_g=1e-3, d_width=32, d_hidden=128)


def train(name: str, epsilon: float, seed: int) -> Path:
    """Train one lab model on the members + canaries; returns its float16 checkpoint."""
    data = lab_sets().training_set()
    cfg = TrainConfig(
        dataset="offline-digits", batch_size=RECIPE["batch_size"], steps=RECIPE["steps"], lr_d=RECIPE["lr_d"],
        lr_g=RECIPE["lr_g"], threads=1, seed=seed,
        model=ModelConfig(d_width=RECIPE["d_width"], d_hidden=RECIPE["d_hidden"]),
        privacy=PrivacyConfig(epsilon=epsilon, delta=default_delta(len(data))),
    )
    trainer = Trainer(cfg, data)
    t0 = time.perf_counter()
    while trainer.budget_steps > 0:
        trainer.step()
        if trainer.step_count % 500 == 0:
            print(f"{name}: step {trainer.step_count}/{trainer.target_steps} ε={trainer.epsilon():.3g} "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
    out = trainer.save(LAB_DIR / f"{name}.safetensors", half=True, with_optimizers=False)
    eps = trainer.epsilon()
    print(f"{name}: saved {out.relative_to(ROOT)}: {trainer.step_count} steps, σ={trainer.sigma:.4g}, "
          f"ε={eps if math.isinf(eps) else round(eps, 3)} (δ={cfg.privacy.delta:g}), "
          f"{time.perf_counter() - t0:.0f}s on {torch.get_num_threads()} thread(s)", flush=True)
    return out


def attack(checkpoint: Path) -> None:
    """Attack one lab model (evaluator features included) and write its results JSON."""
    t0 = time.perf_counter()
    res = attack_checkpoint(checkpoint, use_features=True)
    atomic_write_json(results_path(checkpoint), res)
    print("\n".join(summary_lines(res)) + f"\n  ({time.perf_counter() - t0:.0f}s)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one lab model, then attack it")
    t.add_argument("--name", required=True, help="file stem in checkpoints/attack-lab/")
    t.add_argument("--epsilon", type=float, required=True, help="target ε, or inf for the non-private model")
    t.add_argument("--seed", type=int, default=0, help="public seed (weights, latents); DP noise is secret")
    a_ = sub.add_parser("attack", help="re-attack shipped lab models (default: all)")
    a_.add_argument("checkpoints", nargs="*", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "train":
        attack(train(a.name, a.epsilon, a.seed))
    else:
        for ckpt in a.checkpoints or sorted(LAB_DIR.glob("*.safetensors")):
            attack(ckpt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
