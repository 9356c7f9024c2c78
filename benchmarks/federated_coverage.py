"""Which digits does a generator draw well? Global (federated) model vs. one isolated client.

For each categorical code c (labels mode: code c = digit c) draw N images and ask the evaluator
CNN what they are; a digit is *covered* when at least ``--threshold`` of its images are classified
as that digit. Prints per-digit accuracy and the coverage of every checkpoint given; with
``--cas`` also the full ``python -m dpinfogan evaluate`` metrics (CAS on the 10,000-image MNIST
test set, code accuracy, FID), written beside each checkpoint as ``<stem>.eval.json``. ``--out``
writes everything as JSON, ``--markdown`` prints README table rows.

    python benchmarks/federated_coverage.py runs/<id>/checkpoint.safetensors \\
        runs/<id>/isolated/client-0/checkpoint.safetensors --cas --out runs/<id>/coverage.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dpinfogan.checkpoint import load_checkpoint  # noqa: E402
from dpinfogan.evaluator import default_evaluator_path, load_evaluator  # noqa: E402
from dpinfogan.federated.coverage import COVERED_AT, covered, digit_accuracy  # noqa: E402
from dpinfogan.fileio import atomic_write_json  # noqa: E402


def per_code_accuracy(ckpt, evaluator, n: int, seed: int) -> list[float]:
    """Fraction of code-c images the evaluator labels as digit c (codes are digits in labels mode)."""
    return digit_accuracy(ckpt.generator, ckpt.config.latent, evaluator, n=n, seed=seed,
                          code_to_label=ckpt.code_to_label)


def markdown_row(r: dict) -> str:
    acc = " ".join(f"{x:.2f}".lstrip("0") if x < 1 else "1.0" for x in r["per_digit_accuracy"])
    ev = r.get("evaluate") or {}
    fmt = (lambda v, s: "—" if v is None else s.format(v))
    return (f"| {r['checkpoint']} | {r['epsilon']:.3g} | {r['coverage']}/10: {', '.join(map(str, r['covered']))} "
            f"| {acc} | {fmt(ev.get('code_accuracy'), '{:.1%}')} | {fmt(ev.get('cas'), '{:.1%}')} "
            f"| {fmt(ev.get('fid_evaluator'), '{:.0f}')} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--evaluator", type=Path, default=None, help="default: checkpoints/evaluator-mnist.safetensors")
    p.add_argument("--n", type=int, default=500, help="images per digit")
    p.add_argument("--threshold", type=float, default=COVERED_AT, help="accuracy that counts a digit as covered")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cas", action="store_true", help="also run `python -m dpinfogan evaluate` (CAS: minutes)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--markdown", action="store_true", help="print one README table row per checkpoint")
    a = p.parse_args()
    torch.set_num_threads(1)
    ev = load_evaluator(a.evaluator or default_evaluator_path("mnist")).model
    results = []
    for path in a.checkpoints:
        ck = load_checkpoint(path)
        acc = per_code_accuracy(ck, ev, a.n, a.seed)
        cov = covered(acc, a.threshold)
        fed = ck.meta["privacy"].get("federated") or {}
        res = {"checkpoint": str(path), "epsilon": ck.epsilon, "client_epsilon": fed.get("client_epsilon"),
               "per_digit_accuracy": acc, "covered": cov, "coverage": len(cov)}
        print(f"{path}: ε = {ck.epsilon:.3g}, coverage {len(cov)}/{len(acc)} digits "
              f"(accuracy ≥ {a.threshold:g}): {cov}", flush=True)
        print("   per digit: " + " ".join(f"{c}:{x:.2f}" for c, x in enumerate(acc)), flush=True)
        if a.cas:
            from dpinfogan.metrics import evaluate_checkpoint

            out = evaluate_checkpoint(path, seed=a.seed, evaluator=a.evaluator)
            res["evaluate"] = out["metrics"]
            res["evaluate_seconds"] = out.get("timing", {}).get("total_s")
            m = out["metrics"]
            print(f"   CAS {m['cas']:.4f}, code accuracy {m['code_accuracy']:.4f}, FID {m['fid_evaluator']:.1f}",
                  flush=True)
        results.append(res)
    if a.markdown:
        for r in results:
            print(markdown_row(r))
    if a.out:
        atomic_write_json(a.out, {"n_per_digit": a.n, "threshold": a.threshold, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
