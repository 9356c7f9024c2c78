"""Wall time for a private run to draw digits: training seconds until code accuracy ≥ 80% and ≥ 90%.

Runs the given settings with and without the public warm start side by side (alternating blocks of
steps, so both see the same machine load), and every --eval-every steps measures code accuracy with
the shipped evaluator on 1,000 generated digits (evaluation time is not counted). Prints one table
row per variant: training seconds to reach 80% and 90% code accuracy (— if never), code accuracy and
evaluator FID (2,000 generated digits against the test set) at the start and the end, and ε.

Usage (the Train page's defaults at ε = 10 on the offline digits):
  .venv/bin/python benchmarks/time_to_quality.py --dataset offline-digits --steps 300
  DPINFOGAN_DATA=../shared/data .venv/bin/python benchmarks/time_to_quality.py --dataset mnist --steps 300 --delta 1e-6
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dpinfogan.config import TrainConfig, default_delta  # noqa: E402
from dpinfogan.data import load_dataset  # noqa: E402
from dpinfogan.evaluator import default_evaluator_path, load_evaluator  # noqa: E402
from dpinfogan.inputs import TRAIN_FIELDS, train_config  # noqa: E402
from dpinfogan.latent import sample_latent  # noqa: E402
from dpinfogan.metrics import code_accuracy, features, fid_evaluator, gaussian_stats  # noqa: E402
from dpinfogan.train import Trainer  # noqa: E402
from dpinfogan.recipe import shipped_warm_start  # noqa: E402

D = {k: f.default for k, f in TRAIN_FIELDS.items()}  # the Train page's defaults


def page_config(dataset: str, n: int, steps: int, epsilon: float, delta, warm_start: str,
                fields: dict | None = None) -> TrainConfig:
    """Exactly the config the Train page launches with its defaults (seed 0, one thread), for N = ``n``;
    ``fields`` overrides page fields (``inputs.TRAIN_FIELDS`` keys)."""
    return train_config({**D, **(fields or {}), "train_steps": steps}, dataset=dataset, code_mode="labels", epsilon=epsilon,
                        delta=delta if delta is not None else default_delta(n), warm_start=warm_start)


@torch.no_grad()
def generated(t: Trainer, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` digits from the run's sampling generator (fixed latent seed) and their categorical codes."""
    g = t.sampling_generator.eval()
    lat = sample_latent(t.cfg.latent, n, generator=torch.Generator().manual_seed(123))
    imgs = g(lat.vector(t.cfg.latent))
    t.g.train()
    return imgs, lat.cat


def accuracy(t: Trainer, evaluator, n: int = 1000) -> float:
    imgs, codes = generated(t, n)
    return code_accuracy(evaluator, imgs, codes, list(range(t.cfg.latent.n_categories)))


def fid(t: Trainer, evaluator, real_stats, n: int = 2000) -> float:
    """Evaluator-feature FID of ``n`` generated digits against the real test set."""
    return fid_evaluator(evaluator, generated(t, n)[0], real_stats=real_stats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="offline-digits")
    ap.add_argument("--steps", type=int, default=D["train_steps"])
    ap.add_argument("--epsilon", type=float, default=10.0)
    ap.add_argument("--delta", type=float, default=None)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--warm-start", default=str(shipped_warm_start() or ""), help="warm start (default: the shipped one)")
    ap.add_argument("--no-random-init", action="store_true", help="measure only the warm-started run")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help=f"override a Train page field ({', '.join(sorted(D))})")
    a = ap.parse_args()
    fields = {}
    for item in a.set:
        key, _, value = item.partition("=")
        if key not in D:
            ap.error(f"--set: unknown field {key!r}")
        fields[key] = type(D[key])(value)
    torch.set_num_threads(1)
    data = load_dataset(a.dataset)
    ev = load_evaluator(default_evaluator_path(a.dataset)).model
    variants = {f"warm start ({Path(a.warm_start).name})": a.warm_start, **({} if a.no_random_init else {"random init": ""})}
    runs = {name: Trainer(page_config(a.dataset, len(data), a.steps, a.epsilon, a.delta, warm, fields), data)
            for name, warm in variants.items()}
    real = gaussian_stats(features(ev, load_dataset(a.dataset, train=False).images))
    fid_start = {name: fid(t, ev, real) for name, t in runs.items()}
    reached = {name: {0.8: None, 0.9: None} for name in runs}
    acc = {name: accuracy(t, ev) for name, t in runs.items()}
    acc_start = dict(acc)
    for name in runs:  # step 0: the warm start's own accuracy
        for thr in (0.8, 0.9):
            if acc[name] >= thr:
                reached[name][thr] = 0.0
    while any(t.budget_steps > 0 for t in runs.values()):
        for name, t in runs.items():
            for _ in range(min(a.eval_every, t.budget_steps)):
                t.step()
            acc[name] = accuracy(t, ev)
            for thr in (0.8, 0.9):
                if reached[name][thr] is None and acc[name] >= thr:
                    reached[name][thr] = t.elapsed
    print(f"{data.source}; Train page defaults: batch {D['train_batch']}, {a.steps} steps, n_D {D['train_d_steps']}, "
          f"lr {D['train_lr_d']}/{D['train_lr_g']}, EMA {D['train_ema']}, widths {D['train_g_width']}/{D['train_d_width']}; "
          f"ε = {a.epsilon:g}" + (f"; overrides {fields}" if fields else ""))
    print("| variant | s to 80% code acc. | s to 90% | code acc. start → end | FID start → end | ε | training s |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda v: "—" if v is None else f"{v:.0f}"  # noqa: E731
    for name, t in runs.items():
        print(f"| {name} | {fmt(reached[name][0.8])} | {fmt(reached[name][0.9])} | "
              f"{100 * acc_start[name]:.1f}% → {100 * acc[name]:.1f}% | {fid_start[name]:.1f} → {fid(t, ev, real):.1f} | "
              f"{t.epsilon():.2f} | {t.elapsed:.0f} |")


if __name__ == "__main__":
    main()
