"""dpinfogan.metadata: one schema for checkpoint headers and run files. Every odd file of the bad-input
battery (benchmarks/bad_input_cases.py) is skipped with a reason, by the library, the app's discovery and
the CLI, with no traceback and no server path."""
import json
import shutil
import sys
from pathlib import Path

import pytest

from dpinfogan import jobs
from dpinfogan.checkpoint import check_weights, read_metadata
from dpinfogan.cli import main
from dpinfogan.config import TrainConfig
from dpinfogan.metadata import MetadataError, clean_metrics, validate_evaluation, validate_status
from dpinfogan.catalog import _entry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import bad_input_cases  # noqa: E402 - the battery's tables of odd files

GOOD = ROOT / "checkpoints" / "mnist-labels-eps10.safetensors"


def test_every_shipped_checkpoint_passes():
    paths = [p for p in (ROOT / "checkpoints").rglob("*.safetensors") if not p.name.startswith("evaluator")]
    assert len(paths) >= 10
    for p in paths:
        check_weights(p, read_metadata(p))


CASES = [(n, m, None) for n, m in bad_input_cases.CKPT_CASES] + [(n, None, r) for n, r in bad_input_cases.RAW_CASES]


@pytest.mark.parametrize("name,mutate,raw", CASES, ids=[c[0] for c in CASES])
def test_odd_checkpoint_is_skipped_everywhere(name, mutate, raw, tmp_path, capsys):
    odd = tmp_path / "odd.safetensors"
    bad_input_cases.odd_checkpoint(GOOD, odd, mutate, raw, name)
    entry = _entry("zoo:odd", odd, "zoo")
    assert entry.error and str(tmp_path) not in entry.error  # the page shows the reason, not the server path
    assert main(["info", str(odd)]) == 2
    assert main(["sample", str(odd), "--n", "2", "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "Traceback" not in err and not (tmp_path / "s.npz").exists()


def test_ten_to_the_nine_categories_allocate_nothing():
    meta = read_metadata(GOOD)
    meta["config"]["latent"]["n_categories"] = 10**9
    from dpinfogan.metadata import validate_checkpoint_meta

    with pytest.raises(MetadataError, match="n_categories must be a whole number in 2…1000"):
        validate_checkpoint_meta(meta, 1)


@pytest.mark.parametrize("case,fname,content", [c for c in bad_input_cases.RUN_CASES if c[1] != "eval"],
                         ids=[c[0] for c in bad_input_cases.RUN_CASES if c[1] != "eval"])
def test_odd_run_file_marks_the_run_failed_with_a_reason(case, fname, content, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(TrainConfig(dataset="offline-digits").to_dict()))
    (run / fname).write_text(content)
    (job,) = jobs.list_jobs(tmp_path, pump_queue=False)
    assert job.state == "failed" and job.message


@pytest.mark.parametrize("case,fname,content", [c for c in bad_input_cases.RUN_CASES if c[1] == "eval"],
                         ids=[c[0] for c in bad_input_cases.RUN_CASES if c[1] == "eval"])
def test_odd_evaluation_is_ignored_with_a_reason(case, fname, content, tmp_path):
    shutil.copy(GOOD, tmp_path / "m.safetensors")
    (tmp_path / "m.eval.json").write_text(content)
    e = _entry("zoo:m", tmp_path / "m.safetensors", "zoo")
    assert e.evaluation() is None and "m.eval.json` skipped" in e.evaluation_problem()
    with pytest.raises(MetadataError):
        validate_evaluation(json.loads(content))


def test_status_and_metrics_schema():
    assert validate_status({"state": "running", "pid": 12, "pid_start": 99, "step": 3, "epsilon": "inf"})
    for bad in ({"state": "banana"}, {"step": -1}, {"pid": "x"}, {"epsilon": "lots"}, []):
        with pytest.raises(MetadataError):
            validate_status(bad)
    lines = [{"step": 1, "epsilon": 0.5}, {"step": "2"}, "x", {"step": 3, "epsilon": "lots"}, {"step": 4, "epsilon": "inf"}]
    assert [r["step"] for r in clean_metrics(lines)] == [1, 4]


def test_run_config_keeps_what_trainers_add():
    from dpinfogan.metadata import validate_train_config

    cfg = {**TrainConfig().to_dict(), "derived": {"noise_multiplier": 1.0}, "federated": {"clients": 2}}
    assert validate_train_config(cfg, "config.json", known_only=False) is cfg
    with pytest.raises(MetadataError, match="does not know: derived"):
        validate_train_config(cfg)  # a checkpoint's config holds the TrainConfig only
