"""The federated task in plain PyTorch (no flwr): settings, weights in and out, one client round,
and the server's generator.

Two ways to train the generator (``FedConfig.generator``):

* ``"server"`` (default; DP-FedAvg-GAN, Augenstein et al. 2020): the clients train only the
  discriminator (+Q head) and send only its weights; the server averages them and then trains the
  generator itself against the averaged discriminator (:class:`ServerGenerator`). The generator
  needs no data, so the server still holds none. A client's discriminator calls every digit it does
  not hold fake; trained locally against it (below), a generator learns to draw only that client's
  digits, and averaging such generators blurs them. Against the average of all discriminators the
  one generator is pushed toward every client's digits at once.
* ``"client"`` (the paper's DPD-InfoGAN as first built): every client trains G and D locally and
  the server averages both.

A client round reuses :class:`dpinfogan.train.Trainer`, the one training loop: the client's trainer
is rebuilt from its saved state (weights, Adam states, step counts, σ and the accountant history),
the global weights are loaded into it, and it takes E private steps with ``trainer.step()``. So the
client's accountant keeps counting across rounds: its ε after round r is the ε of one accountant
over all r·E steps, and σ is calibrated once, for the planned R·E steps of the whole federation.
"""
from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..config import PrivacyConfig, TrainConfig
from ..data import ImageData, load_dataset
from ..models import build_models
from ..partition import SPLITS, client_data, partition_indices, validate_split
from ..recipe import AdaptiveDSteps, GeneratorEMA, check_warm_start_fits, shipped_warm_start, warm_start_problem

_OPACUS_PREFIX = "_module."  # Opacus' GradSampleModule wraps the model under this name


GENERATOR_MODES = ("server", "client")
STRATEGIES = ("fedavg", "fedavgm", "fedadam")


def recipe_settings() -> dict[str, Any]:
    """The single-machine private recipe (the zoo's D width and rates, adaptive n_D, EMA generator,
    public warm start; dpinfogan/recipe.py) as settings for :meth:`FedConfig.of`, for the page's
    "recipe" switch."""
    warm = shipped_warm_start()
    return {"d_width": 16, "g_width": 64, "d_hidden": 64, "noise_dim": 62, "n_continuous": 2, "lr_d": 1e-3,
            "lr_g": 5e-4, "d_steps_per_g": 5, "adaptive_d_steps": True, "ema_decay": 0.999,
            "warm_start": str(warm) if warm else ""}


class BudgetExhausted(RuntimeError):
    """A client refuses a round that would push its ε past its budget."""


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


