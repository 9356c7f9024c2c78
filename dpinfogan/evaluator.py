"""The evaluator: a small CNN digit (or clothing / kana) classifier trained on the real training set.

It is a fixed measuring instrument for generated images, never part of a released generator:
its penultimate-layer features feed the "FID (evaluator features)", its class probabilities feed
the Inception-style score and the code accuracy. The same architecture, freshly initialised, is the
classifier that CAS trains on generated samples.

Saved as safetensors with JSON metadata (architecture, dataset, test accuracy, version); loaded
without pickle. A file that is not a valid evaluator raises ``ValueError``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import __version__
from .data import ImageData
from .fileio import atomic_write, file_sha256, jsonable, read_safetensors_json
from .paths import EVALUATOR_FAMILY, evaluator_path, project_relative

FORMAT = "dpinfogan-evaluator"
FORMAT_VERSION = 1
_META_KEY = "dpinfogan-evaluator"
FAMILY = EVALUATOR_FAMILY  # datasets whose images an evaluator judges (dpinfogan/paths.py)


@dataclass
class EvaluatorArch:
    """Two conv layers that each halve the resolution (28 -> 14 -> 7) and two linear layers."""

    conv1: int = 32  # channels of the first conv
    conv2: int = 64  # channels of the second conv
    hidden: int = 128  # penultimate width = the feature dimension used by FID
    n_classes: int = 10
    # "stride": 4×4 stride-2 convs; "pool": 3×3 convs each followed by 2×2 max-pooling, about
    # 2.5× slower on a CPU (pooling full-resolution maps dominates the time) for no accuracy gain.
    downsample: str = "stride"

    def validate(self) -> None:
        for k, v in asdict(self).items():
            if k != "downsample" and (not isinstance(v, int) or v < 1):
                raise ValueError(f"evaluator architecture: {k} must be a positive integer, got {v!r}")
        if self.downsample not in ("pool", "stride"):
            raise ValueError(f"evaluator architecture: downsample must be 'pool' or 'stride', got {self.downsample!r}")


class Evaluator(nn.Module):
    """Image (B, 1, 28, 28) in [-1, 1] -> features (B, hidden) -> logits (B, n_classes).

    No BatchNorm: the output of one image never depends on the rest of its batch, so features
    and scores do not change with the evaluation batch size.
    """

    def __init__(self, arch: Optional[EvaluatorArch] = None):
        super().__init__()
        self.arch = arch or EvaluatorArch()
        a = self.arch
        a.validate()
        if a.downsample == "pool":
            convs = [nn.Conv2d(1, a.conv1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 28 -> 14
                     nn.Conv2d(a.conv1, a.conv2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]  # 14 -> 7
        else:
            convs = [nn.Conv2d(1, a.conv1, 4, 2, 1), nn.ReLU(),  # 28 -> 14
                     nn.Conv2d(a.conv1, a.conv2, 4, 2, 1), nn.ReLU()]  # 14 -> 7
        self.body = nn.Sequential(
            *convs,
            nn.Flatten(),  # (B, conv2·7·7)
            nn.Linear(a.conv2 * 7 * 7, a.hidden), nn.ReLU(),
        )
        self.head = nn.Linear(a.hidden, a.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, shape (B, hidden)."""
        return self.body(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (B, n_classes)."""
        return self.head(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)


@dataclass
class LoadedEvaluator:
    """An evaluator in eval mode plus what identifies it in results."""

    model: Evaluator
    meta: dict[str, Any]
    sha256: str  # of the file's bytes: two results with the same hash used the same instrument
    path: Optional[Path] = None

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "?"))

    @property
    def dataset(self) -> str:
        return str(self.meta.get("dataset", "?"))

    @property
    def test_accuracy(self) -> Optional[float]:
        return self.meta.get("test_accuracy")

    def identity(self) -> dict[str, Any]:
        """The fields written into every results file."""
        return {"version": self.version, "sha256": self.sha256, "dataset": self.dataset,
                "test_accuracy": self.test_accuracy, "path": project_relative(self.path) if self.path else None}


# ---------------------------------------------------------------- training


def fit_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: float = 3.0,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    augment: bool = False,
    on_epoch: Optional[Callable[[int, float], None]] = None,
) -> nn.Module:
    """Train ``model`` (any images -> logits module) with Adam and cross-entropy.

    ``epochs`` may be fractional (e.g. 0.5 = half a pass). ``augment`` shifts half the batches by up to
    2 pixels, which helps an evaluator generalise to slightly off-centre generated digits.
    The learning rate decays linearly to 10% over training.
    """
    n = images.shape[0]
    if n == 0 or labels.shape[0] != n:
        raise ValueError(f"need as many labels as images (got {n} images, {labels.shape[0]} labels)")
    if not epochs > 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = max(1, -(-n // batch_size))
    total = max(1, round(epochs * steps_per_epoch))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - 0.9 * s / total)
    model.train()
    step, epoch = 0, 0
    while step < total:
        perm = torch.randperm(n, generator=g)
        running = 0.0
        for i in range(0, n, batch_size):
            if step >= total:
                break
            idx = perm[i : i + batch_size]
            x = images[idx]
            if augment:
                x = _random_shift(x, g)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
            step += 1
        epoch += 1
        if on_epoch:
            on_epoch(epoch, running / steps_per_epoch)
    model.eval()
    return model


def _random_shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Half the time, shift the whole batch by one random (dy, dx) in [-2, 2]², padding with -1."""
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    if (dy == 0 and dx == 0) or torch.rand(1, generator=g).item() < 0.5:
        return x
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    return padded[:, :, p + dy : p + dy + 28, p + dx : p + dx + 28]


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Logits (N, n_classes), computed in eval mode in batches."""
    model.eval()
    out = [model(images[i : i + batch]) for i in range(0, images.shape[0], batch)]
    return torch.cat(out) if out else torch.zeros(0, 10)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of images classified as their label (0..1)."""
    if labels.shape[0] == 0:
        raise ValueError("cannot measure accuracy on an empty set")
    return float((predict_logits(model, images).argmax(1) == labels).float().mean())


def train_evaluator(
    train: ImageData,
    test: ImageData,
    *,
    epochs: float = 5.0,
    seed: int = 0,
    arch: Optional[EvaluatorArch] = None,
    on_epoch: Optional[Callable[[int, float], None]] = None,
) -> tuple[Evaluator, dict[str, Any]]:
    """Train an evaluator on ``train`` and measure it on ``test``; returns (model, metadata)."""
    arch = arch or EvaluatorArch()
    arch.validate()
    torch.manual_seed(seed)
    model = Evaluator(arch)
    t0 = time.perf_counter()
    fit_classifier(model, train.images, train.labels, epochs=epochs, seed=seed, augment=True, on_epoch=on_epoch)
    seconds = time.perf_counter() - t0
    acc = accuracy(model, test.images, test.labels)
    family = FAMILY.get(train.name, train.name)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": f"{family}-cnn-{arch.downsample}-{arch.conv1}-{arch.conv2}-{arch.hidden}-e{epochs:g}-seed{seed}",
        "library_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "architecture": {"name": "cnn2-conv-2-linear", **asdict(arch)},
        "dataset": family,
        "trained_on": train.source,
        "n_train": len(train),
        "tested_on": test.source,
        "n_test": len(test),
        "test_accuracy": round(acc, 5),
        "epochs": epochs,
        "seed": seed,
        "seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "class_names": train.class_names,
    }
    return model, meta


