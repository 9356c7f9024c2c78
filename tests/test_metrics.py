"""Metrics on real data and noise give the expected extremes; evaluate writes its JSON."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dpinfogan.checkpoint import save_checkpoint
from dpinfogan.cli import main
from dpinfogan.config import LatentConfig, ModelConfig, TrainConfig
from dpinfogan.data import load_dataset
from dpinfogan.evaluator import (
    Evaluator,
    EvaluatorArch,
    LoadedEvaluator,
    accuracy,
    fit_classifier,
    load_evaluator,
    save_evaluator,
)
from dpinfogan.metrics import (
    cas,
    code_accuracy,
    code_to_label_by_vote,
    evaluate_checkpoint,
    fid_evaluator,
    format_table,
    frechet_distance,
    inception_score,
)
from dpinfogan.models import build_models
from dpinfogan.paths import eval_json_path, evaluator_path
from dpinfogan.catalog import load_references

SHIPPED = evaluator_path("mnist")
SMALL_CAS = dict(arch=EvaluatorArch(8, 16, 32), epochs=3, batch_size=32, lr=3e-3)


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    return load_dataset("offline-digits"), load_dataset("offline-digits", train=False)


@pytest.fixture(scope="module")
def evaluator(digits, tmp_path_factory) -> LoadedEvaluator:
    """The shipped MNIST evaluator, or (when absent) a small one trained here on the offline digits."""
    if SHIPPED.is_file():
        return load_evaluator(SHIPPED)
    train, test = digits
    torch.manual_seed(0)
    m = fit_classifier(Evaluator(EvaluatorArch(8, 16, 32)), train.images[::2], train.labels[::2],
                       epochs=3, batch_size=32, lr=3e-3)
    meta = {"format": "dpinfogan-evaluator", "version": "test-small", "dataset": "mnist",
            "test_accuracy": accuracy(m, test.images, test.labels)}
    return load_evaluator(save_evaluator(tmp_path_factory.mktemp("ev") / "ev.safetensors", m, meta))


@pytest.fixture(scope="module")
def noise():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1000, 1, 28, 28, generator=g) * 2 - 1  # uniform noise images in [-1, 1]


def test_frechet_distance_closed_form():
    d = 5
    mu1, mu2 = np.zeros(d), np.ones(d)
    # N(0, I) vs N(1, 4I): |Δμ|² + tr(I + 4I − 2·2I) = d + d
    assert frechet_distance(mu1, np.eye(d), mu2, 4 * np.eye(d)) == pytest.approx(2 * d)
    cov = np.cov(np.random.default_rng(0).normal(size=(50, d)), rowvar=False)
    assert frechet_distance(mu1, cov, mu1, cov) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_a_set_with_itself_is_zero_and_real_beats_noise(evaluator, digits, noise):
    train, test = digits
    ev = evaluator.model
    assert fid_evaluator(ev, test.images, test.images) == pytest.approx(0.0, abs=1e-6)
    fid_real = fid_evaluator(ev, train.images, test.images)
    fid_noise = fid_evaluator(ev, noise, test.images)
    assert fid_real * 10 < fid_noise


def test_inception_score_real_vs_noise(evaluator, digits, noise):
    _, test = digits
    is_real, std = inception_score(evaluator.model, test.images)
    is_noise, _ = inception_score(evaluator.model, noise)
    assert 1.0 <= is_noise < is_real <= 10.0 + 1e-9
    assert std >= 0
    if SHIPPED.is_file():  # a confident, accurate evaluator: close to the maximum of 10
        assert is_real > 8.0
    # one class only -> near 1 (no diversity)
    ones, _ = inception_score(evaluator.model, test.images[test.labels == 1])
    assert ones < 2.0


def test_code_accuracy_and_majority_vote_mapping(evaluator, digits, noise):
    _, test = digits
    ev = evaluator.model
    identity = list(range(10))
    assert code_accuracy(ev, test.images, test.labels, identity) > 0.8
    # a permuted code is recovered by the vote
    perm = torch.tensor([3, 7, 0, 9, 1, 5, 2, 8, 6, 4])
    codes = perm[test.labels]
    mapping = code_to_label_by_vote(ev, test.images, codes, 10)
    assert [mapping[int(perm[d])] for d in range(10)] == identity
    assert code_accuracy(ev, test.images, codes, mapping) == pytest.approx(
        code_accuracy(ev, test.images, test.labels, identity))
    # an unused code maps to -1; noise with random codes scores near chance
    assert code_to_label_by_vote(ev, test.images, test.labels, 11)[10] == -1
    rnd = torch.randint(0, 10, (noise.shape[0],), generator=torch.Generator().manual_seed(1))
    assert code_accuracy(ev, noise, rnd, identity) < 0.25


def test_cas_real_digits_high_noise_at_chance(digits, noise):
    train, test = digits
    real = cas(train.images[::4], train.labels[::4], test.images, test.labels, **SMALL_CAS)
    rnd = torch.randint(0, 10, (noise.shape[0],), generator=torch.Generator().manual_seed(2))
    chance = cas(noise, rnd, test.images, test.labels, **SMALL_CAS)
    assert real > 0.6
    assert chance < 0.25
    with pytest.raises(ValueError):
        cas(noise, torch.full((noise.shape[0],), -1), test.images, test.labels, **SMALL_CAS)


def _generator_checkpoint(path, code_mode="unsupervised", dataset="mnist"):
    cfg = TrainConfig(dataset=dataset, code_mode=code_mode, model=ModelConfig(g_width=8, d_width=4, d_hidden=8),
                      latent=LatentConfig(noise_dim=4))
    torch.manual_seed(0)
    g, d = build_models(cfg.model, cfg.latent)
    return save_checkpoint(path, config=cfg, generator=g, discriminator=d,
                           privacy={"private": True, "epsilon": 3.0, "target_epsilon": 3.0, "delta": 1e-5,
                                    "noise_multiplier": 1.1, "steps": 7},
                           training={"steps": 7, "g_steps": 7, "seconds": 1.0},
                           code_to_label=list(range(10)) if code_mode == "labels" else None)


def test_evaluate_checkpoint_writes_json_and_says_offline(evaluator, tmp_path, monkeypatch):
    monkeypatch.setenv("DPINFOGAN_DATA", str(tmp_path / "no-data"))  # full MNIST is "not on disk"
    ck = _generator_checkpoint(tmp_path / "g.safetensors")
    res = evaluate_checkpoint(ck, n=200, cas_samples=100, cas_epochs=0.2, evaluator=evaluator)
    out = eval_json_path(ck)
    assert out.name == "g.eval.json"
    on_disk = json.loads(out.read_text())
    assert on_disk["evaluator"]["sha256"] == evaluator.sha256
    assert on_disk["real_test"]["offline_fallback"] is True and on_disk["notes"]
    assert on_disk["n_samples"] == 200 and on_disk["cas_samples"] == 100
    assert on_disk["code_to_label_source"] == "evaluator majority vote" and len(on_disk["code_to_label"]) == 10
    m = res["metrics"]
    assert m["fid_evaluator"] > 0 and 1 <= m["inception_score"] <= 10
    assert 0 <= m["cas"] <= 1 and 0 <= m["code_accuracy"] <= 1
    assert set(res["timing"]) >= {"sampling_s", "fid_is_s", "cas_s", "total_s"}
    assert "offline" in format_table(res).lower()
    # same seed -> same samples -> same numbers
    again = evaluate_checkpoint(ck, n=200, skip_cas=True, evaluator=evaluator, write=False)
    assert again["metrics"]["fid_evaluator"] == pytest.approx(m["fid_evaluator"])
    assert again["metrics"]["cas"] is None


def test_labels_mode_uses_identity_mapping(evaluator, tmp_path):
    ck = _generator_checkpoint(tmp_path / "g.safetensors", code_mode="labels", dataset="offline-digits")
    res = evaluate_checkpoint(ck, n=100, skip_cas=True, evaluator=evaluator, write=False)
    assert res["code_to_label"] == list(range(10)) and res["code_to_label_source"] == "checkpoint metadata"
    assert not eval_json_path(ck).exists()


def test_evaluate_cli(evaluator, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DPINFOGAN_DATA", str(tmp_path / "no-data"))
    ck = _generator_checkpoint(tmp_path / "g.safetensors")
    rc = main(["evaluate", str(ck), "--n", "100", "--skip-cas", "--evaluator", str(evaluator.path)])
    out = capsys.readouterr().out
    assert rc == 0 and "FID (evaluator features)" in out and "NOTE" in out
    assert eval_json_path(ck).is_file()
    assert main(["evaluate", str(tmp_path / "missing.safetensors"), "--evaluator", str(evaluator.path)]) == 2
    assert main(["evaluate", str(ck), "--n", "1", "--evaluator", str(evaluator.path)]) == 2
    assert capsys.readouterr().err.count("error:") == 2


def test_references():
    refs, problem = load_references()
    assert problem is None
    assert len(refs) == 15
    for r in refs:
        assert set(r) == {"method", "epsilon", "cas", "source", "note"}
        assert r["epsilon"] in (1, 10) and 0 < r["cas"] <= 100 and r["source"]
    dpdm = {r["epsilon"]: r["cas"] for r in refs if r["method"].startswith("DPDM")}
    assert dpdm == {1: 95.3, 10: 98.1}
    assert not any(math.isnan(r["cas"]) for r in refs)
