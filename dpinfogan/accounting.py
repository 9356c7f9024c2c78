"""Privacy accounting with Opacus' accountants: ε for what ran, σ calibration, budget limits.

The accountant's state is its history, a list of ``(σ, q, steps)`` triples: JSON-friendly, so it is
saved in checkpoints and a resumed (or federated) run keeps counting from where it stopped.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Optional

import numpy as np
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.analysis import rdp as rdp_analysis
from opacus.accountants.accountant import IAccountant
from opacus.accountants.utils import get_noise_multiplier

History = list[tuple[float, float, int]]


def make_accountant(kind: str = "rdp", history: Optional[Iterable] = None) -> IAccountant:
    """An Opacus accountant ("rdp" = moments accountant, "prv") restored from ``history``."""
    if kind == "rdp":
        acc: IAccountant = RDPAccountant()
    elif kind == "prv":
        acc = PRVAccountant()
    else:
        raise ValueError(f"accountant must be 'rdp' or 'prv', got {kind!r}")
    acc.history = [(float(s), float(q), int(n)) for s, q, n in (history or [])]
    return acc


def history_of(acc: IAccountant) -> History:
    """The accountant's state as plain lists of (σ, q, steps), for JSON."""
    return [[float(s), float(q), int(n)] for s, q, n in acc.history]


def epsilon_of(kind: str, history: Iterable, delta: float) -> float:
    """ε spent at δ for a history of (σ, q, steps); 0 for no steps, inf if any step had σ = 0."""
    hist = [(float(s), float(q), int(n)) for s, q, n in history if int(n) > 0]
    if not hist:
        return 0.0
    if any(s <= 0 for s, _, _ in hist):
        return math.inf
    if kind == "rdp":
        # What RDPAccountant.get_epsilon computes, bit for bit: the RDP of n steps is n times one
        # step's (Opacus' compute_rdp returns rdp·steps). One step's RDP at Opacus' ~150 orders is
        # the slow part (pure Python, ~0.1 s); caching it per (σ, q) makes the budget search of
        # max_steps_within, run by every federated client every round, cost milliseconds.
        rdp = sum([_rdp_one_step(s, q) * n for s, q, n in hist])
        eps, _ = rdp_analysis.get_privacy_spent(orders=RDPAccountant.DEFAULT_ALPHAS, rdp=rdp, delta=delta)
        return float(eps)
    return float(make_accountant(kind, hist).get_epsilon(delta=delta))


@lru_cache(maxsize=1024)
def _rdp_one_step(sigma: float, q: float) -> np.ndarray:
    """Rényi DP of one Poisson-sampled Gaussian step at Opacus' default orders (do not modify)."""
    return rdp_analysis.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=RDPAccountant.DEFAULT_ALPHAS)


def calibrate_noise(
    *, target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str = "rdp",
    history: Iterable = (),
) -> float:
    """Smallest σ (to 0.5% of ε) with ε(σ, q, steps) ≤ target_epsilon at δ.

    ``history``: (σ, q, steps) already spent on the same data (a federated client's released label
    histogram); the new steps' σ is then calibrated so that the whole history stays within the target.
    """
    if not (target_epsilon > 0 and math.isfinite(target_epsilon)):
        raise ValueError(f"target ε must be a positive finite number, got {target_epsilon}")
    hist = list(history)
    if not hist:
        return float(get_noise_multiplier(
            target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate, steps=steps,
            accountant=accountant, epsilon_tolerance=0.005 * target_epsilon,
        ))
    if epsilon_of(accountant, hist, delta) >= target_epsilon:
        raise ValueError(f"what was already spent (ε = {epsilon_of(accountant, hist, delta):.4g}) leaves "
                         f"nothing of ε = {target_epsilon:g}")

    def eps(sigma: float) -> float:
        return epsilon_of(accountant, hist + [(sigma, sample_rate, steps)], delta)

    lo, hi = 0.0, 10.0
    while eps(hi) > target_epsilon:
        lo, hi = hi, 2 * hi
    while target_epsilon - eps(hi) > 0.005 * target_epsilon:  # bisection, as Opacus' get_noise_multiplier
        mid = (lo + hi) / 2
        if eps(mid) > target_epsilon:
            lo = mid
        else:
            hi = mid
    return float(hi)


def max_steps_within(
    *,
    target_epsilon: float,
    delta: float,
    noise_multiplier: float,
    sample_rate: float,
    history: Iterable = (),
    accountant: str = "rdp",
    limit: int = 10**7,
) -> int:
    """How many more steps at (σ, q) keep ε ≤ target_epsilon, given what ``history`` already spent.

    ε grows with the number of steps, so a doubling search then bisection finds the largest count.
    """
    hist = list(history)

    def eps(k: int) -> float:
        return epsilon_of(accountant, hist + [(noise_multiplier, sample_rate, k)], delta)

    if math.isinf(target_epsilon):
        return limit
    if eps(1) > target_epsilon:
        return 0
    lo, hi = 1, 2
    while hi < limit and eps(hi) <= target_epsilon:
        lo, hi = hi, hi * 2
    hi = min(hi, limit)
    while hi - lo > 1:  # invariant: eps(lo) <= target < eps(hi)
        mid = (lo + hi) // 2
        if eps(mid) <= target_epsilon:
            lo = mid
        else:
            hi = mid
    return hi if eps(hi) <= target_epsilon else lo


def compose_epsilon(histories: Iterable[Iterable], delta: float, accountant: str = "rdp") -> float:
    """ε at δ for releasing several models trained on the same data, together.

    Every release spends budget: an adversary who holds all the models learns what each one leaks.
    With the RDP (moments) accountant the models' Rényi-DP curves add up, so the joint guarantee is
    the ε of one accountant holding every model's (σ, q, steps) history, converted once at δ. This
    is tighter than adding the models' ε values (and their δs). ``inf`` if any history has σ = 0.
    """
    joint = [tuple(h) for hist in histories for h in hist]
    return epsilon_of(accountant, joint, delta)
