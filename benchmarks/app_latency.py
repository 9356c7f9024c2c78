"""App latency: slider → new image (server time) and cold start → interactive home page.

    .venv/bin/python benchmarks/app_latency.py [--zoo checkpoints/] [--repeats 20] [--no-browser] [--compare REV]

1. Slider: the Latent explorer in Streamlit's headless AppTest; each repeat moves a style slider to a value
   not seen before (so the image cache misses) and times the whole script rerun. The drawing itself
   (cached model → generator → PNG) is timed separately.
2. Cold start: spawns ``streamlit run app.py`` and times (a) until the server answers its health check
   and (b) until headless Chromium shows the home page with its three generators drawn.
3. Felt slider latency, in Chromium on that server: the Latent explorer's first style slider moved one
   step with the keyboard, timed from the key press until the new image has loaded in the page.
   Timed in the page (keydown → the new image's load event), with the CPU the server and Chromium spent
   per step: on a loaded machine the wall times follow the load, the CPU times much less.
``--compare REV`` (e.g. ``main`` or a commit) also runs that revision of the app (exported with ``git
archive`` into a temp folder) and interleaves the two: cold starts one after the other, slider steps
alternating between the two servers in one Chromium, so both see the same machine load; it prints the
ratios. Home's comparison cache (``$DPINFOGAN_CACHE``) starts empty in a temp folder; the current app's
cold start is measured with it empty (first start after a checkout), then ``--cold-repeats`` times with it
filled (the median run is reported, with the range). ``--compare-flags "--server.fileWatcherType auto"``
instead runs this same tree beside itself started with those extra flags, to measure one setting.
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
# In the page: when the key went down and when each image finished loading (performance.now(), ms).
_TIMERS = """() => { window.__key = null; window.__loads = [];
  document.addEventListener('keydown', () => { window.__key = performance.now(); }, true);
  document.addEventListener('load', (e) => { if (e.target.tagName === 'IMG')
      window.__loads.push([performance.now(), e.target.src]); }, true); }"""
_IN_PAGE_MS = """(b) => { const l = window.__loads.filter(x => x[1] !== b);
                   return l.length && window.__key !== null ? l[0][0] - window.__key : null; }"""


def _descendants(root: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                kids.setdefault(int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = set(), [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


class Server:
    """``streamlit run app.py`` from ``root`` on a free port (the zoo and runs folders from ``env``)."""

    def __init__(self, name: str, root: Path, env: dict, flags: tuple[str, ...] = ()):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.name, self.url = name, f"http://127.0.0.1:{port}"
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                      "--server.port", str(port), "--browser.gatherUsageStats", "false", *flags],
                                     cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self) -> float:
        while True:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=1).read() == b"ok":
                    return time.perf_counter() - self.t0
            except OSError:
                time.sleep(0.05)

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine can be slow to shut Streamlit down
            self.proc.kill()
            self.proc.wait(timeout=10)


def cold_start(browser, name: str, root: Path, env: dict, flags: tuple[str, ...] = ()) -> dict:
    """Launch the server (the browser is already open, as a user's is) and time the home page."""
    srv = Server(name, root, env, flags)
    try:
        out = {"server_ready_s": srv.wait_ready()}
        if browser is None:
            return out
        page = browser.new_page()
        t_nav = time.perf_counter()
        page.goto(srv.url)
        page.get_by_text("What each page is for").wait_for(timeout=180_000)
        out["home_text_s"] = time.perf_counter() - srv.t0
        page.wait_for_function("document.querySelectorAll(\"[data-testid='stImage'] img\").length >= 3",
                               timeout=180_000)
        now = time.perf_counter()
        out["server_cpu_s"] = srv.cpu()
        out["home_interactive_s"] = now - srv.t0
        out["home_render_after_ready_s"] = now - t_nav
        page.close()
        return out
    finally:
        srv.stop()


def browser_slider(browser, servers: list[Server], repeats: int) -> dict[str, dict[str, list[float]]]:
    """Key press on the explorer's first style slider -> the new image loaded, alternating between the
    servers' explorers step by step: {server: {in_page_ms, playwright_ms, server_cpu_ms, browser_cpu_ms}}."""
    pages = []
    for srv in servers:
        page = browser.new_page()
        page.goto(srv.url + "/Latent_explorer")
        page.locator("[data-testid='stImage'] img").first.wait_for(timeout=180_000)
        page.evaluate(_TIMERS)
        page.get_by_role("slider").first.focus()
        page.keyboard.press("Home")  # c2 = −2: every later step is a value not drawn yet
        page.wait_for_timeout(1500)
        pages.append(page)
    chromium = _descendants(os.getpid()) - set().union(*({s.proc.pid} | _descendants(s.proc.pid) for s in servers))
    out = {s.name: {"in_page_ms": [], "playwright_ms": [], "server_cpu_ms": [], "browser_cpu_ms": []} for s in servers}
    for srv in servers:  # what an open, untouched explorer tab costs the server (file watchers, pollers)
        c0 = srv.cpu()
        time.sleep(3)
        out[srv.name]["idle_cpu_ms_per_s"] = [1000 * (srv.cpu() - c0) / 3]
    for _ in range(repeats):
        for srv, page in zip(servers, pages):
            page.bring_to_front()
            page.get_by_role("slider").first.focus()
            before = page.locator("[data-testid='stImage'] img").first.get_attribute("src")
            page.evaluate("() => { window.__loads = []; }")
            s0, b0 = srv.cpu(), sum(_cpu_seconds(p) for p in chromium)
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(_NEW_IMAGE, arg=before, timeout=60_000, polling="raf")
            r = out[srv.name]
            r["playwright_ms"].append(1000 * (time.perf_counter() - t0))
            ms = page.evaluate(_IN_PAGE_MS, before)
            if ms is not None:
                r["in_page_ms"].append(ms)
            page.wait_for_timeout(300)  # a presenter's pace, not a key held down
            r["server_cpu_ms"].append(1000 * (srv.cpu() - s0))
            r["browser_cpu_ms"].append(1000 * (sum(_cpu_seconds(p) for p in chromium) - b0))
    for page in pages:
        page.close()
    return out


def screenshots(browser, url: str, folder: Path) -> None:
    """What a 1024×768 projector shows of each page, with the real zoo (for the docs)."""
    folder.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    for name, path in (("home", ""), ("explorer", "/Latent_explorer"), ("privacy-vs-quality", "/Privacy_vs_quality"),
                       ("train", "/Train")):
        page.goto(url + path)
        page.wait_for_timeout(6000)  # charts and images settle
        if name == "privacy-vs-quality":
            page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
            page.wait_for_timeout(1000)
        page.screenshot(path=str(folder / f"{name}-1024x768.png"))
    page.close()


def export_revision(rev: str, folder: Path) -> Path:
    """The app as it was at ``rev`` (git archive), to run beside the current one."""
    folder.mkdir(parents=True)
    data = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=data, check=True)
    return folder


