"""The federated task in plain PyTorch (no flwr): each client's data, weights in and out, one
client round, and the server's generator. The settings are :class:`~dpinfogan.federated.config.FedConfig`.

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

With the server's generator, ``d_aggregation`` says what it is judged by: the averaged D, every
client's own D image by image (:class:`MostConvincedD`), or the clients that hold each image's class
(:class:`ClassWeightedD`, from each client's noisy class counts, :func:`noisy_label_counts`).

A client round reuses :class:`dpinfogan.train.Trainer`, the one training loop: the client's trainer
is rebuilt from its saved state (weights, Adam states, step counts, σ and the accountant history),
the global weights are loaded into it, and it takes E private steps with ``trainer.step()``. So the
client's accountant keeps counting across rounds: its ε after round r is the ε of one accountant
over all r·E steps, and σ is calibrated once, for the planned R·E steps of the whole federation.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..data import ImageData, load_dataset
from ..models import Discriminator, DOutput, build_models
from ..partition import SPLITS, client_data, partition_indices
from ..recipe import AdaptiveDSteps, GeneratorEMA, check_warm_start_fits
from ..secret import SecretRandom
from ..train import Trainer, generator_step
from .config import FedConfig

_OPACUS_PREFIX = "_module."  # Opacus' GradSampleModule wraps the model under this name


class BudgetExhausted(RuntimeError):
    """A client refuses a round that would push its ε past its budget."""


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
def noisy_label_counts(labels: torch.Tensor, n_classes: int, sigma: float) -> list[float]:
    """The client's class counts with N(0, σ²) noise each (secret randomness); a noisy count under
    3σ is set to 0 (indistinguishable from a class the client does not hold).

    One record changes one count by 1 (L2 sensitivity 1), so this is the Gaussian mechanism with
    noise multiplier σ: a (σ, q = 1, 1 step) entry in the client's accountant history. The rest is
    post-processing. If no count clears 3σ, the counts clamped at 0 are kept (uniform if all are 0).
    """
    counts = torch.bincount(labels.long(), minlength=n_classes).double()
    noisy = (counts + sigma * SecretRandom().normal((n_classes,)).double()).clamp(min=0)
    kept = torch.where(noisy > 3 * sigma, noisy, torch.zeros_like(noisy))
    out = kept if kept.sum() > 0 else noisy if noisy.sum() > 0 else torch.ones_like(noisy)
    return [float(v) for v in out]


def histogram_release(sigma: float) -> tuple[float, float, int]:
    """:func:`noisy_label_counts` as an accountant history entry (σ, q, steps): the whole data, once."""
    return (float(sigma), 1.0, 1)


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
    resume = _load_state(state) if state else None
    cfg = fed.train_config(seed=client_seed(fed, client, rnd))
    cfg.warm_start = ""  # the global weights below replace any initial weights
    server_g = fed.generator == "server"
    if server_g:  # G is the server's: the client's trainer takes D steps only
        cfg.ema_decay, cfg.adaptive_d_steps = 0.0, False
    by_class = fed.d_aggregation == "class"
    if by_class and resume is None:  # released once, before the first step, and counted (see FedConfig)
        counts = noisy_label_counts(data.labels, cfg.latent.n_categories, fed.histogram_sigma)
        trainer = Trainer(cfg, data, prior_history=[histogram_release(fed.histogram_sigma)], fake_code_probs=counts)
    else:
        trainer = Trainer(cfg, data, resume=resume)
    if trainer.budget_steps < fed.local_steps:
        raise BudgetExhausted(
            f"client {client}: {fed.local_steps} more steps would exceed its budget ε = {fed.train.privacy.epsilon:g} "
            f"(spent ε = {trainer.epsilon():.4g} after {trainer.step_count} steps)"
        )
    keep_own_d = server_g and fed.d_aggregation != "average" and resume is not None
    # With d_aggregation "max" or "class" the client keeps its own D (from its saved trainer) after round 1.
    if keep_own_d and fed.d_personal == "head":  # the averaged trunk and Q heads; its own real/fake head
        weights = {**weights, **only(model_weights(trainer.g, trainer.d), "d.d_head.")}
        keep_own_d = False
    load_model_weights(trainer.g, None if keep_own_d else trainer.d, weights)
    for _ in range(fed.local_steps):
        trainer.step(generator=not server_g)  # its losses, batch sizes and clip fractions stay here: not DP
    # Only facts that do not depend on the private images leave the client: the accountant's
    # numbers (ε, σ, q, steps) and the partition size N_k (public anyway through q = batch / N_k);
    # with "class" aggregation also the noisy class counts, released privately above.
    metrics: dict[str, Any] = {
        "client": float(client), "epsilon": trainer.epsilon(), "sigma": trainer.sigma,
        "sample_rate": trainer.sample_rate, "steps": float(trainer.step_count),
        "steps_left": float(trainer.budget_steps), "delta": float(trainer.cfg.privacy.delta),
        "num-examples": float(len(data)),
    }
    if by_class:
        metrics["label-counts"] = [float(v) for v in trainer.fake_code_probs]
        metrics["histogram-sigma"] = float(fed.histogram_sigma)
    out = model_weights(trainer.g, trainer.d)
    return (only(out, "d.") if server_g else out), metrics, _dump_state(trainer)


# -- the server's generator ----------------------------------------------------------------------
class MostConvincedD(torch.nn.Module):
    """Several clients' discriminators as one: each image is judged (real/fake logit and Q's code
    estimates) by the discriminator whose logit calls it most real.

    Under a class split a generated 7 is then judged by the client that holds 7s, instead of by an
    average in which four clients that never saw a 7 call it fake. It sees generated images only.
    """

    def __init__(self, discriminators: list[torch.nn.Module]):
        super().__init__()
        self.ds = torch.nn.ModuleList(discriminators)

    def forward(self, x: torch.Tensor) -> DOutput:
        outs = [d(x) for d in self.ds]
        return _image_by_image(outs, torch.stack([o.logit for o in outs]).argmax(0))


def _image_by_image(outs: list[DOutput], best: torch.Tensor) -> DOutput:
    """Each image's outputs (logit and Q's readings) from the client ``best[i]`` (shape (B,))."""
    rows = torch.arange(best.shape[0])

    def pick(name: str) -> Optional[torch.Tensor]:
        parts = [getattr(o, name) for o in outs]
        return None if parts[0] is None else torch.stack(parts)[best, rows]  # (K, B, ...) -> (B, ...)

    return DOutput(*(pick(name) for name in DOutput._fields))


class ClassWeightedD(torch.nn.Module):
    """Several clients' discriminators as one judge of class-conditional images: weighted by class
    counts as in UAGAN, combined as a product of experts.

    D_k's logit is the log-odds that an image is client k's real data rather than generated. For an
    image of code c the judge's logit is the clients' logits averaged with weights w_kc ∝ n_kc (their
    noisy counts of c), so no one fooled client can outvote the rest. (UAGAN's odds of the mixture,
    ``log Σ_k w_kc·exp(logit_k)``, are dominated by the most fooled client: under a Dirichlet split
    that judge called only 0–16% of the generated images fake from round 10 on, CAS 76.6% against
    86.5%.) Q's code estimates come from the client with the largest ``logit_k + log w_kc``. Under a
    class split w is one-hot and both rules give the owner's logit: the client that holds 7s judges
    every 7. It sees generated images only.
    """

    takes_codes = True  # dpinfogan.train.generator_step passes each image's categorical code

    def __init__(self, discriminators: list[torch.nn.Module], counts: torch.Tensor):
        super().__init__()
        self.ds = torch.nn.ModuleList(discriminators)
        counts = torch.as_tensor(counts, dtype=torch.float32).clamp(min=0)  # (K, C)
        # a class no client reported (every noisy count under 3σ_h) is judged by all clients equally
        counts = torch.where(counts.sum(0, keepdim=True) > 0, counts, torch.ones_like(counts))
        self.log_w = (counts / counts.sum(0)).log()  # (K, C); -inf where a client has none

    def forward(self, x: torch.Tensor, cat: torch.Tensor) -> DOutput:
        outs = [d(x) for d in self.ds]
        logits, log_w = torch.stack([o.logit for o in outs]), self.log_w[:, cat]  # (K, B) each
        picked = _image_by_image(outs, (logits + log_w).argmax(0))
        return picked._replace(logit=(log_w.exp() * logits).sum(0))  # Σ_k w_kc·logit_k; w = 0 adds nothing


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
        self._client_ds: list[torch.nn.Module] = []  # d_aggregation "max": one D per client, reloaded each round

    def train_round(self, d_weights: Mapping[str, Any],
                    client_d_weights: Optional[list[Mapping[str, Any]]] = None,
                    client_counts: Optional[list[list[float]]] = None) -> dict[str, float]:
        """Load the aggregated D, take this round's G steps; returns statistics of generated data.

        With ``d_aggregation = "max"`` the G steps are taken against the clients' own discriminators
        (``client_d_weights``, one per client) through :class:`MostConvincedD`; the aggregated D is
        only stored in the checkpoint. With ``"class"`` through :class:`ClassWeightedD`, which also
        needs each client's noisy class counts (``client_counts``, in the same order).
        """
        load_model_weights(None, self.d, d_weights)
        judge = self.d
        if self.fed.d_aggregation != "average":
            if not client_d_weights:
                raise ValueError(f"d aggregation {self.fed.d_aggregation!r} needs every client's discriminator")
            if self.fed.d_aggregation == "class" and (not client_counts or len(client_counts) != len(client_d_weights)):
                raise ValueError("d aggregation 'class' needs every client's noisy class counts")
            while len(self._client_ds) < len(client_d_weights):  # built once; each round only reloads weights
                self._client_ds.append(Discriminator(self.cfg.model, self.cfg.latent))
            for d, w in zip(self._client_ds, client_d_weights):
                load_model_weights(None, d, w)
            ds = self._client_ds[:len(client_d_weights)]
            judge = (ClassWeightedD(ds, torch.tensor(client_counts)) if self.fed.d_aggregation == "class"
                     else MostConvincedD(ds))
        self._owed += self.fed.local_steps / self.n_d
        k = int(self._owed + 1e-9)
        self._owed -= k
        loss = acc = float("nan")
        for _ in range(k):
            loss, acc = generator_step(self.cfg, self.g, judge, self.opt, self.rng)
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
    "SPLITS", "BudgetExhausted", "ClassWeightedD", "MostConvincedD", "noisy_label_counts", "histogram_release", "ServerGenerator", "load_partitions",
    "local_data", "model_weights", "load_model_weights", "only", "initial_weights", "local_round",
]
