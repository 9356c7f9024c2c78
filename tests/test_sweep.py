"""A tiny sweep runs end to end, writes its table, and resumes without redoing work."""
from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from dpinfogan.cli import main
from dpinfogan.config import LatentConfig, ModelConfig, PrivacyConfig, TrainConfig
from dpinfogan.data import load_dataset
from dpinfogan.evaluator import Evaluator, EvaluatorArch, save_evaluator
from dpinfogan.sweep import COLUMNS, eps_tag, read_table, run_sweep, table_from_checkpoints

EVAL = dict(n=100, cas_samples=100, cas_epochs=0.2)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return load_dataset("offline-digits")


@pytest.fixture(scope="module")
def evaluator_path(tmp_path_factory):
    """An untrained tiny evaluator: the sweep's plumbing, not the metric values, is under test."""
    torch.manual_seed(0)
    return save_evaluator(tmp_path_factory.mktemp("ev") / "ev.safetensors", Evaluator(EvaluatorArch(4, 8, 16)),
                          {"format": "dpinfogan-evaluator", "version": "tiny", "dataset": "mnist"})


def _tiny_config() -> TrainConfig:
    return TrainConfig(dataset="offline-digits", batch_size=32, steps=10, sample_every=100, checkpoint_every=100,
                       model=ModelConfig(g_width=8, d_width=4, d_hidden=8), latent=LatentConfig(noise_dim=4),
                       privacy=PrivacyConfig(delta=1e-5))


def test_eps_tag():
    assert [eps_tag(e) for e in (1, 0.5, 10.0, math.inf)] == ["eps-1", "eps-0.5", "eps-10", "eps-inf"]


def test_tiny_sweep_end_to_end_and_resume(data, evaluator_path, tmp_path):
    import shutil

    evaluator_path = shutil.copy(evaluator_path, tmp_path / "ev.safetensors")  # replaced below
    logs: list[str] = []
    out = tmp_path / "sweep"
    rows = run_sweep([2.0, math.inf], _tiny_config(), data, out,
                     eval_kwargs={**EVAL, "evaluator": str(evaluator_path)}, log=logs.append)
    assert [r["epsilon_target"] for r in rows] == [2.0, math.inf]
    priv, nonpriv = rows
    assert 0 < priv["epsilon"] <= 2.0 + 1e-6 and priv["sigma"] > 0 and priv["delta"] == 1e-5
    assert math.isinf(nonpriv["epsilon"]) and nonpriv["sigma"] == 0
    for r in rows:
        assert r["steps"] == 10 and r["cas"] is not None and r["fid_evaluator"] is not None
        assert r["checkpoint"].endswith("checkpoint.safetensors")

    with open(out / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(COLUMNS) and [t["epsilon_target"] for t in table] == ["2.0", "inf"]
    js = read_table(out)
    assert js["progress"]["state"] == "finished" and js["progress"]["done"] == 2
    assert [r["epsilon_target"] for r in js["rows"]] == [2.0, math.inf]
    assert table_from_checkpoints(r["checkpoint"] for r in rows) == js["rows"]

    # run again: nothing is retrained or re-evaluated, the table is the same
    mtime = (out / "eps-2" / "checkpoint.safetensors").stat().st_mtime_ns
    logs.clear()
    again = run_sweep([2.0, math.inf], _tiny_config(), data, out,
                      eval_kwargs={**EVAL, "evaluator": str(evaluator_path)}, log=logs.append)
    assert again == rows
    assert (out / "eps-2" / "checkpoint.safetensors").stat().st_mtime_ns == mtime
    assert sum("skipping training" in m for m in logs) == 2 and sum("evaluated already" in m for m in logs) == 2

    # a new evaluator file: models are re-evaluated, not retrained
    torch.manual_seed(5)
    save_evaluator(evaluator_path, Evaluator(EvaluatorArch(4, 8, 16)),
                   {"format": "dpinfogan-evaluator", "version": "tiny-2", "dataset": "mnist"})
    logs.clear()
    third = run_sweep([2.0, math.inf], _tiny_config(), data, out,
                      eval_kwargs={**EVAL, "evaluator": str(evaluator_path)}, log=logs.append)
    assert sum("skipping training" in m for m in logs) == 2 and sum(m.endswith(": evaluating") for m in logs) == 2
    assert [r["evaluator_version"] for r in third] == ["tiny-2", "tiny-2"]

    # other settings in the same folder are refused
    cfg = _tiny_config()
    cfg.steps = 20
    with pytest.raises(ValueError, match="different settings"):
        run_sweep([2.0], cfg, data, out, eval_kwargs={**EVAL, "evaluator": str(evaluator_path)}, log=logs.append)


def test_sweep_resumes_a_stopped_run(data, evaluator_path, tmp_path):
    from dpinfogan.train import train

    out = tmp_path / "sweep"
    cfg = _tiny_config()
    cfg.privacy.epsilon = 5.0
    # a run stopped after 4 of its 10 steps
    calls = {"n": 0}

    def stop_after_4() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    first = train(cfg, data, out / "eps-5", should_stop=stop_after_4)
    assert first.state == "stopped" and first.steps == 4
    logs: list[str] = []
    (row,) = run_sweep([5.0], _tiny_config(), data, out,
                       eval_kwargs={**EVAL, "evaluator": str(evaluator_path)}, log=logs.append)
    assert any("resuming from step 4" in m for m in logs)
    assert row["steps"] == 10 and row["epsilon"] <= 5.0 + 1e-6


def test_sweep_cli(evaluator_path, tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["sweep", "--epsilons", "3", "--steps", "5", "--dataset", "offline-digits", "--batch-size", "32",
               "--out", str(out), "--n", "50", "--skip-cas", "--evaluator", str(evaluator_path),
               "--", "--g-width", "8", "--d-width", "4", "--d-hidden", "8", "--noise-dim", "4"])
    text = capsys.readouterr().out
    assert rc == 0 and "[1/1] ε = 3" in text and "wrote" in text
    rows = json.loads((out / "sweep.json").read_text())["rows"]
    assert len(rows) == 1 and rows[0]["steps"] == 5 and rows[0]["cas"] is None
    assert main(["sweep", "--epsilons", "3", "--out", str(out), "--", "--epsilon", "2"]) == 2
    assert main(["sweep", "--out", str(out)]) == 2  # neither --epsilons nor --from-checkpoints
    # the same table from the existing checkpoint (how the zoo's table is made)
    ck = out / "eps-3" / "checkpoint.safetensors"
    assert main(["sweep", "--from-checkpoints", str(ck), "--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "sweep.json").read_text())["rows"] == rows
    assert (tmp_path / "t" / "sweep.csv").read_text().count("\n") == 2
