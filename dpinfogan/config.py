"""Configuration dataclasses: latent space, model sizes, privacy and training.

Every default is chosen for 28×28 grayscale images and a 2-core CPU. All dataclasses
round-trip through plain dicts (``asdict`` / ``from_dict``) so they can be written into
``config.json`` and checkpoint metadata.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

CODE_MODES = ("labels", "unsupervised")
ACCOUNTANTS = ("rdp", "prv")
DP_STEPS = ("fast", "opacus")
CLIP_FAKE = ("sample", "batch", "none")
D_STEP_LADDER = (1, 2, 5, 10, 20, 50)  # adaptive n_D's rungs (Bie et al.)
MAX_FINITE_EPSILON = 100.0  # above this a finite ε protects nothing (e^ε ≈ 10^43); ask for inf instead
DEFAULT_DELTA = 1e-5  # δ when none is given and N ≤ 10,000 (see default_delta)


def max_delta(n_samples: int) -> float:
    """The largest δ accepted for N training samples: 1/(10·N).

    (ε, δ)-DP allows a δ-probability failure; a mechanism that publishes one random record in full
    meets any δ ≥ 1/N. A δ well below 1/N keeps that kind of leak unlikely.
    """
    return 1.0 / (10 * n_samples)


def default_delta(n_samples: int) -> float:
    """δ used when the user gives none: 1e-5, or the largest power of ten ≤ 1/(10·N) when smaller
    (1e-6 for the 60,000 MNIST images)."""
    return min(DEFAULT_DELTA, 10.0 ** math.floor(math.log10(max_delta(n_samples)) + 1e-9))


@dataclass
class LatentConfig:
    noise_dim: int = 62  # dimension of the incompressible noise z (InfoGAN's MNIST setting)
    n_categories: int = 10  # values of the one categorical code c1 (10 digit classes)
    n_continuous: int = 2  # continuous codes c2.., each sampled U(-1, 1)

    @property
    def dim(self) -> int:
        """Total generator input width: noise + one-hot categorical + continuous."""
        return self.noise_dim + self.n_categories + self.n_continuous

    def validate(self) -> None:
        if self.noise_dim < 1:
            raise ValueError(f"noise_dim must be at least 1, got {self.noise_dim}")
        if self.n_categories < 2:
            raise ValueError(f"n_categories must be at least 2, got {self.n_categories}")
        if self.n_continuous < 0:
            raise ValueError(f"n_continuous cannot be negative, got {self.n_continuous}")


@dataclass
class ModelConfig:
    image_size: int = 28  # square images; the up-convolutions double 7 -> 14 -> 28
    channels: int = 1  # grayscale
    g_width: int = 64  # generator channels at 7×7 (halved at 14×14)
    d_width: int = 32  # discriminator channels at 14×14 (doubled at 7×7)
    d_hidden: int = 64  # width of the shared trunk's last (linear) layer, input of the D and Q heads
    q_log_std: bool = False  # Q also predicts a log-std per continuous code (else fixed std 1)

    def validate(self) -> None:
        if self.image_size != 28:
            raise ValueError(f"only 28×28 images are supported, got image_size={self.image_size}")
        for name in ("channels", "g_width", "d_width", "d_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class PrivacyConfig:
    epsilon: Optional[float] = 10.0  # target ε; None with noise_multiplier set = fixed σ; math.inf = non-private
    # Target δ; must be ≤ 1/(10·N) for N training samples. None = default_delta(N): 1e-5, or less for
    # large N; the trainer writes the value it used back into the config.
    delta: Optional[float] = None
    noise_multiplier: Optional[float] = None  # σ: noise std is σ·C; None = calibrate σ from the target ε
    max_grad_norm: float = 1.0  # C: every real sample's gradient is clipped to L2 norm ≤ C
    accountant: str = "rdp"  # "rdp" (moments accountant, as in the paper) or "prv"
    dp_step: str = "fast"  # "fast" (ghost norms + book-keeping) or "opacus" (reference per-sample hooks)
    # How the generated samples' term is clipped to C (no noise; it only balances the real and fake
    # terms): per "sample", as one "batch" vector, or "none". See dpinfogan/privacy.py.
    clip_fake: str = "sample"

    @property
    def private(self) -> bool:
        """False for the non-private baseline (ε = ∞ and no σ)."""
        return not (self.epsilon is not None and math.isinf(self.epsilon) and self.noise_multiplier is None)

    def validate(self, n_samples: Optional[int] = None) -> None:
        eps = self.epsilon
        if eps is not None and (not isinstance(eps, (int, float)) or math.isnan(eps) or eps <= 0):
            raise ValueError(f"ε (epsilon) must be a positive number or inf, got {eps}")
        if eps is not None and math.isfinite(eps) and eps > MAX_FINITE_EPSILON:
            raise ValueError(f"ε = {eps:g} is so large it protects nothing (a likelihood ratio of e^ε); "
                             f"use ε ≤ {MAX_FINITE_EPSILON:g}, or inf to train without privacy")
        if eps is None and self.noise_multiplier is None:
            raise ValueError("set either a target ε (epsilon) or a fixed noise multiplier σ")
        if self.noise_multiplier is not None and (
            math.isnan(self.noise_multiplier) or self.noise_multiplier < 0
        ):
            raise ValueError(f"noise multiplier σ must be ≥ 0, got {self.noise_multiplier}")
        if math.isnan(self.max_grad_norm) or self.max_grad_norm <= 0:
            raise ValueError(f"clipping norm C must be > 0, got {self.max_grad_norm}")
        if self.accountant not in ACCOUNTANTS:
            raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {self.accountant!r}")
        if self.clip_fake not in CLIP_FAKE:
            raise ValueError(f"clip_fake must be one of {CLIP_FAKE}, got {self.clip_fake!r}")
        if self.dp_step not in DP_STEPS:
            raise ValueError(f"dp_step must be one of {DP_STEPS}, got {self.dp_step!r}")
        if self.private:
            if self.delta is None:
                return  # resolved from N by the trainer
            if not isinstance(self.delta, (int, float)) or math.isnan(self.delta) or not 0 < self.delta < 1:
                raise ValueError(f"δ (delta) must be in (0, 1), got {self.delta}")
            if n_samples is not None and self.delta > max_delta(n_samples) * (1 + 1e-9):
                raise ValueError(
                    f"δ (delta) = {self.delta:g} is too large for N = {n_samples:,} training samples: it must be "
                    f"at most 1/(10·N) = {max_delta(n_samples):.3g}, since a δ near 1/N would allow publishing "
                    f"a whole record. Try δ = {default_delta(n_samples):g}"
                )


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # "mnist", "fashion-mnist", "kmnist" or "offline-digits" (5,000 MNIST digits)
    code_mode: str = "labels"  # "labels": categorical code = class label; "unsupervised": InfoGAN's discovery
    batch_size: int = 128  # expected Poisson batch size of real samples (sample rate q = batch_size / N)
    steps: int = 2000  # planned discriminator steps (the accountant counts each one)
    d_steps_per_g: int = 1  # discriminator steps per generator step, each on a fresh Poisson batch
    lr_d: float = 2e-4  # Adam learning rate of the discriminator + Q head
    lr_g: float = 1e-3  # Adam learning rate of the generator
    beta1: float = 0.5  # Adam β1 for both optimisers (DCGAN/InfoGAN setting)
    lambda_cat: float = 1.0  # weight of the categorical code's MI term (cross-entropy)
    lambda_cont: float = 0.1  # weight of the continuous codes' MI term (Gaussian NLL)
    lambda_label: float = 1.0  # labels mode: weight of the real-label classification term (inside the DP step)
    # Adaptive n_D (Bie et al., "Private GANs revisited"): climb d_steps_per_g along D_STEP_LADDER
    # whenever an EMA (β = 0.99) of D's accuracy on generated images falls to ≤ 0.6. Generated data
    # only, so free in privacy.
    adaptive_d_steps: bool = False
    # EMA of the generator's weights, used for sampling, grids and export (0 = off; DPImageBench's
    # DP-GAN: 0.999). Free in privacy: the generator never sees real data.
    ema_decay: float = 0.0
    # A public warm start: a checkpoint trained on public data (stroke-digits or font-digits) whose G and D weights
    # initialise this run ("" = random init). Costs no privacy; the accountant counts this run's steps.
    warm_start: str = ""
    sample_every: int = 200  # write a sample grid PNG every K discriminator steps
    checkpoint_every: int = 500  # write a checkpoint every K discriminator steps
    seed: int = 0  # seeds init, latents and grids (public); never the DP noise or batches (dpinfogan/secret.py)
    threads: int = 0  # torch CPU threads; 0 = leave torch's default
    model: ModelConfig = field(default_factory=ModelConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)

    def validate(self, n_samples: Optional[int] = None) -> None:
        """Raise ``ValueError`` with a plain message for any impossible setting."""
        if self.code_mode not in CODE_MODES:
            raise ValueError(f"code mode must be one of {CODE_MODES}, got {self.code_mode!r}")
        if self.batch_size <= 0:
            raise ValueError(f"batch size must be positive, got {self.batch_size}")
        if n_samples is not None and self.batch_size > n_samples:
            raise ValueError(f"batch size {self.batch_size} is larger than the dataset (N = {n_samples})")
        for name in ("steps", "d_steps_per_g", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1):
            raise ValueError(f"generator EMA decay must be in [0, 1), got {self.ema_decay}")
        if self.adaptive_d_steps and self.d_steps_per_g not in D_STEP_LADDER:
            raise ValueError(f"adaptive D steps start on a rung of the ladder {D_STEP_LADDER}, got {self.d_steps_per_g}")
        for name in ("lr_d", "lr_g"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive number, got {v}")
        self.model.validate()
        self.latent.validate()
        self.privacy.validate(n_samples)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        eps = d["privacy"]["epsilon"]
        if eps is not None and math.isinf(eps):
            d["privacy"]["epsilon"] = "inf"  # JSON has no infinity
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        priv = dict(d.pop("privacy", {}))
        if priv.get("epsilon") == "inf":
            priv["epsilon"] = math.inf
        if isinstance(priv.get("clip_fake"), bool):  # configs written before the modes existed
            priv["clip_fake"] = "sample" if priv["clip_fake"] else "none"
        return cls(
            model=_build(ModelConfig, d.pop("model", {})),
            latent=_build(LatentConfig, d.pop("latent", {})),
            privacy=_build(PrivacyConfig, priv),
            **_known(cls, d),
        )


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings: {sorted(unknown)}")
    return {k: v for k, v in d.items() if k in names}


def _build(cls: type, d: dict[str, Any]):
    return cls(**_known(cls, d))
