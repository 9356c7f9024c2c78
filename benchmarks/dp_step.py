"""Benchmark: the cost of the private discriminator step, side by side in one run.

On the same discriminator, batch and thread count it times (a) the non-private step (same losses,
``private=False``), (b) Opacus' default per-sample hooks (``method="opacus"``) and (c) the project's
fast ghost-norm step (``method="fast"``), and prints the ratios (c)/(a) and (b)/(c). Repetitions
are interleaved (a, b, c, a, b, c, ... in rotating order) and medians reported, because the machine
is shared and noisy; ratios are given for wall time and for CPU time (less sensitive to other jobs). Then it measures end-to-end training throughput with :class:`Trainer` and
estimates the wall time of a default ε = 10 run on full MNIST.

Allocator: timings run with :func:`dpinfogan.train.keep_freed_memory`, as :class:`Trainer` runs
every step (glibc keeps freed memory instead of page-faulting it back in each step);
``--glibc-default`` times the step table with glibc's defaults instead (use it with ``--quick``:
the throughput part builds Trainers, which apply the setting).

Memory: each (method, size) runs in a fresh subprocess with glibc's mmap threshold pinned at 64 KiB
(so freed tensors leave the resident set at once); after one warm-up step (Adam state allocated)
the kernel's peak-RSS mark is reset (``/proc/self/clear_refs``) and the reported number is the
peak resident set during 3 further steps minus the resident set before them, plus the scratch
tensors the fast step keeps between steps: the step's working memory (activations, gradients,
per-sample buffers), not the model or the data.

Usage::

    .venv/bin/python benchmarks/dp_step.py                 # everything (~5 min on 2 cores)
    .venv/bin/python benchmarks/dp_step.py --quick         # fewer repetitions, no training run
    DPINFOGAN_DATA=../shared/data .venv/bin/python benchmarks/dp_step.py   # train on full MNIST
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dpinfogan.config import ModelConfig, TrainConfig  # noqa: E402
from dpinfogan.latent import sample_latent  # noqa: E402
from dpinfogan.models import build_models, count_parameters  # noqa: E402
from dpinfogan.privacy import PrivateDStep  # noqa: E402
from dpinfogan.train import keep_freed_memory  # noqa: E402

# (a), (b), (c) as trained, (c') the generated rows' term clipped as one vector (no per-sample work
# on generated rows: the cost of the DP-SGD part alone)
KINDS = ("plain", "opacus", "fast", "fast_batch")
DEFAULT = ModelConfig()
SIZES = {  # name -> (d_width, d_hidden)
    "default": (DEFAULT.d_width, DEFAULT.d_hidden),
    "wide": (2 * DEFAULT.d_width, 2 * DEFAULT.d_hidden),
}


def make_case(size: str, batch: int, seed: int = 0):
    """A config, a discriminator and one fixed batch (real rows + as many generated rows)."""
    cfg = TrainConfig()
    cfg.model.d_width, cfg.model.d_hidden = SIZES[size]
    torch.manual_seed(seed)
    g, d = build_models(cfg.model, cfg.latent)
    real_x = torch.rand(batch, 1, 28, 28) * 2 - 1
    real_y = torch.randint(0, cfg.latent.n_categories, (batch,))
    fake = sample_latent(cfg.latent, batch)
    with torch.no_grad():
        fake_x = g(fake.vector(cfg.latent))
    return cfg, d, (real_x, real_y, fake_x, fake)


def make_step(kind: str, cfg: TrainConfig, d, batch: int) -> PrivateDStep:
    """A fresh copy of ``d`` with its own Adam and the step of the given kind (σ = 1, C = 1;
    the generated rows' term clipped as the default config says, as in training, except
    "fast_batch", which clips their mean gradient as one vector)."""
    d = copy.deepcopy(d)
    opt = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
    return PrivateDStep(
        d, opt, cfg, noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=float(batch),
        private=kind != "plain", method="opacus" if kind == "opacus" else "fast",
        generator=torch.Generator().manual_seed(0),
        clip_fake="batch" if kind == "fast_batch" else cfg.privacy.clip_fake,
    )


def time_steps(size: str, batch: int, reps: int, budget_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU seconds per step of each kind, repetitions interleaved. CPU time (all
    threads of this process) is far less sensitive than wall time to other jobs on the machine."""
    cfg, d, args = make_case(size, batch)
    steps = {k: make_step(k, cfg, d, batch) for k in KINDS}
    for s in steps.values():  # warm-up: allocations, Adam state, Opacus hooks
        s.step(*args)
    t0 = time.perf_counter()
    steps["opacus"].step(*args)
    iters = max(1, min(20, int(budget_s / reps / 3 / max(time.perf_counter() - t0, 1e-4))))
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    cpu: dict[str, list[float]] = {k: [] for k in KINDS}
    for r in range(reps):
        order = KINDS[r % len(KINDS):] + KINDS[: r % len(KINDS)]  # rotate so no kind always runs first
        for k in order:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(iters):
                steps[k].step(*args)
            times[k].append((time.perf_counter() - t0) / iters)
            cpu[k].append((time.process_time() - c0) / iters)
    med = lambda d: {k: statistics.median(v) for k, v in d.items()}  # noqa: E731
    return med(times), med(cpu)


