"""Recipe pieces that cost no privacy: adaptive D steps, the EMA generator, the public warm start, named recipes."""
import copy
import math

import pytest
import torch

from dpinfogan.checkpoint import export_checkpoint, load_checkpoint
from dpinfogan.cli import build_parser, config_from_args
from dpinfogan.config import PrivacyConfig
from dpinfogan.fontdigits import font_digits
from dpinfogan.recipe import (RECIPES, WARM_START_FILE, AdaptiveDSteps, recipe_config, shipped_warm_start,
                              warm_start_problem)
from dpinfogan.sampling import sample
from dpinfogan.strokedigits import stroke_digits
from dpinfogan.train import Trainer, train
from tests.conftest import tiny_config


def test_adaptive_d_steps_climbs_the_ladder_on_a_scripted_trace():
    a = AdaptiveDSteps(1)
    assert [a.update(0.9) for _ in range(1000)][-1] == 1  # D wins: no climb
    a = AdaptiveDSteps(1)
    trace = [a.update(0.5) for _ in range(1000)]  # G wins steadily
    # EMA from 1 toward 0.5 reaches 0.6 when 0.5·0.99^k ≤ 0.1: k = 161 updates per rung
    k = math.ceil(math.log(0.2) / math.log(0.99))
    assert trace[k - 2] == 1 and trace[k - 1] == 2 and trace[2 * k - 1] == 5 and trace[3 * k - 1] == 10
    assert AdaptiveDSteps(20, ema=0.605).update(0.0) == 50
    assert AdaptiveDSteps(50, ema=0.0).update(0.0) == 50  # the top rung stays
    with pytest.raises(ValueError):
        AdaptiveDSteps(3)


def test_trainer_raises_d_steps_when_d_loses(digits, monkeypatch):
    t = Trainer(tiny_config(steps=40, d_steps_per_g=1, adaptive_d_steps=True), digits)
    t.adaptive.ema = 0.605  # one more bad G step tips it (0.99 · 0.605 < 0.6)
    monkeypatch.setattr(t, "_g_step", lambda: (0.0, 0.0))
    stats = t.step()
    assert stats["d_steps_per_g"] == 2 and t.d_steps_per_g == 2
    assert "d_acc_fake" in stats


def _weights(m: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in m.parameters()])


def test_ema_generator_is_what_sampling_and_export_use(digits, tmp_path):
    sigma = PrivacyConfig(epsilon=None, noise_multiplier=1.0, delta=1e-5)
    res = train(tiny_config(steps=6, ema_decay=0.9, privacy=sigma), digits, tmp_path / "run", log_every=1000)
    ck = load_checkpoint(res.checkpoint)
    assert ck.raw_generator_state is not None  # kept for resume, with the optimizers
    raw_g = copy.deepcopy(ck.generator)
    raw_g.load_state_dict(ck.raw_generator_state)
    raw = _weights(raw_g)
    assert not torch.allclose(_weights(ck.generator), raw)  # the file's G is the average, not the raw one
    out = export_checkpoint(res.checkpoint, tmp_path / "ship.safetensors", half=False)
    shipped = load_checkpoint(out)
    assert shipped.raw_generator_state is None and torch.equal(_weights(shipped.generator), _weights(ck.generator))
    a = sample(shipped.generator, shipped.config.latent, 8, seed=0).images
    assert a.shape == (8, 28, 28)
    # resuming restores both: the raw G trains on, the average goes on from the file's
    t = Trainer(tiny_config(steps=8, ema_decay=0.9, privacy=sigma), digits, resume=ck)
    assert torch.allclose(_weights(t.ema.model), _weights(ck.generator)) and torch.allclose(_weights(t.g), raw)


def _warm_start(tmp_path, dataset="stroke-digits"):
    data = {"font-digits": font_digits, "stroke-digits": stroke_digits}.get(dataset, lambda n: None)(300)
    cfg = tiny_config(dataset=dataset, steps=4, privacy=PrivacyConfig(epsilon=math.inf))
    return train(cfg, data, tmp_path / f"warm-{dataset}", log_every=1000).checkpoint


@pytest.mark.parametrize("public", ["stroke-digits", "font-digits"])
def test_warm_start_loads_says_what_it_saw_and_costs_nothing(digits, tmp_path, public):
    warm = _warm_start(tmp_path, public)
    t = Trainer(tiny_config(steps=3, warm_start=str(warm)), digits)
    assert torch.equal(_weights(t.d), _weights(load_checkpoint(warm).discriminator))
    res = train(tiny_config(steps=3, warm_start=str(warm)), digits, tmp_path / "run", log_every=1000)
    meta = load_checkpoint(res.checkpoint).meta
    ws = meta["training"]["warm_start"]
    assert ws["dataset"] == public and "public" in ws["trained_on"] and len(ws["sha256"]) == 64
    assert public in ws["why_free"]
    # the accountant holds this run's 3 private steps only; the warm start's 4 are public
    assert sum(n for _, _, n in meta["privacy"]["history"]) == 3 == meta["training"]["steps"]
    assert math.isfinite(meta["privacy"]["epsilon"])


