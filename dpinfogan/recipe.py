"""Recipe pieces that cost no privacy: adaptive D steps, an EMA generator, a public warm start.

Each one touches only generated data or public data, so the accountant has nothing to add for it:
the discriminator's accuracy on generated images (a statistic of G's output under DP weights), an
average of the generator's weights (the generator never sees real data), and weights pretrained on
public synthetic digits (:mod:`dpinfogan.strokedigits`, :mod:`dpinfogan.fontdigits`).
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .checkpoint import read_metadata
from .config import D_STEP_LADDER, ModelConfig, TrainConfig
from .fileio import file_sha256
from .fontdigits import NAME as FONT_DIGITS
from .strokedigits import NAME as STROKE_DIGITS
from .paths import checkpoints_root

PUBLIC_DATASETS = (STROKE_DIGITS, FONT_DIGITS)  # data a warm start may have seen: public, disjoint from any private set


class AdaptiveDSteps:
    """Discriminator steps per generator step that climb 1 → 2 → 5 → 10 → 20 → 50.

    After each generator step, ``update(acc)`` takes D's accuracy on that step's generated images
    (the fraction it calls fake) into an EMA; when the EMA falls to ``threshold`` the generator is
    winning, so D gets the next rung. The EMA then restarts at 1, which makes a cooldown of about
    150 generator steps before the next climb at a steady accuracy of 0.5 (0.99^k · 0.5 ≤ 0.1).
    """

    def __init__(self, start: int, *, beta: float = 0.99, threshold: float = 0.6, ema: float = 1.0):
        if start not in D_STEP_LADDER:
            raise ValueError(f"adaptive D steps start on a rung of {D_STEP_LADDER}, got {start}")
        self.n_d, self.beta, self.threshold, self.ema = start, beta, threshold, ema

    def update(self, acc_fake: float) -> int:
        """Fold in one accuracy (0–1); returns the (possibly raised) D steps per G step."""
        self.ema = self.beta * self.ema + (1 - self.beta) * float(acc_fake)
        if self.ema <= self.threshold and self.n_d < D_STEP_LADDER[-1]:
            self.n_d = next(r for r in D_STEP_LADDER if r > self.n_d)
            self.ema = 1.0
        return self.n_d


class GeneratorEMA:
    """An exponential moving average of the generator's weights (buffers copied as they are).

    Early on the average uses decay min(decay, (1 + t) / (10 + t)) for update t, so it follows the
    fast-moving first steps instead of being dominated by the random initial weights.
    """

    def __init__(self, g: nn.Module, decay: float):
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(g).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, g: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_p, p = list(self.model.parameters()), list(g.parameters())
        torch._foreach_lerp_(ema_p, p, 1 - d)
        for b_ema, b in zip(self.model.buffers(), g.buffers()):
            b_ema.copy_(b)
        self.updates += 1


def warm_start_info(meta: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """What a run records about its warm start: the file, its hash, what it was trained on, and why
    it costs no privacy. ``ValueError`` unless the checkpoint was trained on public data only."""
    if meta.get("dataset") not in PUBLIC_DATASETS:
        raise ValueError(f"a warm start must be trained on public data ({', '.join(PUBLIC_DATASETS)}); "
                         f"{Path(path).name} was trained on {meta.get('dataset')!r}, which would leak that data")
    return {
        "file": Path(path).name,
        "sha256": file_sha256(path),
        "dataset": meta["dataset"],
        "trained_on": (meta.get("training") or {}).get("dataset_source"),
        "steps": (meta.get("training") or {}).get("steps"),
        "why_free": f"pretrained without privacy on {meta['dataset']}, public synthetic digits that hold nobody's "
                    "data and are disjoint from the private data; the accountant counts only the private steps "
                    "that follow",
    }


def check_warm_start_fits(cfg: TrainConfig, warm_cfg: TrainConfig) -> None:
    """The warm start's networks must be the run's (same widths and latent sizes)."""
    if (cfg.model, cfg.latent) != (warm_cfg.model, warm_cfg.latent):
        raise ValueError(f"the warm start's networks differ from this run's: warm start {warm_cfg.model}, "
                         f"{warm_cfg.latent}; run {cfg.model}, {cfg.latent}")


# The zoo's private recipe v5 (named below; v6 starts from it).
_V5: dict[str, Any] = {"batch_size": 256, "steps": 20000, "d_steps_per_g": 5, "lr_d": 1e-3, "lr_g": 5e-4,
                       "g_width": 64, "d_width": 16, "adaptive_d_steps": True, "ema_decay": 0.999,
                       "warm_start": "shipped"}

# Named recipes: TrainConfig fields (model widths by their ModelConfig names) that a recipe sets;
# any option given on the command line overrides its recipe's value. See dpinfogan/zoo.py for the
# measurements behind them.
RECIPES: dict[str, dict[str, Any]] = {
    # InfoGAN's own MNIST setting (Chen et al. 2016), non-private: one D step per G step.
    "paper-infogan": {"batch_size": 128, "steps": 2000, "d_steps_per_g": 1, "lr_d": 2e-4, "lr_g": 1e-3,
                      "g_width": 64, "d_width": 32},
    # The zoo's private recipe v3: wide G (free), small D (less total noise), Adam 1e-3, 5 D steps per
    # G step, batch 256, 8,000 D steps.
    "dp-zoo-v3": {"batch_size": 256, "steps": 8000, "d_steps_per_g": 5, "lr_d": 1e-3, "lr_g": 1e-3,
                  "g_width": 64, "d_width": 16},
    # The zoo's private recipe v5: v3 plus the public pen-stroke warm start, adaptive n_D from 5 and a
    # generator EMA of 0.999, G's rate halved (it starts trained), 20,000 D steps (σ grows to match).
    "dp-zoo-v5": _V5,
    # The zoo's private recipe v6 (the default on MNIST up to ε = 2): v5 at batch 1,024 for 2,000 D steps
    # from the shipped warm start (v2). At ε = 1 it lowers the noise per averaged gradient σ/B from 11e-3 to
    # 3.5e-3 and took CAS from 70.6% to 82.0%; at ε = 10 it lost to v5 (checkpoints/README.md).
    "dp-zoo-v6": {**_V5, "batch_size": 1024, "steps": 2000},
    # The zoo's private recipe v7 (the default on MNIST above ε = 2): v5 at batch 512 for 8,000 D steps from
    # the shipped warm start (v2), between v5's many G steps and v6's low noise (σ/B at ε = 10: 15e-4 against
    # 27e-4 and 7.7e-4). At ε = 10 it took CAS from 86.2% (v5) to 89.8% and FID from 15.5 to 12.3.
    "dp-zoo-v7": {**_V5, "batch_size": 512, "steps": 8000},
    # What a class watches (the Train page's defaults and the Privacy-vs-quality page's small sweep):
    # fine-tune the warm start for 300 steps in about 30 s on one thread. Measured on full MNIST at ε = 10
    # (README, time to quality): from warm start v2 code accuracy 98.5% -> 98.1%, evaluator FID 130 -> 114;
    # from v1 87.3% -> 85.0% (FID 140 -> 123), against 78.8% and FID 145 with one D step per G step at D
    # rate 2e-4 and no EMA.
    "live": {"batch_size": 64, "steps": 300, "d_steps_per_g": 5, "lr_d": 1e-3, "lr_g": 1e-4, "g_width": 64,
             "d_width": 16, "ema_decay": 0.99, "warm_start": "shipped"},
}
MODEL_FIELDS = ("g_width", "d_width", "d_hidden")


WARM_START_DATASETS = ("mnist", "offline-digits")  # handwritten digits: what the digit warm start fits


V6_UP_TO_EPSILON = 2.0  # on MNIST v6 beat v5 at ε = 1 and 2 (CAS 82.0% vs 70.6%) and lost at ε = 10 (84.5% vs 86.2%; v7 89.8%)


def default_recipe(private: bool, dataset: str = "mnist", epsilon: Optional[float] = None) -> str:
    """The best measured recipe for ``dataset`` and target ``epsilon``: the zoo's private one for private
    runs (on MNIST v6 up to ε = 2 and v7 above; v5 on the offline digits; all with the digit warm start;
    v3 elsewhere), InfoGAN's otherwise."""
    if not private:
        return "paper-infogan"
    if dataset not in WARM_START_DATASETS or not shipped_warm_start():
        return "dp-zoo-v3"
    # v6's batch of 1,024 (v7's 512) would be a quarter (an eighth) of the 4,000 offline digits; both were
    # measured on full MNIST only
    if dataset != "mnist":
        return "dp-zoo-v5"
    return "dp-zoo-v6" if epsilon is not None and epsilon <= V6_UP_TO_EPSILON else "dp-zoo-v7"


