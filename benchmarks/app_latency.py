"""App latency: slider → new image (server time) and cold start → interactive home page.

    .venv/bin/python benchmarks/app_latency.py [--zoo checkpoints/] [--repeats 20] [--no-browser]

1. Slider: the Latent explorer in Streamlit's headless AppTest; each repeat moves a style slider to a value
   not seen before (so the image cache misses) and times the whole script rerun. The drawing itself
   (cached model → generator → PNG) is timed separately.
2. Cold start: spawns ``streamlit run app.py`` and times (a) until the server answers its health check
   and (b) until headless Chromium shows the home page with its three generators drawn.
3. Felt slider latency, in Chromium on that server: the Latent explorer's first style slider moved one
   step with the keyboard, timed from the key press until the new image has loaded in the page.
Without ``--zoo`` a zoo of three default-size generators (ε = 1, 10, ∞; 2 training steps each) is built
in a temp folder — the same network size as the shipped zoo.
"""
from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_zoo(folder: Path) -> Path:
    import torch

    from dpinfogan.config import PrivacyConfig, TrainConfig
    from dpinfogan.data import load_dataset
    from dpinfogan.train import Trainer

    torch.set_num_threads(1)
    data = load_dataset("offline-digits")
    for name, eps in (("bench-eps1", 1.0), ("bench-eps10", 10.0), ("bench-nonprivate", math.inf)):
        t = Trainer(TrainConfig(dataset="offline-digits", steps=2, batch_size=64,
                                privacy=PrivacyConfig(epsilon=eps, delta=1e-4)), data)
        t.step()
        t.step()
        t.save(folder / f"{name}.safetensors", half=True, with_optimizers=False)
    return folder


def slider_latency(zoo: Path, runs: Path, repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    os.environ["DPINFOGAN_CHECKPOINTS"], os.environ["DPINFOGAN_RUNS"] = str(zoo), str(runs)
    at = AppTest.from_file(str(ROOT / "pages" / "3_Latent_explorer.py"), default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    assert not at.exception, at.exception
    same = []
    for _ in range(5):  # nothing changed: the framework's own cost of a rerun
        t0 = time.perf_counter()
        at.run()
        same.append(time.perf_counter() - t0)
    times, cpu = [], []
    for i in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        at.slider(key="c1").set_value(round(-1.9 + 3.8 * i / max(repeats - 1, 1), 1)).run()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert not at.exception, at.exception

    # the drawing alone, through the same cached model (image cache bypassed)
    from dpinfogan.checkpoint import load_checkpoint
    from dpinfogan.catalog import discover_zoo
    from dpinfogan.sampling import draw, png_bytes

    entry = discover_zoo(zoo)[0]
    ck = load_checkpoint(entry.path)
    draw_times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        png_bytes(draw(ck.generator, ck.config.latent, [3], [[i / repeats, 0.0]], [i]), nrow=1, scale=8)
        draw_times.append(time.perf_counter() - t0)
    return {"first_render_s": first, "slider_rerun_ms": [1000 * t for t in times],
            "unchanged_rerun_ms": [1000 * t for t in same], "slider_cpu_ms": [1000 * t for t in cpu],
            "draw_png_ms": [1000 * t for t in draw_times]}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


_NEW_IMAGE = """(b) => { const i = document.querySelector("[data-testid='stImage'] img");
                   return i && i.src !== b && i.complete && i.naturalWidth > 0; }"""


def browser_slider(page, url: str, repeats: int) -> list[float]:
    """Key press on the explorer's first style slider -> the new image loaded in the page, in ms."""
    page.goto(url + "/Latent_explorer")
    img = page.locator("[data-testid='stImage'] img").first
    img.wait_for(timeout=120_000)
    slider = page.get_by_role("slider").first
    slider.focus()
    page.keyboard.press("Home")  # c2 = −2: every later step is a value not drawn yet
    page.wait_for_timeout(1500)
    times = []
    for _ in range(repeats):
        before = img.get_attribute("src")
        t0 = time.perf_counter()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(_NEW_IMAGE, arg=before, timeout=30_000, polling="raf")
        times.append(1000 * (time.perf_counter() - t0))
        page.wait_for_timeout(300)  # a presenter's pace, not a key held down
    return times


def screenshots(page, url: str, folder: Path) -> None:
    """What a 1024×768 projector shows of each page, with the real zoo (for the docs)."""
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1024, "height": 768})
    for name, path in (("home", ""), ("explorer", "/Latent_explorer"), ("privacy-vs-quality", "/Privacy_vs_quality"),
                       ("train", "/Train")):
        page.goto(url + path)
        page.wait_for_timeout(6000)  # charts and images settle
        if name == "privacy-vs-quality":
            page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
            page.wait_for_timeout(1000)
        page.screenshot(path=str(folder / f"{name}-1024x768.png"))


