import pytest
import torch

from dpinfogan.data import available_datasets, load_dataset, to_float, to_uint8


def test_offline_digits_split(digits):
    test = load_dataset("offline-digits", train=False)
    assert len(digits) == 4000 and len(test) == 1000
    assert digits.images.shape == (4000, 1, 28, 28)
    assert digits.images.min() >= -1 and digits.images.max() <= 1
    assert torch.bincount(digits.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    # train and test are different digits
    assert not any(torch.equal(test.images[0], x) for x in digits.images[digits.labels == test.labels[0]])


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar10")


def test_offline_fallback_is_announced(tmp_path, monkeypatch):
    monkeypatch.setenv("DPINFOGAN_DATA", str(tmp_path))
    with pytest.warns(UserWarning, match="offline set"):
        d = load_dataset("mnist")
    assert d.fallback and d.name == "offline-digits" and d.requested == "mnist"
    with pytest.raises(ValueError, match="KMNIST is not under"):
        load_dataset("kmnist")
    assert available_datasets() == ["offline-digits"]


def test_uint8_round_trip():
    x = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float(x)), x)
