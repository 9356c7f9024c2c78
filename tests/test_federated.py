"""DPD-InfoGAN on Flower: cumulative per-client accounting, the simulation engine, the deployment
engine on loopback, bad input, and the Federated page.

The simulation and deployment tests start real Flower engines (Ray; a SuperLink and two SuperNodes),
so they take tens of seconds each; everything else runs in seconds.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dp_accounting
import pytest
import torch
from dp_accounting import rdp

from dpinfogan.accounting import epsilon_of
from dpinfogan.checkpoint import load_checkpoint, read_metadata
from dpinfogan.cli import main
from dpinfogan.federated.config import FedConfig
from dpinfogan.federated.task import (
    BudgetExhausted, initial_weights, load_model_weights, local_data, local_round, model_weights, only,
)
from dpinfogan.runs import read_run

OPACUS_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))  # Opacus' RDP orders
ROOT = Path(__file__).resolve().parent.parent
TINY = ["--batch-size", "32", "--g-width", "16", "--d-width", "8", "--d-hidden", "16", "--noise-dim", "8"]


@pytest.fixture(autouse=True)
def _digits_once(monkeypatch, digits):
    """In-process code reuses the session's offline digits instead of re-reading them (slow)."""
    import dpinfogan.federated.task as task

    real = task.load_dataset
    monkeypatch.setattr(task, "load_dataset", lambda name, *a, **k: digits if name == "offline-digits" else real(name, *a, **k))
    task._DATA_CACHE.clear()


def tiny_fed(**over) -> FedConfig:
    base = dict(clients=2, rounds=2, local_steps=3, batch_size=32, g_width=16, d_width=8, d_hidden=16, noise_dim=8,
                epsilon=10.0, delta=1e-5)
    return FedConfig.of(**{**base, **over})


def dp_accounting_eps(sigma: float, q: float, steps: int, delta: float, histogram_sigma: float = 0.0) -> float:
    """dp-accounting's ε for a client: its released class counts (Gaussian, sensitivity 1), if any,
    then its Poisson-sampled Gaussian steps."""
    acc = rdp.RdpAccountant(orders=OPACUS_ORDERS)
    if histogram_sigma:
        acc.compose(dp_accounting.GaussianDpEvent(histogram_sigma))
    acc.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    return acc.get_epsilon(delta)


# -- the client round, without Flower ------------------------------------------------------------
def test_accountant_state_survives_rounds():
    fed = tiny_fed(rounds=3)
    data = local_data(fed, 1)
    w, state, eps, sigmas = initial_weights(fed), None, [], []
    for rnd in (1, 2, 3):
        new, m, state = local_round(fed, data, 1, rnd, w, state)
        w = {**w, **new}  # the server's generator (unchanged here) and the client's D
        eps.append(m["epsilon"])
        sigmas.append(m["sigma"])
        assert m["steps"] == rnd * fed.local_steps and m["num-examples"] == len(data) == 2000
    assert eps[0] < eps[1] < eps[2] <= fed.train.privacy.epsilon
    assert sigmas[0] == sigmas[1] == sigmas[2]  # σ calibrated once, for R·E steps
    q = fed.train.batch_size / len(data)
    # ε after round 2 = one accountant over all 2·E steps, and dp-accounting agrees
    assert eps[1] == pytest.approx(epsilon_of("rdp", [(sigmas[0], q, 2 * fed.local_steps)], fed.train.privacy.delta), rel=1e-9)
    assert eps[2] == pytest.approx(dp_accounting_eps(sigmas[0], q, 3 * fed.local_steps, fed.train.privacy.delta), rel=0.01)
    with pytest.raises(BudgetExhausted, match="budget"):  # R·E steps spent: the client refuses round 4
        local_round(fed, data, 1, 4, w, state)


def test_pyproject_run_config_is_fedconfig():
    """`flwr run` reads [tool.flwr.app.config]: the same keys and defaults as FedConfig."""
    import tomllib

    rc = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    assert rc == FedConfig().to_run_config()
    assert FedConfig.from_run_config(rc) == FedConfig()


