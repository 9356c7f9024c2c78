"""Run folders: ``runs/<id>/`` with config.json, metrics.jsonl, status.json, sample grids and
checkpoints. Every file is written atomically except metrics.jsonl, which is appended one whole
line at a time; a reader skips a torn last line of a run that was killed mid-write.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .fileio import atomic_save_png, atomic_write_json, jsonable
from .metadata import MetadataError, clean_metrics, validate_status, validate_train_config
from .paths import runs_root

CHECKPOINT_NAME = "checkpoint.safetensors"
STATES = ("queued", "running", "finished", "stopped", "failed")
STOP_NAME = "stop_requested"  # written by dpinfogan.jobs.stop before it signals the trainer
JOB_NAME = "job.json"  # a background job's request (dpinfogan.jobs)


def new_run_dir(root: Optional[str | os.PathLike] = None, name: Optional[str] = None) -> Path:
    """Create a fresh run folder; ``ValueError`` if the location is not writable."""
    root = Path(root) if root is not None else runs_root()
    run_id = name or time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    path = root / run_id
    try:
        path.mkdir(parents=True, exist_ok=False)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:
        raise ValueError(f"run folder {path} already exists") from None
    except OSError as e:
        raise ValueError(f"cannot write the run folder {path}: {e.strerror or e}") from None
    return path


def open_run_dir(path: Optional[str | os.PathLike] = None) -> Path:
    """The folder a run writes to: a new one under the runs root when ``path`` is None; ``path``
    itself when a launcher prepared it (it holds the job's request and log, no training output
    yet); else a new folder at ``path`` (``ValueError`` if it exists or cannot be written)."""
    if path is None:
        return new_run_dir()
    path = Path(path)
    if (path / JOB_NAME).is_file() and not (path / "metrics.jsonl").exists():
        return path
    return new_run_dir(path.parent, path.name)


class RunWriter:
    """Writes one run's files."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        (self.path / "samples").mkdir(parents=True, exist_ok=True)

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_json(self.path / "config.json", config)

    def log(self, record: dict[str, Any]) -> None:
        line = json.dumps(jsonable(record)) + "\n"
        with open(self.path / "metrics.jsonl", "a") as f:  # one write of one whole line
            f.write(line)
            f.flush()

    def save_grid(self, step: int, image) -> Path:
        p = atomic_save_png(self.path / "samples" / f"step_{step:06d}.png", image)
        atomic_save_png(self.path / "samples" / "latest.png", image)
        return p

    def status(self, state: str, **info: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        old = read_json(self.path / "status.json") or {}
        old.update(info, state=state, updated=time.time(), pid=os.getpid(), pid_start=process_start(os.getpid()))
        atomic_write_json(self.path / "status.json", old)

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_NAME


@dataclass
class RunInfo:
    """What is on disk for one run; ``error`` is set when the folder is unreadable."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        """Run state; a "running" run whose process is gone is reported as "failed"."""
        st = self.status.get("state", "unknown")
        if st == "running" and not process_alive(self.status.get("pid"), self.status.get("pid_start")):
            return "failed"
        return st

    @property
    def checkpoint(self) -> Optional[Path]:
        p = self.path / CHECKPOINT_NAME
        return p if p.is_file() else None

    @property
    def latest_grid(self) -> Optional[Path]:
        p = self.path / "samples" / "latest.png"
        return p if p.is_file() else None


def read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Parse metrics.jsonl, skipping a torn (partially written) line and lines the schema refuses."""
    out = []
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return clean_metrics(out)


def read_run(path: str | os.PathLike) -> RunInfo:
    """One run folder, checked against :mod:`dpinfogan.metadata`; ``error`` says why it is skipped.

    A run recorded as running whose process is gone is written back as failed (or stopped, when a
    stop was asked), so the file on disk tells the truth without a browser open.
    """
    path = Path(path)
    info = RunInfo(path)
    config = read_json(path / "config.json")
    if config is None:
        info.error = f"run {path.name}: config.json is missing or unreadable"
        return info
    status = read_json(path / "status.json")
    try:
        info.config = validate_train_config(config, "config.json", known_only=False)  # trainers add "derived"
        info.status = validate_status(status) if status is not None else {}
    except MetadataError as e:
        info.error = f"run {path.name}: skipped: {e}"
        return info
    info.metrics = read_metrics(path / "metrics.jsonl")
    if info.status.get("state") == "running" and info.state == "failed":
        info.status = finalize_dead_run(path, info.status) or info.status
    return info


def finalize_dead_run(path: Path, seen: dict[str, Any], exit_code: Optional[int] = None) -> Optional[dict]:
    """Record on disk that a "running" run's process is gone; returns the new status (None if the
    run had moved on meanwhile, e.g. it wrote "finished" just before exiting).

    ``exit_code`` comes from the supervisor that waited for the trainer: it knows the trainer ended.
    """
    now = read_json(path / "status.json") or {}
    if now.get("state") != "running" or now.get("pid") != seen.get("pid"):
        return now or None
    if exit_code is None and process_alive(now.get("pid"), now.get("pid_start")):
        return None
    step = _checkpoint_step(path)
    kept = f"last checkpoint kept at step {step}" if step is not None else "no checkpoint was saved"
    if (path / STOP_NAME).exists():
        now.update(state="stopped", message=f"stopped before the trainer could save; {kept}")
    else:
        how = f" (exit code {exit_code})" if exit_code is not None else ""
        now.update(state="failed", message=f"the training process ended unexpectedly{how}; {kept}")
    if step is not None:
        now["checkpoint_step"] = step
    now["updated"] = time.time()
    atomic_write_json(path / "status.json", now)
    return now


def _checkpoint_step(path: Path) -> Optional[int]:
    ckpt = path / CHECKPOINT_NAME
    if not ckpt.is_file():
        return None
    from .checkpoint import read_metadata  # lazy: only for the rare dead run

    try:
        return int(read_metadata(ckpt)["training"]["steps"])
    except (ValueError, KeyError, TypeError, OSError):
        return None


def list_runs(root: Optional[str | os.PathLike] = None) -> list[RunInfo]:
    """All run folders under the root, newest first (dot-folders such as the app's ``.cache`` are no runs)."""
    root = Path(root) if root is not None else runs_root()
    if not root.is_dir():
        return []
    dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name,
                  reverse=True)
    return [read_run(p) for p in dirs]


def process_start(pid: Any) -> Optional[int]:
    """When the process started (clock ticks after boot, from /proc); None where unknown.

    Together with the pid this names one process: a pid reused by another process has another start.
    """
    try:
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, ValueError, IndexError, TypeError):
        return None


def process_alive(pid: Any, start: Any = None) -> bool:
    """True when process ``pid`` runs and, if ``start`` is known, is the one that started then."""
    if not pid_alive(pid):
        return False
    if start is None:
        return True
    now = process_start(pid)
    return now is None or now == start


def pid_alive(pid: Any) -> bool:
    try:
        pid = int(pid)
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (TypeError, ValueError, ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True
