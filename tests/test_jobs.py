"""Background training jobs: command line, validation, queue, stop with checkpoint, dead trainers."""
import json
import os
import time

import pytest

from dpinfogan import jobs
from dpinfogan.config import ModelConfig, PrivacyConfig, TrainConfig


def tiny_cfg(steps: int = 6, eps: float = 10.0, **kw) -> TrainConfig:
    return TrainConfig(dataset="offline-digits", steps=steps, batch_size=32, sample_every=5, checkpoint_every=5,
                       threads=1, model=ModelConfig(g_width=8, d_width=8, d_hidden=16),
                       privacy=PrivacyConfig(epsilon=eps, delta=1e-5), **kw)


def test_the_child_trains_with_what_the_app_launched(tmp_path):
    """A non-default config launched in the background: the child process reads it from the run
    folder, and its checkpoint records exactly that config (the app once dropped --clip-fake)."""
    from dpinfogan.checkpoint import read_metadata

    cfg = tiny_cfg(steps=4, code_mode="unsupervised", lr_d=3e-4, lr_g=5e-4, beta1=0.6, d_steps_per_g=2,
                   lambda_cat=0.7, lambda_cont=0.2, lambda_label=0.5, adaptive_d_steps=True, ema_decay=0.9, seed=7)
    cfg.sample_every, cfg.checkpoint_every = 4, 4
    cfg.privacy = PrivacyConfig(epsilon=5.0, delta=1e-6, max_grad_norm=0.7, accountant="prv", clip_fake="batch")
    cfg.model.q_log_std = True
    cfg.latent.noise_dim, cfg.latent.n_continuous = 12, 1
    run = jobs.launch(cfg, root=tmp_path, log_every=1)
    job = jobs.wait(run, timeout_s=600)  # seconds of training; the rest is importing torch on a busy machine
    assert job.state == "finished", jobs.log_tail(run)
    meta = read_metadata(run / "checkpoint.safetensors")
    trained = TrainConfig.from_dict(meta["config"])
    assert trained.to_dict() == cfg.to_dict()
    assert trained.privacy.clip_fake == "batch" and meta["config"]["privacy"]["clip_fake"] == "batch"
    assert json.loads((run / "job.json").read_text())["kind"] == "train"  # the settings are not on a command line
    assert "argv" not in json.loads((run / "job.json").read_text())


