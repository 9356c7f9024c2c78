"""Home's three-ε comparison (the same latent drawn by the zoo's ε ≈ 1, ε ≈ 10 and non-private
generators), cached on disk so that a cold start shows it without loading torch.

What the page shows is worked out once per zoo content and seed: which files were skipped and why,
which model fills each column, its caption and its PNG. That result is written as one JSON file
(PNGs base64-encoded) in the cache folder (:func:`dpinfogan.paths.cache_root`), named by a key over the
sha256 of every checkpoint in the zoo folder, the seed and the drawing settings. A changed, added or
removed checkpoint changes the key, so a stale result is never read; a cache file that is missing,
unreadable or odd is recomputed. The file is JSON checked field by field and PNG bytes checked for
their signature: nothing read from the cache is unpickled or executed. This module imports neither
torch nor the catalog until a result has to be drawn.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from .fileio import atomic_write_bytes
from .fileio import file_sha256 as sha256_of
from .paths import cache_root, checkpoints_root

__all__ = ["CACHE_VERSION", "Column", "Comparison", "TARGETS", "cache_key", "comparison", "draw_comparison",
           "read_cached", "stamp", "write_cached", "zoo_files"]

CACHE_VERSION = 1  # bump when what is drawn or written changes: old files are then never read
TARGETS = (1.0, 10.0, math.inf)  # the columns: strong privacy, moderate privacy, none
SCALE = 3  # pixels per generated pixel: digits large enough for the back of a room
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_CACHE_BYTES = 8 << 20  # a result is ~30 KB; refuse to read anything absurd
_KEEP_FILES = 64  # newest results kept per folder (one per seed a class clicked through)
# The modules whose code decides what is drawn and said (model choice, ε, latents, network, PNG): their
# source is part of the key, so a code change never shows an old drawing.
_CODE = ("comparison.py", "catalog.py", "checkpoint.py", "accounting.py", "latent.py", "models.py", "sampling.py",
         "fileio.py", "data.py", "metadata.py", "config.py")


@dataclass(frozen=True)
class Column:
    """One column of the comparison.

    ``status`` is "ok" (``png`` and ``caption`` set), "missing" (no zoo model near the target ε)
    or "error" (``error`` names the file and what is wrong with it).
    """

    target: float
    status: str
    caption: str = ""
    error: str = ""
    png: bytes = b""


@dataclass(frozen=True)
class Comparison:
    columns: tuple[Column, ...]
    skipped: tuple[tuple[str, str], ...]  # (file name, why) for zoo files that could not be read
    empty: bool  # no checkpoint in the zoo folder at all


_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256: each file version is hashed once per process


def file_sha256(path: Path) -> str:
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        _DIGESTS[memo] = sha256_of(path)
    return _DIGESTS[memo]


def zoo_files(root: Path) -> list[Path]:
    """The checkpoint files the zoo scan reads (every top-level ``*.safetensors``), sorted."""
    return sorted(root.glob("*.safetensors")) if root.is_dir() else []


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    here = Path(__file__).resolve().parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in _CODE)).hexdigest()[:16]


def cache_key(root: Path, seed: int) -> str:
    """The key of the comparison of ``root``'s checkpoints for ``seed``."""
    parts = [f"v{CACHE_VERSION}", f"code={_code_digest()}", f"seed={int(seed)}", f"scale={SCALE}",
             f"targets={','.join(map(str, TARGETS))}"]
    for p in zoo_files(root):
        parts.append(f"{p.name}={file_sha256(p)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def comparison(root: Optional[Path] = None, seed: int = 0, *, cache_dir: Optional[Path] = None,
               load: Optional[Callable] = None) -> Comparison:
    """Home's comparison for ``seed``: read from the cache when it holds this zoo's result, else drawn
    (``load(entry) -> (checkpoint, error)`` loads a model; default :func:`dpinfogan.checkpoint.load_checkpoint`)
    and written to the cache. A cache folder that cannot be written only costs the next start its speed."""
    root = Path(root) if root is not None else checkpoints_root()
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "home-comparison"
    try:
        key = cache_key(root, seed)
    except OSError:  # a file vanished while it was hashed: draw what is there now, cache nothing
        return draw_comparison(root, seed, load)
    path = folder / f"{key}.json"
    cached = read_cached(path, key)
    if cached is not None:
        return cached
    result = draw_comparison(root, seed, load)
    try:
        write_cached(path, key, result)
    except OSError:
        pass
    return result