def _status_kib(key: str) -> int:
    return int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def memory_child(kind: str, size: str, batch: int) -> None:
    """Subprocess body: print the step's transient peak memory in MiB as JSON."""
    cfg, d, args = make_case(size, batch)
    step = make_step(kind, cfg, d, batch)
    step.step(*args)
    rss0 = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark to the current RSS
    for _ in range(3):
        step.step(*args)
    kept = step.workspace.nbytes / 2**20  # scratch held between steps (already in rss0)
    print(json.dumps({"peak_mib": (_status_kib("VmHWM") - rss0) / 1024 + kept}))


def measure_memory(kind: str, size: str, batch: int, threads: int) -> float:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--threads", str(threads), "--_memory", kind, size, str(batch)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mib"]


def training_throughput(steps_per_rep: int, reps: int, threads: int) -> tuple[dict, dict, str]:
    """Samples/s of :class:`Trainer` (default config) per kind, and median seconds per step."""
    from dpinfogan.data import load_dataset
    from dpinfogan.train import Trainer

    name = "mnist" if os.environ.get("DPINFOGAN_DATA") else "offline-digits"
    data = load_dataset(name, train=True)
    trainers = {}
    for k in KINDS:
        cfg = TrainConfig(dataset=name, threads=threads)
        if k == "plain":
            cfg.privacy.epsilon = float("inf")
        cfg.privacy.dp_step = "opacus" if k == "opacus" else "fast"
        if k == "fast_batch":
            cfg.privacy.clip_fake = "batch"
        trainers[k] = Trainer(cfg, data)
        trainers[k].step()  # warm-up
    samples = {k: [] for k in KINDS}
    per_step = {k: [] for k in KINDS}
    for r in range(reps):
        for k in KINDS[r % len(KINDS):] + KINDS[: r % len(KINDS)]:
            t0, n = time.perf_counter(), 0
            for _ in range(steps_per_rep):
                n += trainers[k].step()["real_batch"]
            dt = time.perf_counter() - t0
            samples[k].append(n / dt)
            per_step[k].append(dt / steps_per_rep)
    med = lambda d: {k: statistics.median(v) for k, v in d.items()}  # noqa: E731
    return med(samples), med(per_step), f"{data.name} ({len(data)} images)"


