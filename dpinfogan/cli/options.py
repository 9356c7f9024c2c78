"""Option groups shared by several subcommands, and the one translation of ``train`` options into a
:class:`~dpinfogan.config.TrainConfig`.

Every training setting is a field of the config dataclasses; ``tests/test_settings.py`` checks that
the ``train`` options carry each of them.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Optional

from ..argtypes import (BATCH, CLIP, LEARNING_RATE, SEED, SIGMA, SAMPLES, THREADS, WEIGHT, WIDTH, epsilon, number,
                        whole)
from ..config import ACCOUNTANTS, CLIP_FAKE, CODE_MODES, DP_STEPS, LatentConfig, ModelConfig, PrivacyConfig, TrainConfig
from ..data import DATASETS
from ..recipe import MODEL_FIELDS, RECIPES, default_recipe, drop_unfitting_extras, recipe_value


class UsageError(ValueError):
    """Bad input from the command line."""


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


def add_mechanism_options(group, p: PrivacyConfig) -> None:
    """How the private step clips and counts, shared by ``train`` and ``federated``."""
    group.add_argument("--max-grad-norm", "-C", type=CLIP, default=p.max_grad_norm, help="per-sample clipping norm C (L2)")
    group.add_argument("--accountant", default=p.accountant, choices=ACCOUNTANTS, help="rdp = moments accountant (paper); prv")
    group.add_argument("--dp-step", default=p.dp_step, choices=DP_STEPS, help="fast ghost-norm step or the Opacus reference")
    group.add_argument("--clip-fake", default=p.clip_fake, choices=CLIP_FAKE,
                       help="generated samples' term (no privacy role, no noise) clipped to C per sample, "
                            "as one batch vector, or not at all")


def add_objective_options(group, d: TrainConfig) -> None:
    """The loss weights, Adam's β1 and Q's log-std, shared by ``train`` and ``federated``."""
    group.add_argument("--lambda-cat", type=WEIGHT, default=d.lambda_cat, help="weight of the categorical MI term")
    group.add_argument("--lambda-cont", type=WEIGHT, default=d.lambda_cont, help="weight of the continuous MI term")
    group.add_argument("--lambda-label", type=WEIGHT, default=d.lambda_label, help="labels mode: weight of the real-label term")
    group.add_argument("--beta1", type=number(0.0, 1.0, what="Adam β1"), default=d.beta1, help="Adam β1 of both optimisers")
    group.add_argument("--q-log-std", action=argparse.BooleanOptionalAction, default=d.model.q_log_std,
                       help="Q also predicts a log-std per continuous code (else a fixed std of 1)")


def add_free_options(group, *, adaptive_d_steps: Optional[bool], ema_decay: Optional[float],
                     warm_start: Optional[str]) -> None:
    """The recipe's pieces that cost no privacy, shared by ``train`` (defaults None: the recipe's)
    and ``federated`` (where they act on the server's generator with ``--generator server``)."""
    group.add_argument("--adaptive-d-steps", action=argparse.BooleanOptionalAction, default=adaptive_d_steps,
                       help="raise D steps per G step 1→2→5→10→20→50 when D's accuracy on generated images "
                            "(EMA 0.99) falls to 0.6 (free in privacy)")
    group.add_argument("--ema-decay", type=number(0.0, 0.999999, what="EMA decay"), default=ema_decay,
                       help="EMA of the generator's weights for sampling and export (0 = off; 0.999 typical)")
    group.add_argument("--warm-start", default=warm_start, metavar="CKPT",
                       help="initialise G and D from a checkpoint trained on public data (stroke-digits, "
                            "font-digits); '' = random init; no privacy cost")


def add_eval_options(p) -> None:
    """The evaluation options, shared by ``evaluate`` and ``sweep``."""
    p.add_argument("--n", type=SAMPLES, default=10000, help="generated samples for FID / IS / code accuracy")
    p.add_argument("--cas-samples", type=whole(1, 1_000_000), default=60000, help="generated samples CAS trains on (GS-WGAN/DPDM: 60,000)")
    p.add_argument("--cas-epochs", type=number(0.0, 1000.0, open_lo=True), default=3.0, help="epochs of the CAS classifier")
    p.add_argument("--skip-cas", action="store_true", help="skip CAS (the slow metric)")
    p.add_argument("--evaluator", type=Path, default=None, help="evaluator file (default: checkpoints/evaluator-<dataset>.safetensors)")


def add_training_options(p) -> None:
    """Every training setting of ``train`` (the ``sweep`` passes its extra options through these)."""
    d, m, z = TrainConfig(), ModelConfig(), LatentConfig()
    p.add_argument("--dataset", default=d.dataset, choices=DATASETS, help="training data (offline-digits needs no download)")
    p.add_argument("--code-mode", default=d.code_mode, choices=CODE_MODES,
                   help="labels: categorical code = class label (ask for a '7'); unsupervised: InfoGAN discovers it")
    g = p.add_argument_group("privacy")
    g.add_argument("--epsilon", type=epsilon, default=None,
                   help="target ε (privacy budget; smaller = more private; default 10, or none with --sigma). "
                        "'inf' trains without privacy")
    g.add_argument("--delta", type=number(0.0, 1.0, open_lo=True, what="δ"), default=None,
                   help="target δ (probability the ε bound fails); at most 1/(10·N). "
                        "Default: 1e-5, or the largest power of ten ≤ 1/(10·N) (1e-6 for full MNIST)")
    g.add_argument("--sigma", "--noise-multiplier", dest="sigma", type=SIGMA, default=None,
                   help="fixed noise multiplier σ (noise std σ·C); default: calibrated from --epsilon")
    add_mechanism_options(g, PrivacyConfig())
    t = p.add_argument_group("training (defaults: the recipe's, see --recipe)")
    t.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                   help="named settings; an option given here overrides its value. Default: "
                        f"{default_recipe(True, epsilon=1.0)} for private runs up to ε = 2 on MNIST, "
                        f"{default_recipe(True)} above, {default_recipe(False)} for ε = inf")
    t.add_argument("--batch-size", type=BATCH, default=None, help="expected real samples per step (q = batch/N)")
    t.add_argument("--steps", type=whole(1, 10**9, "steps"), default=None,
                   help="planned discriminator steps (the run stops earlier if ε is spent)")
    t.add_argument("--epochs", type=number(0.0, 1e6, open_lo=True), default=None, help="planned epochs instead of --steps (steps = epochs·N/batch)")
    add_objective_options(t, d)
    add_network_options(t, d_steps_per_g=None, lr_d=None, lr_g=None, g_width=None,
                        d_width=None, d_hidden=m.d_hidden, noise_dim=z.noise_dim, n_continuous=z.n_continuous)
    add_free_options(t, adaptive_d_steps=None, ema_decay=None, warm_start=None)
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