def draw_comparison(root: Path, seed: int, load: Optional[Callable] = None) -> Comparison:
    """Discover the zoo, pick the three models and draw the digits 0… for one noise seed (slow: torch)."""
    # Imported here: catalog, sampling and checkpoint bring torch (seconds); a cached cold start needs none
    from . import catalog
    from .sampling import draw, png_bytes

    if load is None:
        from .checkpoint import load_checkpoint

        def load(entry):
            try:
                return load_checkpoint(entry.path), None
            except ValueError as e:
                return None, catalog.plain_error(e, entry.path)

    zoo = catalog.discover_zoo(root)
    skipped = tuple((e.path.name, e.error) for e in zoo if e.error)  # the error names no server path
    columns = []
    for target, entry in catalog.pick_comparison(zoo, TARGETS):
        if entry is None:
            columns.append(Column(target, "missing"))
            continue
        ck, err = load(entry)
        if ck is None:
            columns.append(Column(target, "error", error=f"`{entry.path.name}`: {err}"))
            continue
        n_cat = ck.config.latent.n_categories
        per_row = (n_cat + 1) // 2  # two rows of five
        images = draw(ck.generator, ck.config.latent, list(range(n_cat)), [()] * n_cat, [seed] * n_cat)
        columns.append(Column(target, "ok", caption=f"{entry.label} · {entry.settings_text()}",
                              png=png_bytes(images, nrow=per_row, scale=SCALE)))
    return Comparison(tuple(columns), skipped, empty=not zoo)


def _target_text(t: float) -> str:
    return "inf" if math.isinf(t) else repr(float(t))


def write_cached(path: Path, key: str, c: Comparison) -> None:
    """Write ``c`` atomically as JSON, then keep only the newest results in the folder."""

    doc = {"format": "dpinfogan-home-comparison", "version": CACHE_VERSION, "key": key, "empty": c.empty,
           "skipped": [list(s) for s in c.skipped],
           "columns": [{"target": _target_text(col.target), "status": col.status, "caption": col.caption,
                        "error": col.error, "png": base64.b64encode(col.png).decode("ascii")} for col in c.columns]}
    atomic_write_bytes(path, json.dumps(doc).encode())
    olds = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[_KEEP_FILES:]
    for old in olds:
        try:
            old.unlink()
        except OSError:
            pass


def read_cached(path: Path, key: str) -> Optional[Comparison]:
    """The cached result for ``key``, or None when the file is missing, for another key, or odd in any way."""
    try:
        if path.stat().st_size > _MAX_CACHE_BYTES:
            return None
        doc = json.loads(path.read_bytes())
        return _parse(doc, key)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _parse(doc: Any, key: str) -> Optional[Comparison]:
    if not (isinstance(doc, dict) and doc.get("format") == "dpinfogan-home-comparison"
            and doc.get("version") == CACHE_VERSION and doc.get("key") == key):
        return None
    cols = doc["columns"]
    if not isinstance(cols, list) or len(cols) != len(TARGETS):
        return None
    columns = []
    for want, col in zip(TARGETS, cols):
        if col["target"] != _target_text(want) or col["status"] not in ("ok", "missing", "error"):
            return None
        caption, error = col["caption"], col["error"]
        if not (isinstance(caption, str) and isinstance(error, str)):
            return None
        png = base64.b64decode(col["png"], validate=True)
        if col["status"] == "ok" and not png.startswith(_PNG_SIGNATURE):
            return None
        columns.append(Column(want, col["status"], caption, error, png))
    skipped = doc["skipped"]
    if not (isinstance(skipped, list) and all(isinstance(s, list) and len(s) == 2 and all(isinstance(x, str) for x in s)
                                              for s in skipped)):
        return None
    if not isinstance(doc["empty"], bool):
        return None
    return Comparison(tuple(columns), tuple((a, b) for a, b in skipped), doc["empty"])


def stamp(root: Optional[Path] = None) -> tuple:
    """(name, size, mtime_ns) of each zoo file: cheap, changes whenever a file does (an in-process cache key)."""
    root = Path(root) if root is not None else checkpoints_root()
    out = []
    for p in zoo_files(root):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


if __name__ == "__main__":  # run_app.sh: fill the cache for the default seed before the server starts
    import time

    t0 = time.perf_counter()
    comparison(seed=0)
    print(f"Home comparison ready in {cache_root() / 'home-comparison'} ({time.perf_counter() - t0:.1f} s)")
