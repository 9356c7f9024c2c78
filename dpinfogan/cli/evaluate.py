"""``evaluate`` (quality metrics), ``train-evaluator`` (the measuring CNN) and ``attack``
(membership inference and the ε it proves)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ..argtypes import SAMPLES, SEED, THREADS, number, whole
from ..attack_lab import (LAB_CANARIES, LAB_NONMEMBERS, LAB_SEED, LAB_SIZE, attack_checkpoint, results_path,
                          summary_lines)
from ..data import DATASETS, load_dataset
from ..evaluator import save_evaluator, train_evaluator
from ..fileio import atomic_write_json, jsonable
from ..metrics import evaluate_checkpoint, format_table
from ..paths import eval_json_path, evaluator_path
from .options import UsageError, add_eval_options


def _threads(n: int) -> None:
    if n:
        torch.set_num_threads(n)


def add_train_evaluator_parser(sub) -> None:
    p = sub.add_parser("train-evaluator", help="train the CNN classifier that measures generated images",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="real training set (its test split is reported)")
    p.add_argument("--out", type=Path, default=None, help="output .safetensors (default checkpoints/evaluator-<dataset>.safetensors)")
    p.add_argument("--epochs", type=number(0.0, 1000.0, open_lo=True), default=5.0, help="passes over the training set")
    p.add_argument("--seed", type=SEED, default=0, help="random seed")
    p.add_argument("--threads", type=THREADS, default=0, help="CPU threads (0 = torch default)")
    p.set_defaults(handler=cmd_train_evaluator)


def cmd_train_evaluator(a: argparse.Namespace) -> int:
    _threads(a.threads)
    train = load_dataset(a.dataset, train=True, download=False)
    test = load_dataset(a.dataset, train=False, download=False)
    if train.fallback:
        print(f"note: {a.dataset} is not on disk; training on {train.source}", file=sys.stderr)
    out = Path(a.out) if a.out is not None else evaluator_path(train.name)
    try:  # fail before training, not after
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    print(f"training the evaluator on {train.source}; testing on {test.source}")
    model, meta = train_evaluator(train, test, epochs=a.epochs, seed=a.seed,
                                  on_epoch=lambda e, loss: print(f"  epoch {e}: mean loss {loss:.4f}", flush=True))
    save_evaluator(out, model, meta)
    print(f"test accuracy {meta['test_accuracy'] * 100:.2f}% on {meta['n_test']} images, "
          f"{meta['seconds']:.0f} s on {meta['threads']} threads")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, version {meta['version']})")
    return 0


def add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="measure a checkpoint: FID (evaluator features), IS, CAS, code accuracy",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a generator .safetensors checkpoint")
    add_eval_options(p)
    p.add_argument("--seed", type=SEED, default=0, help="seed of the generated samples and the CAS classifier")
    p.add_argument("--threads", type=THREADS, default=0, help="CPU threads (0 = torch default)")
    p.add_argument("--no-write", action="store_true", help="do not write <checkpoint>.eval.json")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(a: argparse.Namespace) -> int:
    _threads(a.threads)
    result = evaluate_checkpoint(
        a.checkpoint, n=a.n, cas_samples=a.cas_samples, cas_epochs=a.cas_epochs, skip_cas=a.skip_cas,
        seed=a.seed, evaluator=a.evaluator, write=not a.no_write,
        log=None if a.json else (lambda msg: print(msg, file=sys.stderr, flush=True)),
    )
    if a.json:
        print(json.dumps(jsonable(result), indent=2))
    else:
        print(format_table(result))
        if not a.no_write:
            print(f"wrote {eval_json_path(a.checkpoint)}")
    return 0


def add_attack_parser(sub) -> None:
    p = sub.add_parser("attack", help="membership-inference attacks + memorisation check on a checkpoint",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Attack a checkpoint: white-box (discriminator score, LOGAN) and black-box "
                                   "(distance to the nearest generated sample, GAN-Leaks) membership inference, with the ε each attack proves (95% confidence). By default "
                                   "members/non-members/canaries are the attack-lab split of the 5,000 offline digits; "
                                   "results go to <checkpoint stem>.attack.json.")
    p.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint")
    p.add_argument("--members", type=Path, default=None, help="training images: .npz with uint8 'images' [N,28,28]")
    p.add_argument("--nonmembers", type=Path, default=None, help="held-out images, same format (ideally same N)")
    p.add_argument("--lab-seed", type=SEED, default=LAB_SEED, help="attack-lab split: permutation seed of the 5,000 offline digits")
    p.add_argument("--lab-size", type=whole(1, 4999, "attack-lab members"), default=LAB_SIZE, help="attack-lab split: members")
    p.add_argument("--lab-nonmembers", type=whole(1, 4999, "attack-lab non-members"), default=LAB_NONMEMBERS,
                   help="attack-lab split: non-members")
    p.add_argument("--lab-canaries", type=whole(0, 2499, "attack-lab canaries"), default=LAB_CANARIES,
                   help="attack-lab split: stamped canaries trained on (as many held out)")
    p.add_argument("--n-generated", type=SAMPLES, default=10000, help="generated samples for the black-box attack")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the generated samples")
    p.add_argument("--features", action="store_true", help="also attack with evaluator-feature distances (records the evaluator's sha256)")
    p.add_argument("--evaluator", type=Path, default=None, help="evaluator file (default: checkpoints/evaluator-<dataset>.safetensors)")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default: <checkpoint stem>.attack.json beside it)")
    p.add_argument("--no-write", action="store_true", help="print only, write no file")
    p.add_argument("--json", action="store_true", help="also print the settings and bounds as JSON")
    p.add_argument("--threads", type=THREADS, default=0, help="CPU threads (0 = torch default)")
    p.set_defaults(handler=cmd_attack)


def cmd_attack(a: argparse.Namespace) -> int:
    _threads(a.threads)
    res = attack_checkpoint(a.checkpoint, members=a.members, nonmembers=a.nonmembers, lab_seed=a.lab_seed,
                            lab_size=a.lab_size, lab_nonmembers=a.lab_nonmembers, lab_canaries=a.lab_canaries,
                            n_generated=a.n_generated, seed=a.seed, use_features=a.features,
                            evaluator_path=a.evaluator)
    out = a.out or results_path(a.checkpoint)
    if not a.no_write:
        atomic_write_json(out, res)
    if a.json:
        print(json.dumps({k: v for k, v in res.items() if k not in ("attacks", "memorisation", "canaries")}, indent=2))
    print("\n".join(summary_lines(res)))
    if not a.no_write:
        print(f"wrote {out}")
    return 0
