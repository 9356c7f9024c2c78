"""Where things live on disk: the one place for the project root and the data, runs and
checkpoints folders, the evaluator files and the literature reference points.

Each folder can be moved with an environment variable, honoured everywhere because every module asks
here: ``$DPINFOGAN_DATA``, ``$DPINFOGAN_RUNS``, ``$DPINFOGAN_CHECKPOINTS``, ``$DPINFOGAN_REFERENCES``,
``$DPINFOGAN_CACHE``.
Imports no torch, so the app and the job supervisor can ask cheaply.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Datasets whose images an evaluator judges: the offline digits are MNIST digits.
EVALUATOR_FAMILY = {"mnist": "mnist", "offline-digits": "mnist", "fashion-mnist": "fashion-mnist",
                    "kmnist": "kmnist"}


def data_root() -> Path:
    """``$DPINFOGAN_DATA`` or ``<project>/data``: where torchvision datasets are read (and downloaded)."""
    return Path(os.environ.get("DPINFOGAN_DATA") or PROJECT_ROOT / "data")


def runs_root() -> Path:
    """``$DPINFOGAN_RUNS`` or ``<project>/runs``: one folder per training run."""
    return Path(os.environ.get("DPINFOGAN_RUNS") or PROJECT_ROOT / "runs")


def cache_root() -> Path:
    """``$DPINFOGAN_CACHE`` or ``<runs>/.cache``: things the app can always recompute (Home's drawn
    comparison). A dot-folder, so no run listing sees it; safe to delete at any time."""
    return Path(os.environ.get("DPINFOGAN_CACHE") or runs_root() / ".cache")


def checkpoints_root() -> Path:
    """``$DPINFOGAN_CHECKPOINTS`` or ``<project>/checkpoints``: the zoo, the evaluators, the warm start,
    the attack lab and the shipped federated run."""
    return Path(os.environ.get("DPINFOGAN_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")


def evaluator_path(dataset: str) -> Path:
    """``<checkpoints>/evaluator-<family>.safetensors`` for a dataset key (offline digits -> MNIST)."""
    if dataset not in EVALUATOR_FAMILY:
        raise ValueError(f"no evaluator for dataset {dataset!r}; known: {', '.join(EVALUATOR_FAMILY)}")
    return checkpoints_root() / f"evaluator-{EVALUATOR_FAMILY[dataset]}.safetensors"


def references_path() -> Path:
    """Published ε-versus-CAS points: ``$DPINFOGAN_REFERENCES`` or ``dpinfogan/references.json``."""
    return Path(os.environ.get("DPINFOGAN_REFERENCES") or Path(__file__).resolve().parent / "references.json")


def eval_json_path(checkpoint: str | os.PathLike) -> Path:
    """A checkpoint's evaluation results: ``<dir>/<checkpoint stem>.eval.json``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + ".eval.json")


def project_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the project when inside it, else the bare file name: a results file
    never names a folder of the machine that made it."""
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT.resolve()).as_posix()
    except ValueError:
        return Path(path).name
