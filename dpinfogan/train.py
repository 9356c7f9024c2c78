"""The one training loop, used by the CLI, the app and the federated clients.

:class:`Trainer` owns the models, optimisers, Poisson sampler, private step and accountant, and
advances one discriminator step at a time (a generator step every ``d_steps_per_g``).
:func:`train` wraps it with a run folder: metrics, sample grids, checkpoints, status.
"""
from __future__ import annotations

import ctypes
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from .accounting import calibrate_noise, epsilon_of, history_of, make_accountant, max_steps_within
from .checkpoint import Checkpoint, load_checkpoint, privacy_guarantee, restore_optimizer, save_checkpoint
from .config import TrainConfig, default_delta
from .data import ImageData, to_uint8
from .fileio import image_grid
from .latent import Latent, fixed_grid_latent, sample_latent
from .losses import generator_loss
from .models import build_models
from .privacy import PrivateDStep
from .recipe import AdaptiveDSteps, GeneratorEMA, check_warm_start_fits, warm_start_info
from .runs import RunWriter
from .secret import SecretRandom


def keep_freed_memory() -> bool:
    """Let the C allocator keep the memory a training step frees, for the next step to reuse.

    Every step allocates and frees the same tensors, tens of MB each. By default glibc returns
    the top of its heap to the kernel once more than its trim threshold is free (adjusted on the
    fly, at most 64 MiB), so the next step page-faults all of it back in: at batch 512 that was 19k faults (35 ms of system time) in a
    105 ms non-private step and up to 38k in the private one. With the trim threshold at 1 GiB
    and the mmap threshold at glibc's 32 MiB maximum the process stays at its peak size instead.
    Process-wide, like ``torch.set_num_threads``. glibc only; elsewhere a no-op returning False.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))


# Step statistics computed from real data without DP: fine on the data holder's own screen, never
# in anything released (a federated message, a shared run folder).
PRIVATE_STATS = ("loss_d_real", "clip_frac", "real_batch")


class Trainer:
    """DP-InfoGAN training state on one dataset.

    Args:
        cfg: the training config (validated against ``len(data)``).
        data: the real images; they reach training only through :class:`PrivateDStep`.
        resume: a checkpoint to continue from (weights, optimisers, accountant history, step).
        prior_history: (σ, q, steps) already spent on ``data`` before the first step (a federated
            client's noisy label histogram); it opens the accountant's history and σ is calibrated
            for it. Ignored on resume, whose history already holds it.
        fake_code_probs: weights (∝ probabilities) of the categorical codes of the discriminator's
            generated images (None: uniform). Only privately released ones (e.g. that noisy
            histogram) may come from the data. Kept in the checkpoint, so a resumed run keeps them.
    """

    def __init__(self, cfg: TrainConfig, data: ImageData, resume: Optional[Checkpoint] = None, *,
                 prior_history: Sequence[tuple[float, float, int]] = (),
                 fake_code_probs: Optional[Sequence[float]] = None):
        if cfg.privacy.delta is None and cfg.privacy.private:  # "auto": the resumed run's δ, else from N
            rp = resume.meta["privacy"] if resume is not None else {}
            cfg.privacy.delta = float(rp["delta"]) if rp.get("private") and rp.get("delta") else default_delta(len(data))
        cfg.validate(len(data))
        self.cfg, self.data = cfg, data
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        keep_freed_memory()
        # Two sources of randomness. The public one (cfg.seed, stored with the run) draws what may be
        # published: initial weights and latents. The secret one draws what DP rests on: the Poisson
        # batches and the Gaussian noise; its seed is OS entropy, fresh in every process (also on
        # resume), and never stored. See dpinfogan/secret.py.
        torch.manual_seed(cfg.seed)
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.secret = SecretRandom()
        self.g, self.d = build_models(cfg.model, cfg.latent)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
        p = cfg.privacy
        self.n = len(data)
        self.sample_rate = cfg.batch_size / self.n  # q
        self.step_count, self.g_step_count, self.elapsed = 0, 0, 0.0
        self.warm_start: Optional[dict] = None
        if cfg.warm_start and resume is None:  # public weights in, no privacy spent (dpinfogan/recipe.py)
            warm = load_checkpoint(cfg.warm_start)
            check_warm_start_fits(cfg, warm.config)
            self.warm_start = warm_start_info(warm.meta, cfg.warm_start)
            self.g.load_state_dict(warm.generator.state_dict())
            self.d.load_state_dict(warm.discriminator.state_dict())
        history = [list(h) for h in prior_history]
        self.prior_releases = len(history)  # history entries that are releases, not steps
        tr: dict = {}
        if resume is not None:
            _check_resumable(cfg, resume)
            tr = resume.meta["training"]
            self.warm_start = tr.get("warm_start")
            self.g.load_state_dict(resume.raw_generator_state or resume.generator.state_dict())
            self.d.load_state_dict(resume.discriminator.state_dict())
            restore_optimizer(resume, "g", self.opt_g)
            restore_optimizer(resume, "d", self.opt_d)
            rp = resume.meta["privacy"]
            history = rp.get("history", [])
            fake_code_probs = tr.get("fake_code_probs")
            self.prior_releases = int(tr.get("prior_releases", 0))
            self.step_count = int(resume.meta["training"].get("steps", 0))
            self.g_step_count = int(resume.meta["training"].get("g_steps", 0))
            self.elapsed = float(resume.meta["training"].get("seconds", 0.0))
            if p.private and p.noise_multiplier is None and rp.get("private") and rp.get("noise_multiplier"):
                p.noise_multiplier = float(rp["noise_multiplier"])  # keep the σ the run started with
        self.ema = GeneratorEMA(self.g, cfg.ema_decay) if cfg.ema_decay > 0 else None
        if self.ema is not None and resume is not None and resume.raw_generator_state:
            self.ema.model.load_state_dict(resume.generator.state_dict())  # the file's G is the average
            self.ema.updates = self.g_step_count
        self.d_steps_per_g = int(tr.get("d_steps_per_g", cfg.d_steps_per_g))  # n_D now (adaptive: climbs)
        self.adaptive = (AdaptiveDSteps(self.d_steps_per_g, ema=float(tr.get("d_acc_fake_ema", 1.0)))
                         if cfg.adaptive_d_steps else None)
        self._d_since_g = 0
        self.fake_code_probs = (None if fake_code_probs is None else
                                torch.as_tensor(fake_code_probs, dtype=torch.float64))
        self.accountant = make_accountant(p.accountant, history)
        remaining = max(cfg.steps - self.step_count, 0)
        if not p.private:
            self.sigma = 0.0
        elif p.noise_multiplier is not None:
            self.sigma = float(p.noise_multiplier)
        else:
            self.sigma = calibrate_noise(
                target_epsilon=p.epsilon, delta=p.delta, sample_rate=self.sample_rate,
                steps=max(remaining, 1), accountant=p.accountant, history=history if resume is None else (),
            )
        # The budget: never take a step that would push ε past the target.
        self.budget_steps = remaining
        if p.private and p.epsilon is not None and math.isfinite(p.epsilon):
            self.budget_steps = min(remaining, max_steps_within(
                target_epsilon=p.epsilon, delta=p.delta, noise_multiplier=self.sigma,
                sample_rate=self.sample_rate, history=history, accountant=p.accountant,
            )) if self.sigma > 0 else 0
            if self.budget_steps == 0 and remaining > 0:
                spent = epsilon_of(p.accountant, history, p.delta)
                why = (f"this run already spent ε = {spent:.4g} of its ε = {p.epsilon:g}" if history else
                       f"one step with noise multiplier σ = {self.sigma:g} at q = {self.sample_rate:.4g} "
                       f"already spends more than ε = {p.epsilon:g}")
                raise ValueError(f"no step fits in the privacy budget: {why}; raise σ or ε")
        self.dstep = PrivateDStep(
            self.d, self.opt_d, cfg,
            noise_multiplier=self.sigma, max_grad_norm=p.max_grad_norm,
            expected_batch_size=self.sample_rate * self.n, private=p.private,
            method=p.dp_step, noise=self.secret, clip_fake=p.clip_fake,
        )

    @property
    def target_steps(self) -> int:
        """The total step count this run will reach (planned steps, capped by the ε budget)."""
        return self.step_count + self.budget_steps

    def epsilon(self) -> float:
        """ε spent so far at the config's δ, from the accountant (∞ for the non-private baseline)."""
        if not self.cfg.privacy.private:
            return math.inf
        return epsilon_of(self.cfg.privacy.accountant, self.accountant.history, self.cfg.privacy.delta)

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Poisson sampling, as the accountant assumes: each record joins independently with
        # probability q. Opacus' UniformWithReplacementSampler does the same from a torch generator
        # (64-bit seed); the secret source has a 128-bit one. A non-private run has nothing to hide,
        # so its batches follow the public seed and the run is reproducible.
        if self.cfg.privacy.private:
            idx = self.secret.poisson_indices(self.n, self.sample_rate)
        else:
            idx = torch.nonzero(torch.rand(self.n, generator=self.rng) < self.sample_rate).flatten()
        return self.data.images[idx], self.data.labels[idx]

    def step(self, generator: bool = True) -> dict:
        """One discriminator step on a fresh Poisson batch (+ a generator step when due).

        ``generator=False`` takes the discriminator step only: a federated client whose generator
        is trained on the server (``dpinfogan.federated``) never updates G itself.
        """
        if self.budget_steps <= 0:
            raise RuntimeError("no steps left within the privacy budget")
        t0 = time.perf_counter()
        self.g.train()
        x, y = self._real_batch()
        fake, fake_x = self._fake_batch()
        stats = self.dstep.step(x, y if self.cfg.code_mode == "labels" else None, fake_x, fake)
        if self.cfg.privacy.private:
            self.accountant.step(noise_multiplier=self.sigma, sample_rate=self.sample_rate)
        self.step_count += 1
        self.budget_steps -= 1
        self._d_since_g += 1
        if generator and self._d_since_g >= self.d_steps_per_g:
            self._d_since_g = 0
            stats["loss_g"], stats["d_acc_fake"] = self._g_step()
            if self.adaptive is not None:
                self.d_steps_per_g = self.adaptive.update(stats["d_acc_fake"])
        stats["d_steps_per_g"] = self.d_steps_per_g
        self.elapsed += time.perf_counter() - t0
        stats["real_batch"] = int(x.shape[0])
        return stats

    @torch.no_grad()
    def _fake_batch(self) -> tuple[Latent, torch.Tensor]:
        """The discriminator's generated images: B drawn with uniform codes, as the generator is
        trained and judged. With ``fake_code_probs`` each is kept with probability p_c / max p (a
        federated client keeps its own classes): drawn alone, a batch of 0s and 1s would come out
        differently, because the generator's BatchNorm normalises by the batch's statistics."""
        fake = sample_latent(self.cfg.latent, self.cfg.batch_size, generator=self.rng)
        x = self.g(fake.vector(self.cfg.latent))
        if self.fake_code_probs is None:
            return fake, x
        p = (self.fake_code_probs / self.fake_code_probs.max()).float()  # (C,) acceptance per code
        keep = torch.nonzero(torch.rand(len(fake), generator=self.rng) < p[fake.cat]).flatten()
        if keep.numel() == 0:  # a small batch can keep none: the likeliest code's image stands in
            keep = p[fake.cat].argmax().view(1)
        return Latent(z=fake.z[keep], cat=fake.cat[keep], cont=fake.cont[keep]), x[keep]

    def _g_step(self) -> tuple[float, float]:
        loss, acc = generator_step(self.cfg, self.g, self.d, self.opt_g, self.rng)
        if self.ema is not None:
            self.ema.update(self.g)
        self.g_step_count += 1
        return loss, acc

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The generator that draws grids and is exported: the EMA average when on."""
        return self.ema.model if self.ema is not None else self.g

    @torch.no_grad()
    def sample_grid(self, per_code: int = 8):
        """The fixed-latent grid (one row per categorical code) as a PIL image."""
        g = self.sampling_generator.eval()
        lat = fixed_grid_latent(self.cfg.latent, per_code)
        imgs = to_uint8(g(lat.vector(self.cfg.latent)))
        return image_grid(imgs, nrow=per_code, scale=2)

    def privacy_meta(self) -> dict:
        p = self.cfg.privacy
        return {
            "private": p.private,
            "epsilon": self.epsilon(),
            "target_epsilon": p.epsilon,
            "delta": p.delta if p.private else None,
            "noise_multiplier": self.sigma,
            "max_grad_norm": p.max_grad_norm if p.private else None,
            "sample_rate": self.sample_rate,
            "n_samples": self.n,
            "steps": self.step_count,
            "accountant": p.accountant,
            "history": history_of(self.accountant),
            "dp_step": p.dp_step,
            # Where the noise and batches came from; a private checkpoint without a secret source
            # is shown as ε = ∞ (see checkpoint.privacy_guarantee).
            "randomness": self.secret.source if p.private else None,
        }

    def save(self, path: str | Path, half: bool = False, with_optimizers: bool = True) -> Path:
        training = {"steps": self.step_count, "g_steps": self.g_step_count, "seconds": round(self.elapsed, 2),
                    "dataset_source": self.data.source, "threads": torch.get_num_threads(),
                    "d_steps_per_g": self.d_steps_per_g, "warm_start": self.warm_start}
        if self.adaptive is not None:
            training["d_acc_fake_ema"] = self.adaptive.ema
        if self.prior_releases:
            training["prior_releases"] = self.prior_releases
        if self.fake_code_probs is not None:  # privately released (see __init__): safe to store
            training["fake_code_probs"] = [float(v) for v in self.fake_code_probs]
        # With an EMA the file's generator is the average (what sampling uses); the raw generator
        # travels along only with the optimizer state, for an exact resume.
        extra = {"g_raw.": self.g} if self.ema is not None and with_optimizers else None
        return save_checkpoint(
            path, config=self.cfg, generator=self.sampling_generator, discriminator=self.d,
            privacy=self.privacy_meta(), training=training, extra_modules=extra,
            code_to_label=list(range(self.cfg.latent.n_categories)) if self.cfg.code_mode == "labels" else None,
            optimizers={"g": self.opt_g, "d": self.opt_d} if with_optimizers else None,
            half=half,
        )


def generator_step(cfg: TrainConfig, g: torch.nn.Module, d: torch.nn.Module, opt_g: torch.optim.Optimizer,
                   rng: torch.Generator) -> tuple[float, float]:
    """One generator step against ``d``; returns its loss and D's accuracy on its generated images
    (the fraction D calls fake: generated data only, so free in privacy).

    Needs no real data, so it is also the federated server's generator step (DP-FedAvg-GAN). A
    judge with ``takes_codes`` set (the federated class-weighted one) is also given each image's
    categorical code.
    """
    lat = sample_latent(cfg.latent, cfg.batch_size, generator=rng)
    x = g(lat.vector(cfg.latent))
    out = d(x, lat.cat) if getattr(d, "takes_codes", False) else d(x)
    loss = generator_loss(out, lat, cfg)
    grads = torch.autograd.grad(loss, list(g.parameters()))  # D's parameters are left alone
    for p, gr in zip(g.parameters(), grads):
        p.grad = gr
    opt_g.step()
    return float(loss.detach()), float((out.logit.detach() < 0).float().mean())


def _check_resumable(cfg: TrainConfig, resume: Checkpoint) -> None:
    """Refuse a resume whose ε could not be honest.

    A private run continues only from a checkpoint whose own guarantee holds: trained privately
    from step 0 (its accountant history covers every step it took) with secret randomness. From a
    non-private or replayable checkpoint the first steps are not covered by any accountant, so
    the ε that would be shown for the result would be false; start from scratch instead.
    """
    if not cfg.privacy.private:
        return  # a non-private continuation claims nothing
    eps, why = privacy_guarantee(resume.meta)
    if why is not None:
        raise ValueError(f"cannot continue a private run from this checkpoint: {why}. "
                         "Its steps would not be covered by the accountant; train from scratch instead")
    rp = resume.meta["privacy"]
    if float(rp.get("delta") or 0) != float(cfg.privacy.delta) or rp.get("accountant") != cfg.privacy.accountant:
        raise ValueError("cannot continue a private run with another δ or accountant than the checkpoint's "
                         f"(δ = {rp.get('delta')}, {rp.get('accountant')} accountant)")


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    epsilon: float
    steps: int
    seconds: float
    state: str  # "finished" or "stopped"


def train(
    cfg: TrainConfig,
    data: ImageData,
    run_dir: str | Path,
    *,
    resume: Optional[Checkpoint] = None,
    on_log: Optional[Callable[[dict], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
    log_every: int = 20,
    public_log: bool = False,
    log_extra: Optional[Callable[["Trainer"], dict]] = None,
) -> TrainResult:
    """Train to the planned steps or the ε budget, writing the run folder as it goes.

    ``public_log`` keeps statistics of the real data out of ``metrics.jsonl`` (the real loss, the
    Poisson batch size, the clip fraction: none is covered by DP), for a run folder that others see.
    ``log_extra(trainer)`` adds its own entries to each log record (e.g. what the generator draws).

    SIGTERM/SIGINT stop the run cleanly: the current step finishes and a checkpoint is written.
    """
    writer = RunWriter(run_dir)
    trainer = Trainer(cfg, data, resume=resume)
    stop = {"flag": False}

    def _on_signal(signum, frame):  # noqa: ARG001
        stop["flag"] = True

    old = {}
    try:  # signals can only be caught in the main thread
        old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:
        pass
    writer.write_config({
        **cfg.to_dict(), "derived": {
            "noise_multiplier": trainer.sigma, "sample_rate": trainer.sample_rate, "n_samples": trainer.n,
            "target_steps": trainer.target_steps, "dataset_source": data.source, "dataset_loaded": data.name,
        }})
    writer.status("running", step=trainer.step_count, target_steps=trainer.target_steps, epsilon=0.0)
    state, t_start, done_at_start = "finished", time.perf_counter(), trainer.step_count
    try:
        while trainer.budget_steps > 0:
            if stop["flag"] or (should_stop and should_stop()):
                state = "stopped"
                break
            stats = trainer.step()
            s = trainer.step_count
            if s % log_every == 0 or trainer.budget_steps == 0:
                wall = time.perf_counter() - t_start
                if public_log:
                    stats = {k: v for k, v in stats.items() if k not in PRIVATE_STATS}
                rec = {"step": s, "g_steps": trainer.g_step_count, **stats, "epsilon": trainer.epsilon(),
                       "elapsed": round(trainer.elapsed, 3),
                       "samples_per_s": round((s - done_at_start) * cfg.batch_size / max(wall, 1e-9), 1),
                       "target_steps": trainer.target_steps}
                if log_extra:
                    rec.update(log_extra(trainer))
                writer.log(rec)
                writer.status("running", step=s, target_steps=trainer.target_steps, epsilon=rec["epsilon"])
                if on_log:
                    on_log(rec)
            if s % cfg.sample_every == 0:
                writer.save_grid(s, trainer.sample_grid())
            if s % cfg.checkpoint_every == 0:
                trainer.save(writer.checkpoint_path)
        writer.save_grid(trainer.step_count, trainer.sample_grid())
        ckpt = trainer.save(writer.checkpoint_path)
        eps = trainer.epsilon()
        writer.status(state, step=trainer.step_count, target_steps=trainer.target_steps, epsilon=eps,
                      seconds=round(trainer.elapsed, 2))
    except BaseException as e:
        writer.status("failed", message=f"{type(e).__name__}: {e}")
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return TrainResult(Path(run_dir), ckpt, eps, trainer.step_count, trainer.elapsed, state)
