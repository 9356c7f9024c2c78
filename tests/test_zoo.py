"""The shipped zoo: loads offline, matches its model card, and its privacy claims recompute."""
import math

import pytest

from dpinfogan.accounting import epsilon_of
from dpinfogan.checkpoint import load_checkpoint
from dpinfogan.cli import build_parser, config_from_args
from dpinfogan.config import PrivacyConfig
from dpinfogan.sampling import sample
from dpinfogan.secret import SOURCE as SECRET_SOURCE
from dpinfogan.train import train
from dpinfogan.zoo import ZOO, joint_release, model_card, zoo_root
from tests.conftest import tiny_config

SHIPPED = [m for m in ZOO if (zoo_root() / f"{m.name}.safetensors").is_file()]


def test_zoo_is_shipped():
    names = {m.name for m in SHIPPED}
    assert {"mnist-labels-eps10", "mnist-labels-epsinf"} <= names, f"shipped: {sorted(names)}"


@pytest.mark.parametrize("m", SHIPPED, ids=lambda m: m.name)
def test_zoo_model_loads_offline_and_is_honest(m):
    ck = load_checkpoint(zoo_root() / f"{m.name}.safetensors")
    pr = ck.meta["privacy"]
    assert ck.meta["dataset"] == "mnist" and pr["n_samples"] == 60000  # full MNIST, not the fallback
    assert ck.meta["code_mode"] == m.code_mode
    if math.isinf(m.epsilon):
        assert not pr["private"]
    else:
        assert pr["delta"] == 1e-6  # ≤ 1/(10·N) for N = 60,000
        assert pr["randomness"] == SECRET_SOURCE and "void_reason" not in pr  # noise that cannot be replayed
        eps = epsilon_of(pr["accountant"], pr["history"], pr["delta"])
        assert eps == pytest.approx(ck.epsilon) and eps <= m.epsilon
    s = sample(ck.generator, ck.config.latent, 16, seed=0)
    assert s.images.shape == (16, 28, 28) and s.images.std() > 10  # not a blank image
    # the config the model was trained with is exactly the one the card's command builds
    a = build_parser().parse_args(m.train_args())
    want, got = config_from_args(a, pr["n_samples"]).to_dict(), ck.config.to_dict()
    if not pr["private"]:  # δ means nothing without privacy (older files hold the old default)
        want["privacy"].pop("delta"), got["privacy"].pop("delta")
    assert got == want


def test_model_card_matches_checkpoints():
    card = (zoo_root() / "README.md").read_text()
    assert card == model_card(), "checkpoints/README.md is stale: run `python -m dpinfogan zoo-card`"
    for m in SHIPPED:
        assert f"`{m.name}`" in card


def test_zoo_size_budget():
    total = sum(p.stat().st_size for p in zoo_root().rglob("*.safetensors"))
    assert total <= 30e6, f"zoo is {total / 1e6:.1f} MB"


def test_joint_release_composes_private_models_only(digits, tmp_path):
    paths = []
    for name, eps in (("a", 2.0), ("b", 3.0), ("c", math.inf)):
        res = train(tiny_config(steps=3, privacy=PrivacyConfig(epsilon=eps, delta=1e-5)), digits, tmp_path / name,
                    log_every=1000)
        paths.append(res.checkpoint)
    joint = joint_release(paths)
    assert joint is not None and len(joint.names) == 2  # the non-private one is left out
    hists = [load_checkpoint(p).meta["privacy"]["history"] for p in paths[:2]]
    assert joint.epsilon == pytest.approx(epsilon_of("rdp", hists[0] + hists[1], 1e-5))
    assert max(joint.single_epsilons) < joint.epsilon <= 3.0 + 2.0
    assert "together costs ε" in joint.sentence()
    assert joint_release(paths[:1]) is None