def mnist_target_steps() -> tuple[int, float]:
    """Steps and σ of a default CLI run (batch 128, 2000 planned steps, ε = 10, δ = 1e-5) on full
    MNIST (N = 60,000), as :class:`Trainer` computes them (only the dataset size matters)."""
    from dpinfogan.data import ImageData
    from dpinfogan.train import Trainer

    n = 60_000
    stub = ImageData("mnist", torch.zeros(1, 1, 28, 28).expand(n, 1, 28, 28), torch.zeros(n, dtype=torch.long), "stub")
    t = Trainer(TrainConfig(), stub)
    return t.target_steps, t.sigma


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads for every measurement")
    ap.add_argument("--reps", type=int, default=7, help="interleaved repetitions per size (median reported)")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of timing per (size, batch)")
    ap.add_argument("--train-steps", type=int, default=10, help="Trainer steps per repetition")
    ap.add_argument("--train-reps", type=int, default=5, help="interleaved Trainer repetitions")
    ap.add_argument("--quick", action="store_true", help="3 repetitions, no memory, no training run")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    ap.add_argument("--glibc-default", action="store_true",
                    help="time the step table with glibc's default allocator settings, not the trainer's "
                         "(the Trainer throughput part always runs as the trainer does)")
    ap.add_argument("--_memory", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a._memory:
        memory_child(a._memory[0], a._memory[1], int(a._memory[2]))
        return
    if a.quick:
        a.reps, a.budget, a.no_memory = 3, 6.0, True
    kept = not a.glibc_default and keep_freed_memory()

    mode = TrainConfig().privacy.clip_fake
    print(f"threads={a.threads} torch={torch.__version__}; median of {a.reps} interleaved repetitions; "
          f"σ=1, C=1, real rows = generated rows = batch; generated rows' term clipped per '{mode}' "
          f"(the default) in (b) and (c), as one vector in (c'); allocator: "
          f"{'keeps freed memory (as the trainer runs)' if kept else 'glibc defaults'}")
    print(f"{'model':<22}{'batch':>6}{'(a) plain ms':>14}{'(b) opacus ms':>15}{'(c) fast ms':>13}{'(c′) ms':>9}"
          f"{'c/a':>7}{'b/c':>7}{'c/a cpu':>9}{'b/c cpu':>9}{'c′/a cpu':>10}{'mem a/b/c/c′ MiB':>22}")
    for size in SIZES:
        cfg = TrainConfig()
        cfg.model.d_width, cfg.model.d_hidden = SIZES[size]
        n_par = count_parameters(build_models(cfg.model, cfg.latent)[1])
        for batch in (64, 512):
            t, c = time_steps(size, batch, a.reps, a.budget)
            mem = "-" if a.no_memory else "/".join(
                f"{measure_memory(k, size, batch, a.threads):.0f}" for k in KINDS)
            label = f"{size} ({n_par / 1e3:.0f}k par)"
            print(f"{label:<22}{batch:>6}{1e3 * t['plain']:>14.1f}{1e3 * t['opacus']:>15.1f}"
                  f"{1e3 * t['fast']:>13.1f}{1e3 * t['fast_batch']:>9.1f}{t['fast'] / t['plain']:>7.2f}"
                  f"{t['opacus'] / t['fast']:>7.2f}{c['fast'] / c['plain']:>9.2f}{c['opacus'] / c['fast']:>9.2f}"
                  f"{c['fast_batch'] / c['plain']:>10.2f}{mem:>22}", flush=True)
    if a.quick:
        return

    sps, per_step, source = training_throughput(a.train_steps, a.train_reps, a.threads)
    print(f"\nTrainer throughput, default config (batch 128, D + G step), {source}, "
          f"median of {a.train_reps} x {a.train_steps} steps:")
    for k in KINDS:
        print(f"  {k:<7} {sps[k]:8.0f} real samples/s  {1e3 * per_step[k]:7.1f} ms/step")
    steps, sigma = mnist_target_steps()
    print(f"\nDefault CLI run on full MNIST (N=60000, batch 128, ε=10, δ=1e-5): σ={sigma:.3f}, {steps} steps")
    for k in KINDS:
        print(f"  {k:<7} ≈ {steps * per_step[k] / 60:5.1f} min of steps")


if __name__ == "__main__":
    main()
