"""The command line: train/sample/info, and one clear line (exit 2) for every bad input."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dpinfogan.cli import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "offline-digits", "--batch-size", "32", "--g-width", "16", "--d-width", "8",
        "--d-hidden", "16", "--noise-dim", "8", "--quiet", "--delta", "1e-5"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    out = d / "model.safetensors"
    assert main(["train", *TINY, "--epsilon", "5", "--steps", "4", "--run-dir", str(d / "run"), "--out", str(out)]) == 0
    return out


def test_train_sample_info(ckpt, tmp_path, capsys):
    assert main(["sample", str(ckpt), "--n", "12", "--out", str(tmp_path / "s.npz"), "--png", str(tmp_path / "s.png")]) == 0
    z = np.load(tmp_path / "s.npz")
    assert z["images"].shape == (12, 28, 28) and z["images"].dtype == np.uint8
    assert z["codes"].shape == (12,) and z["codes"].dtype.kind == "i"
    assert z["cont"].shape == (12, 2) and z["cont"].dtype.kind == "f"
    assert (tmp_path / "s.png").is_file()
    capsys.readouterr()
    assert main(["info", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "ε = " in out and "δ = 1e-05" in out and "rdp" in out


def test_sample_one_code(ckpt, tmp_path):
    assert main(["sample", str(ckpt), "--n", "5", "--code", "7", "--out", str(tmp_path / "s.npz")]) == 0
    assert (np.load(tmp_path / "s.npz")["codes"] == 7).all()


BAD = [
    (["--epsilon", "0"], "positive"),
    (["--epsilon", "-1"], "positive"),
    (["--epsilon", "nan"], "positive"),
    (["--delta", "0"], "δ"),
    (["--delta", "0.001"], "1/(10·N)"),  # N = 4,000 offline digits
    (["--delta", "5e-5"], "1/(10·N)"),  # below 1/N but above 1/(10N)
    (["--epsilon", "1e400"], "overflows"),
    (["--epsilon", "1000"], "protects nothing"),
    (["--sigma", "0.01", "--epsilon", "10"], "no step fits"),
    (["--delta", "2"], "δ"),
    (["--batch-size", "0"], "batch size"),
    (["--batch-size", "100000"], "larger than the dataset"),
    (["--sigma", "-1"], "σ"),
    (["--max-grad-norm", "0"], "clipping norm"),
    (["--max-grad-norm", "-2"], "clipping norm"),
    (["--dataset", "cifar"], "invalid choice"),
]


def exit_code(argv):
    """main()'s return value, or the code argparse exits with for malformed options."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("extra,msg", BAD)
def test_bad_train_input(extra, msg, tmp_path, capsys):
    run = tmp_path / "run"
    assert exit_code(["train", *TINY, "--steps", "2", *extra, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
    assert not run.exists()  # nothing half-written


def test_unwritable_run_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", *TINY, "--steps", "2", "--run-dir", str(blocker / "run")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_offline_without_data(tmp_path, capsys):
    assert main(["train", *TINY[2:], "--dataset", "fashion-mnist", "--steps", "2", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "could not be downloaded" in err and not (tmp_path / "r").exists()


def test_mnist_falls_back_to_offline_digits(tmp_path, capsys):
    assert main(["train", *TINY[2:], "--dataset", "mnist", "--steps", "1", "--run-dir", str(tmp_path / "r")]) == 0
    assert "offline" in capsys.readouterr().err


def test_bad_checkpoint_paths(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert main(["info", str(bad)]) == 2
    assert main(["sample", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "not a DP-InfoGAN checkpoint" in err and "not found" in err
    assert not (tmp_path / "x.npz").exists()


def test_subprocess_error_is_one_line(tmp_path):
    env = {**os.environ, "DPINFOGAN_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    p = subprocess.run([sys.executable, "-m", "dpinfogan", "train", *TINY, "--delta", "0.5", "--run-dir", str(tmp_path / "r")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error:") and len(p.stderr.strip().splitlines()) == 1


# ---- bad inputs, table-driven from the battery (benchmarks/bad_input_cases.py)
sys.path.insert(0, str(ROOT / "benchmarks"))
import bad_input_cases  # noqa: E402

GOOD = ROOT / "checkpoints" / "mnist-labels-eps10.safetensors"


@pytest.mark.parametrize("extra", bad_input_cases.TRAIN_BAD, ids=[" ".join(x) for x in bad_input_cases.TRAIN_BAD])
def test_battery_train_option_is_refused_before_any_work(extra, tmp_path, capsys):
    run = tmp_path / "run"
    assert exit_code(["train", *bad_input_cases.TINY, *extra, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err and not run.exists()


@pytest.mark.parametrize("extra", bad_input_cases.FEDERATED_BAD, ids=[" ".join(x) for x in bad_input_cases.FEDERATED_BAD])
def test_battery_federated_option_is_refused_before_any_work(extra, tmp_path, capsys):
    run = tmp_path / "run"
    assert exit_code(["federated", "--dataset", "offline-digits", "--preview", *extra, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err and not run.exists()


@pytest.mark.parametrize("argv,msg", [(["--n", "1000000000"], "between 1 and 100,000"), (["--n", "0"], "between"),
                                      (["--n", "-5"], "between"), (["--code", "99"], "code must be in 0..9")])
def test_sample_bounds(argv, msg, tmp_path, capsys):
    assert exit_code(["sample", str(GOOD), "--out", str(tmp_path / "s.npz"), *argv]) == 2
    assert msg in capsys.readouterr().err and not (tmp_path / "s.npz").exists()


@pytest.mark.parametrize("command", ["train", "evaluate", "sweep", "attack", "train-evaluator"])
@pytest.mark.parametrize("threads", ["-1", "100000", "two"])
def test_threads_bounds_on_every_command(command, threads, capsys):
    pos = {"train": [], "evaluate": [str(GOOD)], "attack": [str(GOOD)], "train-evaluator": [],
           "sweep": ["--out", "x", "--epsilons", "1"]}[command]
    assert exit_code([command, *pos, "--threads", threads]) == 2
    assert "threads" in capsys.readouterr().err


@pytest.mark.parametrize("kind", list(bad_input_cases.GARBAGE))
def test_garbage_mnist_files_are_a_clear_error(kind, tmp_path, monkeypatch, capsys):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f).write_bytes(bad_input_cases.GARBAGE[kind](f))
    monkeypatch.setenv("DPINFOGAN_DATA", str(tmp_path / "data"))
    assert exit_code(["train", *TINY[2:], "--dataset", "mnist", "--steps", "2", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "could not be read" in err and "Traceback" not in err and not (tmp_path / "r").exists()
    from dpinfogan.data import available_datasets

    assert "mnist" not in available_datasets()  # the Train page does not offer it


def test_non_private_train_reports_no_delta(tmp_path, capsys):
    assert main(["train", *TINY, "--epsilon", "inf", "--steps", "2", "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "no privacy (ε = ∞)" in out and "δ" not in out.splitlines()[0]
