"""Commands on checkpoint files: ``info``, ``sample``, ``export`` and ``zoo-card``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..argtypes import SAMPLES, SEED
from ..checkpoint import check_weights, export_checkpoint, load_checkpoint, read_metadata
from ..fileio import atomic_save_png, atomic_write_bytes, image_grid
from ..paths import checkpoints_root
from ..sampling import sample, save_npz
from ..zoo import model_card
from .options import UsageError, check_writable


def add_sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw images from a checkpoint into an .npz")
    p.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint")
    p.add_argument("--n", type=SAMPLES, default=100, help="number of images")
    p.add_argument("--out", type=Path, required=True, help="output .npz: images uint8 [N,28,28], codes int [N], cont float [N,k]")
    p.add_argument("--seed", type=SEED, default=0, help="random seed")
    p.add_argument("--code", type=int, default=None, help="draw only this categorical code")
    p.add_argument("--png", type=Path, default=None, help="also save a grid of the images as PNG")
    p.set_defaults(handler=cmd_sample)


def cmd_sample(a: argparse.Namespace) -> int:
    if a.out.suffix != ".npz":
        raise UsageError(f"--out must end in .npz, got {a.out}")
    check_writable(a.out)
    ck = load_checkpoint(a.checkpoint)
    s = sample(ck.generator, ck.config.latent, a.n, seed=a.seed, code=a.code)
    save_npz(a.out, s)
    if a.png is not None:
        atomic_save_png(a.png, image_grid(torch.from_numpy(s.images[:100]), nrow=10, scale=2))
    print(f"wrote {a.n} samples to {a.out} (model ε = {ck.epsilon:.4g})")
    return 0


def add_info_parser(sub) -> None:
    p = sub.add_parser("info", help="print a checkpoint's metadata and privacy guarantee")
    p.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint")
    p.add_argument("--json", action="store_true", help="print the raw metadata as JSON")
    p.set_defaults(handler=cmd_info)


def cmd_info(a: argparse.Namespace) -> int:
    meta = read_metadata(a.checkpoint)
    check_weights(a.checkpoint, meta)  # info vouches for the whole file, not only its header
    if a.json:
        print(json.dumps(meta, indent=2))
        return 0
    pr, tr, cfg = meta["privacy"], meta["training"], meta["config"]
    print(f"checkpoint:   {a.checkpoint}")
    print(f"dataset:      {meta['dataset']} ({tr.get('dataset_source', '?')})")
    print(f"code mode:    {meta['code_mode']}  latent: {cfg['latent']}")
    print(f"model:        {cfg['model']}")
    print(f"training:     {tr['steps']} D steps, {tr['g_steps']} G steps, {tr['seconds']:.0f} s, batch {cfg['batch_size']}")
    if pr.get("void_reason"):
        print(f"privacy:      NOT differentially private (ε = ∞): {pr['void_reason']}")
        print(f"              (the file claims ε = {pr.get('claimed_epsilon')}; that claim does not hold)")
    elif pr["private"]:
        eps = pr["epsilon"]  # recomputed from the accountant history by read_metadata, not trusted
        print(f"privacy:      (ε = {eps:.4f}, δ = {pr['delta']:g})-DP  [{pr['accountant']} accountant]")
        print(f"              σ = {pr['noise_multiplier']:.4f}, C = {pr['max_grad_norm']:g}, "
              f"q = {pr['sample_rate']:.6f} (N = {pr['n_samples']}), steps = {pr['steps']}, target ε = {pr['target_epsilon']}")
    else:
        print("privacy:      none (ε = ∞, non-private baseline)")
    print(f"library:      dpinfogan {meta['library_version']}, created {meta['created']}")
    return 0


def add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="re-save a checkpoint for shipping: no optimizer state, optionally float16")
    p.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint")
    p.add_argument("out", type=Path, help="output .safetensors")
    p.add_argument("--half", action="store_true", help="store weights as float16 (about half the size)")
    p.set_defaults(handler=cmd_export)


def cmd_export(a: argparse.Namespace) -> int:
    if a.out.suffix != ".safetensors":
        raise UsageError(f"output must end in .safetensors, got {a.out}")
    out = export_checkpoint(a.checkpoint, a.out, half=a.half)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def add_zoo_card_parser(sub) -> None:
    p = sub.add_parser("zoo-card", help="regenerate checkpoints/README.md (the model card) from the zoo's files")
    p.add_argument("--check", action="store_true", help="only check that the committed card is up to date")
    p.set_defaults(handler=cmd_zoo_card)


def cmd_zoo_card(a: argparse.Namespace) -> int:
    card, path = model_card(), checkpoints_root() / "README.md"
    if a.check:
        current = path.read_text() if path.is_file() else ""
        if current != card:
            raise UsageError(f"{path} is out of date: run `python -m dpinfogan zoo-card`")
        print(f"{path} is up to date")
        return 0
    atomic_write_bytes(path, card.encode())
    print(f"wrote {path}")
    return 0
