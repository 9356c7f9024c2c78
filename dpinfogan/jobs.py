"""Background jobs: start a training run or a federation as a detached process, queue requests
beyond a small concurrency cap, list runs with their live state, stop a run.

Everything lives on disk in the run folder (see :mod:`dpinfogan.runs`), so a page refresh, a second
browser tab or an app restart finds the same jobs. The settings are the run's ``config.json``,
written here and read back by the child process (:mod:`dpinfogan.worker`): there is no second copy
of them on a command line. Files this module adds to a run folder:

* ``job.json``: the job's kind (``train`` or ``federated``; :data:`dpinfogan.worker.RUNNERS` lists
  the kinds), its log interval, tags, options of its kind (``isolated``: the client a federation
  trains alone afterwards) and when it was requested (the queue is the queued run folders);
* ``train.log``: the child's stdout and stderr, a federation's included (its ``error: ...`` line
  when it fails);
* ``stop_requested``: written by :func:`stop`, so a run killed before its first step reads "stopped".

Each run is started through :mod:`dpinfogan.supervisor`, which starts the next queued run when the
child ends, so the queue moves with no browser open. No Streamlit here: the app's pages call these
functions and poll the folders.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .config import TrainConfig
from .data import OFFLINE
from .fileio import atomic_write_json, float_or
from .paths import PROJECT_ROOT, checkpoints_root, runs_root
from .runs import (JOB_NAME, STOP_NAME, RunInfo, list_runs, new_run_dir, pid_alive, process_alive, process_start,
                   read_json, read_run)

if TYPE_CHECKING:  # for annotations only: see launch_federated
    from .federated.config import FedConfig

LOG_NAME = "train.log"
# Training samples per dataset (train split), to validate δ < 1/N and batch ≤ N without loading data.
TRAIN_SIZES = {OFFLINE: 4000, "mnist": 60000, "fashion-mnist": 60000, "kmnist": 60000}
_children: dict[int, subprocess.Popen] = {}  # reaped on every listing so they never linger as zombies


def max_concurrent() -> int:
    """At most this many trainers at once (``$DPINFOGAN_MAX_JOBS``, default 1: a 2-core laptop)."""
    try:
        return max(1, int(os.environ.get("DPINFOGAN_MAX_JOBS", "1")))
    except ValueError:
        return 1


def queue(
    kind: str,
    config: dict[str, Any],
    *,
    target_steps: int,
    root: Optional[str | os.PathLike] = None,
    name: Optional[str] = None,
    log_every: int = 10,
    tags: Optional[dict[str, Any]] = None,
    options: Optional[dict[str, Any]] = None,
) -> Path:
    """Create a queued job's run folder: ``config.json`` (what the child runs), ``job.json`` (with
    ``options`` of its kind) and a "queued" status. Returns the folder; :func:`pump` starts it.
    ``config`` is checked by the caller."""
    run_dir = new_run_dir(Path(root) if root is not None else runs_root(), name)
    atomic_write_json(run_dir / "config.json", config)  # the trainer rewrites it with derived values
    atomic_write_json(run_dir / JOB_NAME, {**(options or {}), "kind": kind, "log_every": log_every,
                                           "requested": time.time(), "tags": tags or {}})
    atomic_write_json(run_dir / "status.json", {"state": "queued", "step": 0, "target_steps": target_steps,
                                                "epsilon": 0.0, "updated": time.time()})
    return run_dir


def launch(
    cfg: TrainConfig,
    *,
    root: Optional[str | os.PathLike] = None,
    name: Optional[str] = None,
    log_every: int = 10,
    tags: Optional[dict[str, Any]] = None,
) -> Path:
    """Validate ``cfg`` and start its training in the background, or queue it when the cap is reached.

    Returns the run folder. ``ValueError`` (plain message) for an impossible config or an
    unwritable runs folder; nothing is created then.
    """
    if cfg.dataset not in TRAIN_SIZES:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; choose one of: {', '.join(TRAIN_SIZES)}")
    cfg.validate(TRAIN_SIZES[cfg.dataset])
    run_dir = queue("train", cfg.to_dict(), target_steps=cfg.steps, root=root, name=name, log_every=log_every,
                    tags=tags)
    pump(run_dir.parent)
    return run_dir


def launch_federated(fed: FedConfig, *, isolated: Optional[int] = None,
                     root: Optional[str | os.PathLike] = None) -> Path:
    """Validate ``fed`` and its clients' data (``ValueError`` before anything is created), then queue
    it like a training run: Flower's simulation engine in the background, then client ``isolated``
    alone for comparison. Returns the run folder; a stop ends it after the round in progress."""
    # Imported here: the federated task reads checkpoints, which brings opacus and scipy (seconds),
    # and the job supervisor imports this module the moment a trainer dies, to record it.
    from .federated.task import load_partitions

    fed.validate()
    load_partitions(fed)
    if isolated is not None and not 0 <= isolated < fed.clients:
        raise ValueError(f"the isolated client must be in 0..{fed.clients - 1}, got {isolated}")
    run_dir = queue("federated", fed.folder_config(), target_steps=fed.total_steps, root=root,
                    options={"isolated": isolated})
    pump(run_dir.parent)
    return run_dir


def _start(run_dir: Path) -> bool:
    """Start a queued run's supervisor (which starts the trainer); False when another caller claimed
    it first."""
    try:  # claim atomically: two tabs (or a tab and a supervisor) pumping at once must not start it twice
        os.close(os.open(run_dir / ".started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    job = read_json(run_dir / JOB_NAME) or {}
    if not job.get("kind"):
        mark(run_dir, "failed", "job.json is missing or unreadable")
        return True
    with open(run_dir / LOG_NAME, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "dpinfogan.supervisor", str(run_dir)], cwd=str(PROJECT_ROOT),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    _children[proc.pid] = proc
    # "running" with the supervisor's pid (and start time) from the first moment: if it dies, the run
    # reads "failed" instead of hanging in "queued". The trainer replaces them with its own.
    status = read_json(run_dir / "status.json") or {}
    status.update(state="running", pid=proc.pid, pid_start=process_start(proc.pid), started=time.time(),
                  updated=time.time())
    atomic_write_json(run_dir / "status.json", status)
    return True


def mark(run_dir: Path, state: str, message: str) -> None:
    """Write a final state and its reason into a run's status.json."""
    status = read_json(run_dir / "status.json") or {}
    status.update(state=state, message=message, updated=time.time())
    atomic_write_json(run_dir / "status.json", status)


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def pump(root: Optional[str | os.PathLike] = None) -> list[Path]:
    """Start queued runs, oldest first, while fewer than :func:`max_concurrent` are running."""
    _reap()
    runs = list_runs(root)
    # A finished federation whose isolated client still trains holds its slot: the same child runs both.
    active = sum(1 for r in runs if r.state == "running" or (is_federated(r) and isolated_running(r.path)))
    started = []
    for r in sorted((r for r in runs if r.state == "queued"), key=_requested):
        if active >= max_concurrent():
            break
        if _start(r.path):
            started.append(r.path)
            active += 1
    return started


