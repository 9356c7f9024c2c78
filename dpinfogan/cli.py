"""Command line: ``python -m dpinfogan {train,sample,info,...}``.

Bad input prints one ``error: ...`` line and exits with code 2; nothing is half-written.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Callable, Optional

from .config import ACCOUNTANTS, CLIP_FAKE, CODE_MODES, DP_STEPS, LatentConfig, ModelConfig, PrivacyConfig, TrainConfig
from .argtypes import BATCH, CLIP, LEARNING_RATE, SAMPLES, SEED, SIGMA, THREADS, WEIGHT, WIDTH, number, whole
from .data import DATASETS
from .recipe import MODEL_FIELDS, RECIPES, default_recipe, drop_unfitting_extras, recipe_value

Handler = Callable[[argparse.Namespace], int]


class UsageError(ValueError):
    """Bad input from the command line."""


def _epsilon(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ε must be a number or 'inf', got {text!r}") from None
    if math.isinf(v) and text.strip().lower().lstrip("+") not in ("inf", "infinity"):
        raise argparse.ArgumentTypeError(f"ε = {text} overflows to infinity; write 'inf' to train without privacy")
    if math.isnan(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"ε must be positive (or 'inf' for no privacy), got {text}")
    return v


def add_network_options(group, *, d_steps_per_g: int, lr_d: float, lr_g: float, g_width: int, d_width: int,
                        d_hidden: int, noise_dim: int, n_continuous: int) -> None:
    """The networks' and optimisers' options, shared by ``train`` and ``federated`` (each passes the
    defaults of its own config)."""
    group.add_argument("--d-steps-per-g", type=whole(1, 1000), default=d_steps_per_g, help="discriminator steps per generator step")
    group.add_argument("--lr-d", type=LEARNING_RATE, default=lr_d, help="discriminator/Q Adam learning rate")
    group.add_argument("--lr-g", type=LEARNING_RATE, default=lr_g, help="generator Adam learning rate")
    group.add_argument("--g-width", type=WIDTH, default=g_width, help="generator channels")
    group.add_argument("--d-width", type=WIDTH, default=d_width, help="discriminator channels")
    group.add_argument("--d-hidden", type=WIDTH, default=d_hidden, help="discriminator trunk output width")
    group.add_argument("--noise-dim", type=whole(1, 4096), default=noise_dim, help="noise dimension")
    group.add_argument("--n-continuous", type=whole(0, 64), default=n_continuous, help="continuous codes, U(-1,1)")


def add_eval_options(p) -> None:
    """The evaluation options, shared by ``evaluate`` and ``sweep``."""
    p.add_argument("--n", type=SAMPLES, default=10000, help="generated samples for FID / IS / code accuracy")
    p.add_argument("--cas-samples", type=whole(1, 1_000_000), default=60000, help="generated samples CAS trains on (GS-WGAN/DPDM: 60,000)")
    p.add_argument("--cas-epochs", type=number(0.0, 1000.0, open_lo=True), default=3.0, help="epochs of the CAS classifier")
    p.add_argument("--skip-cas", action="store_true", help="skip CAS (the slow metric)")
    p.add_argument("--evaluator", type=Path, default=None, help="evaluator file (default: checkpoints/evaluator-<dataset>.safetensors)")


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a DP-InfoGAN (private by default)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = TrainConfig()
    p.add_argument("--dataset", default=d.dataset, choices=DATASETS, help="training data (offline-digits needs no download)")
    p.add_argument("--code-mode", default=d.code_mode, choices=CODE_MODES,
                   help="labels: categorical code = class label (ask for a '7'); unsupervised: InfoGAN discovers it")
    g = p.add_argument_group("privacy")
    g.add_argument("--epsilon", type=_epsilon, default=None,
                   help="target ε (privacy budget; smaller = more private; default 10, or none with --sigma). "
                        "'inf' trains without privacy")
    g.add_argument("--delta", type=number(0.0, 1.0, open_lo=True, what="δ"), default=None,
                   help="target δ (probability the ε bound fails); at most 1/(10·N). "
                        "Default: 1e-5, or the largest power of ten ≤ 1/(10·N) (1e-6 for full MNIST)")
    g.add_argument("--sigma", "--noise-multiplier", dest="sigma", type=SIGMA, default=None,
                   help="fixed noise multiplier σ (noise std σ·C); default: calibrated from --epsilon")
    g.add_argument("--max-grad-norm", "-C", type=CLIP, default=1.0, help="per-sample clipping norm C (L2)")
    g.add_argument("--accountant", default="rdp", choices=ACCOUNTANTS, help="rdp = moments accountant (paper); prv")
    g.add_argument("--dp-step", default="fast", choices=DP_STEPS, help="fast ghost-norm step or the Opacus reference")
    g.add_argument("--clip-fake", default=PrivacyConfig.clip_fake, choices=CLIP_FAKE,
                   help="generated samples' term (no privacy role, no noise) clipped to C per sample, "
                        "as one batch vector, or not at all")
    t = p.add_argument_group("training (defaults: the recipe's, see --recipe)")
    t.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                   help="named settings; an option given here overrides its value. Default: "
                        f"{default_recipe(True)} for private runs, {default_recipe(False)} for ε = inf")
    t.add_argument("--batch-size", type=BATCH, default=None, help="expected real samples per step (q = batch/N)")
    t.add_argument("--steps", type=whole(1, 10**9, "steps"), default=None,
                   help="planned discriminator steps (the run stops earlier if ε is spent)")
    t.add_argument("--epochs", type=number(0.0, 1e6, open_lo=True), default=None, help="planned epochs instead of --steps (steps = epochs·N/batch)")
    t.add_argument("--lambda-cat", type=WEIGHT, default=d.lambda_cat, help="weight of the categorical MI term")
    t.add_argument("--lambda-cont", type=WEIGHT, default=d.lambda_cont, help="weight of the continuous MI term")
    t.add_argument("--lambda-label", type=WEIGHT, default=d.lambda_label, help="labels mode: weight of the real-label term")
    m, z = ModelConfig(), LatentConfig()
    add_network_options(t, d_steps_per_g=None, lr_d=None, lr_g=None, g_width=None,
                        d_width=None, d_hidden=m.d_hidden, noise_dim=z.noise_dim, n_continuous=z.n_continuous)
    t.add_argument("--adaptive-d-steps", action=argparse.BooleanOptionalAction, default=None,
                   help="raise D steps per G step 1→2→5→10→20→50 when D's accuracy on generated images "
                        "(EMA 0.99) falls to 0.6 (free in privacy)")
    t.add_argument("--ema-decay", type=number(0.0, 0.999999, what="EMA decay"), default=None,
                   help="EMA of the generator's weights for sampling and export (0 = off; 0.999 typical)")
    t.add_argument("--warm-start", default=None, metavar="CKPT",
                   help="initialise G and D from a checkpoint trained on public data (stroke-digits, font-digits); '' = random init; no privacy cost")
    t.add_argument("--seed", type=SEED, default=d.seed, help="random seed")
    t.add_argument("--threads", type=THREADS, default=0, help="CPU threads (0 = torch default)")
    o = p.add_argument_group("output")
    o.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/<timestamp-id>)")
    o.add_argument("--out", type=Path, default=None, help="also copy the final checkpoint here")
    o.add_argument("--resume", type=Path, default=None, help="continue from a checkpoint (its accountant keeps counting)")
    o.add_argument("--sample-every", type=whole(1, 10**9), default=d.sample_every, help="sample grid PNG every K steps")
    o.add_argument("--checkpoint-every", type=whole(1, 10**9), default=d.checkpoint_every, help="checkpoint every K steps")
    o.add_argument("--log-every", type=whole(1, 10**9), default=20, help="metrics.jsonl line every K steps")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_train)


def config_from_args(a: argparse.Namespace, n_samples: int, notes: Optional[list[str]] = None) -> TrainConfig:
    """The run's config: each option if given, else its recipe's value; ``notes`` collects the recipe
    pieces the options ruled out (say them once the config is known to be valid)."""
    epsilon: Optional[float] = a.epsilon
    if epsilon is None and a.sigma is None:
        epsilon = 10.0  # fixed σ without a budget runs the planned steps and reports ε
    private = not (epsilon is not None and math.isinf(epsilon) and a.sigma is None)
    recipe = a.recipe or default_recipe(private, a.dataset)
    base, model_base = TrainConfig(), ModelConfig()

    def pick(name: str):
        """The option if given, else the recipe's value, else the config's default."""
        given = getattr(a, name)
        if given is not None:
            return given
        return recipe_value(recipe, name, getattr(model_base if name in MODEL_FIELDS else base, name))

    batch_size, steps = pick("batch_size"), pick("steps")
    if a.epochs is not None:
        if not a.epochs > 0:
            raise UsageError(f"--epochs must be positive, got {a.epochs}")
        if batch_size <= 0:
            raise UsageError(f"batch size must be positive, got {batch_size}")
        steps = max(1, round(a.epochs * n_samples / batch_size))
    cfg = TrainConfig(
        dataset=a.dataset, code_mode=a.code_mode, batch_size=batch_size, steps=steps,
        d_steps_per_g=pick("d_steps_per_g"), lr_d=pick("lr_d"), lr_g=pick("lr_g"), lambda_cat=a.lambda_cat,
        lambda_cont=a.lambda_cont, lambda_label=a.lambda_label, sample_every=a.sample_every,
        checkpoint_every=a.checkpoint_every, seed=a.seed, threads=a.threads,
        adaptive_d_steps=pick("adaptive_d_steps"), ema_decay=pick("ema_decay"), warm_start=pick("warm_start"),
        model=ModelConfig(g_width=pick("g_width"), d_width=pick("d_width"), d_hidden=a.d_hidden),
        latent=LatentConfig(noise_dim=a.noise_dim, n_continuous=a.n_continuous),
        privacy=PrivacyConfig(epsilon=epsilon, delta=a.delta, noise_multiplier=a.sigma,
                              max_grad_norm=a.max_grad_norm, accountant=a.accountant, dp_step=a.dp_step,
                              clip_fake=a.clip_fake),
    )
    given = {k for k in ("adaptive_d_steps", "warm_start") if getattr(a, k) is not None}
    cfg, dropped = drop_unfitting_extras(cfg, given)
    if notes is not None:
        notes.extend(dropped)
    return cfg


def cmd_train(a: argparse.Namespace) -> int:
    import shutil

    from .checkpoint import load_checkpoint
    from .data import load_dataset
    from .runs import new_run_dir
    from .train import Trainer, train

    data = load_dataset(a.dataset)
    if data.fallback:
        print(f"note: {a.dataset} is not available offline; training on {data.source}", file=sys.stderr)
    resume = load_checkpoint(a.resume) if a.resume else None
    notes: list[str] = []
    cfg = config_from_args(a, len(data), notes)
    if resume is not None:  # the model shape must match the checkpoint's
        cfg.model, cfg.latent, cfg.code_mode = resume.config.model, resume.config.latent, resume.config.code_mode
    cfg.validate(len(data))
    if a.out is not None and not _writable_dir(a.out.parent):
        raise UsageError(f"cannot write {a.out}: folder {a.out.parent} is not writable")
    Trainer(cfg, data, resume=resume)  # fail on an impossible budget before creating the run folder
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    run_dir = new_run_dir(name=None) if a.run_dir is None else _make_run_dir(a.run_dir)
    bar = None
    if not a.quiet:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, unit="step", dynamic_ncols=True, file=sys.stderr)

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


def _writable_dir(path: Path) -> bool:
    import os

    import tempfile

    path = path if str(path) else Path(".")
    while not path.exists():
        path = path.parent
    if not (path.is_dir() and os.access(path, os.W_OK)):
        return False
    try:  # os.access says yes to root even where nothing can be created (/proc, read-only mounts)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _make_run_dir(path: Path) -> Path:
    from .runs import new_run_dir

    if (path / "job.json").is_file() and not (path / "metrics.jsonl").exists():
        return path  # prepared by dpinfogan.jobs (it holds the job's log); no training output yet
    return new_run_dir(path.parent, path.name)


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
    from .checkpoint import load_checkpoint
    from .fileio import atomic_save_png, image_grid
    from .sampling import sample, save_npz

    if a.out.suffix != ".npz":
        raise UsageError(f"--out must end in .npz, got {a.out}")
    if not _writable_dir(a.out.parent):
        raise UsageError(f"cannot write {a.out}: folder {a.out.parent} is not writable")
    ck = load_checkpoint(a.checkpoint)
    s = sample(ck.generator, ck.config.latent, a.n, seed=a.seed, code=a.code)
    save_npz(a.out, s)
    if a.png is not None:
        import torch

        atomic_save_png(a.png, image_grid(torch.from_numpy(s.images[:100]), nrow=10, scale=2))
    print(f"wrote {a.n} samples to {a.out} (model ε = {ck.epsilon:.4g})")
    return 0


def add_info_parser(sub) -> None:
    p = sub.add_parser("info", help="print a checkpoint's metadata and privacy guarantee")
    p.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint")
    p.add_argument("--json", action="store_true", help="print the raw metadata as JSON")
    p.set_defaults(handler=cmd_info)


def cmd_info(a: argparse.Namespace) -> int:
    from .checkpoint import check_weights, read_metadata

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
    from .evaluator import cli_train_evaluator

    return cli_train_evaluator(a)


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
    from .metrics import cli_evaluate

    return cli_evaluate(a)


def add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="train + evaluate one model per ε and write DIR/sweep.csv and sweep.json",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       epilog="Other `train` options go after `--`, e.g. `... --out DIR -- --lr-d 5e-4`.")
    d = TrainConfig()
    p.add_argument("--epsilons", type=_epsilon, nargs="+", default=None, help="target ε values ('inf' = non-private)")
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


def cmd_sweep(a: argparse.Namespace) -> int:
    from .sweep import cli_sweep

    return cli_sweep(a)


def add_attack_parser(sub) -> None:
    from .attack_lab import LAB_CANARIES, LAB_NONMEMBERS, LAB_SEED, LAB_SIZE

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
    from .attack_lab import cli_attack

    return cli_attack(a)


def add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="re-save a checkpoint for shipping: no optimizer state, optionally float16")
    p.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint")
    p.add_argument("out", type=Path, help="output .safetensors")
    p.add_argument("--half", action="store_true", help="store weights as float16 (about half the size)")
    p.set_defaults(handler=cmd_export)


def cmd_export(a: argparse.Namespace) -> int:
    from .checkpoint import export_checkpoint

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
    from .fileio import atomic_write_bytes
    from .zoo import model_card, zoo_root

    card, path = model_card(), zoo_root() / "README.md"
    if a.check:
        current = path.read_text() if path.is_file() else ""
        if current != card:
            raise UsageError(f"{path} is out of date: run `python -m dpinfogan zoo-card`")
        print(f"{path} is up to date")
        return 0
    atomic_write_bytes(path, card.encode())
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dpinfogan",
        description="DP-InfoGAN: InfoGAN trained with differentially private SGD (Opacus, RDP accountant).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .federated.cli import add_federated_parser  # imports no flwr until a federation starts

    for add in (add_train_parser, add_sample_parser, add_info_parser, add_export_parser, add_zoo_card_parser,
                add_train_evaluator_parser, add_evaluate_parser, add_sweep_parser, add_attack_parser,
                add_federated_parser):
        add(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch/opacus chatter; our notes are printed explicitly
            return args.handler(args)
    except (ValueError, OSError) as e:  # UsageError, library ValueErrors, unwritable paths
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
