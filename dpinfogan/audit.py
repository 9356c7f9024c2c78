"""Privacy auditing: an empirical lower bound on ε from an attack, and a canary audit.

An (ε, δ)-DP training run bounds every membership test: TPR ≤ e^ε·FPR + δ and
1 − FPR ≤ e^ε·(1 − TPR) + δ. Turned around, a test that achieves some (TPR, FPR) *proves*
ε ≥ log((TPR − δ) / FPR) — the run cannot be more private than that. With finitely many members
and non-members TPR and FPR are only estimates, so the proof uses their Clopper–Pearson confidence
bounds (Jagielski et al. 2020, Nasr et al. 2021). A lower bound above the ε the accountant claims
means the implementation (or the accountant) is wrong.

The canary audit asks the same question with planted records: k out-of-distribution images
(digits with a random stamp) go into the training set, k more are held out, and the audit
compares the discriminator's scores on both.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from scipy.stats import beta

from .attacks import roc_curve

CONFIDENCE = 0.95  # every lower bound holds with this probability over the attack's samples


# --------------------------------------------------------------------------- the ε lower bound
def _two_score_sets(a, b, too_few: str, not_finite: str) -> tuple[np.ndarray, np.ndarray]:
    """Two flat float64 score arrays of at least two finite values each; ``ValueError`` otherwise."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size < 2 or b.size < 2:
        raise ValueError(too_few)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(not_finite)
    return a, b


def clopper_pearson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """One-sided Clopper–Pearson bounds of a binomial rate, each holding with probability 1 − ``alpha``.

    Returns (lower, upper): lower = Beta⁻¹(α; k, n − k + 1) (0 when k = 0) and
    upper = Beta⁻¹(1 − α; k + 1, n − k) (1 when k = n).
    """
    if not (isinstance(trials, (int, np.integer)) and trials >= 1):
        raise ValueError(f"need at least one trial, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, {trials}], got {successes}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k, n = int(successes), int(trials)
    lo = 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha, k + 1, n - k))
    return lo, hi