def _requested(r: RunInfo) -> float:
    return float((read_json(r.path / JOB_NAME) or {}).get("requested", 0.0))


@dataclass
class Job:
    """One run folder as the app shows it."""

    info: RunInfo
    state: str  # queued, running, stopping, finished, stopped, failed
    step: int
    target_steps: int
    epsilon: float  # ε spent so far (inf for the non-private baseline)
    eta_s: Optional[float]  # seconds left, from the trainer's own seconds per step
    queue_position: Optional[int] = None  # 1 = next to start
    message: str = ""  # why it failed, when known

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.target_steps) if self.target_steps > 0 else 0.0

    @property
    def tags(self) -> dict[str, Any]:
        return (read_json(self.path / JOB_NAME) or {}).get("tags", {})


def job_of(info: RunInfo) -> Job:
    """Refine a run's on-disk state with what the app knows (stop requests, logs, ETA)."""
    st = info.status
    state = info.state
    stop_asked = (info.path / STOP_NAME).exists()
    if state == "running" and stop_asked:
        state = "stopping"
    elif state == "failed" and stop_asked and st.get("state") == "running":
        state = "stopped"  # killed before it could handle the signal (still importing): nothing lost
    last = info.metrics[-1] if info.metrics else {}
    step = int(last.get("step", st.get("step", 0)) or 0)
    if state in ("finished", "stopped"):
        step = int(st.get("step", step) or step)
    target = int(st.get("target_steps") or last.get("target_steps") or info.config.get("steps") or 0)
    eps = float_or(st.get("epsilon", last.get("epsilon", 0.0)))
    if last and state not in ("finished", "stopped", "failed"):
        eps = float_or(last.get("epsilon", eps))
    eta = None
    if state in ("running", "stopping") and last.get("elapsed") and step > 0:
        eta = max(0.0, (target - step) * float(last["elapsed"]) / step)
    message = str(st.get("message", ""))
    if state == "failed":  # the trainer's own "error: ..." line says more than "ended unexpectedly"
        said = [ln for ln in log_tail(info.path, 5).splitlines() if ln.startswith("error:")]
        message = "; ".join(filter(None, [message, *said[-1:]])) or log_tail(info.path, 3) \
            or "the training process ended without saying why"
    if info.error:
        state, message = "failed", info.error
    return Job(info, state, step, target, eps, eta, message=message)


