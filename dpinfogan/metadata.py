"""One schema for every piece of metadata the app and the CLI read from disk.

Checkpoint headers, a run's ``config.json`` / ``status.json`` / ``metrics.jsonl`` and a model's
``.eval.json`` are checked here — types and ranges — before anything else uses them, so a file
written by a newer version, edited by hand or damaged is *skipped with a reason* instead of raising a
``TypeError`` deep inside a page, or asking for 10⁹ categories and allocating gigabytes.

Rules: a key that is present must have the right type and range; a key that is missing is only an
error when the readers cannot do without it. Keys we do not know are allowed (newer writers add
fields), except where ``TrainConfig.from_dict`` refuses them anyway.
"""
from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, Optional

from .config import TrainConfig

# Upper bounds that no real model comes near; they cap what a hostile file can make us allocate.
MAX_CATEGORIES = 1000  # a one-hot code of 1,000 values; the zoo uses 10
MAX_NOISE_DIM = 4096
MAX_CONTINUOUS = 64
MAX_WIDTH = 1024  # channels / hidden units (the zoo uses 16–64)
MAX_STEPS = 10**9
MAX_HISTORY = 100_000  # accountant history entries (one per σ/q change)

RUN_STATES = ("queued", "running", "finished", "stopped", "failed")
_TRAIN_KEYS = {f.name for f in fields(TrainConfig)}