def test_weights_are_plain_and_clients_start_from_the_global_model():
    fed = tiny_fed()
    w0 = initial_weights(fed)
    assert any(k.startswith("g.") for k in w0) and any(k.startswith("d.") for k in w0)
    assert not any("_module." in k for k in w0)
    assert all(v.is_floating_point() for v in w0.values())  # BatchNorm's counter stays local
    other = tiny_fed(seed=7)
    from dpinfogan.models import build_models

    g, d = build_models(other.train_config().model, other.train_config().latent)
    load_model_weights(g, d, {k: v.numpy() for k, v in w0.items()})
    back = model_weights(g, d)
    assert all(torch.equal(back[k], w0[k]) for k in w0)
    with pytest.raises(ValueError, match="differ"):
        load_model_weights(g, d, {k: v for k, v in w0.items() if k != "d.d_head.weight"})


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("args,match", [
    (["--clients", "0"], "at least 1"),
    (["--clients", "4001", "--split", "iid"], "more clients"),
    (["--clients", "11", "--split", "class"], "K ≤ 10"),
    (["--clients", "2", "--delta", "1e-3"], "1/N"),
    (["--clients", "2", "--superlink", "127.0.0.1:1"], "cannot reach the SuperLink"),
])
def test_bad_input_is_one_error_line(args, match, capsys, tmp_path):
    assert main(["federated", *args, "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing created


def test_out_of_range_option_is_refused_at_parse_time(capsys, tmp_path):
    # Option types check ranges while parsing (argparse exits 2 with its one-line error after the usage).
    with pytest.raises(SystemExit) as exc:
        main(["federated", "--clients", "3", "--split", "dirichlet", "--alpha", "0", "--run-dir", str(tmp_path / "r")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --alpha:" in err.splitlines()[-1] and "α" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_preview_lists_each_clients_digits(capsys):
    assert main(["federated", "--clients", "5", "--split", "class", "--preview"]) == 0
    out = capsys.readouterr().out
    assert "client 0:    800 samples, classes 0, 1" in out and "client 4:    800 samples, classes 8, 9" in out


def _other_data(digits, n: int):
    """``n`` records unlike the digits: noise images with shuffled labels (same N, other data)."""
    from dpinfogan.data import ImageData

    g = torch.Generator().manual_seed(5)
    return ImageData(images=torch.rand(n, 1, 28, 28, generator=g) * 2 - 1,
                     labels=torch.randint(0, 10, (n,), generator=g), name="noise", source="test")


def test_client_message_carries_nothing_computed_from_real_data(digits):
    """Two clients with the same N but different images send metrics that are equal value for value:
    nothing in the message depends on the private data but the (DP) weights."""
    fed = tiny_fed()
    mine = local_data(fed, 0)
    other = _other_data(digits, len(mine))
    w0 = initial_weights(fed)
    outs = [local_round(fed, data, 0, 1, w0, None) for data in (mine, other)]
    (wa, ma, _), (wb, mb, _) = outs
    assert ma == mb, {k: (ma[k], mb.get(k)) for k in ma if ma[k] != mb.get(k)}
    # the generator trains on the server: a client sends its discriminator (+Q) only
    assert set(wa) == set(wb) == {k for k in w0 if k.startswith("d.")}
    # ... and the weights do depend on the data (they are the DP output)
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)


def test_client_app_reply_holds_weights_and_public_facts_only(digits):
    """The real ClientApp's reply message: its records, checked by content."""
    from dpinfogan.federated.server_app import make_strategy

    fed = tiny_fed()
    grid = LoopGrid(2)
    from flwr.app import ArrayRecord, ConfigRecord

    msgs = list(make_strategy(fed).configure_train(1, ArrayRecord(initial_weights(fed)),
                                                   ConfigRecord(fed.to_run_config()), grid))
    replies = grid.send_and_receive(msgs)
    for r in replies:
        assert set(r.content.keys()) == {"arrays", "metrics"}
        m = dict(r.content["metrics"])
        q = fed.train.batch_size / m["num-examples"]
        assert m["sample_rate"] == pytest.approx(q) and m["steps"] == fed.local_steps
        assert m["epsilon"] == pytest.approx(epsilon_of("rdp", [(m["sigma"], q, fed.local_steps)], fed.train.privacy.delta))
        assert set(m) == {"client", "epsilon", "sigma", "sample_rate", "steps", "steps_left", "delta", "num-examples"}


def test_server_never_opens_the_dataset(tmp_path, monkeypatch):
    """The server runs a whole federation after every way to load data has been taken away from
    it; only the clients' own (cached) parts exist."""
    import dpinfogan.data
    import dpinfogan.federated.task as task
    from dpinfogan.federated.server_app import run_server

    fed = tiny_fed(rounds=1)
    for c in range(fed.clients):
        local_data(fed, c)  # what each client has at home, loaded before the server starts

    def forbidden(*a, **k):
        raise AssertionError("the server opened the dataset")

    monkeypatch.setattr(task, "load_dataset", forbidden)
    monkeypatch.setattr(dpinfogan.data, "load_dataset", forbidden)
    run_server(LoopGrid(2), fed, str(tmp_path / "run"))
    assert read_run(tmp_path / "run").state == "finished"


# -- Flower's simulation engine ------------------------------------------------------------------
def _check_run(run_dir: Path, fed: FedConfig, rounds: int) -> None:
    info = read_run(run_dir)
    assert info.state == "finished", info.status
    assert [m["round"] for m in info.metrics] == list(range(1, rounds + 1))
    last = info.metrics[-1]
    assert len(last["client_epsilon"]) == fed.clients
    for c in last["clients"]:  # every client's ε is reproduced by dp-accounting from (σ, q, steps)
        assert c["steps"] == rounds * fed.local_steps
        theirs = dp_accounting_eps(c["sigma"], c["sample_rate"], int(c["steps"]), fed.train.privacy.delta,
                                   c.get("histogram-sigma", 0.0))
        assert c["epsilon"] == pytest.approx(theirs, rel=0.01)
        assert c["epsilon"] <= fed.train.privacy.epsilon
    if rounds > 1:
        assert all(b > a for a, b in zip(info.metrics[-2]["client_epsilon"], last["client_epsilon"]))
    assert (run_dir / "samples" / "latest.png").is_file()
    ck = load_checkpoint(run_dir / "checkpoint.safetensors")  # the global model, like any run's
    assert ck.epsilon == pytest.approx(max(last["client_epsilon"]))
    pr = read_metadata(run_dir / "checkpoint.safetensors")["privacy"]
    assert epsilon_of(pr["accountant"], pr["history"], pr["delta"]) == pytest.approx(ck.epsilon)  # what `info` shows
    assert pr["federated"]["client_epsilon"] == pytest.approx(last["client_epsilon"])


def test_two_clients_two_rounds_on_the_simulation_engine(tmp_path, capsys):
    pytest.importorskip("ray", reason="Flower's simulation engine needs ray (requirements.txt)")
    run_dir = tmp_path / "fed"
    rc = main(["federated", "--clients", "2", "--split", "class", "--rounds", "2", "--local-steps", "3",
               "--dataset", "offline-digits", *TINY, "--run-dir", str(run_dir)])
    assert rc == 0, capsys.readouterr()
    _check_run(run_dir, tiny_fed(), rounds=2)
    cfg = json.loads((run_dir / "config.json").read_text())
    assert "partitions" not in cfg["federated"]  # no client's class counts leave the clients


class LoopGrid:
    """A Flower Grid that runs the real ClientApp in-process (no Ray): each node keeps its context."""

    def __init__(self, k: int):
        from flwr.app import Context, RecordDict
        from flwr.supercore.task_identity import TaskIdentity

        TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0
        self.ctx = {i + 1: Context(run_id=1, node_id=i + 1, node_config={"partition-id": i, "num-partitions": k},
                                   state=RecordDict(), run_config={}) for i in range(k)}

    def get_node_ids(self):
        return list(self.ctx)

    def send_and_receive(self, messages, *, timeout=None):  # noqa: ARG002
        from flwr.app import Error, Message

        from dpinfogan.federated.client_app import app

        out = []
        for m in messages:
            try:
                out.append(app(m, self.ctx[m.metadata.dst_node_id]))
            except Exception as e:  # what a SuperNode sends back when its ClientApp raises
                out.append(Message(Error(code=1, reason=f"{type(e).__name__}: {e}"), reply_to=m))
        return out


def test_server_generator_takes_e_over_nd_steps_and_leaves_d_alone():
    """E = 3 D steps per client per round at n_D = 2: the server's G takes 1, 2, 1, 2 ... steps."""
    from dpinfogan.federated.task import ServerGenerator, only

    fed = tiny_fed(local_steps=3, d_steps_per_g=2, ema_decay=0.9)
    w0 = initial_weights(fed)
    sg = ServerGenerator(fed, w0)
    steps = [sg.train_round(only(w0, "d."))["g_steps"] for _ in range(4)]
    assert steps == [1, 3, 4, 6]
    out = sg.export_weights()
    assert all(torch.equal(out[k], w0[k]) for k in w0 if k.startswith("d."))  # D is the clients' (averaged)
    assert any(not torch.equal(sg.send_weights()[k], w0[k]) for k in sg.send_weights())  # G trained
    # clients train D against the raw G; the checkpoint draws with the EMA average
    assert any(not torch.equal(out[k], sg.send_weights()[k]) for k in sg.send_weights())


def test_server_side_generator_on_the_message_api(tmp_path):
    """G trains on the server (FedAvgM on D, EMA, adaptive n_D): every client's ε is still its own
    accountant's, cross-checked with dp-accounting; each round logs what the generator draws."""
    from dpinfogan.federated.server_app import make_strategy, run_server
    from flwr.serverapp.strategy import FedAdam, FedAvgM

    assert isinstance(make_strategy(tiny_fed(strategy="fedadam", server_lr=1e-3)), FedAdam)
    fed = tiny_fed(clients=3, local_steps=2, strategy="fedavgm", server_lr=1.0, server_momentum=0.5,
                   ema_decay=0.9, adaptive_d_steps=True)
    run_server(LoopGrid(3), fed, str(tmp_path / "run"))
    _check_run(tmp_path / "run", fed, rounds=2)  # every client's ε against dp-accounting
    info = read_run(tmp_path / "run")
    for m in info.metrics:
        assert len(m["digit_accuracy"]) == 10 and all(0 <= x <= 1 for x in m["digit_accuracy"])
        assert m["g_steps"] == m["round"] * 2 and m["d_steps_per_g"] == 1
    meta = read_metadata(tmp_path / "run" / "checkpoint.safetensors")
    assert meta["training"]["g_steps"] == 4 and meta["training"]["generator_trained_on"] == "server"
    assert meta["training"]["generator_judged_by"] == "average"


class _FixedD(torch.nn.Module):
    """A scripted discriminator: its logit for every image is ``x.mean() * scale``."""

    def __init__(self, scale: float, label: int):
        super().__init__()
        self.scale, self.label = scale, label

    def forward(self, x):
        from dpinfogan.models import DOutput

        b = x.shape[0]
        cat = torch.nn.functional.one_hot(torch.full((b,), self.label), 10).float()
        return DOutput(x.flatten(1).mean(1) * self.scale, cat, torch.zeros(b, 2), None)


def test_most_convinced_d_judges_each_image_by_the_client_that_calls_it_most_real():
    from dpinfogan.federated.task import MostConvincedD

    x = torch.tensor([1.0, -1.0, 2.0]).view(3, 1, 1, 1).expand(3, 1, 2, 2)  # image means 1, -1, 2
    out = MostConvincedD([_FixedD(1.0, label=0), _FixedD(-3.0, label=1)])(x)
    # logits: client 0 -> 1, -1, 2; client 1 -> -3, 3, -6: the larger one wins, image by image
    assert out.logit.tolist() == [1.0, 3.0, 2.0]
    assert out.cat_logits.argmax(1).tolist() == [0, 1, 0]  # Q's reading comes from the same client
    assert out.cont_log_std is None


def test_max_aggregation_keeps_each_clients_own_d_and_trains_g_against_them(tmp_path):
    """d_aggregation = "max": after round 1 a client ignores the global D and keeps its own; the
    server's G steps use every client's D; ε is still each client's own accountant's."""
    from dpinfogan.federated.server_app import run_server

    fed = tiny_fed(local_steps=2, d_aggregation="max")
    data = local_data(fed, 0)
    w0 = initial_weights(fed)
    own, _, state = local_round(fed, data, 0, 1, w0, None)
    other = {k: torch.zeros_like(v) for k, v in only(w0, "d.").items()}  # a global D it must not take
    after, _, _ = local_round(fed, data, 0, 2, {**w0, **other}, state)
    assert any(not torch.equal(after[k], own[k]) for k in own)  # it trained ...
    assert all(torch.count_nonzero(after[k]) > 0 for k in after if after[k].dim() > 1)  # ... from its own D
    with pytest.raises(ValueError, match="every client's discriminator"):
        from dpinfogan.federated.task import ServerGenerator
        ServerGenerator(fed, w0).train_round(only(w0, "d."))
    run_server(LoopGrid(2), fed, str(tmp_path / "run"))
    _check_run(tmp_path / "run", fed, rounds=2)  # every client's ε against dp-accounting
    assert read_run(tmp_path / "run").metrics[-1]["g_steps"] == 4
    assert read_metadata(tmp_path / "run" / "checkpoint.safetensors")["training"]["generator_judged_by"] == "max"


@pytest.mark.parametrize("agg,personal", [("average", "all"), ("max", "all"), ("max", "head"), ("class", "head")])
def test_what_a_client_keeps_of_its_own_discriminator(agg, personal, monkeypatch):
    """From round 2 on: "average" takes the global D, "all" keeps the client's whole D, "head" takes
    the global trunk and Q heads and keeps only its own real/fake head."""
    from dpinfogan.train import Trainer

    fed = tiny_fed(local_steps=2, d_aggregation=agg, d_personal=personal)
    data, w0 = local_data(fed, 0), initial_weights(fed)
    own, _, state = local_round(fed, data, 0, 1, w0, None)
    zeros = {k: torch.zeros_like(v) for k, v in only(w0, "d.").items()}
    monkeypatch.setattr(Trainer, "step", lambda self, generator=True: {})  # see what the client loaded
    got, _, _ = local_round(fed, data, 0, 2, {**w0, **zeros}, state)
    for k in got:
        keeps = personal == "all" or k.startswith("d.d_head.") if agg != "average" else False
        assert torch.equal(got[k], own[k] if keeps else zeros[k]), k


def test_max_aggregation_needs_the_server_generator_and_no_central_dp():
    for agg in ("max", "class"):
        for over in (dict(generator="client"), dict(central_sigma=0.5)):
            with pytest.raises(ValueError, match=agg):
                tiny_fed(d_aggregation=agg, **over).validate()
    with pytest.raises(ValueError, match="d aggregation"):
        tiny_fed(d_aggregation="median").validate()
    with pytest.raises(ValueError, match="d personal"):
        tiny_fed(d_aggregation="max", d_personal="trunk").validate()
    with pytest.raises(ValueError, match="labels code mode"):
        tiny_fed(d_aggregation="class", code_mode="unsupervised").validate()
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="σ_h"):
            tiny_fed(d_aggregation="class", histogram_sigma=bad).validate()


def test_class_weighted_d_judges_each_code_by_the_clients_that_hold_it():
    from dpinfogan.federated.task import ClassWeightedD

    x = torch.tensor([1.0, 1.0, 2.0]).view(3, 1, 1, 1).expand(3, 1, 2, 2)  # image means 1, 1, 2
    counts = torch.zeros(2, 10)
    counts[0, 0], counts[1, 1] = 100.0, 50.0  # client 0 holds the 0s, client 1 the 1s
    counts[:, 2] = torch.tensor([30.0, 10.0])  # both hold 2s, 3:1
    judge = ClassWeightedD([_FixedD(1.0, label=0), _FixedD(-3.0, label=1)], counts)
    out = judge(x, torch.tensor([1, 0, 2]))
    # code 1: only client 1 holds 1s, so its logit (-3) stands although client 0's (1) is higher
    assert out.logit[0].item() == pytest.approx(-3.0) and out.cat_logits[0].argmax().item() == 1
    assert out.logit[1].item() == pytest.approx(1.0) and out.cat_logits[1].argmax().item() == 0
    # code 2: the count-weighted mean of the logits, ¾·2 + ¼·(−6) = 0, read by the client with the larger term
    assert out.logit[2].item() == pytest.approx(0.0, abs=1e-6)
    assert out.cat_logits[2].argmax().item() == 0
    # code 3: no client reported it, so both judge it equally: ½·1 + ½·(−3)
    out3 = judge(x[:1], torch.tensor([3]))
    assert out3.logit[0].item() == pytest.approx(-1.0)


def test_noisy_label_counts_are_noised_from_the_secret_source():
    from dpinfogan.federated.task import noisy_label_counts

    labels = torch.tensor([0] * 500 + [3] * 300)
    a, b = noisy_label_counts(labels, 10, 5.0), noisy_label_counts(labels, 10, 5.0)
    assert len(a) == 10 and min(a) >= 0.0
    assert a != b  # fresh noise each call: nothing a published seed could replay
    assert abs(a[0] - 500) < 40 and abs(a[3] - 300) < 40
    assert all(a[k] == 0.0 for k in (1, 2, 4, 5, 6, 7, 8, 9))  # under 3σ: read as not held
    assert noisy_label_counts(torch.tensor([5, 5]), 10, 1000.0) != [0.0] * 10  # nothing clears 3σ: never all zero


def test_class_aggregation_releases_counts_once_and_counts_them_in_epsilon(tmp_path):
    """d_aggregation = "class": a client releases its noisy class counts in round 1 only (the same
    numbers every round), trains its D on generated images of its own classes, and its ε — with
    the release — matches dp-accounting; the federation runs end to end through the ClientApp."""
    from dpinfogan.federated.server_app import run_server

    fed = tiny_fed(local_steps=2, d_aggregation="class", histogram_sigma=2.0, split="class")
    data = local_data(fed, 0)
    w0 = initial_weights(fed)
    _, m1, state = local_round(fed, data, 0, 1, w0, None)
    held = set(data.labels.tolist())
    counts = m1["label-counts"]
    assert all(counts[c] > 50 for c in held) and all(counts[c] == 0.0 for c in range(10) if c not in held)
    ck = load_checkpoint(_state_file(tmp_path, state))
    assert ck.meta["training"]["prior_releases"] == 1
    assert ck.meta["training"]["fake_code_probs"] == pytest.approx(counts)
    assert ck.meta["privacy"]["history"][0] == [2.0, 1.0, 1]
    _, m2, _ = local_round(fed, data, 0, 2, w0, state)
    assert m2["label-counts"] == counts  # released once, not again each round
    q = fed.train.batch_size / len(data)
    assert m2["epsilon"] == pytest.approx(dp_accounting_eps(m2["sigma"], q, 4, fed.train.privacy.delta, 2.0), rel=0.01)
    assert m2["epsilon"] > epsilon_of("rdp", [(m2["sigma"], q, 4)], fed.train.privacy.delta)  # the release costs ε
    run_server(LoopGrid(2), fed, str(tmp_path / "run"))
    _check_run(tmp_path / "run", fed, rounds=2)  # every client's ε against dp-accounting, release included
    meta = read_metadata(tmp_path / "run" / "checkpoint.safetensors")
    assert meta["training"]["generator_judged_by"] == "class"
    assert meta["privacy"]["history"][0] == [2.0, 1.0, 1] and meta["privacy"]["federated"]["label_histogram_sigma"] == 2.0


def _state_file(tmp_path: Path, state: bytes) -> Path:
    p = tmp_path / "client-state.safetensors"
    p.write_bytes(state)
    return p


def test_message_api_central_dp_and_budget_refusal(tmp_path):
    from dpinfogan.federated.server_app import run_server

    # G and D both trained on the clients and averaged (the first DPD-InfoGAN), with central DP
    fed = tiny_fed(local_steps=2, central_sigma=0.1, central_clip=5.0, generator="client")
    grid = LoopGrid(2)
    run_server(grid, fed, str(tmp_path / "first"))
    _check_run(tmp_path / "first", fed, rounds=2)
    meta = read_metadata(tmp_path / "first" / "checkpoint.safetensors")
    assert meta["privacy"]["federated"]["central_dp"] == {"noise_multiplier": 0.1, "clipping_norm": 5.0}
    # Same nodes, same budget: their accountants remember the R·E steps spent, so they refuse.
    run_server(grid, fed, str(tmp_path / "again"))
    st = read_run(tmp_path / "again").status
    assert st["state"] == "stopped" and "budget" in st["message"] and st["round"] == 0


# -- Flower's deployment engine on loopback (smoke test) ------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.5)
    return False


def test_deployment_engine_loopback_smoke(tmp_path):
    """SMOKE TEST (deployment engine): flower-superlink + two flower-supernodes on 127.0.0.1,
    insecure, then `python -m dpinfogan federated --superlink` (= `flwr run`): one tiny round."""
    bindir = Path(sys.executable).parent
    clis = [bindir / n for n in ("flower-superlink", "flower-supernode", "flwr")]
    missing = [c.name for c in clis if not c.exists() and not shutil.which(c.name)]
    if missing:
        pytest.skip(f"Flower's deployment CLIs are missing: {missing}")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    link_port = _free_port()
    procs = []

    def start(name: str, args: list[str]) -> None:
        log = open(tmp_path / f"{name}.log", "wb")
        procs.append(subprocess.Popen([str(bindir / args[0]), *args[1:]], stdout=log, stderr=subprocess.STDOUT,
                                      env={**env, "FLWR_HOME": str(tmp_path / name)}, cwd=tmp_path,
                                      start_new_session=True))

    run_dir = tmp_path / "deployed"
    try:
        start("superlink", ["flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
                            "--host", "127.0.0.1", "--port", str(link_port)])
        assert _wait_port(link_port, 60), (tmp_path / "superlink.log").read_text()[-2000:]
        for k in range(2):
            start(f"supernode{k}", ["flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{link_port}",
                                    "--host", "127.0.0.1", "--port", str(_free_port()),
                                    "--node-config", f"partition-id={k} num-partitions=2"])
        # the shipped aggregation: its noisy class counts (a list) travel through the deployment engine too
        assert main(["federated", "--clients", "2", "--rounds", "1", "--local-steps", "2", *TINY,
                     "--d-aggregation", "class", "--histogram-sigma", "2",
                     "--superlink", f"127.0.0.1:{link_port}", "--run-dir", str(run_dir)]) == 0
        end = time.time() + 240  # generous for a loaded 2-core machine; ~1 min when idle
        while time.time() < end and read_run(run_dir).status.get("state") not in ("finished", "failed", "stopped"):
            time.sleep(1)
        logs = "\n".join((tmp_path / f"{n}.log").read_text(errors="replace")[-1500:]
                         for n in ("superlink", "supernode0", "supernode1"))
        assert read_run(run_dir).status.get("state") == "finished", logs
        _check_run(run_dir, tiny_fed(rounds=1, local_steps=2), rounds=1)
        meta = read_metadata(run_dir / "checkpoint.safetensors")
        assert meta["training"]["generator_judged_by"] == "class" and meta["privacy"]["history"][0] == [2.0, 1.0, 1]
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


# -- launcher and the Federated page -------------------------------------------------------------
def test_the_app_queues_a_federation_like_a_training_run(tmp_path, monkeypatch):
    """One launcher: a federation is a queued job of kind "federated" whose settings the child reads
    back from config.json (no command line, no second job file)."""
    from dpinfogan import jobs
    from dpinfogan.worker import RUNNERS, read_fed_config

    monkeypatch.setattr(jobs, "pump", lambda root=None: [])  # queue only: nothing starts here
    fed = tiny_fed(split="dirichlet", alpha=0.3, central_sigma=0.5, central_clip=2.0, lr_d=3e-4, clip_fake="batch")
    run = jobs.launch_federated(fed, isolated=1, root=tmp_path)
    job = json.loads((run / "job.json").read_text())
    assert job["kind"] == "federated" and job["isolated"] == 1 and "federated" in RUNNERS
    assert read_fed_config(run) == fed
    assert "argv" not in job and not (run / "fedjob.json").exists()
    assert json.loads((run / "config.json").read_text())["federated"] == fed.to_dict()
    listed = jobs.list_federated(tmp_path)
    assert [j.id for j in listed][:1] == [run.name] and listed[0].state == "queued"
    assert listed[0].target_steps == fed.total_steps


def test_a_queued_federation_runs_in_the_background(tmp_path):
    """The app's path end to end: the supervisor starts the worker, which runs Flower's simulation
    engine into the queued folder and then trains the isolated client."""
    pytest.importorskip("ray", reason="Flower's simulation engine needs ray (requirements.txt)")
    from dpinfogan import jobs

    fed = tiny_fed(rounds=1, local_steps=2)
    run = jobs.launch_federated(fed, isolated=0, root=tmp_path)
    job = jobs.wait(run, timeout_s=600)
    assert job.state == "finished", jobs.log_tail(run, 40)
    _check_run(run, fed, rounds=1)
    end = time.time() + 300  # the isolated client trains after the federation, in the same child
    while jobs.isolated_running(run) or not (run / "isolated" / "client-0" / "checkpoint.safetensors").exists():
        assert time.time() < end, jobs.log_tail(run, 40)
        time.sleep(1)
    assert read_run(run / "isolated" / "client-0").state == "finished"


def test_the_isolated_client_holds_its_federations_slot(tmp_path, monkeypatch):
    """After the federation finishes, its child trains the isolated client: the queue waits for it."""
    from dpinfogan import jobs
    from dpinfogan.runs import RunWriter

    monkeypatch.setenv("DPINFOGAN_MAX_JOBS", "1")
    fed = tiny_fed()
    done = tmp_path / "20260101-000000-fed0"
    RunWriter(done).write_config(fed.folder_config())
    RunWriter(done).status("finished")
    iso = RunWriter(done / "isolated" / "client-0")
    iso.write_config(fed.train_config().to_dict())
    iso.status("running")  # this process: alive
    started = []
    monkeypatch.setattr(jobs, "_start", lambda path: started.append(path) or True)
    waiting = jobs.queue("federated", fed.folder_config(), target_steps=fed.total_steps, root=tmp_path)
    assert jobs.pump(tmp_path) == [] and started == []
    iso.status("finished")
    assert jobs.pump(tmp_path) == [waiting]


def test_launch_rejects_bad_input_and_creates_nothing(tmp_path):
    from dpinfogan import jobs

    with pytest.raises(ValueError, match="α"):
        jobs.launch_federated(tiny_fed(split="dirichlet", alpha=0.0), root=tmp_path)
    with pytest.raises(ValueError, match="isolated"):
        jobs.launch_federated(tiny_fed(), isolated=2, root=tmp_path)
    assert not any(tmp_path.iterdir())


def _fake_finished_run(root: Path) -> Path:
    """A federated run folder written by the server's own writer, with made-up client metrics."""
    from dpinfogan.federated.fedrun import FedRun

    fed = tiny_fed()
    run = FedRun(fed, root / "20260101-000000-fed0")
    w = initial_weights(fed)
    run.record_start(w)
    for rnd in (1, 2):
        ms = [{"client": float(c), "epsilon": 4.0 * rnd + c, "sigma": 1.1, "sample_rate": 0.016, "steps": 3.0 * rnd,
               "steps_left": 6.0 - 3 * rnd, "num-examples": 2000.0} for c in range(2)]
        run.record_round(rnd, w, ms, seconds=1.5)
    run.finish("finished")
    from dpinfogan.federated.simulation import train_isolated

    train_isolated(fed, 0, run.path)  # client 0 alone: its own per-digit readings, once per E steps
    return run.path


@pytest.mark.parametrize("with_run", ["none", "run", "shipped"])
def test_federated_page_renders(with_run, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DPINFOGAN_CHECKPOINTS", str(tmp_path / "zoo"))  # no shipped example unless made below
    (tmp_path / "zoo").mkdir()
    shutil.copy(ROOT / "checkpoints" / "evaluator-mnist.safetensors", tmp_path / "zoo")  # reads the digits drawn
    if with_run != "none":
        root = Path(os.environ["DPINFOGAN_RUNS"]) if with_run == "run" else tmp_path / "zoo" / "federated"
        path = _fake_finished_run(root)
        # the checkpoint's ε is recomputed from the worst client's (σ, q, steps), not copied
        assert load_checkpoint(path / "checkpoint.safetensors").epsilon == pytest.approx(
            epsilon_of("rdp", [(1.1, 0.016, 6)], 1e-5))
    at = AppTest.from_file(str(ROOT / "pages" / "4_Federated.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Client 4" in m.value for m in at.markdown)  # default: 5 clients by class
    if with_run != "none":  # a run in runs/, or the example shipped in checkpoints/federated/
        table = at.dataframe[0].value
        assert list(table["ε spent"]) == [8.0, 9.0] and list(table["digits"]) == ["0, 1, 2, 3, 4", "5, 6, 7, 8, 9"]
        # the per-digit heat maps, rounds × digits, of the global generator and of client 0 alone
        maps = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        heat = [m["data"][0] for m in maps if m["data"] and m["data"][0]["type"] == "heatmap"]
        assert len(heat) == 2 and all(len(h["z"]) == 10 and h["x"] == [0, 1, 2] for h in heat)  # round 0 = start
        assert heat[1]["y"][:5] == ["0 (held)", "1 (held)", "2 (held)", "3 (held)", "4 (held)"]
        assert any("draws" in c.value and "/10 digits" in c.value for c in at.caption)
    else:
        assert any("No federated runs yet" in i.value for i in at.info)
    at.slider(key="fed_clients").set_value(10).run()
    at.radio(key="fed_split").set_value("dirichlet").run()
    at.select_slider(key="fed_alpha").set_value(0.05).run()
    assert not at.exception
    at.radio(key="fed_split").set_value("class").run()
    assert at.radio(key="fed_generator").value == "server-class"  # the default: the best measured
    at.radio(key="fed_generator").set_value("server-max").run()  # G against every client's own D
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.radio(key="fed_generator").set_value("client").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
