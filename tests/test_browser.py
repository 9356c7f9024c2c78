"""End to end in a real browser: `streamlit run app.py` driven by Playwright + Debian's Chromium.

Opens the app, moves a latent slider and sees the image change, starts a tiny training run, sees the
progress and the ε chart update, and stops it — all at a projector's 1024×768, checking that the
controls and images are on screen (Home's comparison above the fold at 1366×768, every digit of the
explorer's picker visible). Skipped (with the reason) where /usr/bin/chromium is missing — except in
CI (``CI=true``), where that is a failure. Screenshots (what the projector shows) go to the test's
tmp folder and to ``$DPINFOGAN_SCREENSHOTS`` when set.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_app import make_zoo

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (scripts/install_browser.sh) to run the browser test"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " — in CI this test must run")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    _need_chromium()
    zoo = make_zoo(tmp_path / "zoo")
    port = _free_port()
    env = {**os.environ, "DPINFOGAN_CHECKPOINTS": str(zoo), "DPINFOGAN_RUNS": str(tmp_path / "runs"),
           "DPINFOGAN_REFERENCES": str(tmp_path / "none.json"), "DPINFOGAN_CACHE": str(tmp_path / "cache")}
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "streamlit.log").read_text()
        time.sleep(0.3)
    yield url, tmp_path
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # a loaded machine can be slow to shut Streamlit down
        proc.kill()
        proc.wait(timeout=10)
    log.close()
    from dpinfogan import jobs  # leave no trainer behind

    for job in jobs.list_jobs(tmp_path / "runs", pump_queue=False):
        jobs.stop(job.path)


def _shot(page, tmp_path: Path, name: str) -> None:
    out = os.environ.get("DPINFOGAN_SCREENSHOTS")
    size = page.viewport_size
    path = tmp_path / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path))  # the viewport only: what a projector shows without scrolling
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)


def _on_screen(page, locator) -> bool:
    """The element lies entirely inside the viewport (no scrolling, nothing cut off)."""
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] + 1 \
        and box["y"] + box["height"] <= size["height"] + 1


def _main_image_src(page) -> str:
    return page.locator("[data-testid='stImage'] img").first.get_attribute("src")


def test_browser_slider_and_training_run(server):
    from playwright.sync_api import expect, sync_playwright

    url, tmp_path = server
    expect.set_options(timeout=30_000)  # a cold first page (torch import) on a busy 2-core machine
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(30_000)

        # A shared link as the server's very first request still gets the named navigation ("Home")
        page.goto(url + "/Privacy_vs_quality", timeout=120_000)
        # (the named navigation appears once the page has imported torch: slow on a busy machine)
        expect(page.get_by_test_id("stSidebarNav").get_by_text("Home", exact=True)).to_be_visible(timeout=120_000)
        expect(page.get_by_role("heading", name="Privacy vs quality")).to_be_visible()

        # Home: the three generators side by side, above the fold on a 1366×768 projector
        page.goto(url)
        expect(page.get_by_text("Same latent, three privacy levels")).to_be_visible()
        images = page.locator("[data-testid='stImage'] img")
        expect(images).to_have_count(3)
        page.wait_for_timeout(500)  # let the images take their size
        assert all(_on_screen(page, images.nth(i)) for i in range(3))
        assert min(images.nth(i).bounding_box()["width"] for i in range(3)) >= 250  # large enough to read
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_text("Home", exact=True)).to_be_visible()  # not "app"
        _shot(page, tmp_path, "home")
        page.set_viewport_size({"width": 1024, "height": 768})
        _shot(page, tmp_path, "home")

        # Latent explorer at 1024×768: every digit of the picker on screen (it wraps, no hidden scroll);
        # move a style slider with the keyboard, the image follows, the URL too
        page.goto(url + "/Latent_explorer?seed=3")
        expect(page.locator("[data-testid='stImage'] img").first).to_be_visible()
        for d in range(10):
            assert _on_screen(page, page.get_by_role("radio", name=str(d), exact=True).first), d
        before = _main_image_src(page)
        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(8):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("(b) => document.querySelector(\"[data-testid='stImage'] img\").src !== b", arg=before)
        assert _main_image_src(page) != before
        page.wait_for_url(re.compile(r"c1=0\.8"))
        assert "seed=3" in page.url  # the shared view's settings stay in the URL
        _shot(page, tmp_path, "explorer")
        page.set_viewport_size({"width": 1920, "height": 1080})
        _shot(page, tmp_path, "explorer")
        page.set_viewport_size({"width": 1024, "height": 768})

        # a broken link shows a note, not a traceback
        page.goto(url + "/Latent_explorer?digit=99&seed=abc")
        expect(page.get_by_text(re.compile("Link adjusted: digit=99"))).to_be_visible()
        expect(page.get_by_text("Traceback")).to_have_count(0)

        # Privacy vs quality: the chart with its legend
        page.goto(url + "/Privacy_vs_quality")
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        _shot(page, tmp_path, "privacy-vs-quality")

        # Train: a tiny run on the offline digits, watch it, stop it
        page.goto(url + "/Train")
        steps = page.get_by_label("Training steps (discriminator updates)")
        steps.fill("-5")
        steps.press("Enter")
        expect(page.get_by_text(re.compile("Cannot start — Training steps"))).to_be_visible()
        expect(page.get_by_role("button", name="Start training")).to_be_disabled()
        steps.fill("100000")
        steps.press("Enter")
        batch = page.get_by_label("Batch size (expected real images per step)")
        batch.fill("32")
        batch.press("Enter")
        page.get_by_text("Advanced settings").click()
        for label in ("Generator width", "Discriminator width"):
            box = page.get_by_label(label)
            box.fill("8")
            box.press("Enter")
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Start training").click()
        expect(page.get_by_text(re.compile("Started"))).to_be_visible()
        # progress: a step count above 0 and a positive ε spent, read from the live progress text
        progress = page.get_by_text(re.compile(r"step [1-9]\d* / \d+ · ε spent 0?\.?[0-9.]+"))
        expect(progress).to_be_visible(timeout=90_000)
        first = progress.inner_text()
        # the ε chart gains points as the run goes on (read from the Plotly figure in the page)
        eps_points = ("() => Math.max(0, ...[...document.querySelectorAll('.js-plotly-plot')]"
                      ".filter(e => e.layout && String((e.layout.title || {}).text).includes('Privacy spent'))"
                      ".map(e => e.data[0].x.length))")
        page.wait_for_function(f"({eps_points})() >= 1", timeout=30_000)
        n_eps = page.evaluate(eps_points)
        page.wait_for_function(f"({eps_points})() > {n_eps}", timeout=60_000)
        page.wait_for_function(
            "(t) => [...document.querySelectorAll('[data-testid=\"stProgress\"]')].some(e => e.innerText && "
            "e.innerText.trim() !== t.trim())", arg=first, timeout=30_000)
        page.get_by_text("Your runs").scroll_into_view_if_needed()
        _shot(page, tmp_path, "train-running")
        page.get_by_role("button", name="⏹ Stop").click()
        expect(page.get_by_text(re.compile(r"Stopped at step \d+; checkpoint kept"))).to_be_visible(timeout=60_000)
        _shot(page, tmp_path, "train-stopped")
        browser.close()
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoint.safetensors").is_file()