def test_warm_start_from_private_data_is_refused(digits, tmp_path):
    leaky = train(tiny_config(steps=2, privacy=PrivacyConfig(epsilon=math.inf)), digits, tmp_path / "leaky",
                  log_every=1000).checkpoint
    with pytest.raises(ValueError, match="public data"):
        Trainer(tiny_config(steps=3, warm_start=str(leaky)), digits)
    with pytest.raises(ValueError, match="networks differ"):
        Trainer(tiny_config(steps=3, warm_start=str(_warm_start(tmp_path)), model=None or
                            tiny_config().model.__class__(g_width=8, d_width=8, d_hidden=16)), digits)


def _cfg(*argv):
    return config_from_args(build_parser().parse_args(["train", *argv]), 60000)


def test_named_recipes_and_overrides():
    assert _cfg("--epsilon", "1").batch_size == RECIPES["dp-zoo-v6"]["batch_size"]  # v6 won at ε ≤ 2
    z = RECIPES["dp-zoo-v7"]  # and v7 at ε = 10
    c = _cfg("--epsilon", "10")  # no option: the best private recipe for digits, free pieces included
    assert (c.batch_size, c.steps, c.d_steps_per_g, c.lr_d, c.lr_g, c.model.d_width, c.adaptive_d_steps,
            c.ema_decay) == (z["batch_size"], z["steps"], z["d_steps_per_g"], z["lr_d"], z["lr_g"], z["d_width"],
                             True, 0.999)
    assert c.warm_start == str(shipped_warm_start()) and c.warm_start.endswith(WARM_START_FILE)
    off = _cfg("--epsilon", "10", "--no-adaptive-d-steps", "--ema-decay", "0", "--warm-start", "")
    assert (off.adaptive_d_steps, off.ema_decay, off.warm_start, off.steps) == (False, 0.0, "", z["steps"])
    assert _cfg("--epsilon", "2.5").batch_size == z["batch_size"]  # above ε = 2: v7
    small = _cfg("--epsilon", "10", "--dataset", "offline-digits")  # v6's / v7's batch: a quarter / an eighth of 4,000 digits
    assert (small.batch_size, small.steps) == (RECIPES["dp-zoo-v5"]["batch_size"], RECIPES["dp-zoo-v5"]["steps"])
    f = _cfg("--epsilon", "10", "--dataset", "fashion-mnist")  # no digit warm start for clothes
    v3 = RECIPES["dp-zoo-v3"]
    assert (f.steps, f.lr_g, f.warm_start, f.ema_decay) == (v3["steps"], v3["lr_g"], "", 0.0)
    p = _cfg("--epsilon", "inf")
    assert p.d_steps_per_g == 1 and p.lr_d == 2e-4 and p.model.d_width == 32  # InfoGAN's own setting
    o = _cfg("--recipe", "paper-infogan", "--epsilon", "5", "--lr-d", "3e-4", "--steps", "7")
    assert o.lr_d == 3e-4 and o.steps == 7 and o.d_steps_per_g == 1  # a given option wins over its recipe
    assert _cfg("--epsilon", "10", "--ema-decay", "0.999", "--adaptive-d-steps").adaptive_d_steps is True


def test_recipe_pieces_that_the_options_rule_out_are_dropped_with_a_note():
    notes = []
    a = build_parser().parse_args(["train", "--epsilon", "10", "--g-width", "32", "--d-steps-per-g", "3"])
    c = config_from_args(a, 60000, notes)  # the warm start's G is 64 wide; 3 is not a rung of the ladder
    assert (c.warm_start, c.adaptive_d_steps, c.model.g_width, c.d_steps_per_g) == ("", False, 32, 3)
    assert len(notes) == 2 and "random weights" in notes[0] and "stay fixed" in notes[1]
    with pytest.raises(ValueError, match="rung"):  # typed by the user: refused, not dropped
        _cfg("--epsilon", "10", "--d-steps-per-g", "3", "--adaptive-d-steps").validate(60000)


def test_live_recipe_is_the_warm_started_quick_run():
    c = recipe_config("live", dataset="offline-digits", steps=50)
    assert (c.steps, c.batch_size, c.d_steps_per_g, c.ema_decay, c.model.g_width, c.model.d_width) == (50, 64, 5, 0.99, 64, 16)
    assert c.warm_start == str(shipped_warm_start()) and warm_start_problem(c) is None


def test_train_page_defaults_are_the_live_recipe():
    from dpinfogan.inputs import TRAIN_FIELDS, train_config

    values = {k: f.default for k, f in TRAIN_FIELDS.items()}
    page = train_config(values, dataset="mnist", code_mode="labels", epsilon=10.0, delta=1e-6,
                        warm_start=str(shipped_warm_start()))
    live = recipe_config("live", dataset="mnist")
    for name in ("batch_size", "steps", "d_steps_per_g", "lr_d", "lr_g", "ema_decay", "warm_start"):
        assert getattr(page, name) == getattr(live, name), name
    assert (page.model.g_width, page.model.d_width) == (live.model.g_width, live.model.d_width)
