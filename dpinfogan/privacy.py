"""The discriminator's private step: DP-SGD on the real-data term, plain SGD on the rest.

One step's discriminator gradient is::

    grad = (Σ_i clip_C(∇ℓ_real(x_i)) + N(0, σ²C²·I)) / B  +  fake term

where B = q·N is the expected Poisson batch size, ``clip_C(g) = g·min(1, C/‖g‖)`` over the whole
per-sample gradient of the discriminator and Q head, σ is the noise multiplier and C the clipping
norm. Generated samples carry no private information, so their term (D's loss on fakes and Q's
code recovery, over m generated samples) is added after noising, with no noise. It is clipped only
to keep both terms on one scale (``clip_fake``): ``"sample"`` (default) clips each generated
sample's gradient, ``(1/m) Σ_j clip_C(∇ℓ_fake(G(z_j)))``; ``"batch"`` clips the mean gradient as
one vector, ``clip_C((1/m) Σ_j ∇ℓ_fake(G(z_j)))``, which needs no per-sample work; ``"none"``
leaves the mean alone. By post-processing the step is exactly as private as DP-SGD on the real
term alone, whichever the mode.

Two interchangeable implementations:

* ``fast`` (default): ghost norms + book-keeping (:mod:`dpinfogan.ghost`). One forward over real
  and fake rows and one backward to the layer *outputs* only; each layer's per-sample gradient
  norm comes from its input activations and output gradients, and the clipped, summed weight
  gradient is one weighted matmul per layer. No per-sample gradient of a large layer is
  materialised.
* ``opacus``: Opacus' ``GradSampleModule`` hooks and ``DPOptimizer`` (the reference).

Both draw the noise from :class:`dpinfogan.secret.SecretRandom`, never from a seeded generator.
"""
from __future__ import annotations

from typing import Optional

import torch
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn

from . import ghost
from .config import CLIP_FAKE, TrainConfig
from .latent import Latent
from .losses import fake_d_loss, real_loss
from .models import Discriminator
from .secret import SecretRandom

_EPS = 1e-6  # Opacus' guard in the clip factor C / (‖g‖ + 1e-6)


