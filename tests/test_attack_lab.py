"""The attack lab: its data, run_attack end to end on a tiny model, the results file (evaluator
hash, relative paths), the audit verdict, the CLI and the Privacy attacks page."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dpinfogan.attack_lab import (
    LAB_CANARIES, LAB_SIZE, audit_verdict, best_attack_auc, evaluator_warning, file_sha256, lab_sets, load_results,
    results_path, run_attack,
)
from dpinfogan.paths import project_relative as project_path
from dpinfogan.attacks import decode_image

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "checkpoints" / "attack-lab"
PAGE = str(ROOT / "pages" / "5_Privacy_attacks.py")


def _u8_set(images: torch.Tensor) -> set[bytes]:
    return {bytes(x) for x in ((images + 1) * 127.5).round().to(torch.uint8).numpy()}


# ----------------------------------------------------------------- the lab's data
def test_lab_sets_are_disjoint_seeded_and_canaries_stamped():
    lab = lab_sets(0, 50, 60, 5)
    assert (len(lab.members), len(lab.nonmembers), len(lab.canaries), len(lab.heldout_canaries)) == (50, 60, 5, 5)
    sets = [_u8_set(d.images) for d in (lab.members, lab.nonmembers, lab.canaries, lab.heldout_canaries)]
    assert sum(map(len, sets)) == len(set().union(*sets))  # no image in two sets
    assert torch.equal(lab_sets(0, 50, 60, 5).canaries.images, lab.canaries.images)  # seeded
    train = lab.training_set()
    assert len(train) == 55 and torch.equal(train.images[50:], lab.canaries.images)
    assert lab_sets(0, 50, 60, 0).canaries.images.shape[0] == 0
    with pytest.raises(ValueError, match="offline pool"):
        lab_sets(0, 3000, 3000, 0)
    with pytest.raises(ValueError, match="canaries"):
        lab_sets(0, 10, 10, -1)


# ----------------------------------------------------------------- a tiny model, attacked
@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    from dpinfogan.checkpoint import load_checkpoint
    from dpinfogan.config import ModelConfig, PrivacyConfig, TrainConfig
    from dpinfogan.train import Trainer

    lab = lab_sets(0, 64, 64, 4)
    cfg = TrainConfig(dataset="offline-digits", batch_size=16, steps=2, threads=1,
                      model=ModelConfig(g_width=8, d_width=4, d_hidden=8),
                      privacy=PrivacyConfig(epsilon=5.0, delta=1e-3))
    t = Trainer(cfg, lab.training_set())
    t.step(); t.step()  # noqa: E702
    path = t.save(tmp_path_factory.mktemp("tiny") / "tiny.safetensors", half=True, with_optimizers=False)
    return run_attack(load_checkpoint(path), lab.members.images, lab.nonmembers.images, n_generated=100, gallery=3,
                      canaries=(lab.canaries.images, lab.heldout_canaries.images),
                      features=lambda x: x.reshape(x.shape[0], -1)[:, :50],
                      evaluator={"sha256": "ab" * 32, "version": "test", "path": "checkpoints/x.safetensors"})


def test_run_attack_reports_claimed_and_proved_epsilon(tiny_results):
    res = tiny_results
    assert res["private"] and 0 < res["epsilon"] <= 5.0 and res["delta"] == 1e-3
    assert res["audit_delta"] == res["delta"]  # the bound uses the model's δ
    for key in ("logan", "gan_leaks", "gan_leaks_features"):
        a = res["attacks"][key]
        assert 0.0 <= a["auc"] <= 1.0 and a["audit"]["epsilon_lb"] >= 0.0
        assert a["audit"]["n_members"] == 32 and a["audit"]["n_nonmembers"] == 32  # the evaluation half
    c = res["canaries"]
    assert (c["k"], c["k_heldout"]) == (4, 4) and math.isfinite(c["gap"]) and len(c["images"]) == 4
    assert res["dp_bound"]["auc"] < 1.0 and len(res["memorisation"]["pairs"]) == 3
    assert decode_image(res["memorisation"]["pairs"][0]["images"]["member"]).shape == (28, 28)
    assert res["evaluator"]["sha256"] == "ab" * 32


def test_audit_verdict_flags_a_bound_above_the_claim(tiny_results):
    res = json.loads(json.dumps(tiny_results))  # a copy
    v = audit_verdict(res)
    assert v["claimed"] == pytest.approx(res["epsilon"]) and not v["violated"]
    res["attacks"]["logan"]["audit"]["epsilon_lb"] = res["epsilon"] + 0.5
    v = audit_verdict(res)
    assert v["violated"] and v["epsilon_lb"] == pytest.approx(res["epsilon"] + 0.5) and "LOGAN" in v["by"]
    res["private"] = False  # no claim, nothing to violate
    assert not audit_verdict(res)["violated"]


def test_evaluator_warning_and_relative_paths(tmp_path, tiny_results):
    ev = tmp_path / "ev.safetensors"
    ev.write_bytes(b"evaluator bytes")
    sha = file_sha256(ev)
    assert sha == hashlib.sha256(b"evaluator bytes").hexdigest()
    assert evaluator_warning(tiny_results, "ab" * 32) is None
    assert "another evaluator" in evaluator_warning(tiny_results, sha)
    old = {"attacks": {"gan_leaks_features": {}}, "setting": {}}
    assert "does not record" in evaluator_warning(old, sha)
    assert evaluator_warning({"attacks": {"logan": {}}}, sha) is None  # no feature attack, no evaluator
    assert file_sha256(tmp_path / "missing") is None
    assert project_path(ROOT / "checkpoints" / "evaluator-mnist.safetensors") == "checkpoints/evaluator-mnist.safetensors"
    assert project_path(tmp_path / "outside.npz") == "outside.npz"


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

    shipped = sorted(LAB.glob("*.safetensors"))
    if not shipped:
        pytest.skip("no attack-lab checkpoint shipped")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((4, 10, 10), np.float32))
    assert main(["attack", str(shipped[0]), "--members", str(wrong), "--nonmembers", str(wrong), "--no-write"]) == 2
    assert "uint8" in capsys.readouterr().err
    assert main(["attack", str(shipped[0]), "--lab-size", "100", "--no-write"]) == 2
    assert "attack lab's 100 members" in capsys.readouterr().err


# ----------------------------------------------------------------- the shipped results
def _shipped() -> list[Path]:
    files = sorted(LAB.glob("*.attack.json"))
    if not files:
        pytest.skip("no attack-lab results shipped")
    return files


def test_shipped_results_match_the_shipped_models_and_evaluator():
    shipped_sha = file_sha256(ROOT / "checkpoints" / "evaluator-mnist.safetensors")
    for f in _shipped():
        res = load_results(f)
        assert results_path(f.with_name(res["checkpoint"])) == f and f.with_name(res["checkpoint"]).is_file()
        assert res["format_version"] == 2
        assert evaluator_warning(res, shipped_sha) is None, f.name
        assert res["setting"]["lab_size"] == LAB_SIZE and res["setting"]["lab_canaries"] == LAB_CANARIES
        strings = [s for s in _strings(res) if s.startswith("/")]
        assert not strings, f"{f.name} holds absolute paths: {strings[:3]}"
        for a in res["attacks"].values():
            assert len(a["fpr"]) == len(a["tpr"]) and 0 <= a["auc"] <= 1


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):  # base64 images may start with "/" too: not paths
        return [s for k, v in obj.items() if k != "images" for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def test_shipped_private_models_keep_their_promise():
    results = [load_results(f) for f in _shipped()]
    private = [r for r in results if r["private"]]
    assert private, "the lab ships DP models"
    for r in private:
        assert not audit_verdict(r)["violated"], r["checkpoint"]
    # DP visibly stops the white-box attack that works without it
    nonprivate = [r for r in results if not r["private"]]
    assert max(r["attacks"]["logan"]["auc"] for r in nonprivate) > max(r["attacks"]["logan"]["auc"] for r in private)
    assert best_attack_auc(LAB / "does-not-exist.safetensors") is None


def test_load_results_rejects_other_json(tmp_path):
    p = tmp_path / "x.attack.json"
    p.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a DP-InfoGAN attack"):
        load_results(p)
    p.write_text('{"format": "dpinfogan-attack"}')
    with pytest.raises(ValueError, match="incomplete"):
        load_results(p)


# ----------------------------------------------------------------- the page
def test_page_renders_the_shipped_lab():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown).lower()
    assert "membership" in text and "lower bound" in text and "canaries" in text
    assert any("prove ε ≥" in m.value for m in list(at.success) + list(at.info))
    assert not at.error


def test_page_flags_a_violated_claim_and_another_evaluator(tmp_path, monkeypatch, tiny_results):
    from streamlit.testing.v1 import AppTest

    lab = tmp_path / "attack-lab"
    lab.mkdir()
    (tmp_path / "evaluator-mnist.safetensors").write_bytes(b"today's evaluator")
    res = json.loads(json.dumps(tiny_results))
    res["checkpoint"] = "broken.safetensors"
    res["attacks"]["logan"]["audit"]["epsilon_lb"] = res["epsilon"] + 1.0
    (lab / "broken.attack.json").write_text(json.dumps(res))
    (lab / "junk.attack.json").write_text("{not json")
    monkeypatch.setenv("DPINFOGAN_CHECKPOINTS", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("this is a bug" in e.value for e in at.error)
    warnings = " ".join(w.value for w in at.warning)
    assert "another evaluator" in warnings and "junk.attack.json" in warnings
