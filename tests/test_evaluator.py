"""The evaluator: architecture, training, safetensors round trip, refusal of bad files."""
from __future__ import annotations

import json

import pytest
import torch

from dpinfogan.cli import main
from dpinfogan.data import load_dataset
from dpinfogan.paths import evaluator_path
from dpinfogan.evaluator import (
    Evaluator,
    EvaluatorArch,
    accuracy,
    default_evaluator_path,
    fit_classifier,
    load_evaluator,
    save_evaluator,
)

TINY = EvaluatorArch(conv1=4, conv2=8, hidden=16)
SHIPPED = evaluator_path("mnist")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("downsample", ["pool", "stride"])
def test_shapes_and_batch_independence(downsample):
    torch.manual_seed(0)
    m = Evaluator(EvaluatorArch(4, 8, 16, downsample=downsample)).eval()
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    assert m.features(x).shape == (5, 16)
    assert m.logits(x).shape == (5, 10)
    # no BatchNorm: an image's output does not depend on its batch
    assert torch.allclose(m.logits(x)[:2], m.logits(x[:2]), atol=1e-6)
    with pytest.raises(ValueError):
        Evaluator(EvaluatorArch(4, 8, 16, downsample="avg"))


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    torch.manual_seed(1)
    m = Evaluator(TINY)
    p = save_evaluator(tmp_path / "ev.safetensors", m, {"format": "dpinfogan-evaluator", "format_version": 1,
                                                       "version": "test-v1", "dataset": "mnist",
                                                       "test_accuracy": 0.5})
    ev = load_evaluator(p)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert torch.equal(ev.model.logits(x), m.eval().logits(x))
    assert ev.version == "test-v1" and ev.dataset == "mnist" and ev.test_accuracy == 0.5
    assert ev.model.arch == TINY
    assert len(ev.sha256) == 64 and ev.identity()["sha256"] == ev.sha256


def test_bad_files_raise_value_error(tmp_path):
    m = Evaluator(TINY)
    good = save_evaluator(tmp_path / "ev.safetensors", m, {"format": "dpinfogan-evaluator", "dataset": "mnist"})
    raw = good.read_bytes()
    cases = {
        "truncated.safetensors": raw[: len(raw) // 2],
        "garbage.safetensors": b"\x00" * 8 + b"not a safetensors file",
        "short.safetensors": b"abc",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError):
            load_evaluator(tmp_path / name)
    with pytest.raises(ValueError, match="not found"):
        load_evaluator(tmp_path / "missing.safetensors")
    # a valid safetensors file of another kind (wrong format tag)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"),
              metadata={"dpinfogan-evaluator": json.dumps({"format": "something-else"})})
    with pytest.raises(ValueError, match="not a DP-InfoGAN evaluator"):
        load_evaluator(tmp_path / "other.safetensors")
    # weights that do not match the architecture in the metadata
    weights = {k: v.contiguous() for k, v in Evaluator(EvaluatorArch(4, 8, 32)).state_dict().items()}
    meta = {"format": "dpinfogan-evaluator", "architecture": {"conv1": 4, "conv2": 8, "hidden": 16, "n_classes": 10}}
    save_file(weights, str(tmp_path / "mismatch.safetensors"), metadata={"dpinfogan-evaluator": json.dumps(meta)})
    with pytest.raises(ValueError):
        load_evaluator(tmp_path / "mismatch.safetensors")


def test_fit_classifier_learns_real_digits():
    tr, te = load_dataset("offline-digits"), load_dataset("offline-digits", train=False)
    torch.manual_seed(0)
    m = Evaluator(EvaluatorArch(8, 16, 32))
    before = accuracy(m, te.images, te.labels)
    # every 4th image: 1,000 digits, 100 per class (the set is sorted by class)
    fit_classifier(m, tr.images[::4], tr.labels[::4], epochs=3, lr=3e-3, batch_size=32)
    after = accuracy(m, te.images, te.labels)
    assert after > 0.6 and after > before + 0.4


def test_fit_classifier_rejects_bad_input():
    m = Evaluator(TINY)
    with pytest.raises(ValueError):
        fit_classifier(m, torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError):
        fit_classifier(m, torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), epochs=0)


def test_default_paths():
    assert default_evaluator_path("offline-digits") == default_evaluator_path("mnist")
    assert default_evaluator_path("kmnist").name == "evaluator-kmnist.safetensors"
    with pytest.raises(ValueError):
        default_evaluator_path("cifar10")


def test_train_evaluator_cli_offline(tmp_path, capsys):
    out = tmp_path / "ev.safetensors"
    rc = main(["train-evaluator", "--dataset", "offline-digits", "--epochs", "0.05", "--out", str(out)])
    assert rc == 0
    ev = load_evaluator(out)
    assert ev.dataset == "mnist" and 0 <= ev.test_accuracy <= 1 and ev.meta["n_test"] == 1000
    assert "test accuracy" in capsys.readouterr().out


def test_train_evaluator_cli_unwritable_is_an_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["train-evaluator", "--dataset", "offline-digits", "--epochs", "0.01",
               "--out", str(blocker / "sub" / "ev.safetensors")])
    assert rc == 2 and capsys.readouterr().err.startswith("error:")


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped evaluator")
def test_shipped_evaluator_loads_offline_and_is_accurate():
    assert SHIPPED.stat().st_size < 2 * 1024 * 1024
    ev = load_evaluator(SHIPPED)
    assert ev.dataset == "mnist" and ev.test_accuracy >= 0.98
    te = load_dataset("offline-digits", train=False)
    assert accuracy(ev.model, te.images, te.labels) > 0.95


def test_results_record_no_absolute_path(tmp_path):
    from dpinfogan.paths import PROJECT_ROOT
    from dpinfogan.paths import project_relative as _shown_path

    assert _shown_path(PROJECT_ROOT / "checkpoints" / "evaluator-mnist.safetensors") == "checkpoints/evaluator-mnist.safetensors"
    assert _shown_path(tmp_path / "elsewhere" / "ev.safetensors") == "ev.safetensors"
