"""Quality against D steps: code accuracy and evaluator FID of each checkpoint given, in order.

The search of checkpoints/README.md copied every run's checkpoint each 2,500 steps
(``ckpt-<step>.safetensors`` beside ``checkpoint.safetensors``) and measured them with this script:
5,000 generated digits (fixed latent seed 123) against the 10,000 real test digits, one thread.
Prints one JSON line per checkpoint: steps, G steps, ε spent, code accuracy, FID.

Usage:
  DPINFOGAN_DATA=../shared/data .venv/bin/python benchmarks/quality_curve.py runs/zoo-mnist-labels-eps10-v5/ckpt-*.safetensors
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dpinfogan.checkpoint import load_checkpoint  # noqa: E402
from dpinfogan.data import load_dataset  # noqa: E402
from dpinfogan.evaluator import load_evaluator  # noqa: E402
from dpinfogan.latent import sample_latent  # noqa: E402
from dpinfogan.metrics import code_accuracy, features, fid_evaluator, gaussian_stats  # noqa: E402
from dpinfogan.paths import evaluator_path  # noqa: E402


def main(paths: list[str], n: int = 5000) -> None:
    torch.set_num_threads(1)
    ev = load_evaluator(evaluator_path("mnist")).model
    real = gaussian_stats(features(ev, load_dataset("mnist", train=False).images))
    for p in sorted(paths, key=lambda p: load_checkpoint(p).meta["training"]["steps"]):
        ck = load_checkpoint(p)
        lat = sample_latent(ck.config.latent, n, generator=torch.Generator().manual_seed(123))
        with torch.no_grad():
            imgs = ck.generator.eval()(lat.vector(ck.config.latent))
        tr, pr = ck.meta["training"], ck.meta["privacy"]
        print(json.dumps({"file": p, "steps": tr["steps"], "g_steps": tr.get("g_steps"),
                          "epsilon": round(float(pr["epsilon"]), 3),
                          "code_acc": round(code_accuracy(ev, imgs, lat.cat, list(range(10))), 4),
                          "fid": round(fid_evaluator(ev, imgs, real_stats=real), 2)}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