def recipe_value(recipe: str, name: str, default: Any) -> Any:
    """A recipe's value for a TrainConfig (or ModelConfig) field, else ``default``; the recipe's
    "shipped" warm start resolves to the shipped file's path ("" when it is missing)."""
    value = RECIPES[recipe].get(name, default)
    if name == "warm_start" and value == "shipped":
        path = shipped_warm_start()
        return str(path) if path else ""
    return value


def recipe_config(recipe: str, **fields: Any) -> TrainConfig:
    """A TrainConfig with ``recipe``'s values; ``fields`` (TrainConfig fields) override them."""
    model = {k: recipe_value(recipe, k, None) for k in MODEL_FIELDS if k in RECIPES[recipe]}
    values = {k: recipe_value(recipe, k, None) for k in RECIPES[recipe] if k not in MODEL_FIELDS}
    return TrainConfig(**{**values, "model": ModelConfig(**model), **fields})


def drop_unfitting_extras(cfg: TrainConfig, given: set[str]) -> tuple[TrainConfig, list[str]]:
    """Switch off a recipe's warm start or adaptive n_D that the run's own options rule out.

    A recipe's warm start fits only its networks, and adaptive n_D starts on a rung of the ladder; when
    other options (``--g-width 32``, ``--d-steps-per-g 3``) rule one out, an option the user gave wins
    and the recipe's piece is dropped with a note. Pieces in ``given`` (typed by the user) are kept, so
    the config's validation still refuses what the user asked for."""
    notes = []
    problem = warm_start_problem(cfg) if "warm_start" not in given else None
    if problem:
        notes.append(f"the recipe's warm start does not fit ({problem}); this run starts from random weights")
        cfg = dataclasses.replace(cfg, warm_start="")
    if "adaptive_d_steps" not in given and cfg.adaptive_d_steps and cfg.d_steps_per_g not in D_STEP_LADDER:
        notes.append(f"adaptive D steps start on a rung of {D_STEP_LADDER}; with {cfg.d_steps_per_g} D steps "
                     "per G step they stay fixed")
        cfg = dataclasses.replace(cfg, adaptive_d_steps=False)
    return cfg, notes


WARM_START_FILE = "warmstart-strokedigits-v2.safetensors"  # shipped in checkpoints/, float16 (v1: the zoo v5 models)


def shipped_warm_start() -> Optional[Path]:
    """The shipped public warm start (``checkpoints/warmstart-strokedigits-v2.safetensors``), if present."""
    path = checkpoints_root() / WARM_START_FILE
    return path if path.is_file() else None


def warm_start_problem(cfg: TrainConfig) -> Optional[str]:
    """Why ``cfg.warm_start`` cannot start this run (missing, not public, other networks), or None.

    Reads only the file's metadata, so a page can check it on every rerun."""
    if not cfg.warm_start:
        return None
    try:
        meta = read_metadata(cfg.warm_start)
        warm_start_info(meta, cfg.warm_start)
        check_warm_start_fits(cfg, TrainConfig.from_dict(meta["config"]))
    except (ValueError, KeyError, TypeError) as e:
        return str(e)
    return None
