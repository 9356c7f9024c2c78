"""The public pen-stroke digits: MNIST-shaped, balanced, reproducible from their (public) seed."""
import numpy as np
import pytest
import torch

from dpinfogan.data import load_dataset
from dpinfogan.strokedigits import NAME, TEMPLATES, stroke_digits


def test_shape_range_balance_and_seed():
    d = stroke_digits(200, seed=3)
    assert d.images.shape == (200, 1, 28, 28) and d.images.min() >= -1 and d.images.max() <= 1
    assert torch.bincount(d.labels, minlength=10).tolist() == [20] * 10
    assert d.name == NAME and "public" in d.source
    assert torch.equal(d.images, stroke_digits(200, seed=3).images)  # public seed: reproducible
    assert not torch.equal(d.images, stroke_digits(200, seed=4).images)


def test_every_digit_has_ink_centred_in_the_mnist_frame():
    imgs = (stroke_digits(100, seed=0).images[:, 0].numpy() + 1) / 2
    ink = imgs.sum(axis=(1, 2))
    assert (ink > 15).all()  # no blank image: every template draws something
    for img in imgs:  # ink rows and columns are one run each: the centring shift never wraps ink around
        for axis in (0, 1):
            on = np.nonzero(img.max(axis=axis) > 0.1)[0]
            assert on[-1] - on[0] + 1 == len(on) and len(on) <= 21
    yy = np.arange(28)[None, :, None]
    cy = (imgs * yy).sum(axis=(1, 2)) / ink
    assert np.abs(cy - 13.5).max() < 2.5  # centred by mass (±1 px jitter plus rounding)


def test_templates_cover_ten_digits_and_refuse_too_few():
    assert sorted(TEMPLATES) == list(range(10)) and all(len(s) >= 2 for s in TEMPLATES.values())
    with pytest.raises(ValueError, match="at least 10"):
        stroke_digits(5)


def test_loadable_by_name():
    assert load_dataset("stroke-digits", train=False).images.shape == (2000, 1, 28, 28)
