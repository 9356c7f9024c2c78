"""Per-sample gradient norms and clipped gradient sums of Linear and Conv2d layers, from one
backward pass (ghost norms + book-keeping), with no per-sample gradient of a large layer formed.

For a layer with input activations ``a`` and output gradients ``g`` (one row per sample):

* Linear, a (B, d), g (B, p): ∇W_i = g_i a_iᵀ, so ‖∇W_i‖² = ‖g_i‖²·‖a_i‖².
* Conv2d, patches A_i (D, L) (D = Cin·kh·kw, L = output positions), G_i (p, L): ∇W_i = G_i A_iᵀ.
  Either form it ("direct", cheap for the first conv: p·D = 512 floats) or use
  ‖G_i A_iᵀ‖² = <A_iᵀA_i, G_iᵀG_i> ("ghost", L×L Grams). For stride s dividing the kernel, the
  patch Gram comes from a stride-parity split of the input instead of im2col ("parity").
* The clipped sum Σ_i w_i ∇W_i is the layer's ordinary weight gradient with row i of g scaled by
  w_i: one matmul (Linear) or PyTorch's conv weight-gradient kernel (Conv2d).

The step repeats the same temporaries every call, so they live in a :class:`Workspace`: a fresh
tensor of tens of MB costs its page faults again on every step (measured: 38k faults per private
step at batch 512, twice the non-private step's).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

# Conv temporaries are processed in chunks of about this many floats (16 MiB), which bounds the
# workspace; smaller chunks were slower (the parity norm at batch 512: 17.5 ms at 2²², 22 at 2²⁰,
# 39 at 2¹⁸, 21 at 2²⁴, 2 threads).
CHUNK_FLOATS = 1 << 22
COPY_COST = 8  # a copied float costs about as much as 8 multiply-adds (memory-bound on CPU)


class Workspace:
    """Scratch tensors reused from one step to the next, keyed by name and per-sample shape.

    A buffer grows to the largest batch seen and smaller batches use its leading rows, so the
    per-sample layout (and the zeros a buffer was created with, where only fixed positions are
    ever written) is the same whatever the batch size.
    """

    def __init__(self) -> None:
        self._bufs: dict[tuple, torch.Tensor] = {}

    def get(self, key: tuple, shape: tuple[int, ...], dtype: torch.dtype, zeroed: bool = False) -> torch.Tensor:
        """A (rows, *per_sample) tensor; ``zeroed`` buffers are zero when created, never cleared."""
        full_key = (*key, tuple(shape[1:]), dtype, zeroed)
        numel = math.prod(shape)
        buf = self._bufs.get(full_key)
        if buf is None or buf.numel() < numel:
            buf = (torch.zeros if zeroed else torch.empty)(numel, dtype=dtype)
            self._bufs[full_key] = buf
        return buf[:numel].view(shape)

    @property
    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self._bufs.values())


def sq(x: torch.Tensor) -> torch.Tensor:
    """Row-wise squared L2 norm of (B, d), without a squared temporary."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def bias_grads(layer: nn.Module, g: torch.Tensor) -> Optional[torch.Tensor]:
    """Per-sample bias gradients (B, p) from the output gradient g, or None for a layer without bias."""
    if layer.bias is None:
        return None
    return g if isinstance(layer, nn.Linear) else g.flatten(2).sum(2)  # conv: Σ over positions


