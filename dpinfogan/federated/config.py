"""A federation's settings: the federation's own fields and, nested, each client's
:class:`~dpinfogan.config.TrainConfig`, so every training setting is declared once. Flower's run
config (``[tool.flwr.app.config]`` in pyproject.toml) is the same settings, flat. No flwr here.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Mapping, Optional

from ..config import PrivacyConfig, TrainConfig
from ..partition import validate_split
from ..recipe import shipped_warm_start, warm_start_problem

GENERATOR_MODES = ("server", "client")
D_AGGREGATIONS = ("average", "max", "class")
D_PERSONAL = ("all", "head")
STRATEGIES = ("fedavg", "fedavgm", "fedadam")


def recipe_settings() -> dict[str, Any]:
    """The single-machine private recipe (the zoo's D width and rates, adaptive n_D, EMA generator,
    public warm start; dpinfogan/recipe.py) as settings for :meth:`FedConfig.of`, for the page's
    "recipe" switch."""
    warm = shipped_warm_start()
    return {"d_width": 16, "g_width": 64, "d_hidden": 64, "noise_dim": 62, "n_continuous": 2, "lr_d": 1e-3,
            "lr_g": 5e-4, "d_steps_per_g": 5, "adaptive_d_steps": True, "ema_decay": 0.999,
            "warm_start": str(warm) if warm else ""}


# Training settings a federation sets itself rather than taking them from its run config, each with
# its reason (keyed by field name; tests/test_settings.py checks every other one is carried).
SET_BY_THE_FEDERATION = {
    "steps": "R·E, the planned steps of the whole federation: each client's σ is calibrated once for them",
    "sample_every": "the server draws the global generator's grid after every round",
    "checkpoint_every": "the server saves the global checkpoint after every round",
    "noise_multiplier": "each client's σ is calibrated from its own finite ε (a fixed σ is not offered)",
    "image_size": "fixed by the architecture: only 28×28 images",
    "channels": "fixed by the architecture: grayscale only",
    "n_categories": "one code value per class: every dataset here has 10 classes",
}


def federation_training() -> TrainConfig:
    """A client's training defaults where they differ from a single run's: the offline digits (no
    download on any node), a batch of 64 (each client holds a part), ε = 10 with δ = 1e-5 written out
    (Flower's run config has no null) and one torch thread per client."""
    return TrainConfig(dataset="offline-digits", batch_size=64, threads=1,
                       privacy=PrivacyConfig(epsilon=10.0, delta=1e-5))


def _training_paths(cls: type = TrainConfig, path: tuple[str, ...] = (),
                    out: Optional[dict[str, tuple[str, ...]]] = None) -> dict[str, tuple[str, ...]]:
    """{field name: its path in TrainConfig} for every training setting a federation carries. Flower's
    run config is flat, so it names each setting by its field name: two nested configs must not
    share one."""
    out = {} if out is None else out
    inst = cls()
    for f in fields(cls):
        if is_dataclass(getattr(inst, f.name)):
            _training_paths(type(getattr(inst, f.name)), path + (f.name,), out)
        elif f.name in out:
            raise TypeError(f"TrainConfig has two settings named {f.name!r}: the federation's flat run config "
                            "needs one name per setting")
        elif f.name not in SET_BY_THE_FEDERATION:
            out[f.name] = path + (f.name,)
    return out


TRAINING_PATHS = _training_paths()


@dataclass
class FedConfig:
    """One federation's settings: the federation's own, and in ``train`` each client's training
    settings (the single-machine :class:`TrainConfig`, so every training setting exists once).

    Flower's run config is flat: :meth:`to_run_config` lists the federation's fields and every
    training setting by its field name, in kebab-case (``g-width``, ``max-grad-norm``).
    """

    clients: int = 2  # K, the number of clients (= Flower SuperNodes)
    split: str = "class"  # "iid", "class" (client k holds its own digits) or "dirichlet"
    alpha: float = 0.5  # Dirichlet concentration α (split = "dirichlet"); small α = skewed clients
    rounds: int = 3  # R, federated rounds
    local_steps: int = 20  # E, private discriminator steps per client per round
    central_sigma: float = 0.0  # server-side DP: noise multiplier on the averaged update (0 = off)
    central_clip: float = 1.0  # server-side DP: L2 clipping norm of each client's update
    # Where G trains: "server" (against the averaged D, DP-FedAvg-GAN; clients train D only) or
    # "client" (every client trains G and D, the server averages both). See the module docstring.
    generator: str = "server"
    # What the server's G trains against (generator = "server"): "average" (the averaged D) or "max"
    # (every client keeps its own D between rounds; each generated image is judged by the client D
    # that finds it most real, so a 7 is judged by the client that holds 7s: MD-GAN-like, no class
    # counts needed; the averaged D is still what the checkpoint stores), or "class" (labels mode:
    # each client releases its label histogram once with Gaussian noise, counted by its accountant,
    # trains its own D on generated images of its own classes only, and the server judges an image
    # of code c by the clients' discriminators mixed in proportion to their noisy counts of c).
    d_aggregation: str = "average"
    # "class" aggregation: σ_h, the Gaussian noise (in images) on each client's released class
    # counts (sensitivity 1); 20 costs ε ≈ 0.004 of a client's 10 (600 steps, q ≈ 0.02, δ = 1e-6) and
    # moves a count of 6,000 by 0.3%.
    histogram_sigma: float = 20.0
    # "max" or "class" aggregation: what a client keeps of its own D between rounds. "all" (its
    # whole D) or "head" (only its real/fake output layer: each round it takes the averaged D's trunk
    # and Q heads, so the features are learnt from every client's data, FedRep-style).
    d_personal: str = "all"
    # The server's aggregation of the weights it averages: Flower's "fedavg", "fedavgm" (server
    # momentum) or "fedadam" (server Adam on the averaged update).
    strategy: str = "fedavg"
    server_lr: float = 1.0  # fedavgm's server learning rate; fedadam's η (use ~1e-3 there)
    server_momentum: float = 0.9  # fedavgm's momentum β
    # Each client's training: every client loads ``train.dataset`` and keeps only its own part;
    # ε and δ are each client's own (sample-level, over all R·E steps; δ ≤ 1/(10·N_k)); the seed
    # seeds the global model's initial weights, the split and the latents (never DP noise). The
    # recipe's options (dpinfogan/recipe.py) are free in privacy; with generator = "server" they act
    # on the server: adaptive n_D sets how many G steps follow each round's E D steps, the EMA
    # averages the server's G, and a warm start (public digits) is the global model's start.
    train: TrainConfig = field(default_factory=federation_training)
    run_dir: str = ""  # server: the run folder ("" = a new runs/<id>)

    # -- the flat view: Flower's run config, config.json's "federated", the command line --------
    @staticmethod
    def setting_names() -> list[str]:
        """Every setting's flat name: the federation's fields, then the training settings."""
        own = [f.name for f in fields(FedConfig) if f.name != "train"]
        return own[:-1] + list(TRAINING_PATHS) + own[-1:]  # run_dir last

    def get(self, name: str) -> Any:
        if name in TRAINING_PATHS:
            obj: Any = self.train
            for part in TRAINING_PATHS[name]:
                obj = getattr(obj, part)
            return obj
        if name == "train" or name not in {f.name for f in fields(self)}:
            raise ValueError(f"unknown federation setting {name!r}")
        return getattr(self, name)

    def set(self, name: str, value: Any) -> None:
        """Set one setting by its flat name; a string is converted to the default's type (a run
        config given on the command line is text)."""
        default = self.get(name)
        if isinstance(default, bool) and isinstance(value, str):
            value = value.strip().lower() in ("true", "1", "yes")
        elif default is not None and not isinstance(value, type(default)):
            value = type(default)(value)
        if name in TRAINING_PATHS:
            *path, leaf = TRAINING_PATHS[name]
            obj: Any = self.train
            for part in path:
                obj = getattr(obj, part)
            setattr(obj, leaf, value)
        else:
            setattr(self, name, value)

    @classmethod
    def of(cls, **settings: Any) -> "FedConfig":
        """From flat settings: ``FedConfig.of(clients=5, batch_size=32, epsilon=2.0)``."""
        out = cls()
        for name, value in settings.items():
            out.set(name, value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Flat, by field name (config.json's ``federated``)."""
        return {name: self.get(name) for name in self.setting_names()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FedConfig":
        """From :meth:`to_dict`; settings missing from ``d`` keep their defaults."""
        return cls.from_run_config({k.replace("_", "-"): v for k, v in d.items()})

    def to_run_config(self) -> dict[str, Any]:
        """Flower run config (kebab-case keys, scalar values)."""
        return {k.replace("_", "-"): v for k, v in self.to_dict().items()}

    @classmethod
    def from_run_config(cls, rc: Mapping[str, Any]) -> "FedConfig":
        """From a Flower run config or a message's ConfigRecord; unknown keys are ignored."""
        out = cls()
        for name in cls.setting_names():
            key = name.replace("_", "-")
            if key in rc:
                out.set(name, rc[key])
        return out

    # -- checks and the client's training config -------------------------------------------------
    def validate(self) -> None:
        validate_split(self.clients, max(self.clients, 1), self.split, self.alpha)  # K ≥ 1, the split, α > 0
        for name in ("rounds", "local_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got {getattr(self, name)}")
        eps = self.train.privacy.epsilon
        if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
            raise ValueError(f"each client's ε must be a positive finite number, got {eps}")
        if self.central_sigma < 0 or self.central_clip <= 0:
            raise ValueError("central DP needs σ ≥ 0 and a clipping norm > 0")
        if self.generator not in GENERATOR_MODES:
            raise ValueError(f"generator must be one of {GENERATOR_MODES}, got {self.generator!r}")
        if self.d_aggregation not in D_AGGREGATIONS:
            raise ValueError(f"d aggregation must be one of {D_AGGREGATIONS}, got {self.d_aggregation!r}")
        if self.d_aggregation != "average" and (self.generator != "server" or self.central_sigma > 0):
            raise ValueError(f"d aggregation {self.d_aggregation!r} needs the server's generator (--generator server) "
                             "and no central DP (central DP covers the averaged update, not the clients' own "
                             "discriminators)")
        if self.d_personal not in D_PERSONAL:
            raise ValueError(f"d personal must be one of {D_PERSONAL}, got {self.d_personal!r}")
        if self.d_aggregation == "class" and self.train.code_mode != "labels":
            raise ValueError("d aggregation 'class' needs the labels code mode (code c = class c)")
        if not (self.histogram_sigma > 0 and math.isfinite(self.histogram_sigma)):
            raise ValueError(f"the label histogram's noise σ_h must be a positive number, got {self.histogram_sigma}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if not (self.server_lr > 0 and math.isfinite(self.server_lr)) or not 0 <= self.server_momentum < 1:
            raise ValueError("the server strategy needs a learning rate > 0 and a momentum in [0, 1)")
        cfg = self.train_config()
        cfg.validate()
        problem = warm_start_problem(cfg)
        if problem:
            raise ValueError(f"warm start {cfg.warm_start}: {problem}")

    @property
    def total_steps(self) -> int:
        """R·E: each client's planned private steps over the whole federation."""
        return self.rounds * self.local_steps

    def train_config(self, seed: Optional[int] = None) -> TrainConfig:
        """A client's :class:`TrainConfig` (a copy of ``train``): planned steps = R·E, so σ is
        calibrated for the whole run; ``seed`` replaces the seed (a client's round)."""
        cfg = copy.deepcopy(self.train)
        cfg.steps = self.total_steps
        cfg.sample_every = cfg.checkpoint_every = 10**9  # the server writes grids and checkpoints
        cfg.privacy.noise_multiplier = None
        if seed is not None:
            cfg.seed = seed
        return cfg

    def folder_config(self) -> dict[str, Any]:
        """The run folder's config.json: the clients' training config, the federation's settings
        (flat) and the derived numbers. No client's data statistics: the server holds no data."""
        return {**self.train_config().to_dict(), "federated": self.to_dict(),
                "derived": {"target_steps": self.total_steps, "rounds": self.rounds}}


__all__ = ["D_AGGREGATIONS", "D_PERSONAL", "GENERATOR_MODES", "STRATEGIES", "SET_BY_THE_FEDERATION", "TRAINING_PATHS", "FedConfig",
           "federation_training", "recipe_settings"]
