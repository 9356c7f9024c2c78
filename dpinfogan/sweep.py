"""ε-versus-quality sweeps: train and evaluate one model per target ε, and the table they make.

A sweep folder holds one run folder per ε (``eps-1/``, ``eps-inf/``, ...; each a normal run folder
written by :func:`dpinfogan.train.train`) plus ``sweep.csv`` and ``sweep.json``, both rewritten
atomically after every step of progress. Running the same sweep again skips the ε values whose run
finished and whose evaluation matches the checkpoint, resumes a stopped run from its checkpoint,
and so picks up where a killed sweep left off.
"""
from __future__ import annotations

import csv
import io
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from .checkpoint import load_checkpoint, read_metadata
from .config import TrainConfig
from .data import ImageData, load_dataset
from .fileio import atomic_write_bytes, atomic_write_json, file_sha256, float_or, jsonable
from .metrics import CAS_ARCH, CAS_EPOCHS, evaluate_checkpoint
from .paths import eval_json_path, evaluator_path
from .runs import CHECKPOINT_NAME, read_json
from .train import train

COLUMNS = (
    "epsilon_target", "epsilon", "delta", "sigma", "steps", "seconds",
    "fid_evaluator", "inception_score", "cas", "code_accuracy",
    "dataset", "code_mode", "real_test", "evaluator_version", "n_samples", "cas_samples", "eval_seconds",
    "checkpoint",
)


def eps_tag(epsilon: float) -> str:
    """Folder name of one ε: ``eps-1``, ``eps-0.5``, ``eps-inf``."""
    return "eps-inf" if math.isinf(epsilon) else f"eps-{epsilon:g}"


def row_from_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """One table row from a checkpoint's metadata and its ``.eval.json`` (metrics empty if none)."""
    path = Path(path)
    meta = read_metadata(path)
    pr, tr = meta.get("privacy", {}), meta.get("training", {})
    target = pr.get("target_epsilon")
    row: dict[str, Any] = {
        "epsilon_target": float_or(target, None),
        "epsilon": float_or(pr.get("epsilon"), None),
        "delta": pr.get("delta"),
        "sigma": pr.get("noise_multiplier"),
        "steps": tr.get("steps"),
        "seconds": tr.get("seconds"),
        "dataset": meta.get("dataset"),
        "code_mode": meta.get("code_mode"),
        "checkpoint": str(path),
    }
    ev = read_json(eval_json_path(path))
    if ev is not None and ev.get("format") == "dpinfogan-eval":
        m = ev.get("metrics", {})
        row.update({k: m.get(k) for k in ("fid_evaluator", "inception_score", "cas", "code_accuracy")})
        row.update({
            "real_test": ev.get("real_test", {}).get("dataset"),
            "evaluator_version": ev.get("evaluator", {}).get("version"),
            "n_samples": ev.get("n_samples"),
            "cas_samples": ev.get("cas_samples"),
            "eval_seconds": ev.get("timing", {}).get("total_s"),
        })
    return {k: row.get(k) for k in COLUMNS}


