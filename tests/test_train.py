"""The training loop: budget stop, honest ε, resume, run folder contents."""
import json
import math
import platform

import pytest
import torch

from dpinfogan.accounting import epsilon_of
from dpinfogan.checkpoint import load_checkpoint
from dpinfogan.config import PrivacyConfig
from dpinfogan.runs import read_run
from dpinfogan.train import Trainer, keep_freed_memory, train
from tests.conftest import tiny_config


def test_tiny_end_to_end(digits, tmp_path):
    cfg = tiny_config(steps=6)
    res = train(cfg, digits, tmp_path / "run", log_every=2)
    assert res.state == "finished" and res.steps == 6
    run = read_run(tmp_path / "run")
    assert run.state == "finished"
    assert [m["step"] for m in run.metrics] == [2, 4, 6]
    for key in ("loss_d_real", "loss_d_fake", "loss_g", "epsilon", "elapsed", "samples_per_s"):
        assert key in run.metrics[-1]
    assert run.latest_grid is not None and (tmp_path / "run/samples/step_000005.png").is_file()
    ck = load_checkpoint(res.checkpoint)
    pr = ck.meta["privacy"]
    # the reported ε is the accountant's for the steps actually taken
    assert pr["steps"] == 6 and pr["history"][0][2] == 6
    assert ck.epsilon == pytest.approx(epsilon_of("rdp", pr["history"], pr["delta"]))
    assert ck.epsilon == pytest.approx(run.metrics[-1]["epsilon"])
    assert ck.code_to_label == list(range(10))


def test_stops_at_target_epsilon(digits, tmp_path):
    # a fixed σ with a budget that allows only a few of the 50 planned steps
    cfg = tiny_config(steps=50, privacy=PrivacyConfig(epsilon=0.99, delta=1e-5, noise_multiplier=1.0))
    t = Trainer(cfg, digits)
    allowed = t.budget_steps
    assert 0 < allowed < 50
    res = train(cfg, digits, tmp_path / "run", log_every=1000)
    assert res.steps == allowed
    assert res.epsilon <= 0.99
    # one more step would have exceeded the target
    q = cfg.batch_size / len(digits)
    assert epsilon_of("rdp", [(1.0, q, allowed + 1)], 1e-5) > 0.99


def test_calibrated_run_uses_budget(digits, tmp_path):
    cfg = tiny_config(steps=8, privacy=PrivacyConfig(epsilon=3.0, delta=1e-5))
    res = train(cfg, digits, tmp_path / "run", log_every=1000)
    assert res.steps == 8
    assert 0.97 * 3.0 <= res.epsilon <= 3.0


def test_resume_keeps_counting(digits, tmp_path):
    cfg = tiny_config(steps=4, privacy=PrivacyConfig(epsilon=None, noise_multiplier=1.0, delta=1e-5))
    first = train(cfg, digits, tmp_path / "a", log_every=1000)
    ck = load_checkpoint(first.checkpoint)
    cfg2 = tiny_config(steps=7, privacy=PrivacyConfig(epsilon=None, noise_multiplier=1.0, delta=1e-5))
    second = train(cfg2, digits, tmp_path / "b", resume=ck, log_every=1000)
    assert second.steps == 7
    q = cfg.batch_size / len(digits)
    assert second.epsilon == pytest.approx(epsilon_of("rdp", [(1.0, q, 7)], 1e-5))
    assert second.epsilon > first.epsilon


