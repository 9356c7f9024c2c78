"""Flower ClientApp: one client takes E private discriminator steps per round (and, with
``generator = "client"``, trains its own generator too).

Thin over :func:`dpinfogan.federated.task.local_round`. The client's trainer state (weights, Adam
states, σ and the accountant history) lives in the node's ``context.state`` between rounds, so
the accountant keeps counting across rounds on the simulation and the deployment engine alike.
In: the global weights (``arrays``; with a server-side generator, D in ``arrays`` and G in
``generator``). Out: only the discriminator (+Q) weights, or G and D, and public facts.
"""
from __future__ import annotations

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from .config import FedConfig
from .task import local_data, local_round

STATE_KEY = "dpinfogan-trainer"  # context.state record holding this client's saved trainer

app = ClientApp()


def partition_of(context: Context, fed: FedConfig) -> int:
    """This node's client index, from ``--node-config "partition-id=0 num-partitions=K"``."""
    try:
        pid, k = int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
    except (KeyError, TypeError, ValueError):
        raise ValueError('start the SuperNode with --node-config "partition-id=<k> num-partitions=<K>"') from None
    if k != fed.clients or not 0 <= pid < k:
        raise ValueError(f"node config partition-id={pid} num-partitions={k} does not match the run's {fed.clients} clients")
    return pid


@app.train()
def train(msg: Message, context: Context) -> Message:
    config = msg.content["config"]
    fed = FedConfig.from_run_config(config)
    client = partition_of(context, fed)
    rec = context.state.config_records.get(STATE_KEY)
    state = rec["trainer"] if rec is not None else None
    weights = msg.content["arrays"].to_torch_state_dict()
    if "generator" in msg.content:  # the server's generator, which this client's D trains against
        weights.update(msg.content["generator"].to_torch_state_dict())
    weights, metrics, new_state = local_round(
        fed, local_data(fed, client), client, int(config["server-round"]), weights, state,
    )
    context.state[STATE_KEY] = ConfigRecord({"trainer": new_state})
    content = RecordDict({"arrays": ArrayRecord(weights), "metrics": MetricRecord(metrics)})
    return Message(content=content, reply_to=msg)