def browser_runs(zoo: Path, tmp: Path, repeats: int, compare: str | None, shots: Path | None,
                 compare_flags: tuple[str, ...] = (), cold_repeats: int = 1) -> dict:
    """Cold starts (old, new with an empty Home cache, new with it filled) then interleaved slider steps."""
    env = {**os.environ, "DPINFOGAN_CHECKPOINTS": str(zoo), "DPINFOGAN_RUNS": str(tmp / "runs"),
           "DPINFOGAN_CACHE": str(tmp / "cache")}
    apps: list[tuple[str, Path, tuple[str, ...]]] = [("new", ROOT, ())]
    if compare:
        apps.insert(0, (f"{compare}", export_revision(compare, tmp / "old"), ()))
    elif compare_flags:  # this tree, started with other `streamlit run` flags (one setting measured)
        apps.insert(0, (" ".join(compare_flags), ROOT, compare_flags))
    out: dict = {"cold": {}}
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        for name, root, flags in apps:
            out["cold"][name] = cold_start(None, name, root, env, flags)
        return out
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                        "--disable-background-networking"])
        for name, root, flags in apps:
            if name != "new" and not compare:  # the same tree shares the cache: time it once the cache is filled
                continue
            out["cold"][name if name != "new" else "new, empty Home cache"] = cold_start(browser, name, root, env, flags)
        filled = [("new", ROOT, ())] + ([(apps[0][0], ROOT, compare_flags)] if compare_flags and not compare else [])
        for name, root, flags in filled:
            runs = [cold_start(browser, name, root, env, flags) for _ in range(cold_repeats)]
            runs.sort(key=lambda r: r["home_interactive_s"])
            out["cold"][name + ", filled Home cache"] = {**runs[len(runs) // 2], "all_s": [r["home_interactive_s"] for r in runs]}
        servers = [Server(name, root, env, flags) for name, root, flags in apps]
        try:
            for srv in servers:
                srv.wait_ready()
            out["slider"] = browser_slider(browser, servers, repeats)
            if shots is not None:
                screenshots(browser, servers[-1].url, shots)
        finally:
            for srv in servers:
                srv.stop()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, default=None, help="zoo folder (default: build a temp one)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    ap.add_argument("--compare", default=None, metavar="REV", help="also run this git revision of the app, interleaved")
    ap.add_argument("--compare-flags", default="", metavar="FLAGS",
                    help='instead of a revision, run this tree beside itself with these extra `streamlit run` flags '
                         '(e.g. "--server.fileWatcherType auto")')
    ap.add_argument("--cold-repeats", type=int, default=3, help="cold starts with Home's cache filled (median shown)")
    ap.add_argument("--screenshots", type=Path, default=None, help="also save 1024×768 screenshots of each page here")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        zoo = (a.zoo or build_zoo(tmp / "zoo")).resolve()
        runs = tmp / "runs"
        if a.no_browser:
            res = {"cold": {"new": cold_start(None, "new", ROOT, {**os.environ, "DPINFOGAN_CHECKPOINTS": str(zoo),
                                                                   "DPINFOGAN_RUNS": str(runs)})}}
        else:
            res = browser_runs(zoo, tmp, a.repeats, a.compare, a.screenshots, tuple(a.compare_flags.split()),
                               a.cold_repeats)
        sl = slider_latency(zoo, runs, a.repeats)
    med = statistics.median
    print(f"machine: {os.cpu_count()} CPUs, load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          "(wall times follow the load; CPU seconds much less)")
    for name, c in res["cold"].items():
        line = f"cold start [{name}]: server ready {c['server_ready_s']:.2f} s"
        if "home_interactive_s" in c:
            line += (f"; home text {c['home_text_s']:.2f} s; home interactive (3 generators drawn, Chromium already "
                     f"open) {c['home_interactive_s']:.2f} s after launch; server CPU {c['server_cpu_s']:.2f} s")
            if len(c.get("all_s", [])) > 1:
                line += f" (median of {len(c['all_s'])}: {', '.join(f'{x:.2f}' for x in c['all_s'])} s)"
        print(line)
    slider = res.get("slider", {})
    for name, r in slider.items():
        print(f"slider -> new image [{name}], in Chromium, median of {len(r['playwright_ms'])}: "
              f"in the page {med(r['in_page_ms']):.0f} ms (min {min(r['in_page_ms']):.0f}, max {max(r['in_page_ms']):.0f}), "
              f"as Playwright sees it {med(r['playwright_ms']):.0f} ms; CPU per step: server {med(r['server_cpu_ms']):.0f} ms, "
              f"Chromium {med(r['browser_cpu_ms']):.0f} ms; server CPU with the tab open and idle "
              f"{r['idle_cpu_ms_per_s'][0]:.0f} ms per s")
    if len(slider) == 2:
        (old, ro), (new, rn) = slider.items()
        ratio = lambda k: med(rn[k]) / max(med(ro[k]), 1e-9)  # noqa: E731
        print(f"  new / {old}: in-page time {ratio('in_page_ms'):.2f}, server CPU {ratio('server_cpu_ms'):.2f}, "
              f"Chromium CPU {ratio('browser_cpu_ms'):.2f}")
    cold = res["cold"]
    old = a.compare or a.compare_flags
    if old and "home_interactive_s" in cold.get(old, cold.get(old + ", filled Home cache", {})):
        pairs = [(name, old) for name in ("new, empty Home cache", "new, filled Home cache")]
        if not a.compare:
            pairs = [("new, filled Home cache", old + ", filled Home cache")]
        for name, before in pairs:
            n, o = cold[name], cold[before]
            print(f"  cold start [{name}] / [{before}]: home interactive {n['home_interactive_s'] / o['home_interactive_s']:.2f}, "
                  f"server CPU {n['server_cpu_s'] / o['server_cpu_s']:.2f}")
    print(f"explorer first render (AppTest, models loaded): {sl['first_render_s']:.2f} s")
    print(f"slider -> new image, whole script rerun (AppTest): median {med(sl['slider_rerun_ms']):.1f} ms, "
          f"max {max(sl['slider_rerun_ms']):.1f} ms over {a.repeats}")
    print(f"  CPU time of that rerun: median {med(sl['slider_cpu_ms']):.1f} ms")
    print(f"  an unchanged rerun (AppTest + script, all cached): median {med(sl['unchanged_rerun_ms']):.1f} ms")
    print(f"  draw + PNG of the new image (cached model): median {med(sl['draw_png_ms']):.1f} ms")


if __name__ == "__main__":
    main()
