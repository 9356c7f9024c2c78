"""``python -m dpinfogan federated``: a private federation on Flower's simulation engine, or
submitted to a running SuperLink (deployment engine). flwr is imported only when a simulation
starts (:func:`dpinfogan.federated.simulation.simulate`); a submission runs Flower's ``flwr`` CLI.
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

from ..argtypes import BATCH, CLIP, SEED, SIGMA, THREADS, number
from ..config import CODE_MODES
from ..data import DATASETS
from ..federated.simulation import run_federation
from ..federated.config import D_AGGREGATIONS, D_PERSONAL, GENERATOR_MODES, STRATEGIES, FedConfig
from ..federated.task import load_partitions
from ..partition import SPLITS, describe
from ..paths import PROJECT_ROOT
from ..runs import open_run_dir
from .options import add_free_options, add_mechanism_options, add_network_options, add_objective_options

ALPHA = number(0.0, 1e6, open_lo=True, what="Dirichlet concentration α")  # refused even when the split ignores it

# Options whose names differ from their setting's (the central-DP pair says which DP it is).
SIGMA_H = number(0.0, 1e6, open_lo=True, what="histogram noise σ_h")
OPTION_DEST = {"central_sigma": "central_dp_sigma", "central_clip": "central_dp_clip"}


def add_federated_parser(sub) -> None:
    d = FedConfig()
    t0 = d.train
    p = sub.add_parser("federated", help="DPD-InfoGAN: private federated training on Flower (K clients)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    f = p.add_argument_group("federation")
    f.add_argument("--clients", "-K", type=int, default=d.clients, help="number of clients K")
    f.add_argument("--split", default=d.split, choices=SPLITS,
                   help="iid; class (client k holds its own digits, e.g. {2k, 2k+1} for K = 5); dirichlet")
    f.add_argument("--alpha", type=ALPHA, default=d.alpha, help="Dirichlet concentration α > 0 (split dirichlet)")
    f.add_argument("--rounds", "-R", type=int, default=d.rounds, help="federated rounds R")
    f.add_argument("--local-steps", "-E", type=int, default=d.local_steps, help="private D steps per client per round E")
    f.add_argument("--generator", default=d.generator, choices=GENERATOR_MODES,
                   help="server: G trains on the server against the averaged D, clients train D only "
                        "(DP-FedAvg-GAN); client: every client trains G and D, the server averages both")
    f.add_argument("--d-aggregation", default=d.d_aggregation, choices=D_AGGREGATIONS,
                   help="what the server's G trains against: average (the averaged D); max (each client keeps "
                        "its own D; each generated image is judged by the client D that finds it most real); class "
                        "(labels mode: each client releases its class counts with noise σ_h, counted in its ε, and "
                        "trains its D on generated images of its own classes; an image of code c is judged by the "
                        "clients holding c, in proportion to their noisy counts)")
    f.add_argument("--d-personal", default=d.d_personal, choices=D_PERSONAL,
                   help="d aggregation max/class: what a client keeps of its own D between rounds: all, or head (only "
                        "its real/fake output layer; it takes the averaged trunk and Q heads each round, FedRep-style)")
    f.add_argument("--histogram-sigma", type=SIGMA_H, default=d.histogram_sigma,
                   help="d aggregation class: Gaussian noise σ_h (in images) on each client's released class counts")
    f.add_argument("--strategy", default=d.strategy, choices=STRATEGIES,
                   help="Flower strategy aggregating the weights: fedavg, fedavgm (server momentum), fedadam")
    f.add_argument("--server-lr", type=float, default=d.server_lr, help="fedavgm's server learning rate; fedadam's η")
    f.add_argument("--server-momentum", type=float, default=d.server_momentum, help="fedavgm's momentum β")
    f.add_argument("--central-dp-sigma", type=SIGMA, default=d.central_sigma,
                   help="server-side central DP (Flower's fixed-clipping wrapper): noise multiplier; 0 = off")
    f.add_argument("--central-dp-clip", type=CLIP, default=d.central_clip, help="central DP: L2 clip of each client update")
    g = p.add_argument_group("privacy (per client)")
    g.add_argument("--epsilon", type=float, default=t0.privacy.epsilon, help="each client's target ε over all R·E steps")
    g.add_argument("--delta", type=float, default=t0.privacy.delta, help="each client's δ (< 1/N_k)")
    add_mechanism_options(g, t0.privacy)
    t = p.add_argument_group("model and training")
    t.add_argument("--dataset", default=t0.dataset, choices=DATASETS, help="data every client takes its part of")
    t.add_argument("--code-mode", default=t0.code_mode, choices=CODE_MODES, help="categorical code mode")
    t.add_argument("--batch-size", type=BATCH, default=t0.batch_size, help="expected Poisson batch per client step")
    add_objective_options(t, t0)
    add_network_options(t, d_steps_per_g=t0.d_steps_per_g, lr_d=t0.lr_d, lr_g=t0.lr_g, g_width=t0.model.g_width,
                        d_width=t0.model.d_width, d_hidden=t0.model.d_hidden, noise_dim=t0.latent.noise_dim,
                        n_continuous=t0.latent.n_continuous)
    add_free_options(t, adaptive_d_steps=t0.adaptive_d_steps, ema_decay=t0.ema_decay, warm_start=t0.warm_start)
    t.add_argument("--seed", type=SEED, default=t0.seed, help="seed of the initial global model, split and samplers")
    t.add_argument("--threads", type=THREADS, default=t0.threads, help="torch threads per client")
    o = p.add_argument_group("output and engine")
    o.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/<timestamp-id>)")
    o.add_argument("--preview", action="store_true", help="print each client's data and exit")
    o.add_argument("--isolated", type=int, default=None, metavar="K",
                   help="also train client K alone (same data, ε and steps) into RUN/isolated/ for comparison")
    o.add_argument("--superlink", type=superlink_address, default=None, metavar="HOST:PORT",
                   help="submit to a running SuperLink's Control API (deployment engine) instead of simulating")
    o.add_argument("--verbose", action="store_true", help="Flower's and Ray's logs")
    p.set_defaults(handler=cmd_federated)


def fed_from_args(a: argparse.Namespace) -> FedConfig:
    """Every setting of :class:`FedConfig` from its option (``--run-dir`` is the run folder, below)."""
    return FedConfig.of(**{name: getattr(a, OPTION_DEST.get(name, name))
                           for name in FedConfig.setting_names() if name != "run_dir"})


def cmd_federated(a: argparse.Namespace) -> int:
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
    run_dir = open_run_dir(a.run_dir)
    print(f"run folder: {run_dir}", flush=True)
    st = run_federation(fed, run_dir, isolated=a.isolated, verbose=a.verbose)
    return 1 if st.get("state") == "failed" else 0


# -- deployment engine ---------------------------------------------------------------------------
def superlink_address(address: str) -> str:
    """HOST:PORT with a port in 1..65535 (the ``--superlink`` type: a bad address is refused at parse time)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"SuperLink address must be HOST:PORT (port 1..65535), got {address!r}")
    return address


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
