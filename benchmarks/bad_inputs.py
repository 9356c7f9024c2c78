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
import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SURFACES = ("ui", "url", "files", "cli")


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
def ui_cases() -> list[tuple[str, str, str, Optional[str]]]:
    """(field key, typed text, expect, expected "passes" caption for accepted steps/batch)."""
    from dpinfogan.inputs import TRAIN_FIELDS

    cases = []
    for key, f in TRAIN_FIELDS.items():
        bad = ["abc", "", "nan", "inf", "1e400", str(f.hi * 10 if f.hi else 1), "-1" if f.lo >= 0 else "-1e9"]
        bad.append(str(f.lo - 1) if f.whole else ("0" if f.lo_open else "-0.5"))
        if f.whole:
            bad += ["1.5", "2.5e0"]
        for text in dict.fromkeys(bad):
            cases.append((key, text, "refuse", None))
    # odd but valid: the value used must be exactly the one meant (caption: passes = steps·batch/N)
    cases += [("train_steps", "1e3", "accept", "≈ 16.0 passes"), ("train_steps", " 1,000 ", "accept", "≈ 16.0 passes"),
              ("train_steps", "1000.0", "accept", "≈ 16.0 passes"), ("train_batch", "32", "accept", "≈ 2.4 passes"),
              ("train_batch", "4000", "accept", "≈ 300.0 passes"), ("train_lr_d", "2E-4", "accept", None),
              ("train_sigma", "0", "accept", None), ("train_seed", "2147483647", "accept", None),
              ("train_batch", "4096", "refuse", None)]  # within the field's range but larger than N = 4,000
    return cases


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
URL_CASES: list[tuple[dict, str, dict]] = [  # (query, expect, the widget values that must result)
    ({"digit": "99"}, "refuse", {"digit": 9}), ({"digit": "-1"}, "refuse", {"digit": 0}),
    ({"digit": "abc"}, "refuse", {"digit": 0}), ({"digit": "2.7"}, "refuse", {"digit": 2}),
    ({"digit": ""}, "refuse", {"digit": 0}), ({"digit": "1e400"}, "refuse", {"digit": 0}),
    ({"digit": "nan"}, "refuse", {"digit": 0}), ({"digit": "10"}, "refuse", {"digit": 9}),
    ({"digit": "7"}, "accept", {"digit": 7}), ({"digit": " 3 "}, "accept", {"digit": 3}),
    ({"seed": "-5"}, "refuse", {"seed": 0}), ({"seed": "abc"}, "refuse", {"seed": 0}),
    ({"seed": "5.5"}, "refuse", {"seed": 5}), ({"seed": "1e30"}, "refuse", {"seed": 10**9}),
    ({"seed": "inf"}, "refuse", {"seed": 0}), ({"seed": "42"}, "accept", {"seed": 42}),
    ({"seed": "1000000000"}, "accept", {"seed": 10**9}),
    ({"c1": "9"}, "refuse", {"c1": 2.0}), ({"c1": "-9"}, "refuse", {"c1": -2.0}),
    ({"c1": "abc"}, "refuse", {"c1": 0.0}), ({"c1": "nan"}, "refuse", {"c1": 0.0}),
    ({"c1": "-inf"}, "refuse", {"c1": 0.0}), ({"c2": "1e9"}, "refuse", {"c2": 2.0}),
    ({"c1": "0.35"}, "accept", {"c1": 0.35}), ({"c2": "-1.5"}, "accept", {"c2": -1.5}),
    ({"models": "zoo:nope"}, "refuse", {"models": ["zoo:good-eps10"]}),
    ({"models": "../../etc/passwd"}, "refuse", {"models": ["zoo:good-eps10"]}),
    ({"models": ["zoo:nope", "zoo:good-eps1"]}, "refuse", {"models": ["zoo:good-eps1"]}),
    ({"models": "zoo:good-eps1"}, "accept", {"models": ["zoo:good-eps1"]}),
    ({"digit": "99", "seed": "-1", "c1": "x"}, "refuse", {"digit": 9, "seed": 0, "c1": 0.0}),
    ({"digit": ["1", "2"]}, "accept", {"digit": 2}), ({"unknown": "1"}, "accept", {"digit": 0}),
]


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
def _set(path: str, value) -> Callable[[dict], None]:
    """A mutation of the metadata: set (or with value ... delete) the dotted key."""
    def go(meta: dict) -> None:
        *parents, last = path.split(".")
        d = meta
        for p in parents:
            d = d[p]
        if value is ...:
            del d[last]
        else:
            d[last] = value
    return go


