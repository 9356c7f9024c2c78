import json

import pytest

from dpinfogan.fileio import atomic_write, atomic_write_json
from dpinfogan.runs import RunWriter, list_runs, new_run_dir, read_run


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"v": 1})

    def boom(tmp):
        with open(tmp, "w") as f:
            f.write('{"v": 2, "half')
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert json.loads(p.read_text()) == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]  # no temp file left behind
    assert oct(p.stat().st_mode & 0o777) != oct(0o600)


def test_torn_metrics_line_is_skipped(tmp_path):
    w = RunWriter(tmp_path / "r")
    w.write_config({"dataset": "offline-digits"})
    w.log({"step": 1, "epsilon": float("inf")})
    with open(tmp_path / "r/metrics.jsonl", "a") as f:
        f.write('{"step": 2, "eps')  # a run killed mid-line
    run = read_run(tmp_path / "r")
    assert run.metrics == [{"step": 1, "epsilon": "inf"}]


def test_dead_running_process_reads_as_failed(tmp_path):
    w = RunWriter(tmp_path / "r")
    w.write_config({})
    w.status("running", step=3)
    assert read_run(tmp_path / "r").state == "running"  # this process is alive
    st = json.loads((tmp_path / "r/status.json").read_text())
    st["pid"] = 2**22 + 12345  # no such process
    (tmp_path / "r/status.json").write_text(json.dumps(st))
    assert read_run(tmp_path / "r").state == "failed"


def test_corrupt_run_folder_is_reported_not_raised(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/config.json").write_text("{not json")
    good = new_run_dir(tmp_path, "good")
    RunWriter(good).write_config({"x": 1})
    runs = {r.id: r for r in list_runs(tmp_path)}
    assert runs["bad"].error and "config.json" in runs["bad"].error
    assert runs["good"].error is None


def test_new_run_dir_errors(tmp_path):
    new_run_dir(tmp_path, "x")
    with pytest.raises(ValueError, match="already exists"):
        new_run_dir(tmp_path, "x")
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ValueError, match="cannot write"):
        new_run_dir(f, "y")