def table_from_checkpoints(paths: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """The sweep table for existing checkpoints (+ their .eval.json), sorted by ε (∞ last)."""
    rows = [row_from_checkpoint(p) for p in paths]
    return sorted(rows, key=lambda r: (r["epsilon"] if r["epsilon"] is not None else math.inf, r["checkpoint"]))


def table_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV text with the :data:`COLUMNS` header; ∞ is written ``inf``, missing values empty."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else jsonable(r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def write_table(out_dir: str | os.PathLike, rows: Sequence[dict[str, Any]], **extra: Any) -> None:
    """Atomically (re)write ``sweep.csv`` and ``sweep.json`` (rows + any extra keys)."""
    out = Path(out_dir)
    atomic_write_bytes(out / "sweep.csv", table_csv(rows).encode())
    atomic_write_json(out / "sweep.json", {"columns": list(COLUMNS), "rows": list(rows), **extra})


def read_table(out_dir: str | os.PathLike) -> dict[str, Any]:
    """``sweep.json`` of a sweep folder, with "inf" strings turned back into floats."""
    data = read_json(Path(out_dir) / "sweep.json")
    if data is None:
        raise ValueError(f"no readable sweep.json in {out_dir}")
    for r in data.get("rows", []):
        for k in ("epsilon_target", "epsilon"):
            if isinstance(r.get(k), str):
                r[k] = float(r[k])
    return data


def run_sweep(
    epsilons: Sequence[float],
    base: TrainConfig,
    data: ImageData,
    out_dir: str | os.PathLike,
    *,
    eval_kwargs: Optional[dict[str, Any]] = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train (with :func:`dpinfogan.train.train`) and evaluate one model per target ε.

    Args:
        epsilons: target ε values (``math.inf`` = the non-private baseline), at ``base``'s δ.
        base: the training config shared by all runs; only ``privacy.epsilon`` changes.
        data: the real training images.
        out_dir: the sweep folder; an existing one with the same settings is resumed.
        eval_kwargs: keyword arguments of :func:`dpinfogan.metrics.evaluate_checkpoint`
            (``n``, ``cas_samples``, ``skip_cas``, ``evaluator``, ...).
    Returns:
        The table rows, in the order of ``epsilons``.
    """
    if not epsilons:
        raise ValueError("give at least one ε")
    if len(set(epsilons)) != len(epsilons):
        raise ValueError(f"each ε may appear once, got {list(epsilons)}")
    base.validate(len(data))
    eval_kwargs = dict(eval_kwargs or {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"config": {**base.to_dict(), "privacy": {**base.to_dict()["privacy"], "epsilon": None}},
                "data": data.name, "evaluation": {k: str(v) for k, v in sorted(eval_kwargs.items())}}
    old = read_json(out / "sweep.json")
    if old is not None and old.get("settings") not in (None, jsonable(settings)):
        raise ValueError(f"sweep folder {out} was started with different settings; use a new --out folder")
    total, rows, t0 = len(epsilons), {}, time.perf_counter()
    expected_cas = None if eval_kwargs.get("skip_cas") else {
        "arch": asdict(CAS_ARCH), "epochs": float(eval_kwargs.get("cas_epochs", CAS_EPOCHS))}
    ev_arg = eval_kwargs.get("evaluator")
    evaluator_file = Path(getattr(ev_arg, "path", None) or ev_arg or evaluator_path(base.dataset))
    if not evaluator_file.is_file():  # fail now, not after training the first model
        raise ValueError(f"evaluator not found: {evaluator_file} (train one with `python -m dpinfogan train-evaluator`)")

    def publish(state: str, current: Optional[float] = None, **info: Any) -> None:
        done = [rows[e] for e in epsilons if e in rows]
        write_table(out, done, settings=settings, progress={
            "state": state, "done": len(done), "total": total, "current_epsilon": current,
            "elapsed_s": round(time.perf_counter() - t0, 1), "updated": time.time(), "pid": os.getpid(), **info})

    for i, eps in enumerate(epsilons, 1):
        run_dir = out / eps_tag(eps)
        ck_path = run_dir / CHECKPOINT_NAME
        status = read_json(run_dir / "status.json") or {}
        head = f"[{i}/{total}] ε = {eps:g}"
        if status.get("state") == "finished" and ck_path.is_file():
            log(f"{head}: trained already ({status.get('step')} steps), skipping training")
        else:
            cfg = TrainConfig.from_dict(base.to_dict())
            cfg.privacy.epsilon = eps
            resume = None
            if ck_path.is_file():
                resume = load_checkpoint(ck_path)
                log(f"{head}: resuming from step {resume.meta['training'].get('steps')}")
            elif run_dir.exists():
                shutil.rmtree(run_dir)  # killed before its first checkpoint: start it afresh
            publish("running", eps, phase="training", step=0)
            marks = {"next": 0.0}

            def on_log(rec: dict, eps=eps, head=head) -> None:
                frac = rec["step"] / max(rec["target_steps"], 1)
                if frac >= marks["next"] or rec["step"] >= rec["target_steps"]:
                    marks["next"] = frac + 0.1
                    log(f"{head}: step {rec['step']}/{rec['target_steps']}, ε spent {rec['epsilon']:.3g}, "
                        f"{rec['elapsed']:.0f} s")
                    publish("running", eps, phase="training", step=rec["step"], target_steps=rec["target_steps"])

            res = train(cfg, data, run_dir, resume=resume, on_log=on_log)
            if res.state != "finished":
                publish("stopped", eps)
                raise KeyboardInterrupt(f"sweep stopped during ε = {eps:g}; run it again to resume")
            log(f"{head}: trained {res.steps} steps in {res.seconds:.0f} s, ε spent {res.epsilon:.4g}")
        ev = read_json(eval_json_path(ck_path))
        fresh = False
        if ev is not None:  # up to date = same checkpoint bytes, measured with the same evaluator file
            fresh = (ev.get("checkpoint_sha256") == file_sha256(ck_path)
                     and ev.get("evaluator", {}).get("sha256") == file_sha256(evaluator_file)
                     and ev.get("cas_classifier") == expected_cas)  # same CAS protocol
        if fresh:
            log(f"{head}: evaluated already")
        else:
            publish("running", eps, phase="evaluating")
            log(f"{head}: evaluating")
            if "real" not in eval_kwargs:  # load the real test set once for the whole sweep
                eval_kwargs["real"] = load_dataset(base.dataset, train=False, download=False)
            evaluate_checkpoint(ck_path, seed=base.seed, **eval_kwargs, log=lambda m, h=head: log(f"{h}: {m}"))
        rows[eps] = row_from_checkpoint(ck_path)
        r = rows[eps]
        log(f"{head}: done — " + ", ".join(
            f"{k} {r[k]:.4g}" for k in ("fid_evaluator", "inception_score", "cas", "code_accuracy") if r[k] is not None))
        publish("running" if i < total else "finished", None if i == total else eps)
    return [rows[e] for e in epsilons]




def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    """A compact text table: ε target, ε spent, σ, steps, time and the four metrics."""
    def f(v: Any, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    lines = [f"{'ε target':>9} {'ε spent':>8} {'σ':>7} {'steps':>6} {'train s':>8} {'FID(ev)':>8} {'IS':>6} "
             f"{'CAS %':>6} {'code %':>7}"]
    for r in rows:
        cas = None if r["cas"] is None else r["cas"] * 100
        code = None if r["code_accuracy"] is None else r["code_accuracy"] * 100
        lines.append(f"{f(r['epsilon_target'], 'g'):>9} {f(r['epsilon'], '.3g'):>8} {f(r['sigma'], '.3g'):>7} "
                     f"{f(r['steps'], 'd'):>6} {f(r['seconds'], '.0f'):>8} {f(r['fid_evaluator'], '.2f'):>8} "
                     f"{f(r['inception_score'], '.2f'):>6} {f(cas, '.1f'):>6} {f(code, '.1f'):>7}")
    return "\n".join(lines)
