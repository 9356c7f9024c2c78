"""The queue runs itself: ``python -m dpinfogan.supervisor RUN_DIR`` runs one queued job (its child
``python -m dpinfogan.worker RUN_DIR``, the trainer) and, when the trainer ends for any reason
(finished, stopped, failed, killed), records the ending and starts the next queued run — with no
browser open and no app running.

:func:`dpinfogan.jobs.launch` starts this process (detached, its own session); it starts the trainer
as its child, forwards SIGTERM/SIGINT to it (Stop before the trainer wrote its own pid reaches it),
waits, and then hands over to :func:`dpinfogan.jobs.pump`. While the trainer runs it imports nothing
heavy (no torch), so it costs a few MB.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .paths import PROJECT_ROOT  # no torch: this process stays small while the trainer runs


def run(run_dir: Path) -> int:
    """Run the job in ``run_dir`` to its end, then start the next queued run; returns its exit code."""
    try:
        kind = json.loads((run_dir / "job.json").read_text())["kind"]
    except (OSError, ValueError, KeyError, TypeError):
        kind = None
    # The child reads its kind and settings from the run folder itself (dpinfogan.worker).
    argv = [sys.executable, "-m", "dpinfogan.worker", str(run_dir)] if isinstance(kind, str) else None
    code = None
    if argv is not None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(run_dir / "train.log", "ab") as log:
            proc = subprocess.Popen(argv, cwd=str(PROJECT_ROOT), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

        def forward(signum, frame):  # noqa: ARG001
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass

        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, forward)
        code = proc.wait()
    # The trainer is gone: the heavy imports are fine now.
    from . import jobs
    from .runs import finalize_dead_run, read_json

    status = read_json(run_dir / "status.json") or {}
    if argv is None:
        jobs.mark(run_dir, "failed", "job.json is missing or unreadable")
    elif status.get("state") == "running":
        finalize_dead_run(run_dir, status, exit_code=code)
    jobs.pump(run_dir.parent)
    return 0 if code is None else code


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m dpinfogan.supervisor RUN_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(1 if run(Path(sys.argv[1])) else 0)
