"""Privacy attacks on a trained DP-InfoGAN: membership inference and memorisation.

Two membership-inference attacks score each query image; a higher score means "more likely a
training member":

* **white-box** (LOGAN, Hayes et al. 2019): the discriminator's real-vs-fake logit. An overfitted
  discriminator is more confident on the images it was trained on.
* **black-box** (GAN-Leaks, Chen et al. 2020): minus the L2 distance from the query to its nearest
  generated sample. A generator that memorises puts samples close to its training images.

Success is the ROC curve of "member" vs "non-member" over all thresholds: AUC (0.5 = guessing) and
the TPR at 1% FPR (a confident attack on a few records matters more than the average).
(ε, δ)-DP bounds every such test: TPR ≤ min(e^ε·FPR + δ, 1 − e^(−ε)·(1 − δ − FPR)) (Kairouz et al.
2015), which :func:`dp_tpr_bound` draws on the ROC chart.

The attack lab (its data, running every attack on a checkpoint, the results file) is in
:mod:`dpinfogan.attack_lab`; the empirical ε lower bound and the canary audit in :mod:`dpinfogan.audit`.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

FPR_LOW = 0.01  # "TPR at 1% FPR"
Features = Callable[[torch.Tensor], torch.Tensor]  # images (N,1,28,28) in [-1,1] -> (N, F)


# --------------------------------------------------------------------------- ROC and the DP bound
@dataclass
class Roc:
    """An ROC curve: ``fpr`` and ``tpr`` rise from 0 to 1 together, one point per threshold."""

    fpr: np.ndarray
    tpr: np.ndarray

    @property
    def auc(self) -> float:
        """Area under the curve; ties count one half (the Mann–Whitney statistic)."""
        return float(np.trapezoid(self.tpr, self.fpr))

    def tpr_at(self, fpr: float = FPR_LOW) -> float:
        """The best TPR reachable with FPR ≤ ``fpr`` (at an actual threshold, no interpolation)."""
        return float(self.tpr[self.fpr <= fpr + 1e-12].max())


def roc_curve(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> Roc:
    """ROC of the test "score ≥ t ⇒ member" over all thresholds t (higher score = member)."""
    pos = np.asarray(member_scores, dtype=np.float64).ravel()
    neg = np.asarray(nonmember_scores, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("need at least one member and one non-member score")
    if not (np.isfinite(pos).all() and np.isfinite(neg).all()):
        raise ValueError("attack scores must be finite numbers")
    scores = np.concatenate([pos, neg])
    is_member = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(-scores, kind="stable")
    scores, is_member = scores[order], is_member[order]
    # One ROC point per distinct threshold: tied scores move together (a diagonal step).
    last = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = np.cumsum(is_member)[last]
    fp = (last + 1) - tp
    return Roc(np.r_[0.0, fp / neg.size], np.r_[0.0, tp / pos.size])


def auc_standard_error(auc: float, n_members: int, n_nonmembers: int) -> float:
    """Standard error of an AUC estimate (Hanley & McNeil 1982): how far from 0.5 is "no better than guessing".

    With 1,000 members and 1,000 non-members an AUC of 0.5 has SE ≈ 0.013, so only AUCs beyond
    about 0.5 ± 0.026 (two SE) are evidence of leakage.
    """
    if n_members < 1 or n_nonmembers < 1:
        raise ValueError("need at least one member and one non-member")
    a = min(max(float(auc), 0.0), 1.0)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_members - 1) * (q1 - a * a) + (n_nonmembers - 1) * (q2 - a * a)) / (n_members * n_nonmembers)
    return math.sqrt(max(var, 0.0))


def dp_tpr_bound(fpr: np.ndarray | float, epsilon: float, delta: float) -> np.ndarray:
    """The highest TPR any membership test can reach at ``fpr`` against an (ε, δ)-DP model.

    TPR ≤ min(1, e^ε·FPR + δ, 1 − e^(−ε)·(1 − δ − FPR)): the hypothesis-testing region of
    (ε, δ)-DP. ε = 0, δ = 0 gives the diagonal (no test beats guessing); ε = ∞ gives TPR ≤ 1.
    """
    if math.isnan(epsilon) or epsilon < 0:
        raise ValueError(f"ε must be ≥ 0 (or inf), got {epsilon}")
    if math.isnan(delta) or not 0 <= delta <= 1:
        raise ValueError(f"δ must be in [0, 1], got {delta}")
    f = np.clip(np.asarray(fpr, dtype=np.float64), 0.0, 1.0)
    if math.isinf(epsilon):
        return np.ones_like(f)
    bound = np.minimum(math.exp(epsilon) * f + delta, 1.0 - math.exp(-epsilon) * (1.0 - delta - f))
    return np.clip(bound, 0.0, 1.0)


def dp_auc_bound(epsilon: float, delta: float, points: int = 20001) -> float:
    """The largest AUC an attack can reach against an (ε, δ)-DP model (area under the bound)."""
    f = np.linspace(0.0, 1.0, points)
    return float(np.trapezoid(dp_tpr_bound(f, epsilon, delta), f))


# --------------------------------------------------------------------------- attack scores
def _flat(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) float in [-1, 1] -> (N, 784) float32."""
    return images.reshape(images.shape[0], -1).float()


