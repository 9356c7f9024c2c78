"""Privacy attacks: ROC/AUC known answers, the (ε, δ)-DP bound, attack scores, memorisation."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dpinfogan.attacks import (
    FPR_LOW, decode_image, dp_auc_bound, dp_tpr_bound, encode_image, gan_leaks_scores, memorisation, nearest, roc_curve,
)

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- ROC / AUC
def test_roc_perfect_and_reversed():
    r = roc_curve(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert r.auc == pytest.approx(1.0)
    assert r.tpr_at(FPR_LOW) == pytest.approx(1.0)
    assert roc_curve(np.array([0.0, 1.0]), np.array([2.0, 3.0])).auc == pytest.approx(0.0)


def test_roc_matches_mann_whitney_with_ties():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 200).astype(float), rng.integers(0, 4, 300).astype(float)
    wins = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    r = roc_curve(pos, neg)
    assert r.auc == pytest.approx(wins, abs=1e-12)
    assert r.fpr[0] == 0 and r.tpr[0] == 0 and r.fpr[-1] == 1 and r.tpr[-1] == 1
    assert np.all(np.diff(r.fpr) >= 0) and np.all(np.diff(r.tpr) >= 0)


def test_roc_agrees_with_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.7, 1, 500), rng.normal(0, 1, 500)
    y = np.r_[np.ones(500), np.zeros(500)]
    assert roc_curve(pos, neg).auc == pytest.approx(sk.roc_auc_score(y, np.r_[pos, neg]), abs=1e-12)


def test_tpr_at_low_fpr_uses_a_real_threshold():
    # 100 non-members; the single highest score is a non-member, the next five are members.
    neg = np.r_[10.0, np.zeros(99)]
    pos = np.r_[np.full(5, 9.0), -np.ones(95)]
    r = roc_curve(pos, neg)
    assert r.tpr_at(0.0) == pytest.approx(0.0)
    assert r.tpr_at(0.01) == pytest.approx(0.05)


def test_roc_rejects_bad_scores():
    with pytest.raises(ValueError, match="at least one"):
        roc_curve(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        roc_curve(np.array([np.nan]), np.array([1.0]))


# ----------------------------------------------------------------- the DP bound
def test_dp_bound_eps0_is_the_diagonal():
    f = np.linspace(0, 1, 11)
    np.testing.assert_allclose(dp_tpr_bound(f, 0.0, 0.0), f, atol=1e-12)
    assert dp_auc_bound(0.0, 0.0) == pytest.approx(0.5, abs=1e-6)


def test_dp_bound_known_values():
    e = math.e
    # ε = 1, δ = 0: TPR ≤ min(e·FPR, 1 − (1 − FPR)/e)
    assert float(dp_tpr_bound(0.01, 1.0, 0.0)) == pytest.approx(e * 0.01)
    assert float(dp_tpr_bound(0.5, 1.0, 0.0)) == pytest.approx(1 - 0.5 / e)
    # the two lines cross at FPR = 1/(1+e)
    x = 1 / (1 + e)
    assert float(dp_tpr_bound(x, 1.0, 0.0)) == pytest.approx(e * x)
    # δ lifts the curve: at FPR = 0 the bound is δ
    assert float(dp_tpr_bound(0.0, 1.0, 1e-3)) == pytest.approx(1e-3)
    assert float(dp_tpr_bound(0.01, math.log(2), 0.1)) == pytest.approx(0.12)
    assert float(dp_tpr_bound(0.3, 10.0, 1e-4)) == pytest.approx(1 - math.exp(-10) * (1 - 1e-4 - 0.3), abs=1e-12)
    np.testing.assert_allclose(dp_tpr_bound(np.array([0.0, 0.5]), math.inf, 0.0), [1.0, 1.0])
    # a larger ε never promises less
    assert dp_auc_bound(1.0, 1e-4) < dp_auc_bound(2.0, 1e-4) < dp_auc_bound(10.0, 1e-4) <= 1.0


def test_dp_bound_rejects_bad_parameters():
    with pytest.raises(ValueError, match="ε"):
        dp_tpr_bound(0.1, -1.0, 0.0)
    with pytest.raises(ValueError, match="δ"):
        dp_tpr_bound(0.1, 1.0, 2.0)


# ----------------------------------------------------------------- attacks on synthetic data
def _blobs(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


def test_gan_leaks_identical_distributions_is_chance():
    members, nonmembers, generated = _blobs(300, 0), _blobs(300, 1), _blobs(600, 2)
    r = roc_curve(gan_leaks_scores(members, generated), gan_leaks_scores(nonmembers, generated))
    assert abs(r.auc - 0.5) < 0.08


def test_gan_leaks_copied_members_is_perfect():
    members, nonmembers = _blobs(200, 0), _blobs(200, 1)
    generated = torch.cat([members, _blobs(100, 3)])  # the "generator" outputs its training set
    r = roc_curve(gan_leaks_scores(members, generated), gan_leaks_scores(nonmembers, generated))
    assert r.auc == pytest.approx(1.0)
    assert r.tpr_at(FPR_LOW) == pytest.approx(1.0)


def test_gan_leaks_with_features():
    members, nonmembers = _blobs(50, 0), _blobs(50, 1)
    feats = lambda x: x.reshape(x.shape[0], -1)[:, :100] * 3.0  # noqa: E731
    scores = gan_leaks_scores(members, members.clone(), feats)
    np.testing.assert_allclose(scores, 0.0, atol=1e-3)
    assert (gan_leaks_scores(nonmembers, members, feats) < -1).all()


def test_nearest_matches_brute_force():
    q, pool = torch.randn(37, 10), torch.randn(53, 10)
    d, i = nearest(q, pool, batch=8)
    full = torch.cdist(q, pool)
    torch.testing.assert_close(d, full.min(1).values, atol=1e-4, rtol=1e-4)
    assert torch.equal(i, full.argmin(1))


def test_memorisation_finds_copies():
    members, nonmembers = _blobs(100, 0), _blobs(100, 1)
    generated = torch.cat([members[:5] + 0.01, _blobs(95, 4)])
    m = memorisation(generated, members, nonmembers, k=5)
    assert sorted(p["generated"] for p in m["pairs"]) == [0, 1, 2, 3, 4]
    assert all(p["member"] == p["generated"] for p in m["pairs"])
    assert all(p["ratio"] < 0.1 for p in m["pairs"])
    assert 0.0 <= m["frac_closer_to_member"] <= 1.0


def test_image_encoding_round_trip():
    img = np.arange(784, dtype=np.int64).reshape(28, 28).astype(np.uint8)
    assert np.array_equal(decode_image(encode_image(img)), img)
    with pytest.raises(ValueError):
        encode_image(np.zeros((3, 3), np.uint8))


def test_auc_standard_error_known_value():
    from dpinfogan.attacks import auc_standard_error

    # Hanley–McNeil at AUC 0.5 with 1,000 + 1,000: sqrt((0.25 + 999·(1/3 − 1/4)·2) / 1e6) ≈ 0.01291
    assert auc_standard_error(0.5, 1000, 1000) == pytest.approx(0.012913, abs=1e-5)
    assert auc_standard_error(1.0, 10, 10) == pytest.approx(0.0)