def _training_paths(cls: type = TrainConfig, path: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """{field name: its path in TrainConfig} for every training setting a federation carries; the
    nested configs' field names are unique, so Flower's flat run config can use them as keys."""
    out: dict[str, tuple[str, ...]] = {}
    for f in fields(cls):
        if f.name in ("model", "latent", "privacy"):
            out.update(_training_paths(type(getattr(cls(), f.name)), path + (f.name,)))
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


def load_partitions(fed: FedConfig, data: Optional[ImageData] = None) -> tuple[ImageData, list[np.ndarray]]:
    """The dataset and every client's indices; checks each part can be trained on privately."""
    data = data if data is not None else load_dataset(fed.train.dataset)
    parts = partition_indices(data.labels, fed.clients, fed.split, alpha=fed.alpha, seed=fed.train.seed,
                              min_size=fed.train.batch_size)
    for k, p in enumerate(parts):
        try:
            fed.train_config().validate(len(p))
        except ValueError as e:
            raise ValueError(f"client {k} holds {len(p)} samples: {e}") from None
    return data, parts


_DATA_CACHE: dict[tuple, ImageData] = {}


def local_data(fed: FedConfig, client: int) -> ImageData:
    """Client ``client``'s part of the dataset (cached per process: Flower reuses its workers)."""
    t = fed.train
    key = (t.dataset, fed.clients, fed.split, fed.alpha, t.seed, t.batch_size, client)
    if key not in _DATA_CACHE:
        full = load_dataset(t.dataset)
        _DATA_CACHE[key] = client_data(full, client, fed.clients, fed.split, alpha=fed.alpha, seed=t.seed,
                                       min_size=t.batch_size)
    return _DATA_CACHE[key]


# -- weights -------------------------------------------------------------------------------------
def model_weights(g: torch.nn.Module, d: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Generator + discriminator (+Q) float tensors keyed ``g.<name>`` / ``d.<name>``.

    Integer buffers (BatchNorm's batch counter) stay local: averaging a counter means nothing.
    """
    out = {}
    for prefix, module in (("g.", g), ("d.", d)):
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                out[prefix + k.replace(_OPACUS_PREFIX, "")] = v.detach().cpu().clone()
    return out


def only(weights: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of one network: ``prefix`` "g." (generator) or "d." (discriminator + Q)."""
    return {k: v for k, v in weights.items() if k.startswith(prefix)}


def load_model_weights(g: Optional[torch.nn.Module], d: Optional[torch.nn.Module], weights: Mapping[str, Any]) -> None:
    """Copy ``weights`` (from :func:`model_weights`, tensors or numpy arrays) into the models; a
    model given as None is left alone."""
    for prefix, module in (("g.", g), ("d.", d)):
        if module is None:
            continue
        sd = module.state_dict()
        for k, v in sd.items():
            key = prefix + k.replace(_OPACUS_PREFIX, "")
            if key in weights:
                v.copy_(torch.as_tensor(np.asarray(weights[key])).to(v.dtype).view_as(v))
            elif v.is_floating_point():
                raise ValueError(f"the global model has no weight {key!r}: client and server models differ")


def initial_weights(fed: FedConfig) -> dict[str, torch.Tensor]:
    """The global model's starting weights (every client starts from these, not its own seed)."""
    cfg = fed.train_config()
    torch.manual_seed(cfg.seed)
    g, d = build_models(cfg.model, cfg.latent)
    if cfg.warm_start:  # public weights: no privacy spent (dpinfogan/recipe.py)
        warm = load_checkpoint(cfg.warm_start)
        check_warm_start_fits(cfg, warm.config)
        g.load_state_dict(warm.generator.state_dict())
        d.load_state_dict(warm.discriminator.state_dict())
    return model_weights(g, d)


# -- one client round ----------------------------------------------------------------------------
def client_seed(fed: FedConfig, client: int, rnd: int) -> int:
    """A public seed per (client, round) for the latents. The Poisson batches and the DP noise come
    from the trainer's secret source (:mod:`dpinfogan.secret`), never from this seed."""
    return (fed.train.seed * 1_000_003 + client * 10_007 + rnd) % (2**31 - 1)


def local_round(fed: FedConfig, data: ImageData, client: int, rnd: int, weights: Mapping[str, Any],
                state: Optional[bytes]) -> tuple[dict[str, torch.Tensor], dict[str, float], bytes]:
    """Train client ``client`` for E private steps from the global ``weights``.

    Args:
        weights: the global generator and discriminator (``g.*`` and ``d.*``).
        state: the client's saved trainer (a checkpoint's bytes, with Adam states and accountant
            history) from its previous round, or None in its first round.

    Returns:
        (new weights, metrics, new state). The weights are G and D, or D alone when the generator
        trains on the server. Metrics hold only data-independent facts: the client's cumulative ε,
        σ, q, δ, steps and N_k; no loss, batch size or clip fraction of real data.

    Raises:
        BudgetExhausted: E more steps would push this client's ε past its target.
    """
    from ..train import Trainer  # opacus and the trainer: the Federated page imports this module and never trains

    resume = _load_state(state) if state else None
    cfg = fed.train_config(seed=client_seed(fed, client, rnd))
    cfg.warm_start = ""  # the global weights below replace any initial weights
    server_g = fed.generator == "server"
    if server_g:  # G is the server's: the client's trainer takes D steps only
        cfg.ema_decay, cfg.adaptive_d_steps = 0.0, False
    trainer = Trainer(cfg, data, resume=resume)
    if trainer.budget_steps < fed.local_steps:
        raise BudgetExhausted(
            f"client {client}: {fed.local_steps} more steps would exceed its budget ε = {fed.train.privacy.epsilon:g} "
            f"(spent ε = {trainer.epsilon():.4g} after {trainer.step_count} steps)"
        )
    load_model_weights(trainer.g, trainer.d, weights)
    for _ in range(fed.local_steps):
        trainer.step(generator=not server_g)  # its losses, batch sizes and clip fractions stay here: not DP
    # Only facts that do not depend on the private images leave the client: the accountant's
    # numbers (ε, σ, q, steps) and the partition size N_k (public anyway through q = batch / N_k).
    metrics = {
        "client": float(client), "epsilon": trainer.epsilon(), "sigma": trainer.sigma,
        "sample_rate": trainer.sample_rate, "steps": float(trainer.step_count),
        "steps_left": float(trainer.budget_steps), "delta": float(trainer.cfg.privacy.delta),
        "num-examples": float(len(data)),
    }
    out = model_weights(trainer.g, trainer.d)
    return (only(out, "d.") if server_g else out), metrics, _dump_state(trainer)


# -- the server's generator ----------------------------------------------------------------------
class ServerGenerator:
    """The generator trained on the server against the averaged discriminator (DP-FedAvg-GAN).

    After every round's E private D steps per client, :meth:`train_round` loads the aggregated
    discriminator and takes E / n_D generator steps with :func:`dpinfogan.train.generator_step`
    (the trainer's own generator step; fractions carry over to the next round). It sees generated
    images only, so it adds nothing to any client's ε. With the recipe's options on, adaptive n_D
    climbs on the averaged D's accuracy on generated images, and an EMA of G draws the grids and is
    exported (the raw G is what the clients train their discriminators against).
    """

    def __init__(self, fed: FedConfig, weights: Mapping[str, Any]):
        self.fed, self.cfg = fed, fed.train_config()
        self.g, self.d = build_models(self.cfg.model, self.cfg.latent)
        load_model_weights(self.g, self.d, weights)
        self.g.train()
        self.opt = torch.optim.Adam(self.g.parameters(), lr=self.cfg.lr_g, betas=(self.cfg.beta1, 0.999))
        self.rng = torch.Generator().manual_seed(self.cfg.seed)  # latents only: public
        self.ema = GeneratorEMA(self.g, self.cfg.ema_decay) if self.cfg.ema_decay > 0 else None
        self.adaptive = AdaptiveDSteps(self.cfg.d_steps_per_g) if self.cfg.adaptive_d_steps else None
        self.n_d = self.cfg.d_steps_per_g
        self.steps, self._owed = 0, 0.0

    def train_round(self, d_weights: Mapping[str, Any]) -> dict[str, float]:
        """Load the aggregated D, take this round's G steps; returns statistics of generated data."""
        from ..train import generator_step  # see local_round: the trainer only when training

        load_model_weights(None, self.d, d_weights)
        self._owed += self.fed.local_steps / self.n_d
        k = int(self._owed + 1e-9)
        self._owed -= k
        loss = acc = float("nan")
        for _ in range(k):
            loss, acc = generator_step(self.cfg, self.g, self.d, self.opt, self.rng)
            if self.ema is not None:
                self.ema.update(self.g)
            if self.adaptive is not None:
                self.n_d = self.adaptive.update(acc)
        self.steps += k
        return {"g_steps": float(self.steps), "loss_g": loss, "d_acc_fake": acc, "d_steps_per_g": float(self.n_d)}

    @property
    def sampling_generator(self) -> torch.nn.Module:
        return self.ema.model if self.ema is not None else self.g

    def send_weights(self) -> dict[str, torch.Tensor]:
        """The raw generator's weights (``g.*``), what the clients train D against."""
        return only(model_weights(self.g, self.d), "g.")

    def export_weights(self) -> dict[str, torch.Tensor]:
        """G for sampling (the EMA when on) and the aggregated D: the global checkpoint's weights."""
        return model_weights(self.sampling_generator, self.d)


def _dump_state(trainer) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        p = trainer.save(Path(tmp) / "client.safetensors", with_optimizers=True)
        return p.read_bytes()


def _load_state(state: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "client.safetensors"
        p.write_bytes(state)
        return load_checkpoint(p)


__all__ = [
    "SPLITS", "GENERATOR_MODES", "STRATEGIES", "SET_BY_THE_FEDERATION", "TRAINING_PATHS", "BudgetExhausted",
    "FedConfig", "ServerGenerator", "federation_training", "recipe_settings", "load_partitions",
    "local_data", "model_weights", "load_model_weights", "only", "initial_weights", "local_round",
]
