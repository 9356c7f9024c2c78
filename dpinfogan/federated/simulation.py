"""Run a federation on Flower's simulation engine (Ray) on this machine, and the isolated-client
baseline after it. Used by ``python -m dpinfogan federated`` and by the app's background jobs
(:mod:`dpinfogan.worker`)."""
from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Optional

from ..paths import PROJECT_ROOT
from ..runs import read_json
from ..train import train
from .coverage import round_digit_accuracy
from .fedrun import STOP_FILE
from .config import FedConfig
from .task import local_data


def simulate(fed: FedConfig, run_dir: str | os.PathLike, *, cpus: Optional[int] = None, verbose: bool = False) -> Path:
    """Run ``fed`` with K virtual SuperNodes, writing ``run_dir``; returns the run folder.

    SIGTERM/SIGINT write the run's stop file: the round in progress finishes, then the server
    saves the global checkpoint and marks the run "stopped".
    """
    # flwr and Ray load in seconds: imported when a federation starts, so the CLI's other commands
    # and the app's worker stay quick, and the core runs without flwr installed.
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


def run_federation(fed: FedConfig, run_dir: str | os.PathLike, *, isolated: Optional[int] = None,
                   verbose: bool = False) -> dict:
    """Simulate ``fed`` into ``run_dir``, then (when it finished) train client ``isolated`` alone
    beside it; returns the run's final status. ``ValueError`` with the server's reason when Flower
    fails."""
    run_dir = Path(run_dir)
    try:
        simulate(fed, run_dir, verbose=verbose)
    except RuntimeError as e:  # Flower wraps app errors; the reason is in status.json
        st = read_json(run_dir / "status.json") or {}
        raise ValueError(f"federation failed: {st.get('message') or e}") from None
    st = read_json(run_dir / "status.json") or {}
    print(outcome(fed, st), flush=True)
    print(f"checkpoint: {run_dir / 'checkpoint.safetensors'}", flush=True)
    if isolated is not None and st.get("state") == "finished":
        train_isolated(fed, isolated, run_dir)
    return st


def outcome(fed: FedConfig, status: dict) -> str:
    """One line: the run's state, rounds, time and every client's ε."""
    eps = ", ".join(f"{e:.3g}" for e in status.get("client_epsilon", []))
    return (f"{status.get('state', '?')}: {status.get('round', 0)}/{fed.rounds} rounds in "
            f"{status.get('seconds', 0):.0f} s, per-client ε = [{eps}] (δ = {fed.train.privacy.delta:g}) "
            f"{status.get('message', '')}").rstrip()


def train_isolated(fed: FedConfig, client: int, run_dir: Path) -> Path:
    """Client ``client`` alone: same data, budget, R·E steps and recipe, no federation (the comparison).

    Its metrics hold the same per-digit accuracy as the federation's, once per E steps (a "round")."""
    cfg = fed.train_config()
    out = Path(run_dir) / "isolated" / f"client-{client}"
    print(f"isolated baseline: client {client} alone, {cfg.steps} steps -> {out}", flush=True)

    def digits(trainer) -> dict:
        acc = round_digit_accuracy(trainer.sampling_generator, cfg.latent, cfg.dataset, cfg.code_mode)
        return {"round": trainer.step_count // fed.local_steps, **({"digit_accuracy": acc} if acc else {})}

    res = train(cfg, local_data(fed, client), out, log_every=max(1, fed.local_steps), public_log=True,
                log_extra=digits)
    print(f"isolated client {client}: ε = {res.epsilon:.4g}, checkpoint {res.checkpoint}")
    return out
