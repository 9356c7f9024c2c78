"""Privacy attacks: ROC/AUC known answers, the (ε, δ)-DP bound, memorisation, CLI, page."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dpinfogan.attacks import (
    FPR_LOW, decode_image, dp_auc_bound, dp_tpr_bound, encode_image, gan_leaks_scores, lab_split, load_results,
    memorisation, nearest, results_path, roc_curve, run_attack,
)

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- ROC / AUC
def test_roc_perfect_and_reversed():
    r = roc_curve(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert r.auc == pytest.approx(1.0)
    assert r.tpr_at(FPR_LOW) == pytest.approx(1.0)
    assert roc_curve(np.array([0.0, 1.0]), np.array([2.0, 3.0])).auc == pytest.approx(0.0)


def test_roc_matches_mann_whitney_with_ties():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 200).astype(float), rng.integers(0, 4, 300).astype(float)
    wins = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    r = roc_curve(pos, neg)
    assert r.auc == pytest.approx(wins, abs=1e-12)
    assert r.fpr[0] == 0 and r.tpr[0] == 0 and r.fpr[-1] == 1 and r.tpr[-1] == 1
    assert np.all(np.diff(r.fpr) >= 0) and np.all(np.diff(r.tpr) >= 0)


def test_roc_agrees_with_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.7, 1, 500), rng.normal(0, 1, 500)
    y = np.r_[np.ones(500), np.zeros(500)]
    assert roc_curve(pos, neg).auc == pytest.approx(sk.roc_auc_score(y, np.r_[pos, neg]), abs=1e-12)


def test_tpr_at_low_fpr_uses_a_real_threshold():
    # 100 non-members; the single highest score is a non-member, the next five are members.
    neg = np.r_[10.0, np.zeros(99)]
    pos = np.r_[np.full(5, 9.0), -np.ones(95)]
    r = roc_curve(pos, neg)
    assert r.tpr_at(0.0) == pytest.approx(0.0)
    assert r.tpr_at(0.01) == pytest.approx(0.05)


def test_roc_rejects_bad_scores():
    with pytest.raises(ValueError, match="at least one"):
        roc_curve(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        roc_curve(np.array([np.nan]), np.array([1.0]))


# ----------------------------------------------------------------- the DP bound
def test_dp_bound_eps0_is_the_diagonal():
    f = np.linspace(0, 1, 11)
    np.testing.assert_allclose(dp_tpr_bound(f, 0.0, 0.0), f, atol=1e-12)
    assert dp_auc_bound(0.0, 0.0) == pytest.approx(0.5, abs=1e-6)


def test_dp_bound_known_values():
    e = math.e
    # ε = 1, δ = 0: TPR ≤ min(e·FPR, 1 − (1 − FPR)/e)
    assert float(dp_tpr_bound(0.01, 1.0, 0.0)) == pytest.approx(e * 0.01)
    assert float(dp_tpr_bound(0.5, 1.0, 0.0)) == pytest.approx(1 - 0.5 / e)
    # the two lines cross at FPR = 1/(1+e)
    x = 1 / (1 + e)
    assert float(dp_tpr_bound(x, 1.0, 0.0)) == pytest.approx(e * x)
    # δ lifts the curve: at FPR = 0 the bound is δ
    assert float(dp_tpr_bound(0.0, 1.0, 1e-3)) == pytest.approx(1e-3)
    assert float(dp_tpr_bound(0.01, math.log(2), 0.1)) == pytest.approx(0.12)
    assert float(dp_tpr_bound(0.3, 10.0, 1e-4)) == pytest.approx(1 - math.exp(-10) * (1 - 1e-4 - 0.3), abs=1e-12)
    np.testing.assert_allclose(dp_tpr_bound(np.array([0.0, 0.5]), math.inf, 0.0), [1.0, 1.0])
    # a larger ε never promises less
    assert dp_auc_bound(1.0, 1e-4) < dp_auc_bound(2.0, 1e-4) < dp_auc_bound(10.0, 1e-4) <= 1.0


def test_dp_bound_rejects_bad_parameters():
    with pytest.raises(ValueError, match="ε"):
        dp_tpr_bound(0.1, -1.0, 0.0)
    with pytest.raises(ValueError, match="δ"):
        dp_tpr_bound(0.1, 1.0, 2.0)


# ----------------------------------------------------------------- attacks on synthetic data
def _blobs(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


def test_gan_leaks_identical_distributions_is_chance():
    members, nonmembers, generated = _blobs(300, 0), _blobs(300, 1), _blobs(600, 2)
    r = roc_curve(gan_leaks_scores(members, generated), gan_leaks_scores(nonmembers, generated))
    assert abs(r.auc - 0.5) < 0.08


def test_gan_leaks_copied_members_is_perfect():
    members, nonmembers = _blobs(200, 0), _blobs(200, 1)
    generated = torch.cat([members, _blobs(100, 3)])  # the "generator" outputs its training set
    r = roc_curve(gan_leaks_scores(members, generated), gan_leaks_scores(nonmembers, generated))
    assert r.auc == pytest.approx(1.0)
    assert r.tpr_at(FPR_LOW) == pytest.approx(1.0)


def test_gan_leaks_with_features():
    members, nonmembers = _blobs(50, 0), _blobs(50, 1)
    feats = lambda x: x.reshape(x.shape[0], -1)[:, :100] * 3.0  # noqa: E731
    scores = gan_leaks_scores(members, members.clone(), feats)
    np.testing.assert_allclose(scores, 0.0, atol=1e-3)
    assert (gan_leaks_scores(nonmembers, members, feats) < -1).all()


def test_nearest_matches_brute_force():
    q, pool = torch.randn(37, 10), torch.randn(53, 10)
    d, i = nearest(q, pool, batch=8)
    full = torch.cdist(q, pool)
    torch.testing.assert_close(d, full.min(1).values, atol=1e-4, rtol=1e-4)
    assert torch.equal(i, full.argmin(1))


def test_memorisation_finds_copies():
    members, nonmembers = _blobs(100, 0), _blobs(100, 1)
    generated = torch.cat([members[:5] + 0.01, _blobs(95, 4)])
    m = memorisation(generated, members, nonmembers, k=5)
    assert sorted(p["generated"] for p in m["pairs"]) == [0, 1, 2, 3, 4]
    assert all(p["member"] == p["generated"] for p in m["pairs"])
    assert all(p["ratio"] < 0.1 for p in m["pairs"])
    assert 0.0 <= m["frac_closer_to_member"] <= 1.0


def test_image_encoding_round_trip():
    img = np.arange(784, dtype=np.int64).reshape(28, 28).astype(np.uint8)
    assert np.array_equal(decode_image(encode_image(img)), img)
    with pytest.raises(ValueError):
        encode_image(np.zeros((3, 3), np.uint8))


# ----------------------------------------------------------------- the lab split and a tiny model
def test_lab_split_is_disjoint_and_seeded():
    m, n = lab_split(0, 50)
    m2, _ = lab_split(0, 50)
    assert len(m) == len(n) == 50
    assert torch.equal(m.images, m2.images)
    flat = lambda d: {bytes(x) for x in ((d.images + 1) * 127.5).round().to(torch.uint8).numpy()}  # noqa: E731
    assert not (flat(m) & flat(n))
    with pytest.raises(ValueError, match="too large"):
        lab_split(0, 3000)


def test_run_attack_on_a_tiny_checkpoint(tmp_path):
    from dpinfogan.checkpoint import load_checkpoint
    from dpinfogan.config import ModelConfig, PrivacyConfig, TrainConfig
    from dpinfogan.train import Trainer

    members, nonmembers = lab_split(0, 64)
    cfg = TrainConfig(dataset="offline-digits", batch_size=16, steps=2, threads=1,
                      model=ModelConfig(g_width=8, d_width=4, d_hidden=8),
                      privacy=PrivacyConfig(epsilon=5.0, delta=1e-3))
    t = Trainer(cfg, members)
    t.step(); t.step()  # noqa: E702
    path = t.save(tmp_path / "tiny.safetensors", half=True, with_optimizers=False)
    res = run_attack(load_checkpoint(path), members.images, nonmembers.images, n_generated=100, gallery=3)
    for key in ("logan", "gan_leaks"):
        assert 0.0 <= res["attacks"][key]["auc"] <= 1.0
    assert res["private"] and res["dp_bound"]["auc"] < 1.0
    assert len(res["memorisation"]["pairs"]) == 3
    assert decode_image(res["memorisation"]["pairs"][0]["images"]["member"]).shape == (28, 28)


# ----------------------------------------------------------------- CLI
def test_cli_bad_input_exits_2(tmp_path, capsys):
    from dpinfogan.cli import main

    assert main(["attack", str(tmp_path / "missing.safetensors")]) == 2
    assert "error:" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert main(["attack", str(bad)]) == 2
    assert main(["attack", str(bad), "--members", "m.npz"]) == 2
    assert "both --members and --nonmembers" in capsys.readouterr().err


def test_cli_rejects_bad_member_files(tmp_path, capsys):
    from dpinfogan.cli import main

    shipped = sorted((ROOT / "checkpoints" / "attack-lab").glob("*.safetensors"))
    if not shipped:
        pytest.skip("no attack-lab checkpoint shipped")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((4, 10, 10), np.float32))
    assert main(["attack", str(shipped[0]), "--members", str(wrong), "--nonmembers", str(wrong), "--no-write"]) == 2
    assert "uint8" in capsys.readouterr().err


# ----------------------------------------------------------------- shipped results and the page
def test_shipped_results_are_readable():
    files = sorted((ROOT / "checkpoints" / "attack-lab").glob("*.attack.json"))
    if not files:
        pytest.skip("no attack-lab results shipped")
    for f in files:
        res = load_results(f)
        assert results_path(f.with_name(res["checkpoint"])) == f
        for a in res["attacks"].values():
            assert len(a["fpr"]) == len(a["tpr"]) and 0 <= a["auc"] <= 1


def test_load_results_rejects_other_json(tmp_path):
    p = tmp_path / "x.attack.json"
    p.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a DP-InfoGAN attack"):
        load_results(p)


def test_page_renders():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "5_Privacy_attacks.py"), default_timeout=60).run()
    assert not at.exception
    assert any("membership" in m.value.lower() for m in at.markdown)


def test_auc_standard_error_known_value():
    from dpinfogan.attacks import auc_standard_error

    # Hanley–McNeil at AUC 0.5 with 1,000 + 1,000: sqrt((0.25 + 999·(1/3 − 1/4)·2) / 1e6) ≈ 0.01291
    assert auc_standard_error(0.5, 1000, 1000) == pytest.approx(0.012913, abs=1e-5)
    assert auc_standard_error(1.0, 10, 10) == pytest.approx(0.0)


def test_best_attack_auc_of_shipped_lab_models():
    from pathlib import Path

    from dpinfogan.attacks import best_attack_auc

    lab = Path(__file__).resolve().parent.parent / "checkpoints" / "attack-lab"
    assert best_attack_auc(lab / "nonprivate-long.safetensors") > 0.55  # visible leakage without DP
    assert best_attack_auc(lab / "eps1.safetensors") < 0.55  # chance under DP
    assert best_attack_auc(lab / "does-not-exist.safetensors") is None
