"""Reference values of the metrics: real images as the "generated" set (the ceiling) and uniform
noise (the floor), both measured against the real test split with the shipped evaluator.

    DPINFOGAN_DATA=/work/shared/data python benchmarks/metrics_reference.py --threads 2

Without full MNIST on disk it uses the offline digits (4,000 train / 1,000 test) and says so.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dpinfogan.data import load_dataset  # noqa: E402
from dpinfogan.evaluator import accuracy, default_evaluator_path, load_evaluator  # noqa: E402
from dpinfogan.metrics import cas, code_accuracy, fid_evaluator, inception_score  # noqa: E402


def measure(name, images, codes, real, ev, cas_epochs: float) -> dict:
    t = time.perf_counter()
    is_m, is_s = inception_score(ev.model, images)
    out = {
        "set": name, "n": int(images.shape[0]),
        "fid_evaluator": fid_evaluator(ev.model, images, real.images),
        "inception_score": is_m, "inception_score_std": is_s,
        "code_accuracy": code_accuracy(ev.model, images, codes, list(range(10))),
    }
    out["fid_is_code_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    out["cas"] = cas(images, codes, real.images, real.labels, epochs=cas_epochs)
    out["cas_s"] = round(time.perf_counter() - t, 1)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--evaluator", type=Path, default=None)
    p.add_argument("--cas-epochs", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ev = load_evaluator(a.evaluator or default_evaluator_path(a.dataset))
    train = load_dataset(a.dataset, train=True, download=False)
    test = load_dataset(a.dataset, train=False, download=False)
    print(f"evaluator {ev.version} (sha256 {ev.sha256[:12]}): {accuracy(ev.model, test.images, test.labels):.4f} "
          f"on {test.source}", flush=True)
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(len(train), 1, 28, 28, generator=g) * 2 - 1
    rnd = torch.randint(0, 10, (len(train),), generator=g)
    rows = [measure(f"real train split ({train.source})", train.images, train.labels, test, ev, a.cas_epochs),
            measure("uniform noise, random codes", noise, rnd, test, ev, a.cas_epochs)]
    for r in rows:
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