class MetadataError(ValueError):
    """A metadata file is readable JSON but not what we expect; the message says which field."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _int(d: dict, key: str, where: str, lo: int, hi: int, required: bool = False) -> None:
    if key not in d:
        if required:
            raise MetadataError(f"{where}.{key} is missing")
        return
    v = d[key]
    if not _is_int(v) or not lo <= v <= hi:
        raise MetadataError(f"{where}.{key} must be a whole number in {lo}…{hi}, got {_show(v)}")


def _num(d: dict, key: str, where: str, lo: float = -math.inf, hi: float = math.inf, *, required: bool = False,
         allow_none: bool = False, allow_inf: bool = False, open_lo: bool = False) -> None:
    if key not in d:
        if required:
            raise MetadataError(f"{where}.{key} is missing")
        return
    v = d[key]
    if v is None and allow_none:
        return
    if allow_inf and v in ("inf", math.inf):
        return
    ok = _is_num(v) and (lo < v if open_lo else lo <= v) and v <= hi
    if not ok:
        what = f"a number in {'(' if open_lo else '['}{lo:g}, {hi:g}]"
        what += " or \"inf\"" if allow_inf else ""
        what += " or null" if allow_none else ""
        raise MetadataError(f"{where}.{key} must be {what}, got {_show(v)}")


def _str(d: dict, key: str, where: str, choices: Optional[tuple] = None, required: bool = False) -> None:
    if key not in d:
        if required:
            raise MetadataError(f"{where}.{key} is missing")
        return
    v = d[key]
    if not isinstance(v, str) or (choices is not None and v not in choices):
        want = f"one of {', '.join(choices)}" if choices else "text"
        raise MetadataError(f"{where}.{key} must be {want}, got {_show(v)}")


def _bool(d: dict, key: str, where: str, required: bool = False) -> None:
    if key not in d:
        if required:
            raise MetadataError(f"{where}.{key} is missing")
        return
    if not isinstance(d[key], bool):
        raise MetadataError(f"{where}.{key} must be true or false, got {_show(d[key])}")


def _dict(d: dict, key: str, where: str, required: bool = True) -> dict:
    v = d.get(key)
    if v is None and not required and key not in d:
        return {}
    if not isinstance(v, dict):
        raise MetadataError(f"{where}.{key} must be an object, got {_show(v)}" if key in d
                            else f"{where}.{key} is missing")
    return v


def _show(v: Any) -> str:
    """A short, safe rendering of an offending value (never a whole file)."""
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "…"


def validate_train_config(cfg: Any, where: str = "config", known_only: bool = True) -> dict:
    """A ``TrainConfig`` as a dict: a checkpoint's ``config`` (``known_only``: its keys must be the
    TrainConfig's, which loading requires) or a run's ``config.json`` (trainers add e.g. "derived")."""
    if not isinstance(cfg, dict):
        raise MetadataError(f"{where} must be an object, got {_show(cfg)}")
    unknown = sorted(set(cfg) - _TRAIN_KEYS)
    if known_only and unknown:  # TrainConfig.from_dict would refuse them; say so before any page uses the file
        raise MetadataError(f"{where} has settings this version does not know: {', '.join(unknown)[:60]}")
    _str(cfg, "dataset", where)
    _str(cfg, "code_mode", where, ("labels", "unsupervised"))
    _int(cfg, "batch_size", where, 1, 10**7)
    for key in ("steps", "sample_every", "checkpoint_every"):
        _int(cfg, key, where, 1, MAX_STEPS)
    _int(cfg, "d_steps_per_g", where, 1, 10_000)
    _int(cfg, "seed", where, 0, 2**63 - 1)
    _int(cfg, "threads", where, 0, 4096)
    for key in ("lr_d", "lr_g"):
        _num(cfg, key, where, 0.0, 100.0, open_lo=True)
    for key in ("beta1", "lambda_cat", "lambda_cont", "lambda_label"):
        _num(cfg, key, where, 0.0, 1e6)
    _num(cfg, "ema_decay", where, 0.0, 0.999999)
    _bool(cfg, "adaptive_d_steps", where)
    _str(cfg, "warm_start", where)
    model = _dict(cfg, "model", where, required=False)
    _int(model, "image_size", f"{where}.model", 28, 28)
    _int(model, "channels", f"{where}.model", 1, 4)
    for key in ("g_width", "d_width", "d_hidden"):
        _int(model, key, f"{where}.model", 1, MAX_WIDTH)
    _bool(model, "q_log_std", f"{where}.model")
    latent = _dict(cfg, "latent", where, required=False)
    _int(latent, "noise_dim", f"{where}.latent", 1, MAX_NOISE_DIM)
    _int(latent, "n_categories", f"{where}.latent", 2, MAX_CATEGORIES)
    _int(latent, "n_continuous", f"{where}.latent", 0, MAX_CONTINUOUS)
    pr = _dict(cfg, "privacy", where, required=False)
    w = f"{where}.privacy"
    _num(pr, "epsilon", w, 0.0, math.inf, allow_none=True, allow_inf=True, open_lo=True)
    _num(pr, "delta", w, 0.0, 1.0, allow_none=True, open_lo=True)
    _num(pr, "noise_multiplier", w, 0.0, 1e6, allow_none=True)
    _num(pr, "max_grad_norm", w, 0.0, 1e6, open_lo=True)
    for key in ("accountant", "dp_step"):
        _str(pr, key, w)
    return cfg


def _validate_history(pr: dict, where: str) -> None:
    hist = pr.get("history", [])
    if hist is None:
        return
    if not isinstance(hist, list) or len(hist) > MAX_HISTORY:
        raise MetadataError(f"{where}.history must be a list of at most {MAX_HISTORY} [σ, q, steps] entries")
    for i, h in enumerate(hist):
        if not (isinstance(h, list) and len(h) == 3 and _is_num(h[0]) and h[0] >= 0 and _is_num(h[1])
                and 0 <= h[1] <= 1 and _is_int(h[2]) and 0 <= h[2] <= MAX_STEPS):
            raise MetadataError(f"{where}.history[{i}] must be [σ ≥ 0, 0 ≤ q ≤ 1, steps], got {_show(h)}")


def validate_checkpoint_meta(meta: Any, max_version: int) -> dict:
    """A checkpoint's header metadata (see :func:`dpinfogan.checkpoint.save_checkpoint`).

    Returns ``meta`` unchanged; raises :class:`MetadataError` naming the first bad field.
    """
    if not isinstance(meta, dict):
        raise MetadataError(f"metadata must be an object, got {_show(meta)}")
    _int(meta, "format_version", "metadata", 1, 10**6, required=True)
    if meta["format_version"] > max_version:
        raise MetadataError(f"written by a newer DP-InfoGAN (format {meta['format_version']}); upgrade to read it")
    for key in ("library_version", "created", "dataset"):
        _str(meta, key, "metadata")
    _str(meta, "code_mode", "metadata", ("labels", "unsupervised"))
    cfg = validate_train_config(_dict(meta, "config", "metadata"), "config")
    pr = _dict(meta, "privacy", "metadata")
    _bool(pr, "private", "privacy", required=True)
    _num(pr, "epsilon", "privacy", 0.0, math.inf, required=True, allow_inf=True, allow_none=True)
    _num(pr, "target_epsilon", "privacy", 0.0, math.inf, allow_inf=True, allow_none=True)
    _num(pr, "delta", "privacy", 0.0, 1.0, allow_none=True)
    _num(pr, "noise_multiplier", "privacy", 0.0, 1e6, allow_none=True)
    _num(pr, "max_grad_norm", "privacy", 0.0, 1e6, allow_none=True)
    _num(pr, "sample_rate", "privacy", 0.0, 1.0, allow_none=True)
    _int(pr, "n_samples", "privacy", 0, 10**10)
    _int(pr, "steps", "privacy", 0, MAX_STEPS)
    _str(pr, "accountant", "privacy")
    _validate_history(pr, "privacy")
    tr = _dict(meta, "training", "metadata")
    _int(tr, "steps", "training", 0, MAX_STEPS)
    _int(tr, "g_steps", "training", 0, MAX_STEPS)
    _num(tr, "seconds", "training", 0.0)
    _int(tr, "prior_releases", "training", 0, MAX_HISTORY)
    n_cat = cfg.get("latent", {}).get("n_categories", 10)
    mapping = meta.get("code_to_label")
    if mapping is not None and not (isinstance(mapping, list) and len(mapping) == n_cat
                                    and all(m is None or (_is_int(m) and 0 <= m < MAX_CATEGORIES) for m in mapping)):
        raise MetadataError(f"code_to_label must be null or {n_cat} class numbers, got {_show(mapping)}")
    opts = meta.get("optimizers")
    if opts is not None and not isinstance(opts, dict):
        raise MetadataError(f"optimizers must be an object, got {_show(opts)}")
    return meta


def validate_status(status: Any) -> dict:
    """A run's ``status.json`` (written by the trainer and :mod:`dpinfogan.jobs`)."""
    if not isinstance(status, dict):
        raise MetadataError(f"status.json must be an object, got {_show(status)}")
    _str(status, "state", "status", RUN_STATES)
    for key in ("step", "target_steps"):
        _int(status, key, "status", 0, MAX_STEPS)
    _num(status, "epsilon", "status", 0.0, allow_inf=True, allow_none=True)
    _int(status, "pid", "status", 0, 2**31)
    _int(status, "pid_start", "status", 0, 2**63)
    _str(status, "message", "status")
    return status