def list_jobs(root: Optional[str | os.PathLike] = None, pump_queue: bool = True) -> list[Job]:
    """All runs (newest first) with state; starts queued runs when a slot is free."""
    if pump_queue:
        pump(root)
    jobs = [job_of(r) for r in list_runs(root)]
    queued = sorted((j for j in jobs if j.state == "queued"), key=lambda j: _requested(j.info))
    for i, j in enumerate(queued, 1):
        j.queue_position = i
    return jobs


def get_job(run_dir: str | os.PathLike) -> Job:
    """One run's job, with its queue position (1 = next) when it is queued."""
    job = job_of(read_run(run_dir))
    if job.state == "queued":
        ahead = [r for r in list_runs(Path(run_dir).parent) if r.state == "queued"]
        mine = _requested(job.info)
        job.queue_position = 1 + sum(1 for r in ahead if r.path != job.path
                                     and (_requested(r), r.path.name) < (mine, job.path.name))
    return job


def is_federated(info: RunInfo) -> bool:
    return isinstance(info.config.get("federated"), dict)


def list_federated(root: Optional[str | os.PathLike] = None) -> list[Job]:
    """Federated runs under the runs root (newest first; queued runs start when a slot is free),
    then the finished example runs shipped in ``checkpoints/federated/`` (so the Federated page has
    something to show before any training)."""
    shipped = [job_of(r) for r in list_runs(checkpoints_root() / "federated") if is_federated(r) and r.error is None]
    return [j for j in list_jobs(root) if is_federated(j.info)] + shipped


def isolated_running(run_dir: str | os.PathLike, client: int = 0) -> bool:
    """True while a federation's isolated-client baseline (trained after it) is still training."""
    iso = read_run(Path(run_dir) / "isolated" / f"client-{client}")
    return iso.error is None and iso.state == "running"


def log_tail(run_dir: str | os.PathLike, lines: int = 20) -> str:
    """The last lines of the trainer's log ("" when there is none)."""
    try:
        text = (Path(run_dir) / LOG_NAME).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _is_our_trainer(pid: int, start: Optional[int]) -> bool:
    """Only signal the process that wrote the status: same pid *and* start time (pids get reused)."""
    if start is not None:
        return process_alive(pid, start)
    try:  # a status from before start times were recorded: check the command line
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)  # no /proc (macOS): trust the pid the trainer wrote itself
    return b"dpinfogan" in cmd


def stop(run_dir: str | os.PathLike) -> bool:
    """Stop a run: SIGTERM to a running trainer (it finishes its step and saves a checkpoint),
    or cancel a queued one. Returns False when there was nothing to stop."""
    run_dir = Path(run_dir)
    job = get_job(run_dir)
    if job.state == "queued":
        try:  # claim it so no pump starts it while we cancel
            os.close(os.open(run_dir / ".started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return stop(run_dir) if get_job(run_dir).state != "queued" else False
        atomic_write_json(run_dir / "status.json", {**job.info.status, "state": "stopped",
                                                    "message": "cancelled before it started", "updated": time.time()})
        return True
    if job.state not in ("running", "stopping"):
        return False
    (run_dir / STOP_NAME).write_text(str(time.time()))
    pid = int(job.info.status.get("pid", 0) or 0)
    if pid <= 0 or not _is_our_trainer(pid, job.info.status.get("pid_start")):
        mark(run_dir, "stopped", "stopped: its process was already gone")  # a dead run never blocks the queue
        pump(run_dir.parent)
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        mark(run_dir, "stopped", "stopped: its process was already gone")
    return True


def wait(run_dir: str | os.PathLike, timeout_s: float = 60.0, poll_s: float = 0.2) -> Job:
    """Block until the run leaves queued/running/stopping (for scripts and tests)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pump(Path(run_dir).parent)
        job = get_job(run_dir)
        if job.state not in ("queued", "running", "stopping") or time.monotonic() > deadline:
            return job
        time.sleep(poll_s)
