"""Per-sample gradient norms and weighted sums of Conv2d and Linear layers (dpinfogan.ghost) equal
autograd's, one sample at a time, for every plan and conv geometry, and scratch tensors reused
across batches of different sizes give the same answers as fresh ones."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dpinfogan import ghost


def _brute(layer: nn.Module, a: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample squared norms (B,), per-sample flat gradients (B, P)) by one autograd call each."""
    rows = []
    for i in range(a.shape[0]):
        gs = torch.autograd.grad(layer(a[i : i + 1]), list(layer.parameters()), g[i : i + 1])
        rows.append(torch.cat([t.reshape(-1) for t in gs]))
    flat = torch.stack(rows)
    return flat.pow(2).sum(1), flat


GEOMETRIES = [  # cin, cout, h, w, stride, kernel, pad
    (1, 8, 28, 28, 2, 4, 1), (32, 64, 14, 14, 2, 4, 1),  # the discriminator's two convs
    (2, 3, 8, 10, 2, 4, 0), (2, 3, 10, 12, 2, 4, 2), (2, 3, 12, 15, 3, 6, 3),  # one-copy parity fill
    (2, 3, 8, 11, 1, 4, 1),
    (1, 8, 28, 31, 2, 4, 1), (3, 5, 9, 12, 2, 4, 1), (2, 3, 12, 15, 3, 6, 2),  # per-parity slices
    (2, 3, 11, 14, 3, 6, 2),
]


@pytest.mark.parametrize("plan", ["direct", "ghost", "parity"])
@pytest.mark.parametrize("cin,cout,h,w,stride,kernel,pad", GEOMETRIES)
def test_conv_per_sample_norms_every_plan(monkeypatch, plan, cin, cout, h, w, stride, kernel, pad):
    """Each way of getting a conv's per-sample norm (form it, ghost via im2col, ghost via the
    parity split) is exact, whichever the cost model would pick for the shape."""
    monkeypatch.setattr(ghost, "conv_plan", lambda *a: (plan, 1000))
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, kernel, stride, pad)
    a = torch.randn(5, cin, h, w)
    g = torch.randn_like(conv(a))
    want, _ = _brute(conv, a, g)
    assert torch.allclose(ghost.per_sample_sq_norm(conv, a, g), want, rtol=1e-4)


def test_parity_fill_takes_one_copy_for_the_discriminator_convs():
    """Stride 2, padding 1 and even sizes: the input is one strided view of the parity buffer."""
    assert ghost._linear_offsets(14, 2, 1, 8) == (0, 1)
    assert ghost._linear_offsets(28, 2, 1, 15) == (0, 1)
    assert ghost._linear_offsets(15, 2, 1, 8) is None  # odd size: per-parity slices
    assert ghost._linear_offsets(12, 3, 2, 6) is None  # offsets 0, 1, 1: not linear


@pytest.mark.parametrize("plan", ["direct", "ghost", "parity"])
def test_workspace_reuse_across_batch_sizes(monkeypatch, plan):
    """One workspace, batches of 5, 2, 7 and 3 rows (a Poisson batch varies): every answer equals
    a fresh computation, so buffers that grow or are partly used keep their zero padding."""
    monkeypatch.setattr(ghost, "conv_plan", lambda *a: (plan, 1000))
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 4, 2, 1)
    ws = ghost.Workspace()
    for b in (5, 2, 7, 3):
        a = torch.randn(b, 4, 14, 14)
        g = torch.randn_like(conv(a))
        want, _ = _brute(conv, a, g)
        assert torch.allclose(ghost.per_sample_sq_norm(conv, a, g, ws), want, rtol=1e-4)
    assert ws.nbytes > 0
    # Inputs of 14×14 (one-copy fill) and 15×15 (sliced fill) give the same 7×7 output, hence the same
    # parity-buffer shape; each must still see its own zeros.
    for size in (14, 15, 14):
        a = torch.randn(3, 4, size, size)
        g = torch.randn_like(conv(a))
        assert torch.allclose(ghost.per_sample_sq_norm(conv, a, g, ws), _brute(conv, a, g)[0], rtol=1e-4)


@pytest.mark.parametrize("layer", [nn.Linear(7, 5), nn.Conv2d(3, 4, 4, 2, 1)], ids=["linear", "conv"])
def test_weighted_grad_is_the_weighted_sum_of_per_sample_grads(layer):
    torch.manual_seed(2)
    a = torch.randn(6, 7) if isinstance(layer, nn.Linear) else torch.randn(6, 3, 10, 10)
    g = torch.randn_like(layer(a))
    _, flat = _brute(layer, a, g)
    w = torch.rand(6)
    for kw in ({}, {"bias": ghost.bias_grads(layer, g)}, {"scale_g_in_place": True}):
        gW, gb = ghost.weighted_grad(layer, a, g.clone(), w, **kw)
        assert torch.allclose(torch.cat([gW.reshape(-1), gb]), w @ flat, rtol=1e-4, atol=1e-5)
    if isinstance(layer, nn.Conv2d):  # the reused per-sample weight gradients give the same sum
        gW, _ = ghost.weighted_grad(layer, a, g, w, weight=ghost.direct_grads(layer, a, g))
        assert torch.allclose(gW.reshape(-1), (w @ flat)[: layer.weight.numel()], rtol=1e-4, atol=1e-5)