def cold_start(zoo: Path, runs: Path, browser: bool, repeats: int = 20, shots: Path | None = None) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DPINFOGAN_CHECKPOINTS": str(zoo), "DPINFOGAN_RUNS": str(runs)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict = {}
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.05)
        out["server_ready_s"] = time.perf_counter() - t0
        if browser and Path("/usr/bin/chromium").exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                b = p.chromium.launch(executable_path="/usr/bin/chromium",
                                      args=["--headless", "--no-sandbox", "--disable-gpu",
                                            "--disable-background-networking"])
                page = b.new_page()
                t_nav = time.perf_counter()
                page.goto(url)
                page.get_by_text("What each page is for").wait_for(timeout=120_000)
                out["home_text_s"] = time.perf_counter() - t0
                page.wait_for_function("document.querySelectorAll(\"[data-testid='stImage'] img\").length >= 3",
                                       timeout=120_000)
                now = time.perf_counter()
                out["server_cpu_s"] = _cpu_seconds(proc.pid)
                out["home_interactive_s"] = now - t0
                out["home_render_after_ready_s"] = now - t_nav
                out["browser_slider_ms"] = browser_slider(page, url, repeats)
                if shots is not None:
                    screenshots(page, url, shots)
                b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, default=None, help="zoo folder (default: build a temp one)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    ap.add_argument("--screenshots", type=Path, default=None, help="also save 1024×768 screenshots of each page here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        zoo = a.zoo or build_zoo(tmp / "zoo")
        runs = tmp / "runs"
        cold = cold_start(zoo, runs, not a.no_browser, a.repeats, a.screenshots)  # first: nothing cached yet
        sl = slider_latency(zoo, runs, a.repeats)
    med = statistics.median
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"cold start: server ready {cold['server_ready_s']:.2f} s", end="")
    if "home_interactive_s" in cold:
        print(f"; home text + navigation shown {cold['home_text_s']:.2f} s; home interactive (3 generators "
              f"drawn, in Chromium) {cold['home_interactive_s']:.2f} s after launch "
              f"({cold['home_render_after_ready_s']:.2f} s after the server was ready)")
    else:
        print(" (no Chromium: home page time not measured)")
    if "server_cpu_s" in cold:
        print(f"  CPU the server spent from launch to the drawn home page: {cold['server_cpu_s']:.2f} s "
              "(≈ the wall time on an idle machine: startup is single-threaded)")
    if "browser_slider_ms" in cold:
        bs = cold["browser_slider_ms"]
        print(f"slider -> new image loaded, in Chromium: median {med(bs):.0f} ms "
              f"(min {min(bs):.0f}, max {max(bs):.0f}) over {len(bs)}")
    print(f"explorer first render (AppTest, models loaded): {sl['first_render_s']:.2f} s")
    print(f"slider -> new image, whole script rerun (AppTest): median {med(sl['slider_rerun_ms']):.1f} ms, "
          f"max {max(sl['slider_rerun_ms']):.1f} ms over {a.repeats}")
    print(f"  CPU time of that rerun (≈ idle-machine server time): median {med(sl['slider_cpu_ms']):.1f} ms")
    print(f"  an unchanged rerun (AppTest + script, all cached): median {med(sl['unchanged_rerun_ms']):.1f} ms")
    print(f"  draw + PNG of the new image (cached model): median {med(sl['draw_png_ms']):.1f} ms")


if __name__ == "__main__":
    main()
