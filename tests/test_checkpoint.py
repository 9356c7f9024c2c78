"""Checkpoints: round trip, corrupt/truncated/mismatched files, and no unpickling ever."""
import json
import pickle

import pytest
import torch

from dpinfogan.checkpoint import load_checkpoint, read_metadata
from dpinfogan.train import Trainer
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits):
    t = Trainer(tiny_config(steps=2), digits)
    t.step()
    path = tmp_path_factory.mktemp("ck") / "m.safetensors"
    t.save(path)
    return t, path


def test_round_trip(saved):
    t, path = saved
    ck = load_checkpoint(path)
    for a, b in zip(t.g.state_dict().values(), ck.generator.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(t.d.state_dict().values(), ck.discriminator.state_dict().values()):
        assert torch.equal(a, b)
    m = ck.meta
    assert m["dataset"] == "offline-digits" and m["code_mode"] == "labels"
    for key in ("epsilon", "delta", "noise_multiplier", "max_grad_norm", "sample_rate", "steps", "accountant", "history"):
        assert key in m["privacy"]
    assert m["config"]["model"]["g_width"] == 16 and m["library_version"]
    assert ck.optimizer_state["d"]["state"]  # Adam moments saved for an exact resume


def test_half_precision_export(saved, tmp_path):
    t, path = saved
    small = t.save(tmp_path / "half.safetensors", half=True, with_optimizers=False)
    assert small.stat().st_size < path.stat().st_size / 2
    ck = load_checkpoint(small)
    w = ck.generator.state_dict()["fc.0.weight"]
    assert w.dtype == torch.float32
    assert torch.allclose(w, t.g.state_dict()["fc.0.weight"], atol=1e-3)


def test_truncated_and_garbage(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    for name, blob in [("trunc", data[: len(data) // 2]), ("head", data[:5]), ("garbage", b"x" * 1000), ("empty", b"")]:
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(blob)
        with pytest.raises(ValueError, match="checkpoint|corrupt|truncated"):
            load_checkpoint(p)
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_malicious_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = tmp_path / "evil.safetensors"
    p.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError):
        load_checkpoint(p)
    pt = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, pt) if False else pt.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(ValueError):
        load_checkpoint(pt)
    assert not marker.exists()


def test_mismatched_weights(saved, tmp_path):
    _, path = saved
    meta = read_metadata(path)
    meta["config"]["model"]["g_width"] = 32  # metadata now describes a different model
    from safetensors.torch import load_file, save_file

    p = tmp_path / "mismatch.safetensors"
    save_file(load_file(str(path)), str(p), metadata={"dpinfogan": json.dumps(meta)})
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(p)


def test_foreign_safetensors(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(p))
    with pytest.raises(ValueError, match="not a DP-InfoGAN checkpoint"):
        load_checkpoint(p)


def test_export_keeps_metadata_drops_optimizer(saved, tmp_path):
    from dpinfogan.checkpoint import export_checkpoint

    _, path = saved
    out = export_checkpoint(path, tmp_path / "z.safetensors", half=True)
    a, b = read_metadata(path), read_metadata(out)
    assert a["privacy"] == b["privacy"] and a["config"] == b["config"]
    assert load_checkpoint(out).optimizer_state == {}
