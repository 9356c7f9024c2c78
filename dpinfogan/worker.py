"""The child process of a background job: ``python -m dpinfogan.worker RUN_DIR``.

It reads the job's kind from ``RUN_DIR/job.json`` and its settings from ``RUN_DIR/config.json``
(written by :func:`dpinfogan.jobs.queue`) and runs it into ``RUN_DIR`` (``train``: the training
loop; ``federated``: Flower's simulation engine, then the isolated client), so what runs is exactly
what was asked for. :mod:`dpinfogan.supervisor` starts it. Another kind of job plugs in as one more entry
of :data:`RUNNERS`: a function of the run folder and its ``job.json`` that returns an exit code.

Like the CLI, a bad setting or file prints one ``error: ...`` line (the app shows it) and exits 2.
"""
from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Callable

from .config import TrainConfig
from .data import load_dataset
from .federated.config import FedConfig
from .federated.simulation import run_federation
from .runs import JOB_NAME, read_json
from .train import train


def read_config(run_dir: Path) -> TrainConfig:
    """The training config a job was queued with (``ValueError`` when unreadable)."""
    raw = read_json(run_dir / "config.json")
    if not isinstance(raw, dict):
        raise ValueError(f"{run_dir / 'config.json'} is missing or unreadable")
    return TrainConfig.from_dict({k: v for k, v in raw.items() if k != "derived"})  # the trainer adds "derived"


def run_train(run_dir: Path, job: dict[str, Any]) -> int:
    cfg = read_config(run_dir)
    data = load_dataset(cfg.dataset)
    if data.fallback:
        print(f"note: {cfg.dataset} is not available offline; training on {data.source}", file=sys.stderr)
    cfg.validate(len(data))
    res = train(cfg, data, run_dir, log_every=int(job.get("log_every", 10)))
    guarantee = f"ε = {res.epsilon:.4g} (δ = {cfg.privacy.delta:g})" if cfg.privacy.private else "no privacy (ε = ∞)"
    print(f"{res.state}: {res.steps} steps in {res.seconds:.0f} s, {guarantee}")
    print(f"checkpoint: {res.checkpoint}")
    return 0


def read_fed_config(run_dir: Path) -> FedConfig:
    """The federation a job was queued with: config.json's ``federated`` (``ValueError`` when unreadable)."""
    raw = read_json(run_dir / "config.json")
    if not isinstance(raw, dict) or not isinstance(raw.get("federated"), dict):
        raise ValueError(f"{run_dir / 'config.json'} holds no federation's settings")
    return FedConfig.from_dict(raw["federated"])


def run_federated(run_dir: Path, job: dict[str, Any]) -> int:
    """A federation on Flower's simulation engine, then the isolated client ``job["isolated"]``."""
    fed = read_fed_config(run_dir)
    fed.validate()
    isolated = job.get("isolated")
    st = run_federation(fed, run_dir, isolated=None if isolated is None else int(isolated))
    return 1 if st.get("state") == "failed" else 0


RUNNERS: dict[str, Callable[[Path, dict[str, Any]], int]] = {"train": run_train, "federated": run_federated}


def main(run_dir: Path) -> int:
    job = read_json(run_dir / JOB_NAME) or {}
    try:
        runner = RUNNERS.get(job.get("kind"))
        if runner is None:
            raise ValueError(f"job.json names no known kind of job (got {job.get('kind')!r}; known: {', '.join(RUNNERS)})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch/opacus chatter, as in the CLI
            return runner(run_dir, job)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def leave(code: int) -> None:
    """End the process with ``code``, even when threads the job started are still alive.

    A Flower simulation that crashed (e.g. Ray timing out at start on a loaded machine) leaves
    non-daemon threads and Ray's GCS process behind; Python would wait for them forever, and the run
    would hold its queue slot as "running". The job's files are all written by now, so leave."""
    sys.stdout.flush()
    sys.stderr.flush()
    if threading.active_count() > 1:
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m dpinfogan.worker RUN_DIR", file=sys.stderr)
        sys.exit(2)
    leave(main(Path(sys.argv[1])))
