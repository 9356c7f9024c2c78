"""The private discriminator step is exactly DP-SGD on the real term.

With noise off, the fast ghost-norm step and the Opacus reference both equal an independent brute
force (one autograd call per sample, clipped by hand), parameter by parameter, for every layer of
the discriminator (Conv2d, trunk Linear, D and Q heads), with samples both below and above C. With
noise on, the noise has std σ·C/B with B the *expected* batch size.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from dpinfogan.config import PrivacyConfig, TrainConfig
from dpinfogan.latent import Latent, sample_latent
from dpinfogan.losses import fake_d_loss, real_loss
from dpinfogan.models import build_models
from dpinfogan.privacy import PrivateDStep

N_REAL, N_FAKE, B_EXPECTED = 8, 6, 10.0


def _case(code_mode: str = "labels", n_real: int = N_REAL, seed: int = 0):
    """Default-size discriminator (its 7×7 conv takes the ghost-norm path, the 14×14 one the
    direct path) with weights large enough that per-sample gradient norms vary a lot."""
    cfg = TrainConfig(code_mode=code_mode)
    torch.manual_seed(seed)
    g, d = build_models(cfg.model, cfg.latent)
    with torch.no_grad():
        for p in d.parameters():
            p.normal_(0.0, 0.05)
    x = torch.rand(n_real, 1, 28, 28) * 2 - 1
    x[: n_real // 2] *= 0.05  # low-contrast images: small gradients, so some rows stay below C
    y = torch.randint(0, 10, (n_real,)) if code_mode == "labels" else None
    lat = sample_latent(cfg.latent, N_FAKE)
    with torch.no_grad():
        fx = g(lat.vector(cfg.latent))
    return cfg, d, x, y, fx, lat


def _flat_grad(d: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    gs = torch.autograd.grad(loss, list(d.parameters()), allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(d.parameters(), gs)])


def _per_sample(d, cfg, x, y, fx, lat):
    """Brute force: (real per-sample grads (n, P), fake per-sample grads (m, P)), one call each."""
    real = [_flat_grad(d, real_loss(d(x[i : i + 1]), None if y is None else y[i : i + 1], cfg)[0])
            for i in range(x.shape[0])]
    fake = [_flat_grad(d, fake_d_loss(d(fx[j : j + 1]), Latent(lat.z[j : j + 1], lat.cat[j : j + 1],
                                                              lat.cont[j : j + 1]), cfg))
            for j in range(fx.shape[0])]
    n_par = sum(p.numel() for p in d.parameters())
    return (torch.stack(real) if real else torch.zeros(0, n_par)), torch.stack(fake)


def _clip(g: torch.Tensor, C: float) -> torch.Tensor:
    return g * (C / (g.norm(dim=1, keepdim=True) + 1e-6)).clamp(max=1.0)


def _run(method, d, cfg, x, y, fx, lat, *, C, sigma=0.0, clip_fake="none", private=True, steps=1):
    d = copy.deepcopy(d)
    step = PrivateDStep(d, torch.optim.SGD(d.parameters(), lr=0.0), cfg, noise_multiplier=sigma,
                        max_grad_norm=C, expected_batch_size=B_EXPECTED, private=private, method=method,
                        clip_fake=clip_fake)
    for _ in range(steps):  # lr 0: repeated steps see the same weights (catches state left between steps)
        stats = step.step(x, y, fx, lat)
    return torch.cat([p.grad.reshape(-1) for p in d.parameters()]), stats


def _assert_close_per_param(d: nn.Module, got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    """Every parameter tensor (each layer's weight and bias) agrees to float tolerance."""
    for (name, p), a, b in zip(d.named_parameters(), got.split([p.numel() for p in d.parameters()]),
                               want.split([p.numel() for p in d.parameters()])):
        tol = 1e-4 * max(float(b.abs().max()), 1e-3)  # float32 sums over 10⁴-long dot products
        assert float((a - b).abs().max()) <= tol, f"{what}: {name} differs by {float((a - b).abs().max()):.3g}"


@pytest.mark.parametrize("code_mode", ["labels", "unsupervised"])
@pytest.mark.parametrize("clip_fake", ["none", "sample", "batch"])
def test_fast_and_opacus_equal_brute_force_dp_sgd(code_mode, clip_fake):
    cfg, d, x, y, fx, lat = _case(code_mode)
    real, fake = _per_sample(d, cfg, x, y, fx, lat)
    norms = real.norm(dim=1)
    s = norms.sort().values
    C = float(s[N_REAL // 2 - 1] + s[N_REAL // 2]) / 2  # half the real samples are clipped, half are not
    if clip_fake == "batch":  # a C small enough that the mean fake gradient is clipped too
        C = min(C, 0.5 * float(fake.mean(0).norm()))
    else:
        assert (norms < C * 0.9).any()
    assert (norms > C * 1.1).any()
    fake_term = {"none": fake.mean(0), "sample": _clip(fake, C).mean(0), "batch": _clip(fake.mean(0, keepdim=True), C)[0]}
    want = _clip(real, C).sum(0) / B_EXPECTED + fake_term[clip_fake]
    layers = {type(m).__name__ for m in d.modules() if list(m.parameters(recurse=False))}
    assert layers == {"Conv2d", "Linear"}  # the layer types the fast step must get right
    for method in ("fast", "opacus"):
        got, stats = _run(method, d, cfg, x, y, fx, lat, C=C, clip_fake=clip_fake, steps=2)
        _assert_close_per_param(d, got, want, f"{method}/{code_mode}/clip_fake={clip_fake}")
        assert stats["clip_frac"] == pytest.approx(float((norms > C).float().mean()))


def test_only_real_gradients_are_clipped():
    """clip_fake="none": the step is (clipped real sum)/B plus the ordinary, unclipped fake gradient."""
    cfg, d, x, y, fx, lat = _case()
    C = 1e-3  # far below every per-sample norm: clipping must visibly change the real term
    real, _ = _per_sample(d, cfg, x, y, fx, lat)
    assert (real.norm(dim=1) > 100 * C).all()
    plain_fake = _flat_grad(d, fake_d_loss(d(fx), lat, cfg))  # one ordinary backward, no per-sample anything
    got, _ = _run("fast", d, cfg, x, y, fx, lat, C=C)
    _assert_close_per_param(d, got - _clip(real, C).sum(0) / B_EXPECTED, plain_fake, "fake term")
    # The clipped real term has norm ≤ n·C/B: much smaller than the unclipped real sum would give.
    assert float((got - plain_fake).norm()) <= N_REAL * C / B_EXPECTED * (1 + 1e-4)


@pytest.mark.parametrize("clip_fake", ["none", "batch"])
@pytest.mark.parametrize("method", ["fast", "opacus"])
def test_empty_real_batch_gives_fake_term_only(method, clip_fake):
    cfg, d, x, y, fx, lat = _case(n_real=0)
    _, fake = _per_sample(d, cfg, x, y, fx, lat)
    C = 1e9 if clip_fake == "none" else 1e-3
    got, stats = _run(method, d, cfg, x, y, fx, lat, C=C, steps=2, clip_fake=clip_fake)
    _assert_close_per_param(d, got, _clip(fake.mean(0, keepdim=True), C)[0], f"{method} empty batch")
    assert stats["clip_frac"] == 0.0


@pytest.mark.parametrize("method", ["fast", "opacus"])
def test_noise_std_is_sigma_C_over_expected_batch(method):
    cfg, d, x, y, fx, lat = _case()
    sigma, C = 2.0, 0.5
    clean, _ = _run(method, d, cfg, x, y, fx, lat, C=C, sigma=0.0)
    noisy, _ = _run(method, d, cfg, x, y, fx, lat, C=C, sigma=sigma)
    noise = noisy - clean  # ~235k independent draws: the std estimate is good to ~0.3%
    want = sigma * C / B_EXPECTED  # the divisor is q·N, not the n = 8 rows this batch happened to get
    assert float(noise.std()) == pytest.approx(want, rel=0.03)
    assert abs(float(noise.mean())) < 0.01 * want
    again, _ = _run(method, d, cfg, x, y, fx, lat, C=C, sigma=sigma)
    # Same weights, same batch, fresh step: the secret noise never repeats (independent draws,
    # so the two noise vectors are uncorrelated).
    other = again - clean
    assert not torch.equal(noisy, again)
    assert abs(float(torch.corrcoef(torch.stack([noise, other]))[0, 1])) < 0.02


def test_non_private_step_is_the_plain_mean_gradient():
    cfg, d, x, y, fx, lat = _case()
    out = d(torch.cat([x, fx]))
    lr = real_loss(type(out)(*(t[:N_REAL] if t is not None else None for t in out)), y, cfg)
    lf = fake_d_loss(type(out)(*(t[N_REAL:] if t is not None else None for t in out)), lat, cfg)
    want = _flat_grad(d, lr.mean() + lf)
    got, stats = _run("fast", d, cfg, x, y, fx, lat, C=1e-3, sigma=5.0, private=False)
    _assert_close_per_param(d, got, want, "non-private")
    assert stats["clip_frac"] == 0.0


def test_fast_step_refuses_layers_it_cannot_clip():
    cfg, d, *_ = _case()
    d.trunk.insert(1, nn.BatchNorm2d(cfg.model.d_width))
    with pytest.raises(ValueError, match="not supported"):
        PrivateDStep(d, torch.optim.SGD(d.parameters(), lr=0.1), cfg, noise_multiplier=1.0,
                     max_grad_norm=1.0, expected_batch_size=10.0)


def test_training_uses_the_fast_step_by_default():
    assert PrivacyConfig().dp_step == "fast"
    with pytest.raises(ValueError):
        PrivateDStep(build_models(TrainConfig().model, TrainConfig().latent)[1], None, TrainConfig(),
                     noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=1.0, method="slow")