class PrivateDStep:
    """Computes and applies one discriminator (+Q) update.

    Args:
        d: the discriminator (its parameters are updated in place).
        optimizer: a plain torch optimizer over ``d.parameters()``.
        cfg: training config (losses' weights, code mode).
        noise_multiplier: σ; the noise std on the clipped sum is σ·C.
        max_grad_norm: C, the per-sample L2 clipping bound.
        expected_batch_size: q·N, the divisor of the noised sum.
        private: False for the non-private baseline (no clipping, no noise, mean over the batch).
        method: "fast" or "opacus".
        noise: the secret source of the Gaussian noise (:class:`SecretRandom`, seeded from OS
            entropy); a fresh one when omitted. Never a seeded torch generator: replayable noise
            would void the guarantee (see :mod:`dpinfogan.secret`).
        clip_fake: how the generated samples' term is clipped to C (no noise): "sample" (each
            sample), "batch" (the mean gradient as one vector) or "none". Not needed for privacy;
            it keeps the real and generated terms on one scale, which otherwise lets the
            unclipped fake term dominate and D learn to call everything fake.
    """

    def __init__(
        self,
        d: Discriminator,
        optimizer: torch.optim.Optimizer,
        cfg: TrainConfig,
        *,
        noise_multiplier: float,
        max_grad_norm: float,
        expected_batch_size: float,
        private: bool = True,
        method: str = "fast",
        noise: Optional[SecretRandom] = None,
        clip_fake: str = "sample",
    ):
        if method not in ("fast", "opacus"):
            raise ValueError(f"DP step must be 'fast' or 'opacus', got {method!r}")
        self.d, self.cfg, self.private, self.method = d, cfg, private, method
        self.sigma, self.C, self.B = float(noise_multiplier), float(max_grad_norm), float(expected_batch_size)
        self.noise = noise if noise is not None else SecretRandom()
        if clip_fake not in CLIP_FAKE:
            raise ValueError(f"clip_fake must be one of {CLIP_FAKE}, got {clip_fake!r}")
        self.clip_fake = clip_fake
        self.optimizer = optimizer
        self.layers = [m for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        self.workspace = ghost.Workspace()  # the fast step's scratch tensors, reused every step
        if private and method == "fast":
            _check_fast_supported(d)
        if private and method == "opacus":
            self.gsm = GradSampleModule(d, loss_reduction="mean")
            self.gsm.disable_hooks()
            # Opacus clips and sums; its own noise is off because it draws from a torch generator
            # (a 64-bit seed) or torchcsprng (no build for this torch). The secret noise is added
            # after pre_step, at the same std σ·C/B.
            self.dp_opt = DPOptimizer(
                optimizer,
                noise_multiplier=0.0,
                max_grad_norm=self.C,
                expected_batch_size=int(round(self.B)),
                loss_reduction="mean",
            )
            # DPOptimizer divides by an int batch size; keep the exact q·N for both methods.
            self.dp_opt.expected_batch_size = self.B

    # -- public -------------------------------------------------------------------------------
    def step(self, real_x: torch.Tensor, real_y: Optional[torch.Tensor], fake_x: torch.Tensor, fake: Latent) -> dict:
        """Set D's gradients for one step and apply the optimizer; returns loss statistics."""
        stats = self.compute_grads(real_x, real_y, fake_x, fake)
        self.optimizer.step()
        return stats

    def compute_grads(
        self, real_x: torch.Tensor, real_y: Optional[torch.Tensor], fake_x: torch.Tensor, fake: Latent
    ) -> dict:
        """Write the step's gradient into ``p.grad`` of every D parameter (no optimizer step)."""
        self.optimizer.zero_grad(set_to_none=True)
        fake_x = fake_x.detach()
        if not self.private:
            return self._plain(real_x, real_y, fake_x, fake)
        if self.method == "opacus":
            return self._opacus(real_x, real_y, fake_x, fake)
        return self._fast(real_x, real_y, fake_x, fake)

    # -- implementations ----------------------------------------------------------------------
    def _plain(self, real_x, real_y, fake_x, fake) -> dict:
        n = real_x.shape[0]
        out = self.d(torch.cat([real_x, fake_x]))
        lr = real_loss(_rows(out, 0, n), real_y, self.cfg)
        lf = fake_d_loss(_rows(out, n, None), fake, self.cfg)
        loss = (lr.mean() if n else 0.0) + lf
        loss.backward()
        return {"loss_d_real": float(lr.detach().mean()) if n else float("nan"), "loss_d_fake": float(lf.detach()), "clip_frac": 0.0}

    def _opacus(self, real_x, real_y, fake_x, fake) -> dict:
        n = real_x.shape[0]
        self.dp_opt.zero_grad(set_to_none=True)
        self.gsm.enable_hooks()
        try:
            if n:
                lr = real_loss(self.gsm(real_x), real_y, self.cfg)
                lr.mean().backward()
            else:
                lr = torch.zeros(0)
        finally:
            self.gsm.disable_hooks()
            _drop_stale_activations(self.d)
        for p in self.d.parameters():
            # Heads the real loss does not use (e.g. Q's continuous head) and an empty Poisson
            # batch have no per-sample gradient: their real-data gradient is zero, noise still applies.
            if p.grad_sample is None:
                p.grad_sample = torch.zeros((n, *p.shape))
        norms = _opacus_norms(self.d) if n else torch.zeros(0)
        self.dp_opt.pre_step()  # clip, sum, divide by q·N  -> p.grad
        std = self.sigma * self.C / self.B
        noised = [p.grad + std * self.noise.normal(tuple(p.shape)) for p in self.d.parameters()]
        self.dp_opt.zero_grad(set_to_none=True)
        if self.clip_fake == "sample":
            self.gsm.enable_hooks()
        try:
            lf = fake_d_loss(self.gsm(fake_x), fake, self.cfg)
            lf.backward()
        finally:
            self.gsm.disable_hooks()
            _drop_stale_activations(self.d)
        if self.clip_fake == "sample":  # per-sample clip of the fake term, no noise (see module docstring)
            nf = fake_x.shape[0]
            for p in self.d.parameters():
                if p.grad_sample is None:
                    p.grad_sample = torch.zeros((nf, *p.shape))
            fclip = (self.C / (_opacus_norms(self.d) + _EPS)).clamp(max=1.0)
            for p in self.d.parameters():
                p.grad = torch.einsum("i,i...", fclip, p.grad_sample) / nf
        elif self.clip_fake == "batch":  # the mean fake gradient clipped as one vector
            scale = _clip_factor([p.grad for p in self.d.parameters()], self.C)
            for p in self.d.parameters():
                if p.grad is not None:
                    p.grad = p.grad * scale
        for p, g0 in zip(self.d.parameters(), noised):
            p.grad = g0 + (p.grad if p.grad is not None else 0)
            p.grad_sample = None
        return _stats(lr, lf, norms, self.C)

    def _fast(self, real_x, real_y, fake_x, fake) -> dict:
        n = real_x.shape[0]
        seen: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

        def record(module: nn.Module, inp: tuple, out: torch.Tensor) -> None:
            if module in seen:  # a layer used twice per forward would need its per-use terms summed
                raise ValueError("the fast DP step needs each Linear/Conv2d layer used once per forward")
            seen[module] = (inp[0].detach(), out)

        hooks = [m.register_forward_hook(record) for m in self.layers]
        try:
            out = self.d(torch.cat([real_x, fake_x]))
        finally:
            for h in hooks:
                h.remove()
        acts = [seen[m][0] for m in self.layers]  # layer inputs, e.g. (n + n_fake, d) for Linear
        outs = [seen[m][1] for m in self.layers]
        lr = real_loss(_rows(out, 0, n), real_y, self.cfg)  # (n,)
        lf = fake_d_loss(_rows(out, n, None), fake, self.cfg)  # scalar, mean over fakes
        # d(Σ_i ℓ_i + ℓ_fake)/d(layer output): row i<n holds ∇ℓ_i alone (rows are independent).
        # Fresh tensors, ours to overwrite once the norms are taken.
        grads_out = torch.autograd.grad(lr.sum() + lf, outs)

        # Per-sample norms of the real rows, and of the generated rows too when those are clipped
        # one by one ("sample"); "batch" and "none" need no per-sample work on generated rows.
        n_fake = fake_x.shape[0]
        rows = n + n_fake if self.clip_fake == "sample" else n
        ws = self.workspace
        sq_norms = torch.zeros(rows)
        parts = []  # per layer: (per-sample weight grads of the first `rows` rows or None, bias grads)
        for layer, a, g in zip(self.layers, acts, grads_out):
            bias = ghost.bias_grads(layer, g)  # (n + n_fake, p) or None
            weight = None  # a conv with small per-sample grads (the first) has them formed, reused below
            if ghost.keeps_direct_grads(layer, a, g):
                weight = ghost.direct_grads(layer, a[:rows], g[:rows], ws)
            sq_norms += ghost.per_sample_sq_norm(layer, a[:rows], g[:rows], ws, weight=weight,
                                                 bias=None if bias is None else bias[:rows])
            parts.append((weight, bias))
        norms = sq_norms[:n].sqrt()
        clip = (self.C / (norms + _EPS)).clamp(max=1.0)  # (n,)
        if self.clip_fake == "sample":
            # Row weights: real rows clip_i / B (clipped sum, then the DP-SGD divisor); a fake row
            # holds ∇ℓ_j / n_fake and gets its own clip factor.
            fake_w = (self.C / (sq_norms[n:].sqrt() * n_fake + _EPS)).clamp(max=1.0)
            row_w = torch.cat([clip / self.B, fake_w])
            grads = [ghost.weighted_grad(layer, a, g, row_w, weight=w, bias=b, scale_g_in_place=True)
                     for layer, a, g, (w, b) in zip(self.layers, acts, grads_out, parts)]
        else:
            # Real rows' clipped sum / B, plus the generated rows' mean gradient, itself clipped to
            # C as one vector ("batch") or left alone ("none"): one weight gradient over each part.
            real = [ghost.weighted_grad(layer, a[:n], g[:n], clip / self.B, weight=w,
                                        bias=None if b is None else b[:n], scale_g_in_place=True)
                    for layer, a, g, (w, b) in zip(self.layers, acts, grads_out, parts)]
            gen = [ghost.weighted_grad(layer, a[n:], g[n:], None, bias=None if b is None else b[n:])
                   for layer, a, g, (_, b) in zip(self.layers, acts, grads_out, parts)]
            scale = 1.0
            if self.clip_fake == "batch":
                scale = _clip_factor([t for pair in gen for t in pair], self.C)
            grads = [tuple(None if r is None else r + scale * f for r, f in zip(rp, fp)) for rp, fp in zip(real, gen)]
        std = self.sigma * self.C / self.B
        for layer, (gw, gb) in zip(self.layers, grads):  # fresh tensors: the noise is added in place
            for p, grad in ((layer.weight, gw), (layer.bias, gb)):
                if grad is not None:
                    buf = ws.get((id(p), "noise"), tuple(grad.shape), grad.dtype)
                    p.grad = grad.add_(self.noise.normal_(buf), alpha=std)
        return _stats(lr, lf, norms, self.C)


# -- helpers ----------------------------------------------------------------------------------
def _clip_factor(tensors: list[Optional[torch.Tensor]], C: float) -> float:
    """min(1, C / ‖v‖) for the vector v of all given tensors (None entries skipped): the factor
    that clips v, as one vector, to L2 norm C."""
    norm = torch.cat([t.flatten() for t in tensors if t is not None]).norm()
    return min(1.0, C / (float(norm) + _EPS))


def _check_fast_supported(d: nn.Module) -> None:
    """The fast step knows Linear and plain Conv2d; any other parameterised layer would escape clipping."""
    for name, m in d.named_modules():
        own = list(m.parameters(recurse=False))
        if isinstance(m, nn.Conv2d):
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise ValueError(f"fast DP step: conv layer {name!r} needs groups=1 and numeric zero padding")
        elif own and not isinstance(m, nn.Linear):
            raise ValueError(f"fast DP step: layer {name!r} ({type(m).__name__}) is not supported; use 'opacus'")


def _rows(out, start: int, stop: Optional[int]):
    return type(out)(*(None if t is None else t[start:stop] for t in out))


def _stats(lr: torch.Tensor, lf: torch.Tensor, norms: torch.Tensor, C: float) -> dict:
    n = lr.shape[0]
    return {
        "loss_d_real": float(lr.detach().mean()) if n else float("nan"),
        "loss_d_fake": float(lf.detach()),
        "clip_frac": float((norms > C).float().mean()) if n else 0.0,
    }


def _drop_stale_activations(d: nn.Module) -> None:
    """Forget the per-pass state Opacus' hooks left behind for layers no backward reached.

    A head the loss did not use (Q's continuous head on real data) keeps its stored activations
    and a raised forward counter: left there, activations pile up step after step, the next pass
    takes its batch size from the largest stored one, and the counter never returns to 0, so
    that head's next per-sample gradient is silently dropped.
    """
    for m in d.modules():
        if hasattr(m, "activations"):
            m.activations = []
        if hasattr(m, "max_batch_len"):
            del m.max_batch_len
        for p in m.parameters(recurse=False):
            if hasattr(p, "_forward_counter"):
                p._forward_counter = 0
            if hasattr(p, "_current_grad_sample"):
                del p._current_grad_sample


def _opacus_norms(d: nn.Module) -> torch.Tensor:
    gs = [p.grad_sample.reshape(p.grad_sample.shape[0], -1) for p in d.parameters()]
    return torch.cat(gs, dim=1).norm(dim=1)