@torch.no_grad()
def nearest(queries: torch.Tensor, pool: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query row, the L2 distance to its nearest pool row and that row's index.

    Both are (N, F) / (M, F) float; returns ``(distances (N,), indices (N,))``.
    """
    if pool.shape[0] == 0:
        raise ValueError("the pool to search is empty")
    pool = pool.float()
    p2 = (pool * pool).sum(1)  # (M,)
    dists, idxs = [], []
    for i in range(0, queries.shape[0], batch):
        q = queries[i : i + batch].float()
        d2 = (q * q).sum(1, keepdim=True) - 2 * q @ pool.T + p2  # (b, M) squared distances
        j = d2.argmin(1)
        # The expansion loses precision for near-identical rows (what a copy detector cares about),
        # so the winner's distance is recomputed directly.
        dists.append((q - pool[j]).norm(dim=1))
        idxs.append(j)
    return torch.cat(dists), torch.cat(idxs)


@torch.no_grad()
def logan_scores(discriminator: torch.nn.Module, images: torch.Tensor, batch: int = 500) -> np.ndarray:
    """White-box score: the discriminator's real-vs-fake logit per image (higher = member)."""
    discriminator.eval()
    out = [discriminator(images[i : i + batch]).logit for i in range(0, images.shape[0], batch)]
    return torch.cat(out).double().numpy()


def gan_leaks_scores(images: torch.Tensor, generated: torch.Tensor, features: Optional[Features] = None) -> np.ndarray:
    """Black-box score: minus the distance to the nearest generated sample (higher = member).

    Distances are pixel L2 on [-1, 1] images, or L2 between ``features`` when given.
    """
    if features is not None:
        q, pool = features(images), features(generated)
    else:
        q, pool = _flat(images), _flat(generated)
    return (-nearest(q, pool)[0]).double().numpy()


# --------------------------------------------------------------------------- memorisation
def memorisation(
    generated: torch.Tensor,
    members: torch.Tensor,
    nonmembers: Optional[torch.Tensor] = None,
    *,
    k: int = 12,
    features: Optional[Features] = None,
) -> dict:
    """Nearest training image of each generated sample, and the ``k`` most copy-like pairs.

    Distances are pixel L2 on [-1, 1] images (or between ``features``). With ``nonmembers`` (a
    held-out set the same size as ``members``) each generated sample is also matched to its nearest
    held-out image: a sample much closer to a training image than to any held-out image is a
    near-copy, while a model that only learned "what digits look like" is about as close to both.
    The gallery is ordered by that ratio (pixel distance to the nearest member alone would favour
    thin digits like "1").

    Returns a JSON-friendly dict: summary statistics and ``pairs`` (generated index, member index,
    distances), most copy-like first.
    """
    if k < 0:
        raise ValueError(f"gallery size must be ≥ 0, got {k}")
    embed = features or _flat
    g = embed(generated)
    d_mem, i_mem = nearest(g, embed(members))
    out: dict = {"metric": "evaluator features" if features else "pixel L2", "n_generated": int(g.shape[0]),
                 "median_nn_member": float(d_mem.median())}
    if nonmembers is not None:
        d_non, i_non = nearest(g, embed(nonmembers))
        ratio = d_mem / d_non.clamp_min(1e-6)
        order = torch.argsort(ratio)
        out.update({
            "median_nn_nonmember": float(d_non.median()),
            # 0.5 when members and non-members are equally near; ≫ 0.5 when the generator copies.
            "frac_closer_to_member": float((d_mem < d_non).double().mean()),
            "median_ratio": float(ratio.median()),
        })
    else:
        order = torch.argsort(d_mem)
    pairs = []
    for j in order[:k].tolist():
        p = {"generated": j, "member": int(i_mem[j]), "d_member": round(float(d_mem[j]), 4)}
        if nonmembers is not None:
            p.update({"nonmember": int(i_non[j]), "d_nonmember": round(float(d_non[j]), 4),
                      "ratio": round(float(ratio[j]), 4)})
        pairs.append(p)
    out["pairs"] = pairs
    return out


def encode_image(image_u8: np.ndarray) -> str:
    """A (28, 28) uint8 image as base64 of its raw bytes (compact inside JSON)."""
    a = np.ascontiguousarray(image_u8, dtype=np.uint8)
    if a.shape != (28, 28):
        raise ValueError(f"expected a 28×28 image, got shape {a.shape}")
    return base64.b64encode(a.tobytes()).decode("ascii")


def decode_image(text: str) -> np.ndarray:
    """Inverse of :func:`encode_image`: (28, 28) uint8."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != 28 * 28:
        raise ValueError(f"an encoded image must hold 784 bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(28, 28).copy()
