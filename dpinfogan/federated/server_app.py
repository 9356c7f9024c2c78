"""Flower ServerApp: the clients' private discriminators averaged, the generator trained here.

Each round the server sends the global model, every client takes E private D steps, and Flower's
strategy aggregates what they send (weighted by sample count): ``FedAvg``, or ``FedAvgM`` /
``FedAdam`` (a server optimizer with momentum on the averaged update). With ``generator = "server"``
(default, DP-FedAvg-GAN) the clients send D only and the server then trains G against the
aggregated D (:class:`~dpinfogan.federated.task.ServerGenerator`), or with ``d-aggregation = "max"``
against every client's own D, each image judged by the most convinced one (``"class"``: by the
clients that hold its class, from their privately released class counts); with ``"client"`` the clients
train G too and G is averaged like D. With ``central-sigma > 0`` the strategy is wrapped in
Flower's ``DifferentialPrivacyServerSideFixedClipping`` (central DP on the model updates). The round
loop is written out here rather than ``strategy.start`` so the server can log each round to the run
folder and stop the federation as soon as one client's ε budget is spent (or a stop is requested).
"""
from __future__ import annotations

import time
from typing import Optional

from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAdam, FedAvg, FedAvgM

from .fedrun import FedRun
from .config import FedConfig
from .task import ServerGenerator, initial_weights, only

ROUND_TIMEOUT_S = 24 * 3600.0  # a round waits this long for its clients


def make_strategy(fed: FedConfig):
    every = dict(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=fed.clients,
                 min_available_nodes=fed.clients, weighted_by_key="num-examples")
    if fed.strategy == "fedavgm":
        strategy = FedAvgM(**every, server_learning_rate=fed.server_lr, server_momentum=fed.server_momentum)
    elif fed.strategy == "fedadam":
        strategy = FedAdam(**every, eta=fed.server_lr)
    else:
        strategy = FedAvg(**every)
    if fed.central_sigma > 0:
        strategy = DifferentialPrivacyServerSideFixedClipping(
            strategy, noise_multiplier=fed.central_sigma, clipping_norm=fed.central_clip,
            num_sampled_clients=fed.clients)
    return strategy


def run_server(grid: Grid, fed: FedConfig, run_dir: Optional[str] = None) -> FedRun:
    """Run the federation to R rounds, a spent budget or a stop request; returns the run."""
    fed.validate()  # settings only: the server never opens the data (each client checks its own part)
    run = FedRun(fed, run_dir)
    try:
        strategy = make_strategy(fed)
        weights = initial_weights(fed)  # every client starts from these
        run.record_start(weights)
        server_g = ServerGenerator(fed, weights) if fed.generator == "server" else None
        # What the strategy aggregates: D alone when G trains here, else G and D.
        arrays = ArrayRecord(only(weights, "d.") if server_g else weights)
        config = ConfigRecord(fed.to_run_config())
        for rnd in range(1, fed.rounds + 1):
            if run.stop_requested():
                run.finish("stopped", f"stopped by request before round {rnd}")
                return run
            t0 = time.perf_counter()
            messages = list(strategy.configure_train(rnd, arrays, config, grid))
            if server_g:
                for m in messages:
                    m.content["generator"] = ArrayRecord(server_g.send_weights())
            replies = list(grid.send_and_receive(messages, timeout=ROUND_TIMEOUT_S))
            t_clients = time.perf_counter() - t0
            errors = [r.error.reason for r in replies if r.has_error()]
            if errors or len(replies) < fed.clients:
                state = "stopped" if any("budget" in e for e in errors) else "failed"
                run.finish(state, f"round {rnd}: " + ("; ".join(errors) or f"only {len(replies)} of {fed.clients} clients replied"))
                return run
            metrics = [dict(r.content["metrics"]) for r in replies]  # read before DP clipping rewrites replies
            client_ds = ([r.content["arrays"].to_torch_state_dict() for r in replies]
                         if fed.d_aggregation != "average" else None)  # each client's own D (no central DP then)
            counts = [list(m["label-counts"]) for m in metrics] if fed.d_aggregation == "class" else None
            agg, _ = strategy.aggregate_train(rnd, replies)
            if agg is None:
                run.finish("failed", f"round {rnd}: aggregation failed")
                return run
            arrays = agg
            t1 = time.perf_counter()
            server = {}
            if server_g:
                server = server_g.train_round(agg.to_torch_state_dict(), client_ds, counts)
                weights = server_g.export_weights()
            else:
                weights = agg.to_torch_state_dict()
            server["server_seconds"] = round(time.perf_counter() - t1, 3)
            server["clients_seconds"] = round(t_clients, 3)
            run.record_round(rnd, weights, metrics, time.perf_counter() - t0, server=server)
            spent = [int(m["client"]) for m in metrics if m["steps_left"] < fed.local_steps]
            if spent and rnd < fed.rounds:
                run.finish("stopped", f"after round {rnd}: the ε budget of client(s) {spent} is spent")
                return run
        run.finish("finished")
    except BaseException as e:
        run.finish("failed", f"{type(e).__name__}: {e}")
        raise
    return run


def make_server_app(fed: FedConfig, run_dir: Optional[str] = None) -> ServerApp:
    """A ServerApp bound to ``fed`` (the simulation engine gives the server no run config)."""
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:  # noqa: ARG001
        run_server(grid, fed, run_dir)

    return server


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Deployment engine: settings come from ``[tool.flwr.app.config]`` / ``flwr run --run-config``."""
    run_server(grid, FedConfig.from_run_config(context.run_config))