def test_launch_rejects_bad_config_and_creates_nothing(tmp_path):
    cfg = tiny_cfg()
    cfg.privacy.delta = 1e-3  # ≥ 1/N for the 4,000 offline digits
    with pytest.raises(ValueError, match="1/N"):
        jobs.launch(cfg, root=tmp_path)
    cfg = tiny_cfg()
    cfg.batch_size = 5000
    with pytest.raises(ValueError, match="larger than the dataset"):
        jobs.launch(cfg, root=tmp_path)
    cfg.dataset = "cifar"
    with pytest.raises(ValueError, match="unknown dataset"):
        jobs.launch(cfg, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_dead_trainer_shows_as_failed_with_its_log(tmp_path):
    run = tmp_path / "r1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(tiny_cfg().to_dict()))
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": 2**22 + 12345, "step": 3}))
    (run / "train.log").write_text("loading\nerror: something broke\n")
    (job,) = jobs.list_jobs(tmp_path)
    assert job.state == "failed" and "something broke" in job.message
    assert jobs.stop(run) is False  # nothing to stop


def test_corrupt_run_folder_is_reported_not_raised(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    (job,) = jobs.list_jobs(tmp_path)
    assert job.state == "failed" and "config.json" in job.message


def test_queue_cap_and_cancel(tmp_path, monkeypatch):
    monkeypatch.setenv("DPINFOGAN_MAX_JOBS", "1")
    first = jobs.launch(tiny_cfg(steps=100_000), root=tmp_path)
    second = jobs.launch(tiny_cfg(steps=100_000), root=tmp_path)
    try:
        by_id = {j.id: j for j in jobs.list_jobs(tmp_path)}
        assert by_id[first.name].state == "running"
        assert by_id[second.name].state == "queued" and by_id[second.name].queue_position == 1
        assert jobs.stop(second) is True
        assert jobs.get_job(second).state == "stopped"
        assert not (second / "train.log").exists()  # it never started
    finally:
        jobs.stop(first)
    job = jobs.wait(first, timeout_s=120)
    assert job.state == "stopped"  # stopped while importing or after a step: never "failed"
    assert jobs.pump(tmp_path) == []  # the cancelled run is not started later


def test_stop_sends_sigterm_and_keeps_the_checkpoint(tmp_path):
    run = jobs.launch(tiny_cfg(steps=100_000), root=tmp_path, log_every=2)
    try:
        deadline = time.monotonic() + 120
        while jobs.get_job(run).step < 4:
            assert jobs.get_job(run).state == "running", jobs.log_tail(run)
            assert time.monotonic() < deadline, "trainer did not start"
            time.sleep(0.3)
        pid = jobs.get_job(run).info.status["pid"]
        assert jobs.stop(run) is True
    finally:
        jobs.stop(run)
    job = jobs.wait(run, timeout_s=60)
    assert job.state == "stopped", jobs.log_tail(run)
    assert 4 <= job.step < 100_000 and job.info.checkpoint is not None
    assert 0 < job.epsilon < 10
    from dpinfogan.runs import pid_alive

    deadline = time.monotonic() + 60  # the trainer exits (its supervisor reaps it); slow on a busy machine
    while pid_alive(pid):
        assert time.monotonic() < deadline, "the stopped trainer did not exit"
        time.sleep(0.2)


def _disk_state(run) -> dict:
    return json.loads((run / "status.json").read_text())


def _until(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_queue_runs_itself_without_any_reader(tmp_path, monkeypatch):
    """Nobody pumps the queue here (no page, no list_jobs): each trainer's supervisor starts the next
    run when it ends — finished normally, or SIGKILLed, whose status.json then says where its
    checkpoint is."""
    import signal

    monkeypatch.setenv("DPINFOGAN_MAX_JOBS", "1")
    a = jobs.launch(tiny_cfg(steps=6), root=tmp_path)
    b = jobs.launch(tiny_cfg(steps=100_000), root=tmp_path, log_every=1)
    c = jobs.launch(tiny_cfg(steps=100_000), root=tmp_path)
    try:
        assert _disk_state(b)["state"] == "queued" and jobs.get_job(c).queue_position == 2
        _until(lambda: _disk_state(a)["state"] == "finished", 120, "first run did not finish")
        _until(lambda: _disk_state(b)["state"] == "running" and _disk_state(b).get("step", 0) >= 5
               and (b / "checkpoint.safetensors").is_file(), 120, "second run did not start by itself")
        assert _disk_state(c)["state"] == "queued" and jobs.get_job(c).queue_position == 1
        os.kill(_disk_state(b)["pid"], signal.SIGKILL)  # the trainer, not its supervisor
        _until(lambda: _disk_state(b)["state"] == "failed", 30, "killed run not recorded")
        assert "last checkpoint kept at step" in _disk_state(b)["message"]
        _until(lambda: _disk_state(c)["state"] == "running", 30, "third run did not start by itself")
    finally:
        for r in (a, b, c):
            jobs.stop(r)
    assert jobs.wait(c, timeout_s=120).state == "stopped"


def test_reused_pid_never_blocks_the_queue(tmp_path, monkeypatch):
    """A "running" run whose pid now belongs to another process (here: this test) reads failed, is
    written back as failed on disk, and the queued run behind it starts."""
    from dpinfogan.runs import process_start

    monkeypatch.setenv("DPINFOGAN_MAX_JOBS", "1")
    run = tmp_path / "a-old"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(tiny_cfg().to_dict()))
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": os.getpid(),
                                                 "pid_start": process_start(os.getpid()) + 1, "step": 3}))
    assert jobs.get_job(run).state == "failed"
    assert _disk_state(run)["state"] == "failed" and "no checkpoint was saved" in _disk_state(run)["message"]
    nxt = jobs.launch(tiny_cfg(steps=100_000), root=tmp_path)
    try:
        assert jobs.get_job(nxt).state == "running"
    finally:
        jobs.stop(nxt)
    assert jobs.wait(nxt, timeout_s=120).state == "stopped"


def test_stop_on_a_run_whose_process_is_not_ours_marks_it_stopped(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(tiny_cfg().to_dict()))
    # an old status without a start time, whose pid now belongs to some other live process
    import subprocess

    other = subprocess.Popen(["sleep", "60"])
    try:
        (run / "status.json").write_text(json.dumps({"state": "running", "pid": other.pid, "step": 3}))
        assert jobs.get_job(run).state == "running"  # without a start time the pid is all we know
        assert jobs.stop(run) is True
        assert jobs.get_job(run).state == "stopped" and _disk_state(run)["state"] == "stopped"
        assert other.poll() is None  # the other process was not signalled
    finally:
        other.kill()
        other.wait()


def test_the_worker_leaves_even_when_its_job_left_threads_behind(tmp_path):
    """A crashed Flower simulation leaves non-daemon threads behind: the worker still exits with the
    job's code, so the run does not hold its queue slot forever."""
    import subprocess
    import sys
    from pathlib import Path

    run = tmp_path / "r"
    run.mkdir()
    (run / "job.json").write_text(json.dumps({"kind": "stuck"}))
    code = ("import sys, threading, time\nfrom pathlib import Path\nfrom dpinfogan import worker\n"
            "def stuck(run_dir, job):\n"
            "    threading.Thread(target=time.sleep, args=(3600,)).start()\n"
            "    print('error: simulated crash', file=sys.stderr)\n"
            "    return 2\n"
            "worker.RUNNERS['stuck'] = stuck\nworker.leave(worker.main(Path(sys.argv[1])))\n")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=240, cwd=root)
    assert proc.returncode == 2 and "simulated crash" in proc.stderr
