"""Start and stop federations in the background for the app (no flwr, no Streamlit here).

A federation is ``python -m dpinfogan federated ... --run-dir runs/<id>`` in its own process
session; its output goes to ``runs/<id>/federated.log``. Stopping writes the run's stop file: the
round in progress finishes, then the server saves the global checkpoint and marks the run stopped.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from ..paths import PROJECT_ROOT, checkpoints_root
from ..fileio import atomic_write_json
from ..runs import RunInfo, list_runs, new_run_dir, read_run
from .fedrun import STOP_FILE
from .task import FedConfig, load_partitions

JOB_NAME = "fedjob.json"  # the command line and when it was started
LOG_NAME = "federated.log"
_children: dict[int, subprocess.Popen] = {}  # polled so finished children never linger as zombies


def federated_argv(fed: FedConfig, run_dir: Path, isolated: Optional[int] = None) -> list[str]:
    """The command line that runs ``fed`` on the simulation engine into ``run_dir``."""
    argv = [sys.executable, "-m", "dpinfogan", "federated", "--run-dir", str(run_dir)]
    for key, value in fed.to_run_config().items():
        if key == "run-dir":
            continue
        flag = {"central-sigma": "--central-dp-sigma", "central-clip": "--central-dp-clip"}.get(key, f"--{key}")
        if isinstance(value, bool):
            argv.append(flag if value else f"--no-{key}")
        else:
            argv += [flag, str(value)]
    if isolated is not None:
        argv += ["--isolated", str(isolated)]
    return argv


def launch(fed: FedConfig, *, isolated: Optional[int] = None, root: Optional[str | os.PathLike] = None) -> Path:
    """Validate ``fed`` (``ValueError`` before anything is created), then start it; returns the run folder."""
    fed.validate()
    load_partitions(fed)
    if isolated is not None and not 0 <= isolated < fed.clients:
        raise ValueError(f"the isolated client must be in 0..{fed.clients - 1}, got {isolated}")
    run_dir = new_run_dir(root)
    argv = federated_argv(fed, run_dir, isolated)
    atomic_write_json(run_dir / JOB_NAME, {"argv": argv, "requested": time.time()})
    with open(run_dir / LOG_NAME, "ab") as log:
        proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _children[proc.pid] = proc
    atomic_write_json(run_dir / "status.json", {"state": "queued", "pid": proc.pid, "updated": time.time(),
                                                "round": 0, "rounds": fed.rounds})
    return run_dir


def stop(run_dir: str | os.PathLike) -> None:
    """Ask the federation to stop after the round in progress."""
    (Path(run_dir) / STOP_FILE).write_text("requested from the app\n")


def state(info: RunInfo) -> str:
    """queued/running/stopping/finished/stopped/failed; a queued run whose process died is failed."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]
    st = info.state
    if st == "queued":
        from ..runs import pid_alive

        return "queued" if pid_alive(info.status.get("pid")) else "failed"
    if st == "running" and (info.path / STOP_FILE).exists():
        return "stopping"
    return st


def isolated_running(run_dir: str | os.PathLike, client: int = 0) -> bool:
    """True while the isolated-client baseline (trained after the federation) is still training."""
    iso = read_run(Path(run_dir) / "isolated" / f"client-{client}")
    return iso.error is None and iso.state == "running"


def is_federated(info: RunInfo) -> bool:
    return isinstance(info.config.get("federated"), dict) or (info.path / JOB_NAME).is_file()


def list_federated(root: Optional[str | os.PathLike] = None) -> list[RunInfo]:
    """Federated runs under the runs root, newest first, then the finished example runs shipped
    in ``checkpoints/federated/`` (so the page has something to show before any training)."""
    shipped = [r for r in list_runs(checkpoints_root() / "federated") if is_federated(r) and r.error is None]
    return [r for r in list_runs(root) if is_federated(r)] + shipped


def log_tail(run_dir: str | os.PathLike, n: int = 2000) -> str:
    try:
        return (Path(run_dir) / LOG_NAME).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def reload(run_dir: str | os.PathLike) -> RunInfo:
    return read_run(run_dir)
