"""The attack lab: a fixed small-data setting, every attack on one checkpoint, the results file.

The lab's data are the 5,000 offline digits in a seeded permutation: the first ``LAB_SIZE`` are the
members, the next ``LAB_NONMEMBERS`` the non-members, and the next 2·``LAB_CANARIES`` become canaries
(:func:`dpinfogan.audit.stamp_canaries`), half trained on, half held out. A lab model trains on the
members plus the inserted canaries; :func:`run_attack` then runs the membership attacks of
:mod:`dpinfogan.attacks`, the ε lower bound and the canary audit of :mod:`dpinfogan.audit`, and
returns one JSON-friendly dict, written atomically to ``<checkpoint stem>.attack.json``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .attacks import (
    FPR_LOW, Features, auc_standard_error, dp_auc_bound, dp_tpr_bound, encode_image, gan_leaks_scores, logan_scores,
    memorisation, roc_curve,
)
from .audit import canary_audit, empirical_epsilon, stamp_canaries
from .checkpoint import load_checkpoint, privacy_guarantee, read_metadata
from .config import default_delta
from .data import OFFLINE, ImageData, offline_digits, to_float, to_uint8
from .evaluator import load_evaluator
from .fileio import file_sha256 as sha256_of
from .metrics import features as eval_features
from .paths import evaluator_path, project_relative
from .sampling import sample

LAB_SEED = 0  # seed of the attack-lab permutation of the 5,000 offline digits
LAB_SIZE = 256  # members: small enough for a large discriminator to memorise
LAB_NONMEMBERS = 1000  # held-out digits the attacks must tell apart from the members
LAB_CANARIES = 32  # stamped canaries trained on (and as many held out)
FORMAT_VERSION = 2  # 2: claimed ε from privacy_guarantee, ε lower bounds, canaries, evaluator hash


# --------------------------------------------------------------------------- the lab's data
@dataclass
class LabSets:
    """The attack lab's four disjoint image sets, (N, 1, 28, 28) float in [-1, 1] with labels."""

    members: ImageData  # trained on
    nonmembers: ImageData  # never trained on, same distribution
    canaries: ImageData  # stamped, trained on
    heldout_canaries: ImageData  # stamped the same way, never trained on

    def training_set(self) -> ImageData:
        """What a lab model trains on: the members, then the inserted canaries."""
        m, c = self.members, self.canaries
        return ImageData(name=OFFLINE, images=torch.cat([m.images, c.images]), labels=torch.cat([m.labels, c.labels]),
                         requested=OFFLINE, source=f"{m.source} + {len(c)} stamped canaries")