CKPT_CASES: list[tuple[str, Callable[[dict], None]]] = [
    ("format_version as a string", _set("format_version", "1")), ("format_version from the future", _set("format_version", 99)),
    ("format_version null", _set("format_version", None)), ("format_version 1.5", _set("format_version", 1.5)),
    ("format_version true", _set("format_version", True)), ("10⁹ categories", _set("config.latent.n_categories", 10**9)),
    ("one category", _set("config.latent.n_categories", 1)), ("categories as text", _set("config.latent.n_categories", "10")),
    ("negative noise width", _set("config.latent.noise_dim", -5)), ("10⁷ noise width", _set("config.latent.noise_dim", 10**7)),
    ("1,000 continuous codes", _set("config.latent.n_continuous", 1000)), ("generator width 0", _set("config.model.g_width", 0)),
    ("discriminator width 10⁶", _set("config.model.d_width", 10**6)), ("image size 64", _set("config.model.image_size", 64)),
    ("config is a list", _set("config", [])), ("config missing", _set("config", ...)),
    ("privacy is text", _set("privacy", "yes")), ("private as text", _set("privacy.private", "true")),
    ("ε as text", _set("privacy.epsilon", "abc")), ("negative ε", _set("privacy.epsilon", -3)),
    ("ε missing", _set("privacy.epsilon", ...)), ("δ = 5", _set("privacy.delta", 5)),
    ("history as text", _set("privacy.history", "x")), ("history entry too short", _set("privacy.history", [[1, 2]])),
    ("history with negative σ", _set("privacy.history", [[-1.0, 0.1, 10]])), ("training null", _set("training", None)),
    ("negative steps", _set("training.steps", -1)), ("steps as text", _set("training.steps", "many")),
    ("code_to_label too short", _set("code_to_label", [0, 1])), ("code_to_label as text", _set("code_to_label", "identity")),
    ("code mode unknown", _set("code_mode", "magic")), ("dataset as a number", _set("dataset", 7)),
    ("format of another tool", _set("format", "something-else")), ("optimizers as text", _set("optimizers", "x")),
    ("config ε as text", _set("config.privacy.epsilon", "huge")), ("config batch 0", _set("config.batch_size", 0)),
    ("config learning rate NaN-like", _set("config.lr_d", -1.0)), ("unknown config setting", _set("config.colour", "red")),
]
RAW_CASES: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("empty file", lambda b: b""), ("random bytes", lambda b: os.urandom(300)),
    ("truncated to half", lambda b: b[: len(b) // 2]), ("header length 2⁶³", lambda b: (2**63).to_bytes(8, "little") + b[8:]),
    ("text file", lambda b: b"hello, I am not a checkpoint\n"),
    ("metadata is a JSON list", None), ("metadata is not JSON", None), ("weights of another size", None),
]
RUN_CASES: list[tuple[str, str, str]] = [  # (case, file, content)
    ("config.json is a list", "config.json", "[]"), ("config.json steps as text", "config.json", '{"steps": "many"}'),
    ("config.json 10⁹ categories", "config.json", '{"latent": {"n_categories": 1000000000}}'),
    ("config.json not JSON", "config.json", "{oops"), ("status.json state banana", "status.json", '{"state": "banana"}'),
    ("status.json pid as text", "status.json", '{"state": "running", "pid": "abc"}'),
    ("status.json negative step", "status.json", '{"state": "running", "step": -3}'),
    ("status.json is a list", "status.json", "[]"),
    ("status.json running, pid 2⁴⁰", "status.json", '{"state": "running", "pid": 1099511627776}'),
    ("eval.json is a list", "eval", "[]"), ("eval.json metrics as text", "eval", '{"metrics": "great"}'),
    ("eval.json CAS as text", "eval", '{"metrics": {"cas": "high"}}'),
]


def _odd_checkpoint(src: Path, dst: Path, mutate=None, raw=None, name: str = "") -> None:
    from safetensors.torch import load_file, save_file

    from dpinfogan.checkpoint import read_metadata

    tensors = load_file(str(src))
    meta = read_metadata(src)
    if name == "metadata is a JSON list":
        save_file(tensors, str(dst), metadata={"dpinfogan": "[]"})
    elif name == "metadata is not JSON":
        save_file(tensors, str(dst), metadata={"dpinfogan": "{not json"})
    elif name == "weights of another size":
        meta["config"]["model"]["g_width"] = 32  # the tensors are for width 64
        save_file(tensors, str(dst), metadata={"dpinfogan": json.dumps(meta)})
    elif raw is not None:
        dst.write_bytes(raw(src.read_bytes()))
    else:
        mutate(meta)
        save_file(tensors, str(dst), metadata={"dpinfogan": json.dumps(meta)})


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
    from dpinfogan.ui.models import discover_zoo

    zoo, runs = Path(os.environ["DPINFOGAN_CHECKPOINTS"]), Path(os.environ["DPINFOGAN_RUNS"])
    out = []
    cases = [(n, m, None) for n, m in CKPT_CASES] + [(n, None, r) for n, r in RAW_CASES]
    files = {}
    for i, (name, mutate, raw) in enumerate(cases):
        dst = zoo / f"odd-{i:02d}.safetensors"
        _odd_checkpoint(good, dst, mutate, raw, name)
        files[dst.name] = name
    by_name = {e.path.name: e for e in discover_zoo(zoo)}
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
TINY = ["--dataset", "offline-digits", "--batch-size", "32", "--g-width", "8", "--d-width", "8", "--d-hidden", "16",
        "--noise-dim", "8", "--quiet", "--delta", "1e-5", "--steps", "2"]
TRAIN_BAD = [
    ["--steps", "-5"], ["--steps", "0"], ["--steps", "abc"], ["--steps", "1.5"], ["--steps", "1e400"], ["--steps", ""],
    ["--batch-size", "0"], ["--batch-size", "-1"], ["--batch-size", "abc"], ["--batch-size", "99999999"],
    ["--batch-size", "5000"], ["--epsilon", "0"], ["--epsilon", "-1"], ["--epsilon", "nan"], ["--epsilon", "abc"],
    ["--epsilon", "-inf"], ["--delta", "0"], ["--delta", "2"], ["--delta", "nan"], ["--delta", "abc"],
    ["--delta", "0.001"], ["--sigma", "-1"], ["--sigma", "nan"], ["--sigma", "inf"], ["--sigma", "abc"],
    ["--max-grad-norm", "0"], ["--max-grad-norm", "-2"], ["--max-grad-norm", "inf"], ["--max-grad-norm", "nan"],
    ["--lr-d", "0"], ["--lr-d", "-1"], ["--lr-d", "5"], ["--lr-d", "nan"], ["--lr-g", "inf"], ["--g-width", "0"],
    ["--g-width", "100000"], ["--g-width", "abc"], ["--d-width", "-1"], ["--d-hidden", "0"], ["--noise-dim", "0"],
    ["--noise-dim", "1000000"], ["--n-continuous", "-1"], ["--n-continuous", "1000"], ["--d-steps-per-g", "0"],
    ["--d-steps-per-g", "100000"], ["--seed", "-1"], ["--seed", "abc"], ["--seed", "1e30"], ["--threads", "-1"],
    ["--threads", "100000"], ["--threads", "abc"], ["--sample-every", "0"], ["--checkpoint-every", "0"],
    ["--log-every", "0"], ["--epochs", "0"], ["--epochs", "-1"], ["--epochs", "nan"], ["--dataset", "cifar"],
    ["--code-mode", "magic"], ["--accountant", "x"], ["--lambda-cat", "-1"], ["--lambda-cont", "nan"],
    ["--resume", "/nonexistent/x.safetensors"], ["--out", "/proc/nope/x.safetensors"],
]
GARBAGE = {  # name -> bytes for every MNIST raw file
    "random bytes": lambda n: os.urandom(100), "empty files": lambda n: b"",
    "wrong magic number": lambda n: (1234).to_bytes(4, "big") + b"\0" * 200,
    "image header, no pixels": lambda n: (2051 if "images" in n else 2049).to_bytes(4, "big")
    + (60000 if n.startswith("train") else 10000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2,
    "a text file": lambda n: b"these are not digits\n" * 10,
}


def run_cli(tmp: Path, good: Path) -> list[Outcome]:
    cases: list[tuple[str, list[str], str, Optional[Callable[[], bool]]]] = []
    for extra in TRAIN_BAD:
        cases.append((f"train {' '.join(extra)}", ["train", *TINY, *extra, "--run-dir", str(tmp / "r")], "refuse", None))
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
