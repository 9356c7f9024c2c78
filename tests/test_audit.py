"""Privacy auditing: Clopper–Pearson bounds, the ε lower bound (hand-computed cases, validity under
no leakage), canary stamping and the canary audit."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import binom

from dpinfogan.audit import (
    canary_audit, clopper_pearson, empirical_epsilon, epsilon_lower_bound, stamp_canaries,
)

A = 0.025  # one-sided α of each bound at 95% joint confidence


# ----------------------------------------------------------------- Clopper–Pearson
def test_clopper_pearson_closed_forms_at_the_edges():
    # k = 0: upper = 1 − α^(1/n); k = n: lower = α^(1/n)
    assert clopper_pearson(0, 100, A) == pytest.approx((0.0, 1 - A ** (1 / 100)))
    assert clopper_pearson(100, 100, A) == pytest.approx((A ** (1 / 100), 1.0))
    assert clopper_pearson(0, 100, A)[1] == pytest.approx(0.036217, abs=1e-6)  # by hand: 1 − e^(ln 0.025 / 100)


def test_clopper_pearson_matches_its_definition_and_textbook_value():
    # the textbook 95% interval for 5 of 10 is [0.1871, 0.8129]
    lo, hi = clopper_pearson(5, 10, A)
    assert (lo, hi) == pytest.approx((0.18709, 0.81291), abs=1e-5)
    # definition: P(X ≥ k | lo) = α and P(X ≤ k | hi) = α
    lo, hi = clopper_pearson(37, 200, A)
    assert 1 - binom.cdf(36, 200, lo) == pytest.approx(A, rel=1e-6)
    assert binom.cdf(37, 200, hi) == pytest.approx(A, rel=1e-6)


def test_clopper_pearson_rejects_bad_counts():
    for args in ((5, 0, A), (11, 10, A), (-1, 10, A), (1, 10, 0.0)):
        with pytest.raises(ValueError):
            clopper_pearson(*args)


# ----------------------------------------------------------------- one test's lower bound
def test_lower_bound_of_a_perfect_test_by_hand():
    # every member flagged, no non-member: TPR_lo = α^(1/n), FPR_hi = 1 − α^(1/n)
    x = A ** (1 / 100)
    assert epsilon_lower_bound(100, 100, 0, 100, 0.0) == pytest.approx(math.log(x / (1 - x)))
    assert epsilon_lower_bound(100, 100, 0, 100, 0.0) == pytest.approx(3.2813, abs=1e-4)
    assert epsilon_lower_bound(100, 100, 0, 100, 0.01) == pytest.approx(math.log((x - 0.01) / (1 - x)))


def test_lower_bound_mirror_form_by_hand():
    # all members flagged, half the non-members too: the mirror form (non-members pass, members never)
    # proves more than the direct one.
    tpr_lo, fpr_hi = A ** (1 / 100), clopper_pearson(50, 100, A)[1]
    direct, mirror = math.log(tpr_lo / fpr_hi), math.log((1 - fpr_hi) / (1 - tpr_lo))
    assert mirror > direct > 0
    assert epsilon_lower_bound(100, 100, 50, 100, 0.0) == pytest.approx(mirror)


def test_lower_bound_is_zero_without_evidence():
    assert epsilon_lower_bound(50, 100, 50, 100, 1e-5) == 0.0
    assert epsilon_lower_bound(0, 100, 0, 100, 1e-5) == 0.0
    assert epsilon_lower_bound(100, 100, 100, 100, 1e-5) == 0.0
    # δ eats a tiny TPR: 1 flagged member of 10 with δ = 0.5 proves nothing
    assert epsilon_lower_bound(10, 10, 0, 10, 0.5) < epsilon_lower_bound(10, 10, 0, 10, 0.0)
    with pytest.raises(ValueError, match="δ"):
        epsilon_lower_bound(1, 2, 0, 2, 1.5)


# ----------------------------------------------------------------- from attack scores
def test_empirical_epsilon_evaluates_one_test_on_the_held_out_half():
    pos, neg = np.arange(1000.0, 1100.0), np.arange(0.0, 100.0)  # separated by a wide gap
    r = empirical_epsilon(pos, neg, 0.0)
    assert (r["n_members"], r["n_nonmembers"]) == (50, 50)
    assert (r["tp"], r["fp"]) == (50, 0)
    assert r["epsilon_lb"] == pytest.approx(epsilon_lower_bound(50, 50, 0, 50, 0.0))


def test_empirical_epsilon_finds_a_reversed_leak():
    rng = np.random.default_rng(3)
    r = empirical_epsilon(rng.normal(-6, 1, 400), rng.normal(0, 1, 400), 1e-5)
    assert "≤" in r["test"] and r["epsilon_lb"] > 2


def test_empirical_epsilon_is_valid_when_nothing_leaks():
    # Members and non-members from one distribution: a valid 95% bound proves ε > 0 in ≤ 5% of trials
    # (point estimates instead of Clopper–Pearson bounds would "prove" ε > 0 in most of them).
    rng = np.random.default_rng(0)
    hits = sum(empirical_epsilon(rng.normal(size=200), rng.normal(size=200), 1e-5, seed=i)["epsilon_lb"] > 0
               for i in range(100))
    assert hits <= 10


def test_empirical_epsilon_rejects_bad_scores():
    with pytest.raises(ValueError, match="two"):
        empirical_epsilon(np.array([1.0]), np.array([0.0, 1.0]), 1e-5)
    with pytest.raises(ValueError, match="finite"):
        empirical_epsilon(np.array([1.0, np.inf]), np.array([0.0, 1.0]), 1e-5)


# ----------------------------------------------------------------- canaries
def test_stamp_canaries_gives_each_image_its_own_stamp():
    base = torch.full((20, 1, 28, 28), -1.0)
    out = stamp_canaries(base, seed=1, size=7)
    assert out.shape == base.shape and torch.equal(base, torch.full_like(base, -1.0))  # input untouched
    changed = (out != base).flatten(1)
    assert (changed.sum(1) <= 49).all() and (changed.sum(1) > 0).all()  # only inside one 7×7 stamp
    assert set(out.unique().tolist()) <= {-1.0, 1.0}
    assert len({bytes(x.numpy().tobytes()) for x in out}) == 20  # all different
    assert torch.equal(out, stamp_canaries(base, seed=1, size=7))  # seeded
    with pytest.raises(ValueError):
        stamp_canaries(torch.zeros(2, 28, 28), seed=0)


def test_canary_audit_known_values():
    c = canary_audit(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0]))
    assert c["gap"] == pytest.approx(2 - 1 / 3)
    assert c["gap_se"] == pytest.approx(math.sqrt(1.0 / 3 + (1 / 3) / 3))  # sample variances 1 and 1/3
    assert c["auc"] == pytest.approx((8 + 0.5) / 9)  # 8 wins, one tie (1 vs 1)
    c = canary_audit(np.arange(10.0, 30.0), np.arange(0.0, 20.0) * 0, delta=1e-5)
    assert c["auc"] == 1.0 and c["epsilon_lb"] > 0
    with pytest.raises(ValueError):
        canary_audit(np.array([1.0]), np.array([0.0, 1.0]))
