"""The bad-input battery's tables: what is typed, linked, put on disk or passed to the CLI, and what
each input should do. Used by ``benchmarks/bad_inputs.py`` and, table-driven, by the tests."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional


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


def odd_checkpoint(src: Path, dst: Path, mutate=None, raw=None, name: str = "") -> None:
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
# `federated` options (with --preview: each is refused before any data is split, folder made or engine started)
FEDERATED_BAD = [
    ["--clients", "-1"], ["--clients", "0"], ["--clients", "abc"], ["--clients", "100000"], ["--epsilon", "-3"],
    ["--epsilon", "nan"], ["--epsilon", "1e400"], ["--epsilon", "inf"], ["--delta", "2"], ["--delta", "0"],
    ["--rounds", "0"], ["--rounds", "-2"], ["--local-steps", "0"], ["--alpha", "0"], ["--alpha", "-1"],
    ["--alpha", "nan"], ["--server-lr", "-1"], ["--server-momentum", "2"], ["--central-dp-sigma", "-1"],
    ["--central-dp-clip", "0"], ["--isolated", "99"], ["--isolated", "-1"], ["--threads", "-1"],
    ["--batch-size", "0"], ["--seed", "-1"], ["--split", "random"], ["--strategy", "fedprox"],
    ["--generator", "both"], ["--superlink", "nohost"], ["--superlink", "host:99999"], ["--warm-start", "/etc/passwd"],
    ["--d-aggregation", "median"], ["--d-personal", "trunk"], ["--histogram-sigma", "0"], ["--histogram-sigma", "nan"],
    ["--d-aggregation", "class", "--code-mode", "unsupervised"], ["--d-aggregation", "class", "--generator", "client"],
]
GARBAGE = {  # name -> bytes for every MNIST raw file
    "random bytes": lambda n: os.urandom(100), "empty files": lambda n: b"",
    "wrong magic number": lambda n: (1234).to_bytes(4, "big") + b"\0" * 200,
    "image header, no pixels": lambda n: (2051 if "images" in n else 2049).to_bytes(4, "big")
    + (60000 if n.startswith("train") else 10000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2,
    "a text file": lambda n: b"these are not digits\n" * 10,
}
