"""Bounded number types for the command line: a value out of range is an argparse usage error
(``error: argument --threads: ...``, exit 2) before any work or allocation starts.

The bounds are generous for a CPU project but finite, so a typo like ``--n 1000000000`` or
``--g-width 100000`` is refused instead of trying to allocate gigabytes.
"""
from __future__ import annotations

import argparse
import math
import os
from typing import Callable

MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))  # more threads than this only slows torch down
MAX_SAMPLES = 100_000  # generated images per call: 100,000 × 28 × 28 bytes = 78 MB


def whole(lo: int, hi: int, what: str = "value") -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] ("1e3" is 1000); ``what`` names it in messages."""

    def parse(text: str) -> int:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}") from None
        if not math.isfinite(v) or v != int(v):
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be between {lo:,} and {hi:,}, got {text}")
        return int(v)

    return parse


def number(lo: float, hi: float, *, open_lo: bool = False, what: str = "value") -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi] (or (lo, hi] with ``open_lo``)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        ok = math.isfinite(v) and (lo < v if open_lo else lo <= v) and v <= hi
        if not ok:
            rng = f"above {lo:g} and at most {hi:g}" if open_lo else f"between {lo:g} and {hi:g}"
            raise argparse.ArgumentTypeError(f"{what} must be a number {rng}, got {text}")
        return v

    return parse


def epsilon(text: str) -> float:
    """An argparse type: a target ε > 0, or ``inf`` (spelled out) for no privacy."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ε must be a number or 'inf', got {text!r}") from None
    if math.isinf(v) and text.strip().lower().lstrip("+") not in ("inf", "infinity"):
        raise argparse.ArgumentTypeError(f"ε = {text} overflows to infinity; write 'inf' to train without privacy")
    if math.isnan(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"ε must be positive (or 'inf' for no privacy), got {text}")
    return v


THREADS = whole(0, MAX_THREADS, "threads")  # 0 = torch's default
SEED = whole(0, 2**63 - 1, "seed")
SAMPLES = whole(1, MAX_SAMPLES, "number of samples")
WIDTH = whole(1, 1024, "width")  # matches dpinfogan.metadata's bound on widths
BATCH = whole(1, 10**6, "batch size")
LEARNING_RATE = number(0.0, 1.0, open_lo=True, what="learning rate")
WEIGHT = number(0.0, 1e6, what="loss weight")
# C must be finite: an infinite C would mean no clipping, so no privacy at all.
CLIP = number(0.0, 1e6, open_lo=True, what="clipping norm C")
SIGMA = number(0.0, 1e6, what="noise multiplier σ")
