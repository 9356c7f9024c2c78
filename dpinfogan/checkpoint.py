"""Self-describing checkpoints: safetensors weights + JSON metadata in one file.

Nothing is ever unpickled: tensors are read with safetensors, the rest is JSON in the file's
metadata. The metadata holds everything needed to rebuild the models (model and latent config),
the privacy guarantee of the weights (ε, δ, σ, C, q, steps, the accountant and its history, so a
resumed run keeps counting) and how they were trained.
"""
from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import __version__
from .accounting import epsilon_of
from .config import LatentConfig, ModelConfig, TrainConfig
from .fileio import atomic_write, jsonable, read_safetensors_json
from .metadata import MetadataError, validate_checkpoint_meta
from .models import Discriminator, Generator, build_models
from .secret import SOURCE as SECRET_SOURCE

FORMAT = "dpinfogan-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "dpinfogan"


@dataclass
class Checkpoint:
    """A loaded checkpoint: models in eval mode plus metadata."""

    config: TrainConfig
    generator: Generator
    discriminator: Discriminator
    meta: dict[str, Any]
    optimizer_state: dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None
    # The raw (non-averaged) generator's weights when the run kept an EMA generator and the file
    # holds optimizer state (for an exact resume); ``generator`` is then the average.
    raw_generator_state: Optional[dict[str, torch.Tensor]] = None

    @property
    def epsilon(self) -> float:
        """ε spent (float("inf") for the non-private baseline)."""
        return float(self.meta["privacy"]["epsilon"])

    @property
    def code_to_label(self) -> Optional[list[int]]:
        """Categorical code value -> class index, when known (identity in labels mode)."""
        return self.meta.get("code_to_label")


def save_checkpoint(
    path: str | os.PathLike,
    *,
    config: TrainConfig,
    generator: Generator,
    discriminator: Discriminator,
    privacy: dict[str, Any],
    training: dict[str, Any],
    code_to_label: Optional[list[int]] = None,
    optimizers: Optional[dict[str, torch.optim.Optimizer]] = None,
    half: bool = False,
    extra_modules: Optional[dict[str, torch.nn.Module]] = None,
) -> Path:
    """Atomically write a checkpoint. ``privacy`` holds ε, δ, σ, C, q, steps, accountant, history.

    ``half`` stores weights as float16 (for the shipped zoo); they load back as float32.
    """
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (("g.", generator), ("d.", discriminator), *(extra_modules or {}).items()):
        for k, v in module.state_dict().items():
            v = v.detach().cpu()
            tensors[prefix + k] = (v.half() if half and v.is_floating_point() else v).contiguous()
    opt_meta: dict[str, Any] = {}
    for name, opt in (optimizers or {}).items():
        sd = opt.state_dict()
        opt_meta[name] = {"param_groups": sd["param_groups"], "state_keys": {}}
        for idx, st in sd["state"].items():
            opt_meta[name]["state_keys"][str(idx)] = sorted(st)
            for k, v in st.items():
                tensors[f"opt.{name}.{idx}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config.to_dict(),
        "dataset": config.dataset,
        "code_mode": config.code_mode,
        "privacy": privacy,
        "training": training,
        "code_to_label": code_to_label,
        "optimizers": opt_meta,
    }
    text = json.dumps(jsonable(meta))
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={_META_KEY: text}))