def test_prior_release_is_counted_and_fake_codes_follow_given_weights(digits, tmp_path):
    """A release before training (a federated client's noisy class counts) opens the accountant's
    history: σ is calibrated so the total stays within ε, the checkpoint's guarantee holds with it;
    generated images for D take their codes from ``fake_code_probs``, also after a resume."""
    def recording(trainer):
        codes, real_step = [], trainer.dstep.step
        trainer.dstep.step = lambda x, y, fake_x, fake: codes.append(fake.cat) or real_step(x, y, fake_x, fake)
        return codes

    cfg = tiny_config(steps=5, privacy=PrivacyConfig(epsilon=3.0, delta=1e-5))
    weights = [0.0] * 10
    weights[2], weights[7] = 30.0, 10.0
    t = Trainer(cfg, digits, prior_history=[(1.5, 1.0, 1)], fake_code_probs=weights)
    codes = recording(t)
    for _ in range(5):
        t.step(generator=False)
    drawn = torch.cat(codes)
    assert set(drawn.tolist()) == {2, 7} and 0.6 < (drawn == 2).float().mean() < 0.9  # 3:1
    assert len(drawn) < 0.3 * 5 * cfg.batch_size  # kept from uniform batches of B: about B·(1 + 1/3)/10
    assert 0.97 * 3.0 <= t.epsilon() <= 3.0  # the release and the 5 steps together
    assert t.epsilon() > epsilon_of("rdp", [(t.sigma, t.sample_rate, 5)], 1e-5)
    ck = load_checkpoint(t.save(tmp_path / "c.safetensors"))
    assert ck.epsilon == pytest.approx(t.epsilon())  # privacy_guarantee: 5 steps covered, 1 release
    t2 = Trainer(tiny_config(steps=6, privacy=PrivacyConfig(epsilon=4.0, delta=1e-5)), digits, resume=ck)
    codes = recording(t2)
    t2.step(generator=False)
    assert set(torch.cat(codes).tolist()) == {2, 7}
    assert t2.prior_releases == 1 and t2.accountant.history[0] == (1.5, 1.0, 1)


def test_non_private_baseline(digits, tmp_path):
    cfg = tiny_config(steps=3, privacy=PrivacyConfig(epsilon=math.inf))
    res = train(cfg, digits, tmp_path / "run", log_every=1)
    assert math.isinf(res.epsilon)
    meta = load_checkpoint(res.checkpoint).meta
    assert meta["privacy"]["private"] is False and meta["privacy"]["history"] == []
    assert json.loads((tmp_path / "run/config.json").read_text())["privacy"]["epsilon"] == "inf"


def test_unsupervised_and_d_steps_per_g(digits, tmp_path):
    cfg = tiny_config(steps=6, code_mode="unsupervised", d_steps_per_g=3)
    res = train(cfg, digits, tmp_path / "run", log_every=1)
    run = read_run(tmp_path / "run")
    assert res.steps == 6 and run.metrics[-1]["g_steps"] == 2
    # every discriminator step, on its own Poisson batch, is counted by the accountant
    assert load_checkpoint(res.checkpoint).meta["privacy"]["history"][0][2] == 6
    assert load_checkpoint(res.checkpoint).code_to_label is None


def test_should_stop_keeps_checkpoint(digits, tmp_path):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    res = train(tiny_config(steps=50), digits, tmp_path / "run", should_stop=stop, log_every=1000)
    assert res.state == "stopped" and res.steps == 3
    assert read_run(tmp_path / "run").state == "stopped"
    assert load_checkpoint(res.checkpoint).meta["privacy"]["steps"] == 3


def test_resuming_non_private_stays_non_private(digits, tmp_path):
    cfg = tiny_config(steps=2, privacy=PrivacyConfig(epsilon=math.inf))
    first = train(cfg, digits, tmp_path / "a", log_every=1000)
    ck = load_checkpoint(first.checkpoint)
    second = train(tiny_config(steps=4, privacy=PrivacyConfig(epsilon=math.inf)), digits, tmp_path / "b",
                   resume=ck, log_every=1000)
    meta = load_checkpoint(second.checkpoint).meta["privacy"]
    assert meta["private"] is False and meta["noise_multiplier"] == 0.0 and second.steps == 4


def test_keep_freed_memory_takes_effect_under_glibc():
    """The trainer's allocator setting (mallopt) is accepted where the C library is glibc."""
    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")