def config_from_args(a: argparse.Namespace, n_samples: int, notes: Optional[list[str]] = None) -> TrainConfig:
    """The run's config: each option given, else its recipe's value, else the config's default;
    ``notes`` collects the recipe pieces the options ruled out (say them once the config is valid)."""
    eps: Optional[float] = a.epsilon
    if eps is None and a.sigma is None:
        eps = 10.0  # fixed σ without a budget runs the planned steps and reports ε
    private = not (eps is not None and math.isinf(eps) and a.sigma is None)
    recipe = a.recipe or default_recipe(private, a.dataset, eps)
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
        d_steps_per_g=pick("d_steps_per_g"), lr_d=pick("lr_d"), lr_g=pick("lr_g"), beta1=a.beta1,
        lambda_cat=a.lambda_cat, lambda_cont=a.lambda_cont, lambda_label=a.lambda_label,
        sample_every=a.sample_every, checkpoint_every=a.checkpoint_every, seed=a.seed, threads=a.threads,
        adaptive_d_steps=pick("adaptive_d_steps"), ema_decay=pick("ema_decay"), warm_start=pick("warm_start"),
        model=ModelConfig(g_width=pick("g_width"), d_width=pick("d_width"), d_hidden=a.d_hidden,
                          q_log_std=a.q_log_std),
        latent=LatentConfig(noise_dim=a.noise_dim, n_continuous=a.n_continuous),
        privacy=PrivacyConfig(epsilon=eps, delta=a.delta, noise_multiplier=a.sigma,
                              max_grad_norm=a.max_grad_norm, accountant=a.accountant, dp_step=a.dp_step,
                              clip_fake=a.clip_fake),
    )
    given = {k for k in ("adaptive_d_steps", "warm_start") if getattr(a, k) is not None}
    cfg, dropped = drop_unfitting_extras(cfg, given)
    if notes is not None:
        notes.extend(dropped)
    return cfg


def check_writable(path: Path) -> None:
    """``UsageError`` unless a file ``path`` can be created (checked before any work starts)."""
    folder = path.parent if str(path.parent) else Path(".")
    while not folder.exists():
        folder = folder.parent
    ok = folder.is_dir() and os.access(folder, os.W_OK)
    if ok:
        try:  # os.access says yes to root even where nothing can be created (/proc, read-only mounts)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError:
            ok = False
    if not ok:
        raise UsageError(f"cannot write {path}: folder {path.parent} is not writable")
