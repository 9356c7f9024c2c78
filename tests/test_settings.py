"""Every training setting is declared once, in the config dataclasses; the ways to ask for a run
must each carry all of them. The set of settings is read from the dataclasses, so a new field fails
here until the CLI and the app's launcher carry it.

The federated config holds a TrainConfig; its flat view (Flower's run config in ``pyproject.toml``,
config.json's ``federated``, the ``federated`` command) is checked the same way below.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

import tomllib
from pathlib import Path

from dpinfogan import jobs
from dpinfogan.cli import build_parser, config_from_args
from dpinfogan.cli.federated import OPTION_DEST as FED_OPTION_DEST, fed_from_args
from dpinfogan.config import TrainConfig
from dpinfogan.federated.config import SET_BY_THE_FEDERATION, FedConfig
from dpinfogan.worker import read_config, read_fed_config

ROOT = Path(__file__).resolve().parent.parent

# Settings the command line does not offer, each with its reason. Keep this short.
NOT_ON_THE_COMMAND_LINE = {
    "model.image_size": "fixed by the architecture: only 28×28 images (ModelConfig.validate refuses others)",
    "model.channels": "fixed by the architecture: grayscale only",
    "latent.n_categories": "one code value per class: every dataset here has 10 classes",
}
OPTION_DEST = {"privacy.noise_multiplier": "sigma"}  # option names that differ from the field's


def training_settings(cls: type | None = None, prefix: str = "") -> dict[str, Any]:
    """Every training setting as {dotted name: default}, nested configs flattened
    (``privacy.clip_fake``); ``cls`` defaults to TrainConfig. The federated config's check can reuse it."""
    out: dict[str, Any] = {}
    cls = cls or TrainConfig
    inst = cls()
    for f in dataclasses.fields(cls):
        value = getattr(inst, f.name)
        if dataclasses.is_dataclass(value):
            out.update(training_settings(type(value), f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = value
    return out


def get(cfg: TrainConfig, name: str) -> Any:
    for part in name.split("."):
        cfg = getattr(cfg, part)
    return cfg


def subcommand(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def train_parser() -> argparse.ArgumentParser:
    return subcommand("train")


def options_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings}


def argv_for(action: argparse.Action, value: Any) -> list[str]:
    """The command line that sets ``action``'s option to ``value``."""
    if isinstance(action, argparse.BooleanOptionalAction):
        return [action.option_strings[0] if value else action.option_strings[1]]
    return [action.option_strings[0], "inf" if value == math.inf else str(value)]


def other_value(name: str, default: Any, action: argparse.Action | None) -> Any:
    """A valid value different from the default (from the option's choices when it has some)."""
    if action is not None and action.choices:
        return next(c for c in action.choices if c != default)
    if isinstance(default, bool):
        return not default
    if name == "warm_start":
        return "public.safetensors"
    if default is None:  # δ, σ: unset by default
        return {"privacy.delta": 1e-6, "privacy.noise_multiplier": 1.3}[name]
    if isinstance(default, int):
        return default + 1
    if isinstance(default, float):
        return 0.5 * default if default else 0.9
    raise AssertionError(f"no test value for {name} = {default!r}: add one here")


def non_default_config(options: dict[str, argparse.Action]) -> TrainConfig:
    """A config in which every setting differs from its default."""
    cfg = TrainConfig()
    for name, default in training_settings().items():
        *path, leaf = name.split(".")
        target = cfg
        for part in path:
            target = getattr(target, part)
        setattr(target, leaf, other_value(name, default, options.get(OPTION_DEST.get(name, leaf))))
    return cfg


def test_settings_are_read_from_the_dataclasses():
    s = training_settings()
    assert s["privacy.clip_fake"] == "sample" and s["model.g_width"] == 64 and s["latent.noise_dim"] == 62
    assert "privacy" not in s and len(s) > 30


def test_the_train_command_carries_every_setting():
    parser = train_parser()
    options = {a.dest: a for a in parser._actions if a.option_strings}
    missing = [n for n in training_settings() if n not in NOT_ON_THE_COMMAND_LINE
               and OPTION_DEST.get(n, n.split(".")[-1]) not in options]
    assert not missing, f"settings with no `train` option: {missing} (add one, or a reason to NOT_ON_THE_COMMAND_LINE)"
    assert not set(NOT_ON_THE_COMMAND_LINE) - set(training_settings()), "a reason for a setting that is gone"
    # ... and each option reaches its field: a config with every setting changed survives the round trip
    want = non_default_config(options)
    argv = []
    for name in training_settings():
        if name not in NOT_ON_THE_COMMAND_LINE:
            argv += argv_for(options[OPTION_DEST.get(name, name.split(".")[-1])], get(want, name))
    back = config_from_args(parser.parse_args(argv), n_samples=4000)
    for name in training_settings():
        if name not in NOT_ON_THE_COMMAND_LINE:
            assert get(back, name) == get(want, name), f"--{name} does not reach TrainConfig.{name}"


def test_the_apps_launcher_carries_every_setting(tmp_path):
    """What the app launches is what the child reads back (``config.json``, no command line)."""
    parser = train_parser()
    want = non_default_config({a.dest: a for a in parser._actions if a.option_strings})
    run = jobs.queue("train", want.to_dict(), target_steps=want.steps, root=tmp_path)
    back = read_config(run)
    for name in training_settings():
        assert get(back, name) == get(want, name), f"the launcher loses TrainConfig.{name}"


# -- the federation ------------------------------------------------------------------------------
def leaf(name: str) -> str:
    return name.split(".")[-1]


def carried_by_the_federation() -> list[str]:
    return [n for n in training_settings() if leaf(n) not in SET_BY_THE_FEDERATION]


def non_default_federation() -> FedConfig:
    """A federation in which every setting differs from its default, its training settings included."""
    options = options_of(subcommand("federated"))
    train = non_default_config(options_of(train_parser()))
    fed = FedConfig()
    for name in carried_by_the_federation():
        fed.set(leaf(name), get(train, name))
    for name in set(FedConfig.setting_names()) - {leaf(n) for n in training_settings()} - {"run_dir"}:
        fed.set(name, other_value(name, fed.get(name), options.get(FED_OPTION_DEST.get(name, name))))
    return fed


def test_the_federated_config_carries_every_setting():
    """FedConfig holds a TrainConfig; its flat view names every training setting but the few the
    federation sets itself, each with its reason."""
    leaves = [leaf(n) for n in training_settings()]
    assert len(leaves) == len(set(leaves)), "two training settings share a field name: Flower's flat keys need one"
    assert not set(SET_BY_THE_FEDERATION) - set(leaves), "a reason for a setting that is gone"
    flat = FedConfig.setting_names()
    missing = [n for n in carried_by_the_federation() if leaf(n) not in flat]
    assert not missing, f"training settings FedConfig's run config lacks: {missing}"
    want = non_default_federation()
    assert want.clients != FedConfig().clients and want.train.privacy.clip_fake != "sample"
    for back in (FedConfig.from_run_config(want.to_run_config()), FedConfig.from_dict(want.to_dict())):
        assert back == want
        client = back.train_config(seed=3)
        for name in carried_by_the_federation():
            if leaf(name) != "seed":
                assert get(client, name) == get(want.train, name), f"a client loses TrainConfig.{name}"
        assert client.steps == want.rounds * want.local_steps and client.seed == 3


def test_pyproject_run_config_names_every_setting():
    """`flwr run` reads [tool.flwr.app.config]: every setting of the federation, training included."""
    rc = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    missing = [n for n in carried_by_the_federation() if leaf(n).replace("_", "-") not in rc]
    assert not missing, f"pyproject.toml's run config lacks: {missing}"
    assert set(rc) == set(FedConfig().to_run_config())


def test_the_federated_command_carries_every_setting():
    parser = subcommand("federated")
    options = options_of(parser)
    want = non_default_federation()
    argv = []
    for name in FedConfig.setting_names():
        if name != "run_dir":
            assert FED_OPTION_DEST.get(name, name) in options, f"`federated` has no option for {name}"
            argv += argv_for(options[FED_OPTION_DEST.get(name, name)], want.get(name))
    back = fed_from_args(parser.parse_args(argv))
    for name in FedConfig.setting_names():
        assert back.get(name) == want.get(name), f"--{name} does not reach FedConfig"


def test_the_apps_federated_launcher_carries_every_setting(tmp_path):
    want = non_default_federation()
    run = jobs.queue("federated", want.folder_config(), target_steps=want.total_steps, root=tmp_path)
    assert read_fed_config(run) == want
