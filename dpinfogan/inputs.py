"""User input, checked in one place: the Train page's number fields and the app's URL parameters.

Form fields are *refused* with a message naming the field (the page then disables Start: it never
trains with a previous or a guessed value). URL parameters come from links people share, so they
are *clamped* to the nearest valid value with a note saying what was changed. Plain Python, no
Streamlit, so both are tested directly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Union

from .config import LatentConfig, ModelConfig, PrivacyConfig, TrainConfig

Number = Union[int, float]


@dataclass(frozen=True)
class NumberField:
    """A number typed into a form: its label, whole or not, and its allowed range."""

    label: str
    default: Number
    lo: Number
    hi: Number
    whole: bool = True  # whole numbers only ("1e3" is fine: it is 1000)
    lo_open: bool = False  # lo itself is not allowed (a learning rate of 0)

    def text(self) -> str:
        """The default as the field shows it."""
        return f"{self.default:g}" if not self.whole else str(self.default)


def parse_number(text: Any, field: NumberField) -> Number:
    """The value typed into ``field``; ``ValueError`` with a message a newcomer understands."""
    raw = str(text).strip().replace(",", "").replace("_", "")
    kind = "a whole number" if field.whole else "a number"
    rng = f"between {_fmt(field.lo)} and {_fmt(field.hi)}"
    if field.lo_open:
        rng = f"above {_fmt(field.lo)} and at most {_fmt(field.hi)}"
    if not raw:
        raise ValueError(f"{field.label}: empty — type {kind} {rng}")
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"{field.label}: {str(text)[:30]!r} is not a number — type {kind} {rng}") from None
    if not math.isfinite(v):
        raise ValueError(f"{field.label}: must be {kind} {rng}, got {str(text)[:30]}")
    if field.whole:
        if v != int(v):
            raise ValueError(f"{field.label}: must be a whole number, got {str(text)[:30]}")
        v = int(v)
    if v < field.lo or v > field.hi or (field.lo_open and v == field.lo):
        raise ValueError(f"{field.label}: must be {rng}, got {_fmt(v)}")
    return v


def _fmt(v: Number) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


# The Train page's number fields (key -> field). Ranges are what a 2-core CPU can train in a class.
# Defaults are the "live" recipe of dpinfogan/recipe.py (a test checks they agree): fine-tune the
# public warm start for 300 steps, 5 D steps per G step, D rate 1e-3, G rate 1e-4, generator EMA 0.99.
TRAIN_FIELDS: dict[str, NumberField] = {
    "train_steps": NumberField("Training steps (discriminator updates)", 300, 1, 100_000),
    "train_batch": NumberField("Batch size (expected real images per step)", 64, 1, 4096),
    "train_sigma": NumberField("Noise multiplier σ (0 = calibrate from ε)", 0.0, 0.0, 100.0, whole=False),
    "train_clip": NumberField("Clipping norm C", 1.0, 0.0, 100.0, whole=False, lo_open=True),
    "train_lr_d": NumberField("Discriminator learning rate", 1e-3, 0.0, 1.0, whole=False, lo_open=True),
    # 1e-4, not InfoGAN's 1e-3: the generator chases a noisy private D, and from the warm start a
    # slower G keeps its digits (300 steps at ε = 10: code accuracy 55% at 1e-4 against 11% at 1e-3)
    "train_lr_g": NumberField("Generator learning rate", 1e-4, 0.0, 1.0, whole=False, lo_open=True),
    "train_g_width": NumberField("Generator width", 64, 1, 256),
    "train_d_width": NumberField("Discriminator width", 16, 1, 256),  # the private recipe's (and warm start's)
    "train_d_steps": NumberField("D steps per G step", 5, 1, 10),
    "train_ema": NumberField("Generator EMA decay (0 = off)", 0.99, 0.0, 0.9999, whole=False),
    "train_sample_every": NumberField("Sample grid + quality every K steps", 25, 1, 10_000),
    "train_seed": NumberField("Seed", 0, 0, 2**31 - 1),
}


def train_config(values: dict[str, Number], *, dataset: str, code_mode: str, epsilon: float, delta: float,
                 warm_start: str = "") -> TrainConfig:
    """The Train page's run: its parsed :data:`TRAIN_FIELDS` and choices as a config (not validated).

    The page trains on one thread (the other core serves the app) and checkpoints every 50 steps at
    least; every other setting keeps its :class:`~dpinfogan.config.TrainConfig` default.
    """
    v = values
    return TrainConfig(
        dataset=dataset, code_mode=code_mode, batch_size=v["train_batch"], steps=v["train_steps"],
        d_steps_per_g=v["train_d_steps"], lr_d=v["train_lr_d"], lr_g=v["train_lr_g"],
        sample_every=v["train_sample_every"], checkpoint_every=max(50, v["train_sample_every"]),
        seed=v["train_seed"], threads=1, warm_start=warm_start, ema_decay=v["train_ema"],
        model=ModelConfig(g_width=v["train_g_width"], d_width=v["train_d_width"]), latent=LatentConfig(),
        privacy=PrivacyConfig(epsilon=float(epsilon), delta=float(delta), max_grad_norm=float(v["train_clip"]),
                              noise_multiplier=float(v["train_sigma"]) if v["train_sigma"] > 0 else None),
    )


def parse_form(texts: dict[str, Any], fields: dict[str, NumberField]) -> tuple[dict[str, Number], list[str]]:
    """Parse every field; (values of the good ones, one message per bad one)."""
    values, problems = {}, []
    for key, field in fields.items():
        try:
            values[key] = parse_number(texts.get(key, field.text()), field)
        except ValueError as e:
            problems.append(str(e))
    return values, problems


def clamp_param(raw: Any, name: str, lo: Number, hi: Number, default: Number, whole: bool = True
                ) -> tuple[Number, Optional[str]]:
    """A URL parameter as a number in [lo, hi]: (value, None) when it was fine, else (the clamped or
    default value, a note saying what was done)."""
    if isinstance(raw, list):  # ?x=1&x=2: the last one wins, as in a browser form
        raw = raw[-1] if raw else ""
    text = str(raw).strip()
    try:
        v = float(text)
        if not math.isfinite(v):
            raise ValueError
    except ValueError:
        return default, f"`{name}={text[:20]}` in the link is not a number; using {_fmt(default)}"
    if whole:
        w = int(v)  # toward zero, as Streamlit's number input reads a fractional URL value
        if w != v:
            note = f"`{name}={text[:20]}` in the link is not a whole number; using {_fmt(min(max(w, lo), hi))}"
            return min(max(w, lo), hi), note
        v = w
    if v < lo or v > hi:
        c = min(max(v, lo), hi)
        return c, f"`{name}={text[:20]}` in the link is outside {_fmt(lo)}…{_fmt(hi)}; using {_fmt(c)}"
    return v, None
