"""Run a federation on Flower's simulation engine (Ray) on this machine."""
from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Optional

from ..paths import PROJECT_ROOT
from .fedrun import STOP_FILE
from .task import FedConfig


def simulate(fed: FedConfig, run_dir: str | os.PathLike, *, cpus: Optional[int] = None, verbose: bool = False) -> Path:
    """Run ``fed`` with K virtual SuperNodes, writing ``run_dir``; returns the run folder.

    SIGTERM/SIGINT write the run's stop file: the round in progress finishes, then the server
    saves the global checkpoint and marks the run "stopped".
    """
    from flwr.simulation import run_simulation

    from .client_app import app as client_app
    from .server_app import make_server_app

    run_dir = Path(run_dir)
    # Ray's workers import the ClientApp: make this checkout importable there too.
    paths = [str(PROJECT_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    # Ray runs its workers at niceness 15: on a shared laptop the clients would starve behind any other
    # job (a single-machine run trains at 0). Set RAY_worker_niceness yourself to keep Ray polite.
    os.environ.setdefault("RAY_worker_niceness", "0")
    cpus = cpus or min(fed.clients, os.cpu_count() or 1)

    def _on_signal(signum, frame):  # noqa: ARG001
        (run_dir / STOP_FILE).write_text("signal\n")

    old = {}
    try:  # signals can only be caught in the main thread
        old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:
        pass
    if not verbose:
        logging.getLogger("flwr").setLevel(logging.WARNING)
    try:
        run_simulation(
            server_app=make_server_app(fed, str(run_dir)),
            client_app=client_app,
            num_supernodes=fed.clients,
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                "init_args": {"num_cpus": cpus, "num_gpus": 0, "logging_level": "error", "log_to_driver": verbose},
            },
            verbose_logging=verbose,
        )
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return run_dir