# ---------------------------------------------------------------- files


def save_evaluator(path: str | os.PathLike, model: Evaluator, meta: dict[str, Any]) -> Path:
    """Atomically write weights (float32) + metadata to a .safetensors file."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    text = json.dumps(jsonable({**meta, "architecture": {"name": "cnn2-conv-2-linear", **asdict(model.arch)}}))
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={_META_KEY: text}))


def load_evaluator(path: str | os.PathLike) -> LoadedEvaluator:
    """Load an evaluator file; ``ValueError`` with a plain message when it is missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"evaluator not found: {path} (train one with `python -m dpinfogan train-evaluator`)")
    meta = read_safetensors_json(path, _META_KEY, FORMAT, FORMAT_VERSION, "DP-InfoGAN evaluator")
    try:
        tensors = load_file(str(path))
        a = {"downsample": "pool", **{k: v for k, v in meta["architecture"].items() if k != "name"}}  # v1 files: pool
        arch = EvaluatorArch(**a)
        arch.validate()
        model = Evaluator(arch)
        model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    except (SafetensorError, OSError, RuntimeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is corrupt or does not match its metadata: {e}") from None
    model.eval()
    return LoadedEvaluator(model, meta, file_sha256(path), path)


default_evaluator_path = evaluator_path  # the shipped evaluator of a dataset (dpinfogan/paths.py)