def clean_metrics(records: list) -> list[dict]:
    """The usable lines of ``metrics.jsonl``: objects with a whole-number step and numeric ε / time
    (a line that breaks these is dropped, like a torn line)."""
    out = []
    for r in records:
        if not (isinstance(r, dict) and _is_int(r.get("step")) and 0 <= r["step"] <= MAX_STEPS):
            continue
        if all(_number_like(r[k]) for k in ("epsilon", "elapsed", "target_steps") if k in r):
            out.append(r)
    return out


def _number_like(v: Any) -> bool:
    """A number, "inf"/"nan" (how JSON carries them here) or null."""
    return v is None or v in ("inf", "nan") or (isinstance(v, (int, float)) and not isinstance(v, bool))


def validate_evaluation(ev: Any) -> dict:
    """A ``<checkpoint>.eval.json``: an object whose ``metrics`` are numbers (or null)."""
    if not isinstance(ev, dict):
        raise MetadataError(f"evaluation must be an object, got {_show(ev)}")
    metrics = ev.get("metrics", {})
    if not isinstance(metrics, dict):
        raise MetadataError(f"evaluation metrics must be an object, got {_show(metrics)}")
    for k, v in metrics.items():  # every metric the evaluator writes is a number (or null when skipped)
        if v is not None and not _is_num(v):
            raise MetadataError(f"evaluation metric {k} must be a number, got {_show(v)}")
    mapping = ev.get("code_to_label")
    if mapping is not None and not (isinstance(mapping, list) and len(mapping) <= MAX_CATEGORIES
                                    and all(m is None or _is_int(m) for m in mapping)):
        raise MetadataError(f"evaluation code_to_label must be a list of class numbers, got {_show(mapping)}")
    return ev
