import torch
from opacus.validators import ModuleValidator

from dpinfogan.config import LatentConfig, ModelConfig
from dpinfogan.latent import fixed_grid_latent, make_latent, sample_latent
from dpinfogan.models import build_models


def test_shapes_and_validator():
    m, lat = ModelConfig(), LatentConfig()
    g, d = build_models(m, lat)
    z = sample_latent(lat, 5, generator=torch.Generator().manual_seed(0))
    x = g(z.vector(lat))
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1
    out = d(x)
    assert out.logit.shape == (5,)
    assert out.cat_logits.shape == (5, 10)
    assert out.cont_mean.shape == (5, 2)
    assert out.cont_log_std is None
    assert ModuleValidator.validate(d, strict=False) == []
    assert not any(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for mod in d.modules())


def test_q_log_std_head():
    m, lat = ModelConfig(q_log_std=True), LatentConfig(n_continuous=3)
    _, d = build_models(m, lat)
    out = d(torch.zeros(2, 1, 28, 28))
    assert out.cont_mean.shape == (2, 3) and out.cont_log_std.shape == (2, 3)


def test_latent_layout():
    lat = LatentConfig(noise_dim=4, n_categories=3, n_continuous=2)
    l = make_latent(lat, torch.tensor([0, 2]), torch.tensor([[0.5, -0.5], [1.0, 2.0]]), seed=3)
    v = l.vector(lat)
    assert v.shape == (2, 9)
    assert torch.equal(v[:, 4:7], torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    assert torch.equal(v[:, 7:], torch.tensor([[0.5, -0.5], [1.0, 2.0]]))
    s = sample_latent(lat, 1000, generator=torch.Generator().manual_seed(0))
    assert s.cont.min() >= -1 and s.cont.max() <= 1
    grid = fixed_grid_latent(lat, per_code=4)
    assert grid.cat.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert torch.equal(grid.z[:4], grid.z[4:8])  # rows differ only by the categorical code
