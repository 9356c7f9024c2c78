"""Home's three-ε comparison and its disk cache (dpinfogan.comparison): read back without drawing,
redrawn when a checkpoint changes, odd cache files ignored, and the cached path loads no torch."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dpinfogan import comparison as C
from dpinfogan.runs import list_runs
from test_app import make_zoo

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    return make_zoo(tmp_path_factory.mktemp("zoo"))


def _no_loading(entry):
    raise AssertionError(f"drew {entry.path.name}: the cache should have answered")


def test_second_call_reads_the_cache_and_shows_the_same(zoo, tmp_path):
    first = C.comparison(zoo, 5, cache_dir=tmp_path)
    assert [c.status for c in first.columns] == ["ok", "ok", "ok"]
    assert first.columns[0].caption.startswith("ε = ") and "tiny-eps1" in first.columns[0].caption
    assert first.skipped == (("broken.safetensors", first.skipped[0][1]),) and "not a DP-InfoGAN" in first.skipped[0][1]
    assert len(list(tmp_path.glob("*.json"))) == 1
    again = C.comparison(zoo, 5, cache_dir=tmp_path, load=_no_loading)
    assert again == first
    other_seed = C.comparison(zoo, 6, cache_dir=tmp_path)
    assert other_seed.columns[0].png != first.columns[0].png


def test_a_changed_checkpoint_is_redrawn(zoo, tmp_path):
    zoo2 = tmp_path / "zoo"
    zoo2.mkdir()
    for p in zoo.iterdir():
        (zoo2 / p.name).write_bytes(p.read_bytes())
    C.comparison(zoo2, 0, cache_dir=tmp_path / "cache")
    (zoo2 / "tiny-eps10.safetensors").write_bytes((zoo / "tiny-eps1.safetensors").read_bytes())  # new content
    drawn = []
    res = C.comparison(zoo2, 0, cache_dir=tmp_path / "cache", load=lambda e: drawn.append(e.name) or (None, "x"))
    assert drawn and all(c.status == "error" for c in res.columns if c.status != "missing")


@pytest.mark.parametrize("text", ["not json", json.dumps([1, 2]), json.dumps({"format": "dpinfogan-home-comparison"})])
def test_an_odd_cache_file_is_redrawn_not_trusted(zoo, tmp_path, text):
    good = C.comparison(zoo, 1, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.json")
    path.write_text(text)
    assert C.comparison(zoo, 1, cache_dir=tmp_path) == good
    assert C.read_cached(path, path.stem) is not None  # rewritten with the drawn result


def test_a_cache_file_whose_png_is_not_a_png_is_refused(zoo, tmp_path):
    C.comparison(zoo, 2, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.json")
    doc = json.loads(path.read_text())
    doc["columns"][0]["png"] = "aGVsbG8="  # "hello"
    path.write_text(json.dumps(doc))
    assert C.read_cached(path, path.stem) is None


def test_the_cached_path_loads_no_torch(zoo, tmp_path):
    C.comparison(zoo, 0, cache_dir=tmp_path)
    code = ("import sys; from pathlib import Path; from dpinfogan import comparison as C; "
            f"r = C.comparison(Path({str(zoo)!r}), 0, cache_dir=Path({str(tmp_path)!r})); "
            "assert [c.status for c in r.columns] == ['ok'] * 3; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_empty_zoo(tmp_path):
    res = C.comparison(tmp_path / "none", 0, cache_dir=tmp_path / "cache")
    assert res.empty and [c.status for c in res.columns] == ["missing"] * 3


def test_the_cache_folder_is_no_run(tmp_path):
    (tmp_path / ".cache" / "home-comparison").mkdir(parents=True)
    assert list_runs(tmp_path) == []