def _offline_pool() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 offline digits (train split, then test split); ``data`` parses the CSV once per process."""
    tr, te = offline_digits(True), offline_digits(False)
    return torch.cat([tr.images, te.images]), torch.cat([tr.labels, te.labels])


def lab_sets(seed: int = LAB_SEED, size: int = LAB_SIZE, n_nonmembers: int = LAB_NONMEMBERS,
             canaries: int = LAB_CANARIES) -> LabSets:
    """The lab's members, non-members and canaries from one seeded permutation of the offline digits.

    Members and non-members follow the same distribution, so only membership differs; so do the
    inserted and held-out canaries (stamped with the same procedure, each with its own stamp).
    """
    for name, v, lo in (("size", size, 1), ("non-members", n_nonmembers, 1), ("canaries", canaries, 0)):
        if not isinstance(v, int) or v < lo:
            raise ValueError(f"attack-lab {name} must be a whole number ≥ {lo}, got {v}")
    images, labels = _offline_pool()
    need = size + n_nonmembers + 2 * canaries
    if need > len(labels):
        raise ValueError(f"the attack lab needs {need} digits ({size} members, {n_nonmembers} non-members, "
                         f"2×{canaries} canaries) but the offline pool has {len(labels)}")
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(labels)))
    cuts = np.cumsum([0, size, n_nonmembers, canaries, canaries])
    idx = [perm[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    stamped = stamp_canaries(images[torch.cat(idx[2:])], seed=seed + 1)

    def make(role: str, i: torch.Tensor, x: torch.Tensor) -> ImageData:
        return ImageData(name=OFFLINE, images=x, labels=labels[i], requested=OFFLINE,
                         source=f"attack lab {role}: {len(i)} of the 5,000 offline digits (permutation seed {seed})")

    return LabSets(make("members", idx[0], images[idx[0]]), make("non-members", idx[1], images[idx[1]]),
                   make("canaries", idx[2], stamped[:canaries]), make("held-out canaries", idx[3], stamped[canaries:]))


# --------------------------------------------------------------------------- one checkpoint, end to end
def _attack_entry(label: str, pos: np.ndarray, neg: np.ndarray, delta: float) -> dict:
    roc = roc_curve(pos, neg)
    return {"label": label, "auc": round(roc.auc, 5), "tpr_at_1pct_fpr": round(roc.tpr_at(FPR_LOW), 5),
            "auc_se": round(auc_standard_error(roc.auc, len(pos), len(neg)), 5),
            "audit": empirical_epsilon(pos, neg, delta),
            "fpr": np.round(roc.fpr, 5).tolist(), "tpr": np.round(roc.tpr, 5).tolist()}


def run_attack(
    ckpt,
    members: torch.Tensor,
    nonmembers: torch.Tensor,
    *,
    canaries: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
    audit_delta: Optional[float] = None,
    n_generated: int = 10000,
    seed: int = 0,
    features: Optional[Features] = None,
    evaluator: Optional[dict] = None,
    gallery: int = 12,
    setting: Optional[dict] = None,
) -> dict:
    """Attack a loaded :class:`~dpinfogan.checkpoint.Checkpoint`; returns the results dict.

    Args:
        ckpt: the model under attack (its generator and discriminator).
        members, nonmembers: (N, 1, 28, 28) float images in [-1, 1]; members were trained on.
        canaries: (inserted, held-out) stamped images, inserted ones trained on; audited when given.
        audit_delta: δ of the ε lower bounds; default the model's δ, or 1/(10·N)-style for a
            non-private model (:func:`dpinfogan.config.default_delta`).
        n_generated: generated samples for the black-box attack and the memorisation view.
        seed: seed of the generated samples.
        features: optional embedding for a second black-box attack and memorisation distance.
        evaluator: what identifies ``features`` (sha256, version, project-relative path).
        gallery: number of memorisation pairs to store (with their images).
        setting: extra description of the member / non-member sets, stored as is.
    """
    if members.shape[0] == 0 or nonmembers.shape[0] == 0:
        raise ValueError("the member and non-member sets must both be non-empty")
    if n_generated < 1:
        raise ValueError(f"number of generated samples must be positive, got {n_generated}")
    t0 = time.perf_counter()
    pr, tr = ckpt.meta["privacy"], ckpt.meta["training"]
    # The ε the weights can honestly claim: ∞ for a non-private model and for one whose noise
    # could be replayed or whose accountant does not cover every step.
    eps, void = privacy_guarantee(ckpt.meta)
    private = math.isfinite(eps)
    delta = float(pr["delta"]) if private else None
    if audit_delta is None:
        audit_delta = delta if private else default_delta(int(pr.get("n_samples") or members.shape[0]))
    torch.manual_seed(seed)
    # Quantised to 8 bits, like every saved or displayed sample.
    gen_u8 = torch.from_numpy(sample(ckpt.generator, ckpt.config.latent, n_generated, seed=seed).images)
    gen = to_float(gen_u8)
    d = ckpt.discriminator
    attacks = {
        "logan": _attack_entry("white-box: discriminator score (LOGAN)",
                               logan_scores(d, members), logan_scores(d, nonmembers), audit_delta),
        "gan_leaks": _attack_entry("black-box: distance to nearest generated sample, pixels (GAN-Leaks)",
                                   gan_leaks_scores(members, gen), gan_leaks_scores(nonmembers, gen), audit_delta),
    }
    if features is not None:
        attacks["gan_leaks_features"] = _attack_entry(
            "black-box: distance to nearest generated sample, evaluator features (GAN-Leaks)",
            gan_leaks_scores(members, gen, features), gan_leaks_scores(nonmembers, gen, features), audit_delta)
    # The memorisation view compares with as many non-members as members, so that "nearer a member
    # than any non-member" is a coin flip (0.5) for a generator that copies nothing.
    n_ref = min(members.shape[0], nonmembers.shape[0])
    members_ref, nonmembers_ref = members[:n_ref], nonmembers[:n_ref]
    mem = memorisation(gen, members_ref, nonmembers_ref, k=gallery)
    mem_u8, non_u8 = to_uint8(members_ref).numpy(), to_uint8(nonmembers_ref).numpy()
    for p in mem["pairs"]:
        p["images"] = {"generated": encode_image(gen_u8[p["generated"]].numpy()),
                       "member": encode_image(mem_u8[p["member"]]),
                       "nonmember": encode_image(non_u8[p["nonmember"]])}
    if features is not None:
        mem_f = memorisation(gen, members_ref, nonmembers_ref, k=0, features=features)
        mem["features"] = {k: v for k, v in mem_f.items() if k != "pairs"}
    canary = None
    if canaries is not None:
        ins, held = canaries
        canary = canary_audit(logan_scores(d, ins), logan_scores(d, held), audit_delta)
        canary["images"] = [encode_image(x) for x in to_uint8(ins[:4]).numpy()]
    bound = None
    if private:
        bound = {"epsilon": eps, "delta": delta, "auc": round(dp_auc_bound(eps, delta), 5),
                 "tpr_at_1pct_fpr": round(float(dp_tpr_bound(FPR_LOW, eps, delta)), 5)}
    return {
        "format": "dpinfogan-attack", "format_version": FORMAT_VERSION,
        "checkpoint": str(ckpt.path.name) if ckpt.path else None,
        "private": private, "epsilon": eps, "delta": delta,
        "void_reason": void if pr.get("private") else None,
        "audit_delta": audit_delta,
        "model": {"noise_multiplier": pr.get("noise_multiplier"), "max_grad_norm": pr.get("max_grad_norm"),
                  "sample_rate": pr.get("sample_rate"), "n_samples": pr.get("n_samples"), "steps": tr.get("steps"),
                  "batch_size": ckpt.config.batch_size, "d_width": ckpt.config.model.d_width,
                  "d_hidden": ckpt.config.model.d_hidden, "train_seconds": tr.get("seconds"),
                  "threads": tr.get("threads"), "dataset_source": tr.get("dataset_source")},
        "setting": {"n_members": int(members.shape[0]), "n_nonmembers": int(nonmembers.shape[0]),
                    "n_generated": n_generated, "seed": seed, **(setting or {})},
        "evaluator": evaluator,
        "attacks": attacks,
        "canaries": canary,
        "dp_bound": bound,
        "memorisation": mem,
        "seconds": round(time.perf_counter() - t0, 2),
    }


# --------------------------------------------------------------------------- the results file
def results_path(checkpoint: str | Path) -> Path:
    """``<dir>/<checkpoint stem>.attack.json``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + ".attack.json")


