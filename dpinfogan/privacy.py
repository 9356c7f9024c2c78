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

* ``fast`` (default): ghost norms + book-keeping. One forward over real and fake rows and one
  backward to the layer *outputs* only; each layer's per-sample gradient norm comes from its
  input activations and output gradients, and the clipped, summed weight gradient is one weighted
  matmul per layer. No per-sample gradient of a large layer is materialised: Linear norms are
  ‖g_i‖·‖a_i‖; the 7×7 conv's come from Gram matrices (ghost norm, its patch Gram built from a
  stride-parity split of the input instead of im2col); the first conv's per-sample gradients are
  small (p·k² floats), so they are formed and reused for the clipped sum.
* ``opacus``: Opacus' ``GradSampleModule`` hooks and ``DPOptimizer`` (the reference).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn

from .config import CLIP_FAKE, TrainConfig
from .latent import Latent
from .losses import fake_d_loss, real_loss
from .models import Discriminator

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
        generator: torch RNG for the noise (seeded for reproducibility).
        clip_fake: how the generated samples' term is clipped to C (no noise): "sample" (each
            sample), "batch" (the mean gradient as one vector) or "none". Not needed for privacy; it keeps the real and generated terms on one
            scale, which otherwise lets the unclipped fake term dominate and D learn to call
            everything fake.
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
        generator: Optional[torch.Generator] = None,
        clip_fake: str = "sample",
    ):
        if method not in ("fast", "opacus"):
            raise ValueError(f"DP step must be 'fast' or 'opacus', got {method!r}")
        self.d, self.cfg, self.private, self.method = d, cfg, private, method
        self.sigma, self.C, self.B = float(noise_multiplier), float(max_grad_norm), float(expected_batch_size)
        self.generator = generator
        if clip_fake not in CLIP_FAKE:
            raise ValueError(f"clip_fake must be one of {CLIP_FAKE}, got {clip_fake!r}")
        self.clip_fake = clip_fake
        self.optimizer = optimizer
        self.layers = [m for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        if private and method == "fast":
            _check_fast_supported(d)
        if private and method == "opacus":
            self.gsm = GradSampleModule(d, loss_reduction="mean")
            self.gsm.disable_hooks()
            self.dp_opt = DPOptimizer(
                optimizer,
                noise_multiplier=self.sigma,
                max_grad_norm=self.C,
                expected_batch_size=int(round(self.B)),
                loss_reduction="mean",
                generator=generator,
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
        self.dp_opt.pre_step()  # clip, sum, add N(0, σ²C²), divide by q·N  -> p.grad
        noised = [p.grad.clone() for p in self.d.parameters()]
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
        grads_out = torch.autograd.grad(lr.sum() + lf, outs)

        # Per-sample norms of the real rows, and of the generated rows too when those are clipped
        # one by one ("sample"); "batch" and "none" need no per-sample work on generated rows.
        n_fake = fake_x.shape[0]
        rows = n + n_fake if self.clip_fake == "sample" else n
        sq_norms = torch.zeros(rows)
        per_sample: dict[nn.Module, torch.Tensor] = {}
        for layer, a, g in zip(self.layers, acts, grads_out):
            if _keeps_direct_grads(layer, a, g):  # small per-sample grads: form once, reuse below
                per_sample[layer] = psg = _conv_direct_grads(layer, a[:rows], g[:rows])  # (rows, p·D)
                b_sq = _sq(g[:rows].sum((2, 3))) if layer.bias is not None else 0.0
                sq_norms += _sq(psg) + b_sq
            else:
                sq_norms += _per_sample_sq_norm(layer, a[:rows], g[:rows])
        norms = sq_norms[:n].sqrt()
        clip = (self.C / (norms + _EPS)).clamp(max=1.0)  # (n,)
        if self.clip_fake == "sample":
            # Row weights: real rows clip_i / B (clipped sum, then the DP-SGD divisor); a fake row
            # holds ∇ℓ_j / n_fake and gets its own clip factor.
            fake_w = (self.C / (sq_norms[n:].sqrt() * n_fake + _EPS)).clamp(max=1.0)
            row_w = torch.cat([clip / self.B, fake_w])
            grads = [_weighted_grad(layer, a, g, row_w, per_sample.get(layer))
                     for layer, a, g in zip(self.layers, acts, grads_out)]
        else:
            # Real rows' clipped sum / B, plus the generated rows' mean gradient, itself clipped to
            # C as one vector ("batch") or left alone ("none"): one weight gradient over each part.
            real = [_weighted_grad(layer, a[:n], g[:n], clip / self.B, per_sample.get(layer))
                    for layer, a, g in zip(self.layers, acts, grads_out)]
            gen = [_weighted_grad(layer, a[n:], g[n:], None)
                   for layer, a, g in zip(self.layers, acts, grads_out)]
            scale = 1.0
            if self.clip_fake == "batch":
                scale = _clip_factor([t for pair in gen for t in pair], self.C)
            grads = [tuple(None if r is None else r + scale * f for r, f in zip(rp, fp)) for rp, fp in zip(real, gen)]
        std = self.sigma * self.C / self.B
        for layer, (gw, gb) in zip(self.layers, grads):
            layer.weight.grad = gw + std * torch.randn(gw.shape, generator=self.generator)
            if gb is not None:
                layer.bias.grad = gb + std * torch.randn(gb.shape, generator=self.generator)
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


def _sq(x: torch.Tensor) -> torch.Tensor:
    """Row-wise squared L2 norm of (B, d), without a squared temporary."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def _opacus_norms(d: nn.Module) -> torch.Tensor:
    gs = [p.grad_sample.reshape(p.grad_sample.shape[0], -1) for p in d.parameters()]
    return torch.cat(gs, dim=1).norm(dim=1)


# Conv patches are processed in chunks of about this many floats (32 MiB): a whole-batch im2col
# buffer (100+ MB at batch 512) costs more in fresh-page faults than the arithmetic on it.
_CHUNK_FLOATS = 1 << 23


_COPY_COST = 8  # a copied float costs about as much as 8 multiply-adds (memory-bound on CPU)


def _unfold(layer: nn.Conv2d, a: torch.Tensor) -> torch.Tensor:
    """Conv input (B, Cin, H, W) -> patches (B, Cin·kh·kw, L), one strided copy (im2col loops)."""
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = layer.kernel_size, layer.stride, layer.dilation, layer.padding
    x = F.pad(a, (pw, pw, ph, ph))
    B, C, H, W = x.shape
    Ho, Wo = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    b_, c_, h_, w_ = x.stride()
    patches = x.as_strided((B, C, kh, kw, Ho, Wo), (b_, c_, dh * h_, dw * w_, sh * h_, sw * w_))
    return patches.reshape(B, C * kh * kw, Ho * Wo)


def _conv_plan(layer: nn.Conv2d, a_shape: torch.Size, g_shape: torch.Size) -> tuple[str, int]:
    """Cheapest exact per-sample norm for this conv ("direct", "ghost" or "parity", by
    multiply-adds + copied floats·_COPY_COST) and its temporary floats per sample."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    C, p, Ho, Wo = a_shape[1], g_shape[1], g_shape[2], g_shape[3]
    L, D = Ho * Wo, C * kh * kw
    costs = {  # plan: (cost, temporary floats) per sample
        "direct": (p * D * L + _COPY_COST * D * L, D * L + p * D),  # form G_i A_iᵀ (p×D)
        "ghost": (L * L * (D + p) + _COPY_COST * D * L, D * L + 2 * L * L),  # <A_iᵀA_i, G_iᵀG_i>
    }
    if layer.dilation == (1, 1) and kh % sh == 0 and kw % sw == 0:
        YX = (Ho + kh // sh - 1) * (Wo + kw // sw - 1)
        K = C * sh * sw
        costs["parity"] = (YX * YX * K + L * L * p + _COPY_COST * K * YX, K * YX + YX * YX + 2 * L * L)
    plan = min(costs, key=lambda k: costs[k][0])
    return plan, costs[plan][1]


def _parity_gram(layer: nn.Conv2d, a: torch.Tensor, Ho: int, Wo: int) -> torch.Tensor:
    """A_iᵀA_i (B, L, L) without im2col, for stride s dividing kernel k.

    Tap k_i = s·u + r reads padded row s·(l + u) + r, so splitting the padded input by row/column
    parity (r, c) gives a (C·sh·sw, Y·X) matrix Z_i whose Gram M_i = Z_iᵀZ_i holds every patch
    inner product: (A_iᵀA_i)[l, l'] = Σ_{u,v} M_i[l + (u,v), l' + (u,v)]. Z_i is 4× the input,
    not 16×, and the Gram costs (Y·X)²·C·s² instead of L²·C·k².
    """
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    B, C, H, W = a.shape
    uh, uw = kh // sh, kw // sw
    Y, X = Ho + uh - 1, Wo + uw - 1
    # Z[b, c, r, q, y, x] = padded input at row s·y + r, column s·x + q. Each parity (r, q) is one
    # strided slice of the unpadded input, copied straight into place: one pass over the input,
    # where F.pad + pixel_unshuffle took two (and 2.2× the time, measured at batch 512).
    Z = a.new_zeros(B, C, sh, sw, Y, X)
    for r, (rows, y) in enumerate(_parity_slices(H, sh, ph, Y)):
        for q, (cols, x) in enumerate(_parity_slices(W, sw, pw, X)):
            Z[:, :, r, q, y, x] = a[:, :, rows, cols]
    Z = Z.view(B, C * sh * sw, Y * X)
    M = torch.bmm(Z.transpose(1, 2), Z).view(B, Y, X, Y, X)
    # Σ_{u,v} M[l + (u,v), l' + (u,v)], summed over u, then v: 3× faster than 4-D shifted slices.
    Mu = sum(M[:, u : u + Ho, :, u : u + Ho, :] for u in range(uh))  # (B, Ho, X, Ho, X)
    aa = sum(Mu[:, :, v : v + Wo, :, v : v + Wo] for v in range(uw))  # (B, Ho, Wo, Ho, Wo)
    return aa.reshape(B, Ho * Wo, Ho * Wo)


def _parity_slices(size: int, stride: int, pad: int, out: int) -> list[tuple[slice, slice]]:
    """For each parity r of a padded axis: (input slice, parity-grid slice) with padded index
    stride·y + r = input index + pad, cropped to ``out`` grid positions."""
    res = []
    for r in range(stride):
        first = (r - pad) % stride  # first input index whose padded index has parity r
        y0 = (first + pad) // stride
        count = max(0, min(len(range(first, size, stride)), out - y0))
        res.append((slice(first, first + stride * count, stride), slice(y0, y0 + count)))
    return res


def _per_sample_sq_norm(layer: nn.Module, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """‖∂ℓ_i/∂(W, b)‖² per sample from the layer input a and output gradient g, shape (B,)."""
    if a.shape[0] == 0:
        return torch.zeros(0)
    if isinstance(layer, nn.Linear):  # a (B, d), g (B, p): ∇W_i = g_i a_iᵀ, so ‖∇W_i‖ = ‖g_i‖·‖a_i‖
        return _sq(g) * (_sq(a) + (1.0 if layer.bias is not None else 0.0))
    G = g.flatten(2)  # (B, p, L)
    Ho, Wo = g.shape[2], g.shape[3]
    # ∇W_i = G_i A_iᵀ (p×D, A_i the im2col patches). Either form it (direct: the 28×28 first layer)
    # or never form it: ‖G_i A_iᵀ‖² = <A_iᵀA_i, G_iᵀG_i> (ghost: the 7×7 layer, whose A_iᵀA_i
    # is cheapest from the parity split). Rows are processed in chunks to bound temporaries.
    plan, floats = _conv_plan(layer, a.shape, g.shape)
    if plan == "direct":
        sq = _sq(_conv_direct_grads(layer, a, g))
        return sq + _sq(G.sum(2)) if layer.bias is not None else sq
    chunk = max(1, _CHUNK_FLOATS // floats)
    w_sq = []
    for s in range(0, a.shape[0], chunk):
        ac, Gc = a[s : s + chunk], G[s : s + chunk]  # (b, C, H, W), (b, p, L)
        if plan == "ghost":
            A = _unfold(layer, ac)
            aa = torch.bmm(A.transpose(1, 2), A)  # (b, L, L)
        else:
            aa = _parity_gram(layer, ac, Ho, Wo)
        w_sq.append(aa.mul_(torch.bmm(Gc.transpose(1, 2), Gc)).sum((1, 2)))
    sq = torch.cat(w_sq)
    return sq + _sq(G.sum(2)) if layer.bias is not None else sq


def _conv_direct_grads(layer: nn.Conv2d, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per-sample weight gradients G_i A_iᵀ of a conv, flattened like the weight: (B, p·Cin·kh·kw)."""
    G = g.flatten(2)  # (B, p, L)
    chunk = max(1, _CHUNK_FLOATS // _conv_plan(layer, a.shape, g.shape)[1])
    out = torch.empty(a.shape[0], G.shape[1], layer.weight[0].numel())
    for s in range(0, a.shape[0], chunk):
        torch.bmm(G[s : s + chunk], _unfold(layer, a[s : s + chunk]).transpose(1, 2), out=out[s : s + chunk])
    return out.view(a.shape[0], layer.weight.numel())


def _keeps_direct_grads(layer: nn.Module, a: torch.Tensor, g: torch.Tensor) -> bool:
    """Whether to form this conv's per-sample gradients for every row and reuse them for the
    weighted sum: when the norm forms them anyway and they are no bigger than the patches
    (the first conv: p·Cin·k² = 512 floats per sample), a weighted row sum of them replaces a
    second weight-gradient pass over the batch."""
    if not isinstance(layer, nn.Conv2d) or _conv_plan(layer, a.shape, g.shape)[0] != "direct":
        return False
    return layer.weight.numel() <= layer.weight[0].numel() * g.shape[2] * g.shape[3]


def _weighted_grad(layer: nn.Module, a: torch.Tensor, g: torch.Tensor, w: Optional[torch.Tensor],
                   per_sample: Optional[torch.Tensor] = None):
    """Σ_i w_i ∇(W, b)_i as one matmul per layer (book-keeping): the layer's ordinary weight
    gradient with each output-gradient row scaled by w_i, or the weighted sum of ``per_sample``
    weight gradients (B, numel(W)) when those were formed; w None means all weights 1 (the
    plain weight gradient). Returns (∇W, ∇b or None)."""
    if per_sample is not None:
        gb = w @ g.sum((2, 3)) if layer.bias is not None else None
        return (w @ per_sample).view_as(layer.weight), gb
    if a.shape[0] == 0:  # an empty Poisson batch contributes nothing
        return torch.zeros_like(layer.weight), None if layer.bias is None else torch.zeros_like(layer.bias)
    gw = g if w is None else g * w.view(-1, *([1] * (g.dim() - 1)))  # (B, p) or (B, p, H, W)
    if isinstance(layer, nn.Linear):
        return gw.T @ a, gw.sum(0) if layer.bias is not None else None
    # PyTorch's own conv weight-gradient kernel (what a normal backward runs), not an im2col einsum.
    gW = torch.nn.grad.conv2d_weight(
        a, layer.weight.shape, gw, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
        groups=layer.groups,
    )
    return gW, gw.sum((0, 2, 3)) if layer.bias is not None else None