def per_sample_sq_norm(layer: nn.Module, a: torch.Tensor, g: torch.Tensor, ws: Optional[Workspace] = None, *,
                       weight: Optional[torch.Tensor] = None, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """‖∂ℓ_i/∂(W, b)‖² per sample from the layer input a and output gradient g, shape (B,).
    ``weight`` (B, numel W) and ``bias`` (B, p): a conv's per-sample gradients already formed, if any."""
    if a.shape[0] == 0:
        return torch.zeros(0)
    if isinstance(layer, nn.Linear):  # ∇W_i = g_i a_iᵀ and ∇b_i = g_i: ‖g_i‖²·(‖a_i‖² + 1)
        return sq(g) * (sq(a) + (1.0 if layer.bias is not None else 0.0))
    if bias is None:
        bias = bias_grads(layer, g)
    b_sq = sq(bias) if bias is not None else 0.0
    if weight is not None:
        return sq(weight) + b_sq
    ws = ws if ws is not None else Workspace()
    plan, floats = conv_plan(layer, a.shape, g.shape)
    if plan == "direct":
        return sq(direct_grads(layer, a, g, ws)) + b_sq
    G = g.flatten(2)  # (B, p, L)
    Ho, Wo = g.shape[2], g.shape[3]
    L = Ho * Wo
    chunk = max(1, CHUNK_FLOATS // floats)
    w_sq = torch.empty(a.shape[0], dtype=a.dtype)
    for s in range(0, a.shape[0], chunk):
        ac, Gc = a[s : s + chunk], G[s : s + chunk]  # (b, C, H, W), (b, p, L)
        b = ac.shape[0]
        if plan == "ghost":
            A = unfold(layer, ac, ws)  # (b, D, L)
            aa = torch.bmm(A.transpose(1, 2), A, out=ws.get((id(layer), "AA"), (b, L, L), a.dtype))
        else:
            aa = parity_gram(layer, ac, Ho, Wo, ws)  # (b, L, L)
        gg = torch.bmm(Gc.transpose(1, 2), Gc, out=ws.get((id(layer), "GG"), (b, L, L), a.dtype))
        torch.linalg.vecdot(aa.view(b, L * L), gg.view(b, L * L), out=w_sq[s : s + b])  # <aa_i, gg_i>
    return w_sq + b_sq


def conv_plan(layer: nn.Conv2d, a_shape: torch.Size, g_shape: torch.Size) -> tuple[str, int]:
    """Cheapest exact per-sample norm for this conv ("direct", "ghost" or "parity", by
    multiply-adds + copied floats·COPY_COST) and its temporary floats per sample."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    C, p, Ho, Wo = a_shape[1], g_shape[1], g_shape[2], g_shape[3]
    L, D = Ho * Wo, C * kh * kw
    costs = {  # plan: (cost, temporary floats) per sample
        "direct": (p * D * L + COPY_COST * D * L, D * L + p * D),  # form G_i A_iᵀ (p×D)
        "ghost": (L * L * (D + p) + COPY_COST * D * L, D * L + 2 * L * L),  # <A_iᵀA_i, G_iᵀG_i>
    }
    if layer.dilation == (1, 1) and kh % sh == 0 and kw % sw == 0:
        YX = (Ho + kh // sh - 1) * (Wo + kw // sw - 1)
        K = C * sh * sw
        costs["parity"] = (YX * YX * K + L * L * p + COPY_COST * K * YX, K * YX + YX * YX + 3 * L * L)
    plan = min(costs, key=lambda k: costs[k][0])
    return plan, costs[plan][1]


def parity_gram(layer: nn.Conv2d, a: torch.Tensor, Ho: int, Wo: int, ws: Workspace) -> torch.Tensor:
    """A_iᵀA_i (B, L, L) without im2col, for stride s dividing kernel k.

    Tap k_i = s·u + r reads padded row s·(l + u) + r, so splitting the padded input by row/column
    parity (r, c) gives a (C·sh·sw, Y·X) matrix Z_i whose Gram M_i = Z_iᵀZ_i holds every patch
    inner product: (A_iᵀA_i)[l, l'] = Σ_{u,v} M_i[l + (u,v), l' + (u,v)]. Z_i is 4× the input,
    not 16×, and the Gram costs (Y·X)²·C·s² instead of L²·C·k².
    """
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    B, C = a.shape[:2]
    uh, uw = kh // sh, kw // sw
    Y, X = Ho + uh - 1, Wo + uw - 1
    key = (id(layer),)
    # Only the input's own positions are ever written, so the padding stays zero across steps; the
    # input size is in the key because which positions those are depends on it, not only on Y, X.
    Z = ws.get((*key, "Z", *a.shape[2:]), (B, C, sh, sw, Y, X), a.dtype, zeroed=True)
    _fill_parity(Z, a, layer.padding)
    Zm = Z.view(B, C * sh * sw, Y * X)
    M = torch.bmm(Zm.transpose(1, 2), Zm, out=ws.get((*key, "M"), (B, Y * X, Y * X), a.dtype))
    # Σ_{u,v} M[l + (u,v), l' + (u,v)], summed over u, then v: 3× faster than 4-D shifted slices.
    Mu = _shift_sum(M.view(B, Y, X, Y, X), (1, 3), Ho, uh, ws.get((*key, "Mu"), (B, Ho, X, Ho, X), a.dtype))
    aa = _shift_sum(Mu, (2, 4), Wo, uw, ws.get((*key, "AA"), (B, Ho, Wo, Ho, Wo), a.dtype))
    return aa.view(B, Ho * Wo, Ho * Wo)


def _shift_sum(M: torch.Tensor, dims: tuple[int, int], n: int, k: int, out: torch.Tensor) -> torch.Tensor:
    """out = Σ_{u<k} M narrowed to [u, u + n) along both ``dims`` (a Gram's diagonal shifts)."""
    def shifted(u: int) -> torch.Tensor:
        return M.narrow(dims[0], u, n).narrow(dims[1], u, n)

    if k == 1:
        return out.copy_(shifted(0))
    torch.add(shifted(0), shifted(1), out=out)
    for u in range(2, k):
        out.add_(shifted(u))
    return out


def _fill_parity(Z: torch.Tensor, a: torch.Tensor, padding: tuple[int, int]) -> None:
    """Z[b, c, r, q, y, x] = padded input at row s·y + r, column s·x + q (rows r, q in some fixed
    order per axis: the Gram does not depend on the order of Z's rows).

    Fast path, one copy: input row s·y' + r' lands at y = y' + (r' + pad)//s. When that offset is
    linear in r' and H divides by s, the whole input is one strided view of Z, written with its
    parity index r = r'. Otherwise one strided slice per parity (r, q), in padded-parity order.
    """
    B, C, sh, sw, Y, X = Z.shape
    H, W = a.shape[2:]
    rows = _linear_offsets(H, sh, padding[0], Y)
    cols = _linear_offsets(W, sw, padding[1], X)
    if rows is not None and cols is not None:
        (oy, ky), (ox, kx) = rows, cols
        zs = Z.stride()
        dst = Z.as_strided(
            (B, C, sh, sw, H // sh, W // sw),
            (zs[0], zs[1], zs[2] + ky * zs[4], zs[3] + kx * zs[5], zs[4], zs[5]),
            Z.storage_offset() + oy * zs[4] + ox * zs[5],
        )
        dst.copy_(a.reshape(B, C, H // sh, sh, W // sw, sw).permute(0, 1, 3, 5, 2, 4))
        return
    for r, (rs, y) in enumerate(_parity_slices(H, sh, padding[0], Y)):
        for q, (cs, x) in enumerate(_parity_slices(W, sw, padding[1], X)):
            Z[:, :, r, q, y, x] = a[:, :, rs, cs]


def _linear_offsets(size: int, stride: int, pad: int, out: int) -> Optional[tuple[int, int]]:
    """(first, slope) with grid offset (r' + pad)//stride = first + slope·r' for every input parity
    r', when size divides by stride and every input position lands inside the ``out``-long grid;
    else None."""
    offs = [(r + pad) // stride for r in range(stride)]
    slope = offs[1] - offs[0] if stride > 1 else 0
    if size % stride or any(o != offs[0] + slope * r for r, o in enumerate(offs)):
        return None
    if size // stride - 1 + offs[-1] >= out:
        return None
    return offs[0], slope


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


def unfold(layer: nn.Conv2d, a: torch.Tensor, ws: Workspace) -> torch.Tensor:
    """Conv input (B, Cin, H, W) -> patches (B, Cin·kh·kw, L), one strided copy (im2col)."""
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = layer.kernel_size, layer.stride, layer.dilation, layer.padding
    x = F.pad(a, (pw, pw, ph, ph))
    B, C, H, W = x.shape
    Ho, Wo = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    b_, c_, h_, w_ = x.stride()
    patches = x.as_strided((B, C, kh, kw, Ho, Wo), (b_, c_, dh * h_, dw * w_, sh * h_, sw * w_))
    out = ws.get((id(layer), "patches"), (B, C, kh, kw, Ho, Wo), a.dtype)
    return out.copy_(patches).view(B, C * kh * kw, Ho * Wo)


def direct_grads(layer: nn.Conv2d, a: torch.Tensor, g: torch.Tensor, ws: Optional[Workspace] = None) -> torch.Tensor:
    """Per-sample weight gradients G_i A_iᵀ of a conv, flattened like the weight: (B, p·Cin·kh·kw).
    Held in ``ws``: valid until its next use for this layer."""
    ws = ws if ws is not None else Workspace()
    G = g.flatten(2)  # (B, p, L)
    chunk = max(1, CHUNK_FLOATS // conv_plan(layer, a.shape, g.shape)[1])
    out = ws.get((id(layer), "per_sample"), (a.shape[0], G.shape[1], layer.weight[0].numel()), a.dtype)
    for s in range(0, a.shape[0], chunk):
        torch.bmm(G[s : s + chunk], unfold(layer, a[s : s + chunk], ws).transpose(1, 2), out=out[s : s + chunk])
    return out.view(a.shape[0], layer.weight.numel())


def keeps_direct_grads(layer: nn.Module, a: torch.Tensor, g: torch.Tensor) -> bool:
    """Whether to form this conv's per-sample gradients for every row and reuse them for the
    weighted sum: when the norm forms them anyway and they are no bigger than the patches
    (the first conv: p·Cin·k² = 512 floats per sample), a weighted row sum of them replaces a
    second weight-gradient pass over the batch."""
    if not isinstance(layer, nn.Conv2d) or conv_plan(layer, a.shape, g.shape)[0] != "direct":
        return False
    return layer.weight.numel() <= layer.weight[0].numel() * g.shape[2] * g.shape[3]


def weighted_grad(layer: nn.Module, a: torch.Tensor, g: torch.Tensor, w: Optional[torch.Tensor], *,
                  weight: Optional[torch.Tensor] = None, bias: Optional[torch.Tensor] = None,
                  scale_g_in_place: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Σ_i w_i ∇(W, b)_i (book-keeping): the layer's ordinary weight gradient with each
    output-gradient row scaled by w_i, one matmul or conv weight-gradient kernel per layer; or
    w @ the per-sample gradients ``weight`` (B, numel W) / ``bias`` (B, p) where already formed.
    w None means all weights 1 (the plain gradient). ``scale_g_in_place``: g is the caller's to
    overwrite (saves a copy of it). Returns fresh tensors (∇W, ∇b or None)."""
    if a.shape[0] == 0:  # an empty Poisson batch contributes nothing
        return torch.zeros_like(layer.weight), None if layer.bias is None else torch.zeros_like(layer.bias)
    if bias is None:
        bias = bias_grads(layer, g)
    gb = None if bias is None else (bias.sum(0) if w is None else w @ bias)
    if weight is not None:
        return (weight.sum(0) if w is None else w @ weight).view_as(layer.weight), gb
    gw = g
    if w is not None:  # (B, p) or (B, p, H, W), each row scaled by its weight
        w = w.view(-1, *([1] * (g.dim() - 1)))
        gw = g.mul_(w) if scale_g_in_place and g.is_contiguous() else g * w
    if isinstance(layer, nn.Linear):
        return gw.T @ a, gb
    # PyTorch's own conv weight-gradient kernel (what a normal backward runs), not an im2col einsum.
    gW = torch.nn.grad.conv2d_weight(
        a, layer.weight.shape, gw, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
        groups=layer.groups,
    )
    return gW, gb