def epsilon_lower_bound(tp: int, n_members: int, fp: int, n_nonmembers: int, delta: float,
                        confidence: float = CONFIDENCE) -> float:
    """The ε that one test's outcome proves, at ``confidence``: 0 when it proves nothing.

    The test flagged ``tp`` of ``n_members`` members and ``fp`` of ``n_nonmembers`` non-members.
    With one-sided Clopper–Pearson bounds at α = (1 − confidence)/2 each (so that both hold together
    with probability ≥ confidence, by the union bound):

        ε_lb = max(0, log((TPR_lo − δ) / FPR_hi), log((1 − FPR_hi − δ) / (1 − TPR_lo)))

    where TPR_lo is the lower bound of the true-positive rate and FPR_hi the upper bound of the
    false-positive rate. The first form is DP's TPR ≤ e^ε·FPR + δ, the second its mirror image
    TNR ≤ e^ε·FNR + δ; both are made conservative the same way (TPR as low and FPR as high as the
    data allow), so one pair of bounds serves both. A term whose numerator is ≤ 0 counts 0.
    """
    if not 0 <= delta < 1:
        raise ValueError(f"δ must be in [0, 1), got {delta}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = (1 - confidence) / 2
    tpr_lo = clopper_pearson(tp, n_members, alpha)[0]
    fpr_hi = clopper_pearson(fp, n_nonmembers, alpha)[1]
    # fpr_hi > 0 and tpr_lo < 1 always (Clopper–Pearson never reaches the edge it bounds), so the
    # denominators are positive and the bound finite.
    terms = [(tpr_lo - delta) / fpr_hi, (1 - fpr_hi - delta) / (1 - tpr_lo)]
    return max([0.0] + [math.log(t) for t in terms if t > 1])


def _best_threshold(pos: np.ndarray, neg: np.ndarray, delta: float, confidence: float) -> tuple[float, float]:
    """The threshold t of "score ≥ t ⇒ member" whose test proves the most on these samples, and
    its e^ε_lb (as :func:`epsilon_lower_bound` computes it, before the log)."""
    alpha = (1 - confidence) / 2
    u = np.unique(np.concatenate([pos, neg]))
    # Every distinct outcome of the test, with thresholds halfway between neighbouring scores so
    # that the chosen test generalises to the other half (not "≥ the lowest member seen").
    ts = np.r_[(u[:-1] + u[1:]) / 2, u[-1]]
    tp = (np.sort(pos)[None, :] >= ts[:, None]).sum(1)
    fp = (np.sort(neg)[None, :] >= ts[:, None]).sum(1)
    # The same Clopper–Pearson bounds as epsilon_lower_bound, for all thresholds at once.
    tpr_lo = np.where(tp > 0, beta.ppf(alpha, np.maximum(tp, 1), pos.size - tp + 1), 0.0)
    fpr_hi = np.where(fp < neg.size, beta.ppf(1 - alpha, fp + 1, np.maximum(neg.size - fp, 1)), 1.0)
    score = np.maximum((tpr_lo - delta) / fpr_hi, (1 - fpr_hi - delta) / (1 - tpr_lo))
    i = int(np.argmax(score))
    return float(ts[i]), float(score[i])


def empirical_epsilon(member_scores: np.ndarray, nonmember_scores: np.ndarray, delta: float, *,
                      confidence: float = CONFIDENCE, seed: int = 0) -> dict:
    """The largest ε an attack's scores prove at ``confidence`` (higher score = member).

    Choosing the best of many thresholds on the same samples would overstate the bound (the
    multiple-comparisons problem), so the samples are split at random (``seed``) into two halves:
    the test (threshold and direction, "score ≥ t" or "score ≤ t") is chosen on the first half, and
    :func:`epsilon_lower_bound` is evaluated once, for that test, on the second half — a single test,
    so its confidence holds as stated. (The price: only half the samples count.)

    Returns a JSON-friendly dict: ``epsilon_lb`` (0 = nothing proved), the test, the counts on the
    evaluation half and the method.
    """
    pos, neg = _two_score_sets(member_scores, nonmember_scores,
                               "need at least two member and two non-member scores (they are split in halves)",
                               "attack scores must be finite numbers")
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(pos), rng.permutation(neg)
    hp, hn = pos.size // 2, neg.size // 2
    # Both directions are tried on the selection half: DP bounds "low score ⇒ member" too.
    sign = max((1.0, -1.0), key=lambda s: _best_threshold(s * pos[:hp], s * neg[:hn], delta, confidence)[1])
    t = _best_threshold(sign * pos[:hp], sign * neg[:hn], delta, confidence)[0]
    ep, en = sign * pos[hp:], sign * neg[hn:]
    tp, fp = int((ep >= t).sum()), int((en >= t).sum())
    lb = epsilon_lower_bound(tp, ep.size, fp, en.size, delta, confidence)
    return {"epsilon_lb": lb, "confidence": confidence, "delta": delta,
            "test": f"score {'≥' if sign > 0 else '≤'} {sign * t:.6g} ⇒ member",
            "tp": tp, "n_members": int(ep.size), "fp": fp, "n_nonmembers": int(en.size),
            "method": "test chosen on a random half of the scores, Clopper–Pearson bounds on the other half"}


# --------------------------------------------------------------------------- canaries
def stamp_canaries(images: torch.Tensor, seed: int, size: int = 7) -> torch.Tensor:
    """Each image with its own random ``size``×``size`` black-and-white stamp at a random place.

    ``images``: (k, 1, 28, 28) float in [-1, 1]. Every canary's stamp is different (a seeded random
    pattern and position), so a model can only score a canary high by remembering *that* image, not
    by learning "stamped images are real".
    """
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected (k, 1, 28, 28) images, got {list(images.shape)}")
    if not 1 <= size <= 28:
        raise ValueError(f"stamp size must be 1–28 pixels, got {size}")
    g = torch.Generator().manual_seed(seed)
    out = images.clone()
    for i in range(out.shape[0]):
        r, c = torch.randint(0, 29 - size, (2,), generator=g).tolist()
        out[i, 0, r : r + size, c : c + size] = torch.randint(0, 2, (size, size), generator=g).float() * 2 - 1
    return out


def canary_audit(inserted_scores: np.ndarray, heldout_scores: np.ndarray, delta: Optional[float] = None) -> dict:
    """How much more the model scores the canaries it trained on than held-out ones.

    ``gap`` is mean(inserted) − mean(held-out) in score units (D logits), with ``gap_se`` its
    standard error (Welch); ``auc`` is the chance that a random inserted canary outscores a random
    held-out one (0.5 = no memorisation). With ``delta``, also the ε the canaries prove
    (:func:`empirical_epsilon`).
    """
    a, b = _two_score_sets(inserted_scores, heldout_scores, "need at least two inserted and two held-out canaries",
                           "canary scores must be finite numbers")
    out = {"k": int(a.size), "k_heldout": int(b.size), "mean_inserted": float(a.mean()),
           "mean_heldout": float(b.mean()), "gap": float(a.mean() - b.mean()),
           "gap_se": float(math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)),
           "auc": roc_curve(a, b).auc}
    if delta is not None:
        out["epsilon_lb"] = empirical_epsilon(a, b, delta)["epsilon_lb"]
    return out
