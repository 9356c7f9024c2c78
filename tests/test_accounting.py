"""ε from Opacus' RDP accountant, pinned and cross-checked with Google's dp-accounting."""
import math

import dp_accounting
import pytest
from dp_accounting import rdp

from dpinfogan.accounting import calibrate_noise, compose_epsilon, epsilon_of, make_accountant, max_steps_within

OPACUS_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def dp_accounting_eps(history, delta):
    acc = rdp.RdpAccountant(orders=OPACUS_ORDERS)
    for sigma, q, steps in history:
        acc.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    return acc.get_epsilon(delta)


def test_pinned_epsilon():
    # σ = 1.1, q = 256/60000, 10,000 steps, δ = 1e-5: Opacus' RDP accountant value, pinned.
    eps = epsilon_of("rdp", [(1.1, 256 / 60000, 10_000)], 1e-5)
    assert eps == pytest.approx(2.16159, abs=1e-4)


@pytest.mark.parametrize("sigma,q,steps", [(1.1, 256 / 60000, 10_000), (0.8, 0.01, 500), (4.0, 64 / 4000, 300)])
def test_matches_dp_accounting(sigma, q, steps):
    ours = epsilon_of("rdp", [(sigma, q, steps)], 1e-5)
    theirs = dp_accounting_eps([(sigma, q, steps)], 1e-5)
    assert ours == pytest.approx(theirs, rel=0.01)


def test_history_composes_like_one_run():
    h = [(1.0, 0.01, 200), (1.0, 0.01, 300)]
    assert epsilon_of("rdp", h, 1e-5) == pytest.approx(epsilon_of("rdp", [(1.0, 0.01, 500)], 1e-5))
    assert epsilon_of("rdp", h, 1e-5) == pytest.approx(dp_accounting_eps(h, 1e-5), rel=0.01)
    acc = make_accountant("rdp", h)
    assert acc.get_epsilon(delta=1e-5) == pytest.approx(epsilon_of("rdp", h, 1e-5))


@pytest.mark.parametrize("target", [1.0, 2.0, 10.0])
def test_calibration_hits_target_from_below(target):
    q, steps = 128 / 60000, 2000
    sigma = calibrate_noise(target_epsilon=target, delta=1e-5, sample_rate=q, steps=steps)
    eps = epsilon_of("rdp", [(sigma, q, steps)], 1e-5)
    assert eps <= target
    assert eps >= 0.99 * target


def test_calibration_with_history_counts_what_was_spent():
    q, steps, hist = 0.02, 600, [(20.0, 1.0, 1)]  # a noisy class histogram (σ_h = 20, q = 1), then 600 steps
    sigma = calibrate_noise(target_epsilon=10.0, delta=1e-6, sample_rate=q, steps=steps, history=hist)
    eps = epsilon_of("rdp", hist + [(sigma, q, steps)], 1e-6)
    assert 0.99 * 10.0 <= eps <= 10.0
    # dp-accounting: one Gaussian mechanism composed with the Poisson-sampled steps
    acc = rdp.RdpAccountant(orders=OPACUS_ORDERS)
    acc.compose(dp_accounting.GaussianDpEvent(20.0))
    acc.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    assert eps == pytest.approx(acc.get_epsilon(1e-6), rel=0.01)
    # a costlier release (σ_h = 2) leaves less for the steps: more noise on each
    assert (calibrate_noise(target_epsilon=10.0, delta=1e-6, sample_rate=q, steps=steps, history=[(2.0, 1.0, 1)])
            > calibrate_noise(target_epsilon=10.0, delta=1e-6, sample_rate=q, steps=steps))
    with pytest.raises(ValueError, match="leaves nothing"):
        calibrate_noise(target_epsilon=1.0, delta=1e-6, sample_rate=q, steps=steps, history=[(0.5, 1.0, 1)])


def test_prv_option_runs():
    eps = epsilon_of("prv", [(1.0, 0.01, 200)], 1e-5)
    assert 0 < eps < epsilon_of("rdp", [(1.0, 0.01, 200)], 1e-5) * 1.05


def test_max_steps_within_budget():
    k = max_steps_within(target_epsilon=2.0, delta=1e-5, noise_multiplier=1.0, sample_rate=0.01)
    assert epsilon_of("rdp", [(1.0, 0.01, k)], 1e-5) <= 2.0 < epsilon_of("rdp", [(1.0, 0.01, k + 1)], 1e-5)
    # with history already spent, fewer steps remain
    k2 = max_steps_within(target_epsilon=2.0, delta=1e-5, noise_multiplier=1.0, sample_rate=0.01,
                          history=[(1.0, 0.01, k // 2)])
    assert k2 + k // 2 == k or abs(k2 + k // 2 - k) <= 1


def test_zero_noise_is_infinite():
    assert math.isinf(epsilon_of("rdp", [(0.0, 0.01, 10)], 1e-5))
    assert epsilon_of("rdp", [], 1e-5) == 0.0


def test_releasing_several_models_composes():
    """Five models on the same data (the zoo's shape): the joint ε is one accountant over all of them,
    cross-checked with dp-accounting, above every single model's ε and below their sum."""
    q = 256 / 60000
    models = [[(s, q, 8000)] for s in (1.72, 1.08, 0.73, 0.59, 0.59)]
    joint = compose_epsilon(models, 1e-6)
    assert joint == pytest.approx(dp_accounting_eps([h for m in models for h in m], 1e-6), rel=0.01)
    singles = [epsilon_of("rdp", m, 1e-6) for m in models]
    assert max(singles) < joint < sum(singles)
    assert math.isinf(compose_epsilon(models + [[(0.0, q, 1)]], 1e-6))
