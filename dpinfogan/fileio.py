"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A reader (or a run killed mid-write) therefore sees either the old file or the new one, never a
half-written one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # only a type here: the app's cold path reads and writes files without loading torch
    import torch


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (what metadata and caches record of a file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then atomically move the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(jsonable(obj), indent=2) + "\n").encode())


def jsonable(obj: Any) -> Any:
    """Replace non-finite floats by strings ("inf", "nan") so the JSON stays standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else "-inf" if obj < 0 else "nan"
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def float_or(value: Any, default: Any = math.nan) -> Any:
    """``value`` read as a float (``"inf"`` and ``"nan"`` as :func:`jsonable` writes them), or
    ``default`` when it is missing or not a number."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def read_safetensors_json(path: str | os.PathLike, key: str, fmt: str, version: int, what: str) -> dict[str, Any]:
    """Parse the JSON stored under ``key`` in a safetensors file's header, without loading tensors.

    Checks ``format == fmt`` and ``format_version <= version``; any problem is a ``ValueError``
    naming ``what`` the file should have been.
    """
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 0 < n <= min(os.path.getsize(path) - 8, 100_000_000):
                raise ValueError("bad header length")
            header = json.loads(f.read(n))
        meta = json.loads(header["__metadata__"][key])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a {what} (unreadable or truncated header: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ValueError(f"{path} is not a {what} (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    got = meta.get("format_version", 0)
    if not isinstance(got, int) or isinstance(got, bool):
        raise ValueError(f"{path} is not a {what} (format_version {got!r} is not a whole number)")
    if got > version:
        raise ValueError(f"{path} was written by a newer DP-InfoGAN (format {meta['format_version']}); upgrade to read it")
    return meta


def image_grid(images_u8: torch.Tensor, nrow: int, pad: int = 2, scale: int = 1) -> Image.Image:
    """uint8 (N, H, W) -> one grayscale PIL image with ``nrow`` images per row."""
    n, h, w = images_u8.shape
    rows = math.ceil(n / nrow)
    canvas = np.zeros((rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.uint8)
    for i, img in enumerate(images_u8.cpu().numpy()):
        r, c = divmod(i, nrow)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    im = Image.fromarray(canvas, mode="L")
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST) if scale > 1 else im


def atomic_save_png(path: str | os.PathLike, image: Image.Image) -> Path:
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
