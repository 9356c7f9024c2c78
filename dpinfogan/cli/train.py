"""``train`` (one private run) and ``sweep`` (one run per ε, evaluated, tabulated)."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..argtypes import BATCH, SEED, THREADS, epsilon, number, whole
from ..checkpoint import load_checkpoint
from ..config import CODE_MODES, TrainConfig
from ..data import DATASETS, ImageData, load_dataset
from ..runs import open_run_dir
from ..sweep import format_rows, run_sweep, table_from_checkpoints, write_table
from ..train import Trainer, train
from .options import UsageError, add_eval_options, add_training_options, check_writable, config_from_args


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a DP-InfoGAN (private by default)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_training_options(p)
    p.set_defaults(handler=cmd_train)


def load_training_data(dataset: str) -> ImageData:
    """The training set, with a note on stderr when an offline fallback stands in for it."""
    data = load_dataset(dataset)
    if data.fallback:
        print(f"note: {dataset} is not available offline; training on {data.source}", file=sys.stderr)
    return data


def cmd_train(a: argparse.Namespace) -> int:
    data = load_training_data(a.dataset)
    resume = load_checkpoint(a.resume) if a.resume else None
    notes: list[str] = []
    cfg = config_from_args(a, len(data), notes)
    if resume is not None:  # the model shape must match the checkpoint's
        cfg.model, cfg.latent, cfg.code_mode = resume.config.model, resume.config.latent, resume.config.code_mode
    cfg.validate(len(data))
    if a.out is not None:
        check_writable(a.out)
    Trainer(cfg, data, resume=resume)  # fail on an impossible budget before creating the run folder
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    run_dir = open_run_dir(a.run_dir)
    bar = None if a.quiet else tqdm(total=cfg.steps, unit="step", dynamic_ncols=True, file=sys.stderr)

    def on_log(rec: dict) -> None:
        if bar is not None:
            bar.total = rec["target_steps"]
            bar.n = rec["step"]
            bar.set_postfix(eps=f"{rec['epsilon']:.3g}", d=f"{rec['loss_d_real']:.2f}", g=f"{rec.get('loss_g', float('nan')):.2f}")
            bar.refresh()

    res = train(cfg, data, run_dir, resume=resume, on_log=on_log, log_every=a.log_every)
    if bar is not None:
        bar.close()
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(res.checkpoint, str(a.out) + ".tmp")
        Path(str(a.out) + ".tmp").replace(a.out)
    guarantee = f"ε = {res.epsilon:.4g} (δ = {cfg.privacy.delta:g})" if cfg.privacy.private else "no privacy (ε = ∞)"
    print(f"{res.state}: {res.steps} steps in {res.seconds:.0f} s, {guarantee}")
    print(f"run folder: {res.run_dir}")
    print(f"checkpoint: {a.out or res.checkpoint}")
    return 0


def add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="train + evaluate one model per ε and write DIR/sweep.csv and sweep.json",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       epilog="Other `train` options go after `--`, e.g. `... --out DIR -- --lr-d 5e-4`.")
    d = TrainConfig()
    p.add_argument("--epsilons", type=epsilon, nargs="+", default=None, help="target ε values ('inf' = non-private)")
    p.add_argument("--from-checkpoints", type=Path, nargs="+", default=None,
                   help="instead of training: tabulate these checkpoints (+ their .eval.json) into DIR")
    p.add_argument("--out", type=Path, required=True, help="sweep folder (one run folder per ε + sweep.csv/json)")
    p.add_argument("--dataset", default=d.dataset, choices=DATASETS, help="training data")
    p.add_argument("--code-mode", default=d.code_mode, choices=CODE_MODES, help="categorical code mode")
    p.add_argument("--steps", type=whole(1, 10**9, "steps"), default=d.steps, help="planned discriminator steps per model")
    p.add_argument("--epochs", type=number(0.0, 1e6, open_lo=True), default=None, help="planned epochs instead of --steps")
    p.add_argument("--batch-size", type=BATCH, default=d.batch_size, help="expected real samples per step")
    p.add_argument("--delta", type=number(0.0, 1.0, open_lo=True, what="δ"), default=None,
                   help="target δ (default: from N, see train --help)")
    p.add_argument("--seed", type=SEED, default=d.seed, help="random seed (training and evaluation)")
    p.add_argument("--threads", type=THREADS, default=0, help="CPU threads (0 = torch default)")
    add_eval_options(p)
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="extra `train` options after --")
    p.set_defaults(handler=cmd_sweep)


def _sweep_train_args(a: argparse.Namespace) -> argparse.Namespace:
    """The sweep's own options plus the ``train`` options after ``--``, parsed as ``train`` would."""
    extra = list(a.train_args or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    if any(x.split("=")[0] in ("--epsilon", "--resume", "--out", "--run-dir") for x in extra):
        raise UsageError("--epsilon, --resume, --out and --run-dir are set by the sweep itself")
    argv = ["--dataset", a.dataset, "--code-mode", a.code_mode, "--steps", str(a.steps),
            "--batch-size", str(a.batch_size), *(["--delta", str(a.delta)] if a.delta is not None else []),
            "--seed", str(a.seed), "--threads", str(a.threads),
            *(["--epochs", str(a.epochs)] if a.epochs is not None else []), *extra]
    p = argparse.ArgumentParser(prog="python -m dpinfogan sweep ... --")
    add_training_options(p)
    return p.parse_args(argv)


def cmd_sweep(a: argparse.Namespace) -> int:
    if (a.epsilons is None) == (a.from_checkpoints is None):
        raise UsageError("give either --epsilons (train a sweep) or --from-checkpoints (tabulate existing ones)")
    if a.from_checkpoints is not None:
        rows = table_from_checkpoints(a.from_checkpoints)
        write_table(a.out, rows, progress={"state": "finished", "done": len(rows), "total": len(rows)})
    else:
        ta = _sweep_train_args(a)
        if a.threads:
            torch.set_num_threads(a.threads)
        data = load_training_data(a.dataset)
        base = config_from_args(ta, len(data))
        ev_kwargs: dict[str, Any] = {"n": a.n, "cas_samples": a.cas_samples, "cas_epochs": a.cas_epochs,
                                     "skip_cas": a.skip_cas}
        if a.evaluator is not None:
            ev_kwargs["evaluator"] = str(a.evaluator)
        rows = run_sweep(a.epsilons, base, data, a.out, eval_kwargs=ev_kwargs, log=lambda m: print(m, flush=True))
    print(format_rows(rows))
    print(f"wrote {Path(a.out) / 'sweep.csv'} and {Path(a.out) / 'sweep.json'}")
    return 0
