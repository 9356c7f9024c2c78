"""Split one labelled dataset across K federated clients: IID, by class, or Dirichlet(α).

Every split is a deterministic function of (labels, K, kind, α, seed), so a client on another
machine rebuilds exactly its own part from the same settings. The parts are disjoint and together
cover every sample. Nothing here imports flwr: the federated apps and the app's preview both use it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .data import ImageData

SPLITS = ("iid", "class", "dirichlet")
_DIRICHLET_TRIES = 100  # redraws before giving up on a split that leaves a client too few samples


def validate_split(num_clients: int, n_samples: int, split: str = "iid", alpha: float = 0.5,
                   n_classes: int | None = None) -> None:
    """Raise ``ValueError`` with a plain message for an impossible split."""
    if not isinstance(num_clients, (int, np.integer)) or num_clients < 1:
        raise ValueError(f"number of clients K must be at least 1, got {num_clients}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if num_clients > n_samples:
        raise ValueError(f"more clients (K = {num_clients}) than samples (N = {n_samples})")
    if split == "dirichlet" and not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"Dirichlet concentration α must be a positive number, got {alpha}")
    if split == "class" and n_classes is not None and num_clients > n_classes:
        raise ValueError(
            f"a by-class split gives each client its own classes, so K ≤ {n_classes} classes; got K = {num_clients}"
        )


def partition_indices(labels: torch.Tensor | np.ndarray, num_clients: int, split: str = "iid", *,
                      alpha: float = 0.5, seed: int = 0, min_size: int = 1) -> list[np.ndarray]:
    """Sample indices of each client's part (sorted), one array per client.

    Args:
        labels: (N,) class index of every sample.
        num_clients: K ≥ 1.
        split: "iid" (uniform shuffle into K near-equal parts), "class" (the sorted classes are cut
            into K contiguous groups: with 10 digits and K = 5, client k holds {2k, 2k+1}) or
            "dirichlet" (each class is shared out with proportions ~ Dir(α·1_K); small α = skewed).
        alpha: Dirichlet concentration α > 0 (used by "dirichlet" only).
        seed: seeds the shuffle and the Dirichlet draws.
        min_size: the smallest part a Dirichlet split may give a client (redrawn until it holds).
    """
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)
    classes = np.unique(y)
    validate_split(num_clients, len(y), split, alpha, len(classes))
    rng = np.random.default_rng(seed)
    if split == "iid":
        parts = np.array_split(rng.permutation(len(y)), num_clients)
    elif split == "class":
        groups = np.array_split(classes, num_clients)
        parts = [np.flatnonzero(np.isin(y, g)) for g in groups]
    else:
        parts = _dirichlet(y, classes, num_clients, alpha, rng, min(min_size, len(y) // num_clients))
    return [np.sort(p).astype(np.int64) for p in parts]


def _dirichlet(y: np.ndarray, classes: np.ndarray, k: int, alpha: float, rng: np.random.Generator,
               min_size: int) -> list[np.ndarray]:
    for _ in range(_DIRICHLET_TRIES):
        parts: list[list[np.ndarray]] = [[] for _ in range(k)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(k, alpha))) * len(idx)).astype(int)[:-1]
            for client, chunk in enumerate(np.split(idx, cuts)):
                parts[client].append(chunk)
        out = [np.concatenate(p) for p in parts]
        if min(len(p) for p in out) >= max(min_size, 1):
            return out
    raise ValueError(
        f"a Dirichlet(α = {alpha}) split of {len(y)} samples over K = {k} clients keeps leaving a client "
        f"with fewer than {max(min_size, 1)} samples; raise α or lower K"
    )


def subset(data: ImageData, idx: np.ndarray, client: int | None = None) -> ImageData:
    """The samples ``idx`` of ``data`` as a new :class:`ImageData` (a copy)."""
    t = torch.as_tensor(idx, dtype=torch.long)
    who = f"client {client}: " if client is not None else ""
    return ImageData(name=data.name, images=data.images[t], labels=data.labels[t],
                     source=f"{who}{len(t)} of {data.source}", requested=data.requested)


def client_data(data: ImageData, client: int, num_clients: int, split: str = "iid", *,
                alpha: float = 0.5, seed: int = 0, min_size: int = 1) -> ImageData:
    """Client ``client``'s part (0-based) of ``data``."""
    if not 0 <= client < max(num_clients, 1):
        raise ValueError(f"client index must be in 0..{num_clients - 1}, got {client}")
    parts = partition_indices(data.labels, num_clients, split, alpha=alpha, seed=seed, min_size=min_size)
    return subset(data, parts[client], client)


@dataclass
class PartInfo:
    """What one client holds, for previews and the run's config.json."""

    client: int
    n: int
    counts: list[int]  # samples per class index

    @property
    def classes(self) -> list[int]:
        """Class indices this client holds at least one sample of."""
        return [c for c, n in enumerate(self.counts) if n > 0]

    def to_dict(self) -> dict:
        return {"client": self.client, "n": self.n, "classes": self.classes, "counts": self.counts}


def describe(labels: torch.Tensor | np.ndarray, parts: list[np.ndarray], n_classes: int | None = None) -> list[PartInfo]:
    """Per-client sample counts by class."""
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)
    n_classes = n_classes or int(y.max()) + 1
    return [PartInfo(k, len(p), np.bincount(y[p], minlength=n_classes).tolist()) for k, p in enumerate(parts)]