def load_results(path: str | Path) -> dict:
    """Read an ``.attack.json`` file; ``ValueError`` when it is missing or not one."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"attack results not found: {p}")
    try:
        res = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{p} is not valid JSON: {e}") from None
    if not isinstance(res, dict) or res.get("format") != "dpinfogan-attack":
        raise ValueError(f"{p} is not a DP-InfoGAN attack results file")
    if not isinstance(res.get("attacks"), dict) or "epsilon" not in res:
        raise ValueError(f"{p} is an incomplete attack results file (no attacks or ε)")
    res["epsilon"] = float(res["epsilon"])  # "inf" back to a float
    return res


def best_attack_auc(checkpoint: str | Path) -> Optional[float]:
    """The highest AUC any attack reached on this checkpoint (0.5 = chance), or None if never attacked."""
    p = results_path(checkpoint)
    if not p.is_file():
        return None
    aucs = [a.get("auc") for a in load_results(p).get("attacks", {}).values()]
    aucs = [float(a) for a in aucs if isinstance(a, (int, float))]
    return max(aucs) if aucs else None


def file_sha256(path: str | Path) -> Optional[str]:
    """sha256 of a file's bytes, or None when it does not exist."""
    p = Path(path)
    return sha256_of(p) if p.is_file() else None


def evaluator_warning(res: dict, shipped_sha256: Optional[str]) -> Optional[str]:
    """Why a results file's feature attack cannot be compared with today's, or None when it can.

    ``shipped_sha256`` is the hash of the evaluator shipped now (:func:`file_sha256`).
    """
    if "gan_leaks_features" not in res.get("attacks", {}):
        return None  # no evaluator was used
    used = (res.get("evaluator") or res.get("setting", {}).get("features") or {}).get("sha256")
    if used is None:
        return "its feature attack does not record which evaluator it used"
    if used != shipped_sha256:
        return (f"its feature attack used another evaluator (sha256 {used[:12]}…) than the one shipped now "
                f"({(shipped_sha256 or 'none')[:12]}…); re-run `python scripts/attack_lab.py attack`")
    return None


# --------------------------------------------------------------------------- command line
def _load_npz_images(path: Path, what: str) -> torch.Tensor:
    """uint8 images (N, 28, 28) from an .npz's ``images`` array (no pickles) -> float in [-1, 1]."""
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


