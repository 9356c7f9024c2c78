"""Every training setting is declared once, in the config dataclasses; the ways to ask for a run
must each carry all of them. The set of settings is read from the dataclasses, so a new field fails
here until the CLI and the app's launcher carry it.

To check another launcher (the federated config), give it a test of the same shape over
:func:`training_settings`.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from dpinfogan import jobs
from dpinfogan.cli import build_parser, config_from_args
from dpinfogan.config import TrainConfig
from dpinfogan.worker import read_config

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


def train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


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
        if name in NOT_ON_THE_COMMAND_LINE:
            continue
        action, value = options[OPTION_DEST.get(name, name.split(".")[-1])], get(want, name)
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(action.option_strings[0] if value else action.option_strings[1])
        else:
            argv += [action.option_strings[0], "inf" if value == math.inf else str(value)]
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
