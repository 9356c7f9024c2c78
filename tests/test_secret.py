"""The randomness DP rests on is secret: the noise and the Poisson batches never replay.

An adversary holds every file we ship, the seed included. These tests check that the seed
decides nothing the guarantee depends on, and that a resume never reuses noise.
"""
import math

import pytest
import torch

from dpinfogan.checkpoint import load_checkpoint, privacy_guarantee, read_metadata, save_checkpoint
from dpinfogan.config import PrivacyConfig, default_delta, max_delta
from dpinfogan.secret import SOURCE, SecretRandom
from dpinfogan.train import Trainer, train
from tests.conftest import tiny_config


def _d_weights(ck_path) -> torch.Tensor:
    d = load_checkpoint(ck_path).discriminator
    return torch.cat([p.detach().reshape(-1) for p in d.parameters()])


def test_same_seed_private_runs_differ_non_private_runs_repeat(digits, tmp_path):
    """With a public seed, two private runs on the same data must still end apart (their noise and
    batches are secret); two non-private runs with that seed are reproducible."""
    a = train(tiny_config(steps=3, seed=7), digits, tmp_path / "a", log_every=1000)
    b = train(tiny_config(steps=3, seed=7), digits, tmp_path / "b", log_every=1000)
    assert (_d_weights(a.checkpoint) - _d_weights(b.checkpoint)).abs().max() > 1e-3
    np_cfg = lambda: tiny_config(steps=3, seed=7, privacy=PrivacyConfig(epsilon=math.inf))  # noqa: E731
    c = train(np_cfg(), digits, tmp_path / "c", log_every=1000)
    d = train(np_cfg(), digits, tmp_path / "d", log_every=1000)
    assert torch.equal(_d_weights(c.checkpoint), _d_weights(d.checkpoint))


def test_poisson_batches_do_not_follow_the_seed(digits):
    t1, t2 = Trainer(tiny_config(seed=3), digits), Trainer(tiny_config(seed=3), digits)
    b1 = [t1.secret.poisson_indices(t1.n, t1.sample_rate) for _ in range(3)]
    b2 = [t2.secret.poisson_indices(t2.n, t2.sample_rate) for _ in range(3)]
    assert any(not torch.equal(x, y) for x, y in zip(b1, b2))
    sizes = torch.tensor([len(SecretRandom().poisson_indices(4000, 0.008)) for _ in range(400)], dtype=torch.float)
    assert float(sizes.mean()) == pytest.approx(32, rel=0.05)  # E|B| = qN
    assert float(sizes.var()) == pytest.approx(32 * (1 - 0.008), rel=0.25)  # binomial, not fixed


def test_resumed_run_never_replays_noise(digits, tmp_path, monkeypatch):
    drawn: list[torch.Tensor] = []
    original = SecretRandom.normal_

    def record(self, out):
        original(self, out)
        drawn.append(out.detach().clone().reshape(-1)[:64])
        return out

    monkeypatch.setattr(SecretRandom, "normal_", record)
    first = train(tiny_config(steps=3, privacy=PrivacyConfig(epsilon=None, noise_multiplier=1.0, delta=1e-5)),
                  digits, tmp_path / "a", log_every=1000)
    before = list(drawn)
    drawn.clear()
    train(tiny_config(steps=6, privacy=PrivacyConfig(epsilon=None, noise_multiplier=1.0, delta=1e-5)),
          digits, tmp_path / "b", resume=load_checkpoint(first.checkpoint), log_every=1000)
    assert before and drawn
    for x in drawn:
        assert not any(torch.equal(x, y) for y in before)


def test_private_resume_from_non_private_checkpoint_is_refused(digits, tmp_path):
    first = train(tiny_config(steps=2, privacy=PrivacyConfig(epsilon=math.inf)), digits, tmp_path / "a", log_every=1000)
    with pytest.raises(ValueError, match="cannot continue a private run"):
        Trainer(tiny_config(steps=5), digits, resume=load_checkpoint(first.checkpoint))


def _rewrite_privacy(src, dst, **changes):
    ck = load_checkpoint(src)
    m = ck.meta
    pr = {k: v for k, v in m["privacy"].items() if k not in ("void_reason", "claimed_epsilon")}
    pr.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        pr.pop(k)
    save_checkpoint(dst, config=ck.config, generator=ck.generator, discriminator=ck.discriminator,
                    privacy=pr, training=m["training"])
    return dst


def test_replayable_or_partly_covered_checkpoints_claim_no_epsilon(digits, tmp_path):
    res = train(tiny_config(steps=3), digits, tmp_path / "a", log_every=1000)
    meta = read_metadata(res.checkpoint)
    assert meta["privacy"]["randomness"] == SOURCE and math.isfinite(meta["privacy"]["epsilon"])
    assert "void_reason" not in meta["privacy"]
    # a file written before the secret source existed (seeded noise): shown as ε = ∞, with the reason
    old = _rewrite_privacy(res.checkpoint, tmp_path / "old.safetensors", randomness=None)
    meta = read_metadata(old)
    assert math.isinf(meta["privacy"]["epsilon"]) and "replay" in meta["privacy"]["void_reason"]
    assert meta["privacy"]["claimed_epsilon"] > 0
    with pytest.raises(ValueError, match="replay"):
        Trainer(tiny_config(steps=5), digits, resume=load_checkpoint(old))
    # an accountant history that covers fewer steps than the model took
    short = _rewrite_privacy(res.checkpoint, tmp_path / "short.safetensors",
                             history=[[1.0, 0.008, 1]])
    eps, why = privacy_guarantee(read_metadata(short))
    assert math.isinf(eps) and "covers 1 of its 3 steps" in why


def test_delta_must_be_well_below_one_over_n():
    assert max_delta(4000) == pytest.approx(2.5e-5)
    PrivacyConfig(delta=2.5e-5).validate(4000)
    for bad in (5e-5, 1e-4, 2.4e-4):  # all below 1/N = 2.5e-4, none ≤ 1/(10N)
        with pytest.raises(ValueError, match=r"1/\(10·N\)"):
            PrivacyConfig(delta=bad).validate(4000)
    assert default_delta(4000) == 1e-5 and default_delta(60000) == 1e-6 and default_delta(200) == 1e-5


def test_delta_default_follows_n(digits):
    t = Trainer(tiny_config(privacy=PrivacyConfig(epsilon=5.0)), digits)
    assert t.cfg.privacy.delta == default_delta(len(digits)) <= max_delta(len(digits))
    assert t.privacy_meta()["delta"] == t.cfg.privacy.delta


def test_secret_random_refuses_what_it_cannot_fill():
    with pytest.raises(ValueError):
        SecretRandom().normal_(torch.zeros(3, dtype=torch.float64))
    x = SecretRandom().normal((20000,))
    assert float(x.std()) == pytest.approx(1.0, rel=0.03) and abs(float(x.mean())) < 0.03