def attack_checkpoint(checkpoint: Path, *, members: Optional[Path] = None, nonmembers: Optional[Path] = None,
                      lab_seed: int = LAB_SEED, lab_size: int = LAB_SIZE, lab_nonmembers: int = LAB_NONMEMBERS,
                      lab_canaries: int = LAB_CANARIES, n_generated: int = 10000, seed: int = 0,
                      use_features: bool = False, evaluator_path: Optional[Path] = None) -> dict:
    """Attack one checkpoint file on the lab's sets (or on ``members``/``nonmembers`` .npz files)."""
    if (members is None) != (nonmembers is None):
        raise ValueError("give both --members and --nonmembers, or neither (to use the attack-lab split)")
    if n_generated < 1:
        raise ValueError(f"--n-generated must be positive, got {n_generated}")
    meta = read_metadata(checkpoint)  # cheap check first: a bad file fails before any work
    canaries = None
    if members is not None:
        mem, non = _load_npz_images(members, "members"), _load_npz_images(nonmembers, "non-members")
        setting = {"members": project_relative(members), "nonmembers": project_relative(nonmembers)}
    else:
        n = int(meta["privacy"].get("n_samples") or 0)
        if n != lab_size + lab_canaries:
            raise ValueError(f"{checkpoint} was trained on {n} images, not on the attack lab's {lab_size} members + "
                             f"{lab_canaries} canaries; pass --members and --nonmembers (.npz with uint8 'images') "
                             f"for your own sets, or the lab sizes it was trained with")
        lab = lab_sets(lab_seed, lab_size, lab_nonmembers, lab_canaries)
        mem, non = lab.members.images, lab.nonmembers.images
        canaries = (lab.canaries.images, lab.heldout_canaries.images) if lab_canaries >= 2 else None
        setting = {"members": lab.members.source, "nonmembers": lab.nonmembers.source, "lab_seed": lab_seed,
                   "lab_size": lab_size, "lab_nonmembers": lab_nonmembers, "lab_canaries": lab_canaries}
    features, info = None, None
    if use_features:
        ev = load_evaluator(evaluator_path or evaluator_path(meta["dataset"]))
        features = lambda x: eval_features(ev.model, x)  # noqa: E731
        info = {"sha256": ev.sha256, "version": ev.version, "path": project_relative(ev.path)}
    return run_attack(load_checkpoint(checkpoint), mem, non, canaries=canaries, n_generated=n_generated, seed=seed,
                      features=features, evaluator=info, setting=setting)


def summary_lines(res: dict) -> list[str]:
    """A few human lines: ε claimed, each attack with its proved ε, the canaries, memorisation."""
    claim = f"ε ≤ {res['epsilon']:.4g}, δ = {res['delta']:g}" if res["private"] else "no DP guarantee (ε = ∞)"
    lines = [f"{res['checkpoint']}: claims {claim}"]
    for r in res["attacks"].values():
        lines.append(f"  {r['label']}: AUC {r['auc']:.3f} ± {2 * r['auc_se']:.3f}, TPR at 1% FPR "
                     f"{r['tpr_at_1pct_fpr']:.3f}, proves ε ≥ {r['audit']['epsilon_lb']:.2f}")
    if res.get("canaries"):
        c = res["canaries"]
        lines.append(f"  canaries: D scores the {c['k']} inserted {c['gap']:.2f} ± {c['gap_se']:.2f} higher than the "
                     f"{c['k_heldout']} held out (AUC {c['auc']:.2f}), proves ε ≥ {c['epsilon_lb']:.2f}")
    if res["dp_bound"]:
        b = res["dp_bound"]
        lines.append(f"  (ε, δ)-DP bound: AUC ≤ {b['auc']:.3f}, TPR at 1% FPR ≤ {b['tpr_at_1pct_fpr']:.3f}")
    m = res["memorisation"]
    lines.append(f"  memorisation: median distance ratio nearest member / nearest non-member {m['median_ratio']:.3f} "
                 f"(1 = no copying); most copy-like sample {1 - m['pairs'][0]['ratio']:.0%} nearer a member; "
                 f"{m['frac_closer_to_member']:.1%} of {m['n_generated']} samples nearer a member")
    return lines


def audit_verdict(res: dict) -> dict:
    """The largest ε any attack on this model proves, against the ε it claims.

    Returns ``{"epsilon_lb", "by" (which attack), "claimed" (ε, ∞ without a guarantee),
    "violated"}``; ``violated`` means a lower bound exceeds a finite claimed ε — the product's
    accounting or its private step would be wrong.
    """
    bounds = {r.get("label", k): float(r["audit"]["epsilon_lb"]) for k, r in res["attacks"].items() if r.get("audit")}
    if res.get("canaries") and "epsilon_lb" in res["canaries"]:
        bounds["canary audit (discriminator score)"] = float(res["canaries"]["epsilon_lb"])
    by, lb = max(bounds.items(), key=lambda kv: kv[1]) if bounds else (None, 0.0)
    claimed = float(res["epsilon"]) if res.get("private") else math.inf
    return {"epsilon_lb": lb, "by": by, "claimed": claimed, "violated": lb > claimed}
