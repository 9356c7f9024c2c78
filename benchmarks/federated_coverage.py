"""Which digits does a generator draw well? Global (federated) model vs. one isolated client.

For each categorical code c (labels mode: code c = digit c) draw N images and ask the evaluator
CNN what they are; a digit is *covered* when at least ``--threshold`` of its images are classified
as that digit. Prints per-digit accuracy and the coverage of every checkpoint given, and writes
them as JSON with ``--out``.

    python benchmarks/federated_coverage.py runs/<id>/checkpoint.safetensors \\
        runs/<id>/isolated/client-0/checkpoint.safetensors --evaluator checkpoints/evaluator-mnist.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dpinfogan.checkpoint import load_checkpoint  # noqa: E402
from dpinfogan.evaluator import default_evaluator_path, load_evaluator, predict_logits  # noqa: E402
from dpinfogan.fileio import atomic_write_json  # noqa: E402
from dpinfogan.sampling import sample  # noqa: E402


@torch.no_grad()
def per_code_accuracy(ckpt, evaluator, n: int, seed: int) -> list[float]:
    """Fraction of code-c images the evaluator labels as digit c (codes are digits in labels mode)."""
    mapping = ckpt.code_to_label or list(range(ckpt.config.latent.n_categories))
    out = []
    for c in range(ckpt.config.latent.n_categories):
        s = sample(ckpt.generator, ckpt.config.latent, n, seed=seed + c, code=c)
        images = torch.from_numpy(s.images).float().div(127.5).sub(1.0).unsqueeze(1)
        pred = predict_logits(evaluator, images).argmax(1)
        out.append(float((pred == mapping[c]).float().mean()))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--evaluator", type=Path, default=None, help="default: checkpoints/evaluator-mnist.safetensors")
    p.add_argument("--n", type=int, default=500, help="images per digit")
    p.add_argument("--threshold", type=float, default=0.5, help="accuracy that counts a digit as covered")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    a = p.parse_args()
    torch.set_num_threads(1)
    ev = load_evaluator(a.evaluator or default_evaluator_path("mnist")).model
    results = []
    for path in a.checkpoints:
        ck = load_checkpoint(path)
        acc = per_code_accuracy(ck, ev, a.n, a.seed)
        covered = [c for c, x in enumerate(acc) if x >= a.threshold]
        fed = ck.meta["privacy"].get("federated") or {}
        results.append({"checkpoint": str(path), "epsilon": ck.epsilon, "client_epsilon": fed.get("client_epsilon"),
                        "per_digit_accuracy": acc, "covered": covered, "coverage": len(covered)})
        print(f"{path}: ε = {ck.epsilon:.3g}, coverage {len(covered)}/{len(acc)} digits "
              f"(accuracy ≥ {a.threshold:g}): {covered}")
        print("   per digit: " + " ".join(f"{c}:{x:.2f}" for c, x in enumerate(acc)))
    if a.out:
        atomic_write_json(a.out, {"n_per_digit": a.n, "threshold": a.threshold, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
