"""Bad-input battery: odd and wrong inputs on the app's four surfaces, each judged as a new user would.

    .venv/bin/python -W ignore benchmarks/bad_inputs.py [--surface ui|url|files|cli] [--verbose]

* **UI** — every number field of the Train page (and the sweep's steps) in Streamlit's AppTest;
* **URL** — Latent explorer links with odd parameters;
* **files** — odd checkpoints and run files in the app's folders, seen by Home, Latent explorer,
  Privacy vs quality, Train, and by ``info`` / ``sample`` on the command line;
* **CLI** — bad options and garbage data files under ``$DPINFOGAN_DATA``.

Each input expects either *refuse* (a clear message, nothing done) or *accept* (and the value used is
checked). An outcome is a **traceback** when an exception escapes, the page shows one, or a message
shows a server path; **silently wrong** when a refused input goes through without a word, or an
accepted one is used with another value. Exit code 1 when any input is either.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SURFACES = ("ui", "url", "files", "cli")
sys.path.insert(0, str(ROOT / "benchmarks"))
from bad_input_cases import (CKPT_CASES, FEDERATED_BAD, GARBAGE, RAW_CASES, RUN_CASES, TINY, TRAIN_BAD, URL_CASES,  # noqa: E402
                             odd_checkpoint, ui_cases)


@dataclass
class Outcome:
    surface: str
    case: str
    expect: str  # "refuse" or "accept"
    clear: bool = False  # refused with a message that says what is wrong / accepted with the right value
    traceback: bool = False
    silently_wrong: bool = False
    detail: str = ""


def _leaks(text: str, tmp: Path) -> bool:
    """A message shows a traceback or a server path."""
    return "Traceback" in text or str(tmp) in text or str(ROOT) in text


# ---------------------------------------------------------------- UI: the Train page's fields
def run_ui(tmp: Path) -> list[Outcome]:
    from streamlit.testing.v1 import AppTest

    from dpinfogan.inputs import TRAIN_FIELDS

    out = []
    at = AppTest.from_file(str(ROOT / "pages/1_Train.py"), default_timeout=120)
    at.run()
    for key, text, expect, caption in ui_cases():
        o = Outcome("ui", f"Train · {TRAIN_FIELDS[key].label[:28]} = {text!r}", expect)
        try:
            at.text_input(key=key).set_value(text).run()
            errors = [e.value for e in at.error]
            shown = " ".join(errors + [c.value for c in at.caption])
            o.traceback = bool(at.exception) or _leaks(shown, tmp)
            disabled = at.button(key="train_start").disabled
            if expect == "refuse":
                o.clear = disabled and any(TRAIN_FIELDS[key].label in e or "dataset" in e for e in errors)
                o.silently_wrong = not disabled
            else:
                ok = not errors and not disabled and (caption is None or caption in shown)
                o.clear, o.silently_wrong = ok, not ok
            o.detail = "; ".join(errors)[:120]
        except Exception as e:  # noqa: BLE001 - the battery records it
            o.traceback, o.detail = True, repr(e)[:120]
        finally:
            at.text_input(key=key).set_value(TRAIN_FIELDS[key].text()).run()
        out.append(o)
    at = AppTest.from_file(str(ROOT / "pages/2_Privacy_vs_quality.py"), default_timeout=120)
    at.run()
    for text in ("10", "-5", "abc", "", "1e9", "12.5"):
        o = Outcome("ui", f"Privacy vs quality · sweep steps = {text!r}", "refuse")
        at.text_input(key="pq_sweep_steps").set_value(text).run()
        errors = [e.value for e in at.error]
        o.traceback = bool(at.exception) or _leaks(" ".join(errors), tmp)
        o.clear = at.button(key="pq_sweep").disabled and any("Steps per sweep run" in e for e in errors)
        o.silently_wrong = not at.button(key="pq_sweep").disabled
        out.append(o)
    return out


# ---------------------------------------------------------------- URL: explorer links
def run_url(tmp: Path) -> list[Outcome]:
    from streamlit.testing.v1 import AppTest

    widget = {"digit": "segmented_control", "seed": "number_input", "c1": "slider", "c2": "slider",
              "models": "multiselect"}
    out = []
    for query, expect, want in URL_CASES:
        o = Outcome("url", "explorer ?" + "&".join(f"{k}={v}" for k, v in query.items()), expect)
        try:
            at = AppTest.from_file(str(ROOT / "pages/3_Latent_explorer.py"), default_timeout=120)
            for k, v in query.items():
                at.query_params[k] = v
            at.run()
            notes = [w.value for w in at.warning]
            o.traceback = bool(at.exception) or _leaks(" ".join(notes + [e.value for e in at.error]), tmp)
            got = {k: getattr(at, widget[k])(key=k).value for k in want}
            right = all(got[k] == v for k, v in want.items())
            noted = any("Link adjusted" in n for n in notes)
            o.clear = right and (noted if expect == "refuse" else not noted)
            o.silently_wrong = not right or (expect == "refuse" and not noted)
            o.detail = f"{got} {notes}"[:160]
        except Exception as e:  # noqa: BLE001
            o.traceback, o.detail = True, repr(e)[:120]
        out.append(o)
    return out


# ---------------------------------------------------------------- files: odd checkpoints and runs
def _cli(argv: list[str]) -> tuple[Optional[int], str, bool]:
    """(exit code, stderr + stdout, raised) of ``python -m dpinfogan ARGV``, in this process."""
    from dpinfogan.cli import main

    err, outp = io.StringIO(), io.StringIO()
    raised = False
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outp):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
        except Exception as e:  # noqa: BLE001 - a traceback for the user
            code, raised = None, True
            err.write(f"Traceback: {e!r}")
    return code, err.getvalue() + outp.getvalue(), raised


def run_files(tmp: Path, good: Path) -> list[Outcome]:
    from streamlit.testing.v1 import AppTest

    from dpinfogan import jobs
    from dpinfogan.catalog import discover_zoo

    zoo, runs = Path(os.environ["DPINFOGAN_CHECKPOINTS"]), Path(os.environ["DPINFOGAN_RUNS"])
    out = []
    cases = [(n, m, None) for n, m in CKPT_CASES] + [(n, None, r) for n, r in RAW_CASES]
    files = {}
    for i, (name, mutate, raw) in enumerate(cases):
        dst = zoo / f"odd-{i:02d}.safetensors"
        odd_checkpoint(good, dst, mutate, raw, name)
        files[dst.name] = name
    by_name = {e.path.name: e for e in discover_zoo(zoo)}
    import streamlit as st

    st.cache_data.clear()  # the pages rescan their folders every 5 s; the URL phase just scanned this one
    # every page once, with all the odd files in its folders
    pages = {}
    for page in ("app.py", "pages/3_Latent_explorer.py", "pages/2_Privacy_vs_quality.py"):
        at = AppTest.from_file(str(ROOT / page), default_timeout=300)
        if page == "pages/3_Latent_explorer.py":
            at.query_params["models"] = [f"zoo:{Path(f).stem}" for f in files]  # even when asked for by the link
        at.run()
        text = " ".join(x.value for kind in ("warning", "error", "caption", "exception") for x in getattr(at, kind))
        text += " ".join(str(getattr(x, "label", "")) for x in at.get("expandable"))
        pages[page] = (bool(at.exception), text)
    for fname, name in files.items():
        o = Outcome("files", f"checkpoint: {name}", "refuse")
        e = by_name.get(fname)
        path = zoo / fname
        info = _cli(["info", str(path)])
        sample = _cli(["sample", str(path), "--n", "4", "--out", str(tmp / "s.npz")])
        o.traceback = info[2] or sample[2] or any(exc for exc, _ in pages.values())
        o.traceback |= bool(e and e.error and _leaks(e.error, tmp))
        skipped = bool(e and e.error)
        cli_ok = sample[0] == 2 and "error:" in sample[1] and info[0] == 2
        on_pages = all(fname in text for _, text in pages.values())
        o.clear = skipped and cli_ok and on_pages
        o.silently_wrong = not skipped or sample[0] == 0
        o.detail = (e.error if e and e.error else f"info rc {info[0]}, sample rc {sample[0]}")[:140]
        if not on_pages:
            o.detail += " | not named on: " + ", ".join(p for p, (_, t) in pages.items() if fname not in t)
        out.append(o)
        path.unlink()
    shutil.copy(good, zoo / "good-eps10.safetensors")
    for case, fname, content in RUN_CASES:
        o = Outcome("files", f"run: {case}", "refuse")
        run = runs / "odd-run"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        from dpinfogan.config import TrainConfig

        (run / "config.json").write_text(json.dumps(TrainConfig(dataset="offline-digits").to_dict()))
        (run / "status.json").write_text('{"state": "finished", "step": 3}')
        shutil.copy(good, run / "checkpoint.safetensors")
        target = run / ("checkpoint.eval.json" if fname == "eval" else fname)
        target.write_text(content)
        try:
            listed = {j.id: j for j in jobs.list_jobs(runs, pump_queue=False)}
            at = AppTest.from_file(str(ROOT / "pages/1_Train.py"), default_timeout=120).run()
            at2 = AppTest.from_file(str(ROOT / "pages/2_Privacy_vs_quality.py"), default_timeout=120).run()
            shown = " ".join(x.value for a in (at, at2) for x in [*a.error, *a.warning, *a.caption])
            o.traceback = bool(at.exception or at2.exception) or _leaks(shown, tmp)
            j = listed.get("odd-run")
            if fname == "eval":
                o.clear = "checkpoint.eval.json` skipped" in shown
            elif "pid 2⁴⁰" in case:
                o.clear = j is not None and j.state == "failed" and ("ended unexpectedly" in j.message
                                                                      or "skipped" in j.message)
            else:
                o.clear = j is not None and j.state == "failed" and ("skipped" in j.message or "unreadable" in j.message)
            o.silently_wrong = not o.clear
            o.detail = (j.message if j else "")[:140]
        except Exception as e:  # noqa: BLE001
            o.traceback, o.detail = True, repr(e)[:140]
        out.append(o)
    shutil.rmtree(runs / "odd-run", ignore_errors=True)
    return out


# ---------------------------------------------------------------- CLI: options and data files
def run_cli(tmp: Path, good: Path) -> list[Outcome]:
    cases: list[tuple[str, list[str], str, Optional[Callable[[], bool]]]] = []
    for extra in TRAIN_BAD:
        cases.append((f"train {' '.join(extra)}", ["train", *TINY, *extra, "--run-dir", str(tmp / "r")], "refuse", None))
    for extra in FEDERATED_BAD:
        cases.append((f"federated {' '.join(extra)}", ["federated", "--dataset", "offline-digits", "--preview", *extra,
                                                      "--run-dir", str(tmp / "r")], "refuse", None))
    npz = tmp / "s.npz"
    for argv in (["--n", "0"], ["--n", "-5"], ["--n", "1000000000"], ["--n", "abc"], ["--code", "99"],
                 ["--code", "-1"], ["--seed", "-1"], ["--out", str(tmp / "s.txt")], ["--png", "/proc/nope/x.png"]):
        full = ["sample", str(good), "--out", str(npz), *argv] if "--out" not in argv else ["sample", str(good), *argv]
        cases.append((f"sample {' '.join(argv)}", full, "refuse", None))
    cases += [
        ("sample --n 1e3", ["sample", str(good), "--n", "1e3", "--out", str(npz)], "accept",
         lambda: __import__("numpy").load(npz)["images"].shape[0] == 1000),
        ("sample missing checkpoint", ["sample", str(tmp / "nope.safetensors"), "--out", str(npz)], "refuse", None),
        ("info on a folder", ["info", str(tmp)], "refuse", None), ("info on /dev/null", ["info", "/dev/null"], "refuse", None),
        ("info missing file", ["info", str(tmp / "nope.safetensors")], "refuse", None),
        ("evaluate --n 0", ["evaluate", str(good), "--n", "0"], "refuse", None),
        ("evaluate --threads -1", ["evaluate", str(good), "--threads", "-1"], "refuse", None),
        ("evaluate --cas-samples 0", ["evaluate", str(good), "--cas-samples", "0"], "refuse", None),
        ("attack --n-generated 0", ["attack", str(good), "--n-generated", "0"], "refuse", None),
        ("attack --lab-size 0", ["attack", str(good), "--lab-size", "0"], "refuse", None),
        ("attack --threads 100000", ["attack", str(good), "--threads", "100000"], "refuse", None),
        ("attack missing members file", ["attack", str(good), "--members", str(tmp / "m.npz"),
                                         "--nonmembers", str(tmp / "n.npz"), "--no-write"], "refuse", None),
        ("export to .txt", ["export", str(good), str(tmp / "x.txt")], "refuse", None),
        ("export missing checkpoint", ["export", str(tmp / "nope.safetensors"), str(tmp / "x.safetensors")], "refuse", None),
        ("sweep --epsilons 0", ["sweep", "--epsilons", "0", "--out", str(tmp / "sw")], "refuse", None),
        ("sweep --threads -1", ["sweep", "--epsilons", "1", "--threads", "-1", "--out", str(tmp / "sw")], "refuse", None),
        ("sweep --steps 0", ["sweep", "--epsilons", "1", "--steps", "0", "--out", str(tmp / "sw")], "refuse", None),
        ("train-evaluator --threads -1", ["train-evaluator", "--threads", "-1"], "refuse", None),
        ("train-evaluator --epochs 0", ["train-evaluator", "--epochs", "0"], "refuse", None),
        ("unknown command", ["fly"], "refuse", None),
    ]
    out = []
    for case, argv, expect, check in cases:
        out.append(_judge_cli("cli", case, argv, expect, check, tmp))
    data = tmp / "garbage-data"
    old = os.environ.get("DPINFOGAN_DATA")
    os.environ["DPINFOGAN_DATA"] = str(data)
    try:
        for folder in ("MNIST", "FashionMNIST"):
            for name, make in GARBAGE.items():
                shutil.rmtree(data, ignore_errors=True)
                raw = data / folder / "raw"
                raw.mkdir(parents=True)
                for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                          "t10k-labels-idx1-ubyte"):
                    (raw / f).write_bytes(make(f))
                ds = "mnist" if folder == "MNIST" else "fashion-mnist"
                argv = ["train", *TINY[2:], "--dataset", ds, "--run-dir", str(tmp / "r")]
                out.append(_judge_cli("cli", f"$DPINFOGAN_DATA {folder}: {name}", argv, "refuse", None, tmp))
    finally:
        os.environ["DPINFOGAN_DATA"] = old or ""
    return out


def _judge_cli(surface: str, case: str, argv: list[str], expect: str, check, tmp: Path) -> Outcome:
    o = Outcome(surface, case, expect)
    code, text, raised = _cli(argv)
    o.traceback = raised or "Traceback" in text
    if expect == "refuse":
        o.clear = code == 2 and "error" in text and not (tmp / "r").exists()
        o.silently_wrong = code == 0
    else:
        o.clear = code == 0 and (check is None or check())
        o.silently_wrong = not o.clear
    o.detail = text.strip().splitlines()[-1][:140] if text.strip() else f"exit {code}"
    shutil.rmtree(tmp / "r", ignore_errors=True)
    return o


# ---------------------------------------------------------------- report
def table(results: list[Outcome]) -> str:
    rows = ["| surface | inputs | clear message / right value | traceback | silently wrong |", "|---|---:|---:|---:|---:|"]
    for s in SURFACES + ("all",):
        rs = [r for r in results if s in ("all", r.surface)]
        if rs:
            rows.append(f"| {s} | {len(rs)} | {sum(r.clear for r in rs)} | {sum(r.traceback for r in rs)} | "
                        f"{sum(r.silently_wrong for r in rs)} |")
    return "\n".join(rows)


def run(surfaces=SURFACES, verbose: bool = False) -> list[Outcome]:
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    results: list[Outcome] = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        os.environ.update(DPINFOGAN_CHECKPOINTS=str(tmp / "zoo"), DPINFOGAN_RUNS=str(tmp / "runs"),
                          DPINFOGAN_OFFLINE="1", DPINFOGAN_DATA=str(tmp / "no-data"),
                          DPINFOGAN_REFERENCES=str(tmp / "refs.json"))
        (tmp / "zoo").mkdir()
        good = ROOT / "checkpoints" / "mnist-labels-eps10.safetensors"
        for name in ("good-eps10", "good-eps1"):
            shutil.copy(ROOT / "checkpoints" / f"mnist-labels-{name[5:]}.safetensors", tmp / "zoo" / f"{name}.safetensors")
        for s in surfaces:
            got = {"ui": run_ui, "url": run_url}.get(s, lambda p: None)(tmp) if s in ("ui", "url") else \
                (run_files(tmp, good) if s == "files" else run_cli(tmp, good))
            results += got
    bad = [r for r in results if r.traceback or r.silently_wrong or not r.clear]
    if verbose or bad:
        for r in (results if verbose else bad):
            flag = "TRACEBACK" if r.traceback else "SILENT" if r.silently_wrong else "unclear" if not r.clear else "ok"
            print(f"{flag:9} {r.surface:5} {r.case[:70]:70} {r.detail}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--surface", choices=SURFACES, action="append", help="only these surfaces (default: all)")
    ap.add_argument("--verbose", action="store_true", help="print every input, not only the failures")
    a = ap.parse_args()
    results = run(tuple(a.surface or SURFACES), a.verbose)
    print(table(results))
    sys.exit(1 if any(r.traceback or r.silently_wrong for r in results) else 0)


if __name__ == "__main__":
    main()
