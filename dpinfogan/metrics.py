"""Quality metrics for generated images, measured with the evaluator against the real TEST split.

- ``fid_evaluator``: Fréchet distance between Gaussian fits of evaluator features (penultimate
  layer, 128-d). Named "FID (evaluator features)": it is *not* Inception FID and its values are not
  comparable with published Inception-FID numbers.
- ``inception_score``: exp(E_x KL(p(y|x) ‖ p(y))) with the evaluator's class probabilities
  (1 = useless, n_classes = every image confidently one class and all classes equally often).
- ``cas``: Classification Accuracy Score — a fresh CNN trained on generated images labelled by
  their categorical code, tested on the real test set (GS-WGAN / DPDM protocol, 60,000 samples).
- ``code_accuracy``: the categorical code used as a classifier, judged by the evaluator.

:func:`evaluate_checkpoint` runs them all on a generator checkpoint and writes
``<checkpoint stem>.eval.json`` beside it.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from . import __version__
from .checkpoint import load_checkpoint
from .data import ImageData, load_dataset, to_float
from .evaluator import (
    FAMILY,
    EvaluatorArch,
    Evaluator,
    LoadedEvaluator,
    accuracy,
    default_evaluator_path,
    fit_classifier,
    load_evaluator,
    predict_logits,
)
from .fileio import atomic_write_json, file_sha256
from .paths import eval_json_path
from .sampling import sample

EVAL_FORMAT = "dpinfogan-eval"
# The CAS classifier: the evaluator's architecture (strided convs), freshly initialised. At half
# width and 2 epochs it reached only 97.7% when trained on the real MNIST training set, too low a
# ceiling to compare with the literature's ~99%-capable classifiers.
CAS_ARCH = EvaluatorArch(conv1=32, conv2=64, hidden=128, downsample="stride")
CAS_EPOCHS = 3.0
METRIC_LABELS = {
    "fid_evaluator": "FID (evaluator features)",
    "inception_score": "Inception-style score (evaluator)",
    "cas": "CAS (train on generated, test on real)",
    "code_accuracy": "code accuracy (evaluator)",
}


# ---------------------------------------------------------------- building blocks


@torch.no_grad()
def features(evaluator: Evaluator, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Evaluator features (N, hidden) of images (N, 1, 28, 28) in [-1, 1]."""
    evaluator.eval()
    out = [evaluator.features(images[i : i + batch]) for i in range(0, images.shape[0], batch)]
    return torch.cat(out) if out else torch.zeros(0, evaluator.arch.hidden)


def gaussian_stats(feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of features, in float64."""
    if feats.shape[0] < 2:
        raise ValueError(f"need at least 2 images for FID statistics, got {feats.shape[0]}")
    f = feats.double().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between two Gaussians."""
    # tr((Σ1Σ2)^½) = Σ sqrt(λ_i(Σ1Σ2)); the eigenvalues are real and ≥ 0 in exact arithmetic
    # (Σ1Σ2 is similar to Σ1^½ Σ2 Σ1^½), so round-off imaginary parts and negatives are dropped.
    eig = np.linalg.eigvals(cov1 @ cov2).real
    tr_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)
    return max(d, 0.0)


def fid_evaluator(
    evaluator: Evaluator,
    generated: torch.Tensor,
    real: Optional[torch.Tensor] = None,
    *,
    real_stats: Optional[tuple[np.ndarray, np.ndarray]] = None,
) -> float:
    """FID (evaluator features) between generated and real images (or precomputed real stats)."""
    if real_stats is None:
        if real is None:
            raise ValueError("fid_evaluator needs the real images or their statistics")
        real_stats = gaussian_stats(features(evaluator, real))
    mu, cov = gaussian_stats(features(evaluator, generated))
    return frechet_distance(mu, cov, *real_stats)


def class_probs(evaluator: Evaluator, images: torch.Tensor) -> torch.Tensor:
    """Evaluator class probabilities (N, n_classes)."""
    return torch.softmax(predict_logits(evaluator, images).double(), dim=1)