def privacy_guarantee(meta: dict[str, Any]) -> tuple[float, Optional[str]]:
    """The ε a checkpoint's weights can honestly claim at its δ, and why it is ∞ when it is.

    ε is recomputed from the stored accountant history, never read from the file. It is ∞ (with
    the reason) for a non-private model, and for a "private" one whose noise and batches did not
    come from secret randomness (an adversary could replay them) or whose accountant history does
    not cover every step it took (e.g. it started non-privately). Returns (ε, None) when it holds.
    """
    pr, tr = meta.get("privacy") or {}, meta.get("training") or {}
    if not pr.get("private"):
        return math.inf, "trained without privacy"
    if pr.get("randomness") != SECRET_SOURCE:
        return math.inf, ("its DP noise and batches came from the stored seed, so an adversary could replay "
                          "them: not differentially private")
    history = pr.get("history") or []
    # The first entries may be releases made before training (a federated client's noisy class
    # counts): they count toward ε but are not steps.
    covered = sum(int(n) for _, _, n in history[int(tr.get("prior_releases", 0)):])
    if covered != int(tr.get("steps", -1)):
        return math.inf, f"its accountant covers {covered} of its {tr.get('steps')} steps"
    return epsilon_of(pr.get("accountant", "rdp"), history, float(pr["delta"])), None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata only (cheap: reads the header, not the weights), checked against the schema
    in :mod:`dpinfogan.metadata` so no reader meets a wrong type or a huge size.

    ``privacy.epsilon`` is replaced by :func:`privacy_guarantee`'s ε; when that voids a claimed
    guarantee, ``privacy.void_reason`` says why and ``privacy.claimed_epsilon`` keeps the file's number.
    """
    path = _check_path(path)
    meta = read_safetensors_json(path, _META_KEY, FORMAT, FORMAT_VERSION, "DP-InfoGAN checkpoint")
    try:
        meta = validate_checkpoint_meta(meta, FORMAT_VERSION)
    except MetadataError as e:
        raise ValueError(f"{path} has odd metadata: {e}") from None
    pr = meta.get("privacy")
    if isinstance(pr, dict) and pr.get("private"):
        try:
            eps, why = privacy_guarantee(meta)
        except (KeyError, TypeError, ValueError):
            eps, why = math.inf, "its privacy metadata is malformed"
        if why is not None:
            pr["claimed_epsilon"], pr["void_reason"] = pr.get("epsilon"), why
        pr["epsilon"] = eps
    return meta


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Rebuild the models from a checkpoint; ``ValueError`` with a clear message if it is bad."""
    path = _check_path(path)
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise ValueError(f"{path} is corrupt or truncated: {e}") from None
    try:
        config = TrainConfig.from_dict(meta["config"])
        config.model.validate()
        config.latent.validate()
        g, d = build_models(config.model, config.latent)
        for prefix, module in (("g.", g), ("d.", d)):
            sd = {k[len(prefix) :]: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k.startswith(prefix)}
            module.load_state_dict(sd, strict=True)
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise ValueError(f"{path}: weights do not match the model described in its metadata: {e}") from None
    try:
        opt_state = _optimizer_state(meta, tensors)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: its optimizer state does not match its metadata: {e}") from None
    g.eval()
    d.eval()
    raw = {k[len("g_raw."):]: v.float() if v.is_floating_point() else v for k, v in tensors.items()
           if k.startswith("g_raw.")}
    return Checkpoint(config, g, d, meta, opt_state, path, raw or None)


def check_weights(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Cheap check, before anything is loaded, that the file's tensors are complete and have the shapes
    its metadata describes; ``ValueError`` naming the first mismatch."""
    try:
        config = TrainConfig.from_dict(meta["config"])
        want = _expected_shapes(json.dumps(config.to_dict()["model"]), json.dumps(config.to_dict()["latent"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: its metadata does not describe a model: {e}") from None
    try:
        with safe_open(str(path), "pt") as f:
            have = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys() if k[:2] in ("g.", "d.")}
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path} is corrupt or truncated: {e}") from None
    for k in sorted(set(want) | set(have)):
        if want.get(k) != have.get(k):
            raise ValueError(f"{path}: weights do not match the model described in its metadata "
                             f"({k}: file {have.get(k)}, metadata {want.get(k)})")


@functools.lru_cache(maxsize=16)
def _expected_shapes(model_json: str, latent_json: str) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of the models a config describes; built once per config (the zoo shares a few).
    On the CPU: torch's "meta" device would import its compiler on first use (seconds of cold start),
    and the metadata schema already bounds the sizes."""
    model, latent = ModelConfig(**json.loads(model_json)), LatentConfig(**json.loads(latent_json))
    model.validate()
    latent.validate()
    g, d = build_models(model, latent)
    return {f"{p}{k}": tuple(v.shape) for p, m in (("g.", g), ("d.", d)) for k, v in m.state_dict().items()}


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, half: bool = False) -> Path:
    """Copy a checkpoint without optimizer state (optionally float16): what ships in the zoo."""
    ck = load_checkpoint(src)
    m = ck.meta
    return save_checkpoint(
        dst, config=ck.config, generator=ck.generator, discriminator=ck.discriminator,
        privacy=m["privacy"], training=m["training"], code_to_label=m.get("code_to_label"), half=half,
    )


def restore_optimizer(ckpt: Checkpoint, name: str, opt: torch.optim.Optimizer) -> bool:
    """Load a saved optimizer state into ``opt``; False when the checkpoint has none."""
    sd = ckpt.optimizer_state.get(name)
    if not sd:
        return False
    opt.load_state_dict(sd)
    return True


def _optimizer_state(meta: dict, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    out = {}
    for name, m in (meta.get("optimizers") or {}).items():
        state = {
            int(idx): {k: tensors[f"opt.{name}.{idx}.{k}"] for k in keys}
            for idx, keys in m["state_keys"].items()
        }
        out[name] = {"state": state, "param_groups": m["param_groups"]}
    return out


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    return path
