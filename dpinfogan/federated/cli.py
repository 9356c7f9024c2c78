"""``python -m dpinfogan federated``: a private federation on Flower's simulation engine, or
submitted to a running SuperLink (deployment engine). flwr is imported only when a run starts.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from ..cli import add_network_options
from ..config import CODE_MODES, DP_STEPS
from ..data import DATASETS
from ..partition import SPLITS
from ..paths import PROJECT_ROOT
from .task import FedConfig


def add_federated_parser(sub) -> None:
    from .task import GENERATOR_MODES, STRATEGIES

    d = FedConfig()
    p = sub.add_parser("federated", help="DPD-InfoGAN: private federated training on Flower (K clients)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    f = p.add_argument_group("federation")
    f.add_argument("--clients", "-K", type=int, default=d.clients, help="number of clients K")
    f.add_argument("--split", default=d.split, choices=SPLITS,
                   help="iid; class (client k holds its own digits, e.g. {2k, 2k+1} for K = 5); dirichlet")
    f.add_argument("--alpha", type=float, default=d.alpha, help="Dirichlet concentration α > 0 (split dirichlet)")
    f.add_argument("--rounds", "-R", type=int, default=d.rounds, help="federated rounds R")
    f.add_argument("--local-steps", "-E", type=int, default=d.local_steps, help="private D steps per client per round E")
    f.add_argument("--generator", default=d.generator, choices=GENERATOR_MODES,
                   help="server: G trains on the server against the averaged D, clients train D only "
                        "(DP-FedAvg-GAN); client: every client trains G and D, the server averages both")
    f.add_argument("--strategy", default=d.strategy, choices=STRATEGIES,
                   help="Flower strategy aggregating the weights: fedavg, fedavgm (server momentum), fedadam")
    f.add_argument("--server-lr", type=float, default=d.server_lr, help="fedavgm's server learning rate; fedadam's η")
    f.add_argument("--server-momentum", type=float, default=d.server_momentum, help="fedavgm's momentum β")
    f.add_argument("--central-dp-sigma", type=float, default=0.0,
                   help="server-side central DP (Flower's fixed-clipping wrapper): noise multiplier; 0 = off")
    f.add_argument("--central-dp-clip", type=float, default=d.central_clip, help="central DP: L2 clip of each client update")
    g = p.add_argument_group("privacy (per client)")
    g.add_argument("--epsilon", type=float, default=d.epsilon, help="each client's target ε over all R·E steps")
    g.add_argument("--delta", type=float, default=d.delta, help="each client's δ (< 1/N_k)")
    g.add_argument("--max-grad-norm", "-C", type=float, default=d.max_grad_norm, help="per-sample clipping norm C")
    g.add_argument("--dp-step", default=d.dp_step, choices=DP_STEPS, help="private step implementation")
    t = p.add_argument_group("model and training")
    t.add_argument("--dataset", default=d.dataset, choices=DATASETS, help="data every client takes its part of")
    t.add_argument("--code-mode", default=d.code_mode, choices=CODE_MODES, help="categorical code mode")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help="expected Poisson batch per client step")
    add_network_options(t, d_steps_per_g=d.d_steps_per_g, lr_d=d.lr_d, lr_g=d.lr_g, g_width=d.g_width,
                        d_width=d.d_width, d_hidden=d.d_hidden, noise_dim=d.noise_dim, n_continuous=d.n_continuous)
    t.add_argument("--adaptive-d-steps", action=argparse.BooleanOptionalAction, default=d.adaptive_d_steps,
                   help="raise D steps per G step 1→2→5→10→20→50 when D's accuracy on generated images "
                        "(EMA 0.99) falls to 0.6 (free in privacy; on the server with --generator server)")
    t.add_argument("--ema-decay", type=float, default=d.ema_decay,
                   help="EMA of the generator's weights for sampling and export (0 = off; 0.999 typical)")
    t.add_argument("--warm-start", default=d.warm_start, metavar="CKPT",
                   help="start the global model from a checkpoint trained on public data (font-digits); no privacy cost")
    t.add_argument("--seed", type=int, default=d.seed, help="seed of the initial global model, split and samplers")
    t.add_argument("--threads", type=int, default=d.threads, help="torch threads per client")
    o = p.add_argument_group("output and engine")
    o.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/<timestamp-id>)")
    o.add_argument("--preview", action="store_true", help="print each client's data and exit")
    o.add_argument("--isolated", type=int, default=None, metavar="K",
                   help="also train client K alone (same data, ε and steps) into RUN/isolated/ for comparison")
    o.add_argument("--superlink", default=None, metavar="HOST:PORT",
                   help="submit to a running SuperLink's Control API (deployment engine) instead of simulating")
    o.add_argument("--verbose", action="store_true", help="Flower's and Ray's logs")
    p.set_defaults(handler=cmd_federated)


def fed_from_args(a: argparse.Namespace) -> FedConfig:
    return FedConfig(
        dataset=a.dataset, clients=a.clients, split=a.split, alpha=a.alpha, rounds=a.rounds,
        local_steps=a.local_steps, d_steps_per_g=a.d_steps_per_g, epsilon=a.epsilon, delta=a.delta,
        max_grad_norm=a.max_grad_norm, batch_size=a.batch_size, lr_d=a.lr_d, lr_g=a.lr_g, code_mode=a.code_mode,
        g_width=a.g_width, d_width=a.d_width, d_hidden=a.d_hidden, noise_dim=a.noise_dim, n_continuous=a.n_continuous,
        dp_step=a.dp_step, seed=a.seed, threads=a.threads, central_sigma=a.central_dp_sigma,
        central_clip=a.central_dp_clip, generator=a.generator, strategy=a.strategy, server_lr=a.server_lr,
        server_momentum=a.server_momentum, adaptive_d_steps=a.adaptive_d_steps, ema_decay=a.ema_decay,
        warm_start=a.warm_start,
    )


def cmd_federated(a: argparse.Namespace) -> int:
    from ..partition import describe
    from ..runs import new_run_dir, read_json
    from .task import load_partitions

    fed = fed_from_args(a)
    fed.validate()
    data, parts = load_partitions(fed)  # bad splits fail here, before any folder or engine
    if a.isolated is not None and not 0 <= a.isolated < fed.clients:
        raise ValueError(f"--isolated must name a client in 0..{fed.clients - 1}, got {a.isolated}")
    names = data.class_names
    for info in describe(data.labels, parts, len(names)):
        print(f"client {info.client}: {info.n:6d} samples, classes {', '.join(names[c] for c in info.classes)}")
    if a.preview:
        return 0
    if a.superlink:
        return submit(fed, a.superlink, a.run_dir, verbose=a.verbose)
    run_dir = new_run_dir() if a.run_dir is None else _run_dir(a.run_dir)
    from .simulation import simulate

    print(f"run folder: {run_dir}", flush=True)
    try:
        simulate(fed, run_dir, verbose=a.verbose)
    except RuntimeError as e:  # Flower wraps app errors; the reason is in status.json
        st = read_json(run_dir / "status.json") or {}
        raise ValueError(f"federation failed: {st.get('message') or e}") from None
    st = read_json(run_dir / "status.json") or {}
    eps = ", ".join(f"{e:.3g}" for e in st.get("client_epsilon", []))
    print(f"{st.get('state', '?')}: {st.get('round', 0)}/{fed.rounds} rounds in {st.get('seconds', 0):.0f} s, "
          f"per-client ε = [{eps}] (δ = {fed.delta:g}) {st.get('message', '')}".rstrip())
    print(f"checkpoint: {run_dir / 'checkpoint.safetensors'}")
    if a.isolated is not None and st.get("state") == "finished":
        train_isolated(fed, a.isolated, run_dir)
    return 1 if st.get("state") == "failed" else 0


def _run_dir(path: Path) -> Path:
    from ..runs import new_run_dir

    if (path / "fedjob.json").is_file() and not (path / "metrics.jsonl").exists():
        return path  # prepared by dpinfogan.federated.launcher (it holds the job's log)
    return new_run_dir(path.parent, path.name)


def train_isolated(fed: FedConfig, client: int, run_dir: Path) -> Path:
    """Client ``client`` alone: same data, budget, R·E steps and recipe, no federation (the comparison).

    Its metrics hold the same per-digit accuracy as the federation's, once per E steps (a "round")."""
    from ..train import train
    from .coverage import round_digit_accuracy
    from .task import local_data

    cfg = fed.train_config()
    out = run_dir / "isolated" / f"client-{client}"
    print(f"isolated baseline: client {client} alone, {cfg.steps} steps -> {out}", flush=True)

    def digits(trainer) -> dict:
        acc = round_digit_accuracy(trainer.sampling_generator, cfg.latent, fed.dataset, cfg.code_mode)
        return {"round": trainer.step_count // fed.local_steps, **({"digit_accuracy": acc} if acc else {})}

    res = train(cfg, local_data(fed, client), out, log_every=max(1, fed.local_steps), public_log=True,
                log_extra=digits)
    print(f"isolated client {client}: ε = {res.epsilon:.4g}, checkpoint {res.checkpoint}")
    return out


# -- deployment engine ---------------------------------------------------------------------------
def check_reachable(address: str, timeout: float = 3.0) -> None:
    """``ValueError`` with a plain message when nothing listens at HOST:PORT."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"SuperLink address must be HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"cannot reach the SuperLink at {address} ({e.strerror or e}); "
                         f"is flower-superlink running there, with its Control API on that port?") from None


def flwr_home_for(address: str, home: Path, insecure: bool = True) -> Path:
    """A FLWR_HOME whose config.toml names the SuperLink connection ``dpinfogan``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "dpinfogan"\n\n[superlink.dpinfogan]\naddress = "{address}"\n'
        f"insecure = {'true' if insecure else 'false'}\n")
    return home


def submit(fed: FedConfig, address: str, run_dir: Path | None, verbose: bool = False) -> int:
    """``flwr run`` this project against the SuperLink's Control API at ``address`` (insecure)."""
    check_reachable(address)
    if run_dir is not None:
        fed.run_dir = str(Path(run_dir).resolve())
    overrides = " ".join(f"{k}={json.dumps(v)}" for k, v in fed.to_run_config().items())
    home = flwr_home_for(address, Path(tempfile.mkdtemp(prefix="dpinfogan-flwr-")))
    env = {**os.environ, "FLWR_HOME": str(home)}
    cmd = [str(Path(sys.executable).parent / "flwr"), "run", str(PROJECT_ROOT), "dpinfogan",
           "--run-config", overrides] + (["--stream"] if verbose else [])
    proc = subprocess.run(cmd, env=env, text=True, capture_output=not verbose)
    if proc.returncode != 0:
        raise ValueError(f"flwr run failed (exit {proc.returncode}): {(proc.stderr or proc.stdout or '').strip()[-500:]}")
    print((proc.stdout or "").strip())
    print("submitted; the server writes the run folder under its runs/ (or --run-dir)")
    return 0