def inception_score(evaluator: Evaluator, images: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception-style score with the evaluator: mean and std over ``splits`` equal chunks."""
    p = class_probs(evaluator, images)
    # a fixed shuffle first, so that images sorted by class (a real test set) do not make each
    # split one class (which would give a score near 1)
    p = p[torch.randperm(p.shape[0], generator=torch.Generator().manual_seed(0))]
    splits = max(1, min(splits, p.shape[0] // 2))
    scores = []
    for chunk in torch.chunk(p, splits):
        py = chunk.mean(0, keepdim=True)
        kl = (chunk * (torch.log(chunk + 1e-12) - torch.log(py + 1e-12))).sum(1).mean()
        scores.append(math.exp(float(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def vote_mapping(pred: torch.Tensor, codes: torch.Tensor, n_categories: int) -> list[int]:
    """For each code value, the class most often predicted for its images (-1 if unused): how an
    unsupervised code is named."""
    mapping = []
    for c in range(n_categories):
        votes = pred[codes == c]
        mapping.append(int(torch.bincount(votes).argmax()) if votes.numel() else -1)
    return mapping


def mapped_accuracy(pred: torch.Tensor, codes: torch.Tensor, code_to_label: Sequence[int]) -> float:
    """Fraction of images predicted as the class their code maps to (0..1), whatever classifier
    made the predictions (the evaluator, or the app's template proxy)."""
    target = torch.as_tensor(list(code_to_label), dtype=torch.long)[codes]
    return float((pred == target).float().mean())


def code_to_label_by_vote(
    evaluator: Evaluator, images: torch.Tensor, codes: torch.Tensor, n_categories: int
) -> list[int]:
    """For each code value, the class the evaluator most often sees in its images (-1 if unused)."""
    return vote_mapping(predict_logits(evaluator, images).argmax(1), codes, n_categories)


def code_accuracy(
    evaluator: Evaluator, images: torch.Tensor, codes: torch.Tensor, code_to_label: Sequence[int]
) -> float:
    """Fraction of images whose evaluator class equals the class their code maps to (0..1)."""
    return mapped_accuracy(predict_logits(evaluator, images).argmax(1), codes, code_to_label)


def cas(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    epochs: float = CAS_EPOCHS,
    seed: int = 0,
    arch: EvaluatorArch = CAS_ARCH,
    batch_size: int = 128,
    lr: float = 1e-3,
) -> float:
    """Classification Accuracy Score: train a fresh CNN on (generated) images + labels, return its
    accuracy (0..1) on the real test set. Labels < 0 (codes mapped to no class) are left out."""
    keep = train_labels >= 0  # codes that map to no class (unused in the vote) cannot teach anything
    if int(keep.sum()) == 0:
        raise ValueError("CAS needs at least one labelled training image")
    torch.manual_seed(seed)
    model = Evaluator(arch)
    fit_classifier(model, train_images[keep], train_labels[keep], epochs=epochs, seed=seed,
                   batch_size=batch_size, lr=lr)
    return accuracy(model, test_images, test_labels)


# ---------------------------------------------------------------- checkpoints


def generated_set(ckpt, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n generated images (as float in [-1, 1], quantised to 8 bits like saved samples) and codes."""
    s = sample(ckpt.generator, ckpt.config.latent, n, seed=seed)
    return to_float(torch.from_numpy(s.images)), torch.from_numpy(s.codes)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    n: int = 10000,
    cas_samples: int = 60000,
    cas_epochs: float = CAS_EPOCHS,
    skip_cas: bool = False,
    seed: int = 0,
    evaluator: Optional[LoadedEvaluator | str | os.PathLike] = None,
    real: Optional[ImageData] = None,
    write: bool = True,
    log=None,
) -> dict[str, Any]:
    """All metrics for one generator checkpoint; writes ``<stem>.eval.json`` beside it when ``write``.

    ``real`` overrides the real test set (default: the checkpoint dataset's test split; MNIST falls
    back to the offline digits when not on disk, which the result records under ``real_test``).
    """
    if n < 2:
        raise ValueError(f"--n must be at least 2, got {n}")
    if not skip_cas and cas_samples < 10:
        raise ValueError(f"--cas-samples must be at least 10, got {cas_samples}")
    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    path = Path(checkpoint)
    ck = load_checkpoint(path)
    dataset = ck.config.dataset
    if not isinstance(evaluator, LoadedEvaluator):
        evaluator = load_evaluator(evaluator if evaluator is not None else default_evaluator_path(dataset))
    if evaluator.dataset != FAMILY.get(dataset, dataset):
        raise ValueError(f"evaluator {evaluator.path} measures {evaluator.dataset!r} images, "
                         f"but the checkpoint was trained on {dataset!r}")
    ev = evaluator.model
    if real is None:
        real = load_dataset(dataset, train=False, download=False)
    notes = []
    if real.name == "offline-digits":
        why = "the checkpoint's own dataset" if dataset == "offline-digits" else "full MNIST is not on disk"
        notes.append(f"real test set = the {len(real)} offline MNIST digits ({why}); "
                     "FID and CAS are not comparable with numbers on the 10,000-image MNIST test set")

    timing: dict[str, float] = {}
    t = time.perf_counter()
    gen, codes = generated_set(ck, n, seed)
    timing["sampling_s"] = time.perf_counter() - t
    say(f"generated {n} samples ({timing['sampling_s']:.1f} s)")

    t = time.perf_counter()
    fid = fid_evaluator(ev, gen, real.images)
    is_mean, is_std = inception_score(ev, gen)
    timing["fid_is_s"] = time.perf_counter() - t

    n_cat = ck.config.latent.n_categories
    if ck.code_to_label is not None:
        mapping, mapping_source = [int(v) for v in ck.code_to_label], "checkpoint metadata"
    else:
        mapping, mapping_source = code_to_label_by_vote(ev, gen, codes, n_cat), "evaluator majority vote"
    code_acc = code_accuracy(ev, gen, codes, mapping)
    say(f"FID {fid:.3f}, IS {is_mean:.3f}, code accuracy {code_acc:.4f} ({timing['fid_is_s']:.1f} s)")

    cas_acc = None
    if not skip_cas:
        t = time.perf_counter()
        cas_gen, cas_codes = generated_set(ck, cas_samples, seed + 1)
        labels = torch.as_tensor(mapping, dtype=torch.long)[cas_codes]
        cas_acc = cas(cas_gen, labels, real.images, real.labels, epochs=cas_epochs, seed=seed)
        timing["cas_s"] = time.perf_counter() - t
        say(f"CAS {cas_acc:.4f} ({timing['cas_s']:.1f} s)")
    timing["total_s"] = time.perf_counter() - t_start

    pr = ck.meta.get("privacy", {})
    result = {
        "format": EVAL_FORMAT,
        "format_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "library_version": __version__,
        "checkpoint": str(path),
        "checkpoint_sha256": file_sha256(path),
        "dataset": dataset,
        "code_mode": ck.config.code_mode,
        "epsilon": pr.get("epsilon"),
        "delta": pr.get("delta"),
        "steps": pr.get("steps"),
        "real_test": {"dataset": real.name, "source": real.source, "n": len(real),
                      "offline_fallback": real.name == "offline-digits" and dataset != "offline-digits"},
        "evaluator": evaluator.identity(),
        "n_samples": n,
        "cas_samples": None if skip_cas else cas_samples,
        "cas_classifier": None if skip_cas else {"arch": asdict(CAS_ARCH), "epochs": float(cas_epochs)},
        "seeds": {"samples": seed, "cas_samples": seed + 1, "cas_classifier": seed},
        "metrics": {"fid_evaluator": fid, "inception_score": is_mean, "inception_score_std": is_std,
                    "cas": cas_acc, "code_accuracy": code_acc},
        "code_to_label": mapping,
        "code_to_label_source": mapping_source,
        "timing": {k: round(v, 2) for k, v in timing.items()},
        "threads": torch.get_num_threads(),
        "notes": notes,
    }
    if write:
        atomic_write_json(eval_json_path(path), result)
    return result


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of one evaluation result."""
    m = result["metrics"]
    eps = result.get("epsilon")
    eps_txt = "∞ (non-private)" if eps in ("inf", None) or (isinstance(eps, float) and math.isinf(eps)) else f"{float(eps):.4g}"
    rows = [
        ("checkpoint", result["checkpoint"]),
        ("dataset / code mode", f"{result['dataset']} / {result['code_mode']}"),
        ("ε spent (δ)", f"{eps_txt}" + (f" (δ = {result['delta']:g})" if result.get("delta") else "")),
        ("real test set", f"{result['real_test']['source']}"),
        ("evaluator", f"{result['evaluator']['version']} (sha256 {result['evaluator']['sha256'][:12]}, "
                      f"test acc {result['evaluator']['test_accuracy']})"),
        ("samples", f"{result['n_samples']} (seed {result['seeds']['samples']})"),
        (METRIC_LABELS["fid_evaluator"], f"{m['fid_evaluator']:.3f}   (lower is better; not Inception FID)"),
        (METRIC_LABELS["inception_score"], f"{m['inception_score']:.3f} ± {m['inception_score_std']:.3f}   (max 10)"),
        (METRIC_LABELS["cas"], "skipped" if m["cas"] is None else
         f"{m['cas'] * 100:.2f}%   ({result['cas_samples']} generated samples)"),
        (METRIC_LABELS["code_accuracy"], f"{m['code_accuracy'] * 100:.2f}%   (code -> label: {result['code_to_label_source']})"),
        ("code -> label", " ".join(str(v) for v in result["code_to_label"])),
        ("time", ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in result["timing"].items())),
    ]
    w = max(len(k) for k, _ in rows)
    lines = [f"{k:<{w}}  {v}" for k, v in rows]
    lines += [f"NOTE: {note}" for note in result.get("notes", [])]
    return "\n".join(lines)
