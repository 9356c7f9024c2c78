"""Streamlit building blocks shared by the pages: the ε picker, run status, the live run panel."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import streamlit as st

from .. import jobs
from ..inputs import clamp_param
from . import cache, charts

EPS_OPTIONS = [0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 20.0, 50.0, 100.0, math.inf]
STATE_ICONS = {"queued": "⏳", "running": "🏃", "stopping": "✋", "finished": "✅", "stopped": "⏹️",
               "failed": "❌"}


def named_pages() -> None:
    """Make a page reached by a first deep link use app.py's navigation (the sidebar says "Home").

    On a fresh server, a first request for e.g. /Latent_explorer is served from the ``pages/`` folder
    in Streamlit's old directory mode, whose sidebar names the home page "app"; only running app.py's
    ``st.navigation`` switches that mode off. So switch it off here and rerun through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager  # Streamlit internals, only for this switch

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation sets, for the whole server
        st.rerun()


def eps_label(eps: float) -> str:
    return "∞ (no privacy)" if math.isinf(eps) else f"{eps:g}"


def epsilon_picker(key: str, default: float = 10.0) -> float:
    """Log-spaced ε slider with plain-language ends and a colour that warns about weak guarantees."""
    eps = st.select_slider("Target privacy budget ε", options=EPS_OPTIONS, value=default, key=key,
                           format_func=eps_label,
                           help="ε bounds how much one person's image can change what the model learns. "
                                "Smaller ε: stronger privacy, noisier training.")
    left, right = st.columns(2)
    left.caption("⟵ better privacy")
    right.markdown("<div style='text-align:right;font-size:0.85em;opacity:0.7'>better accuracy ⟶</div>",
                   unsafe_allow_html=True)
    if math.isinf(eps):
        st.markdown(":red[**No privacy.** The discriminator sees the data without clipping or noise — "
                    "the non-private baseline.]")
    elif eps > 10:
        st.markdown(f":red[**ε = {eps:g} is a weak guarantee**: an attacker's odds of telling whether your image "
                    f"was used can grow by a factor up to e^{eps:g}.]")
    elif eps > 3:
        st.markdown(f":orange[**ε = {eps:g}: moderate privacy**, the range many deployed systems use.]")
    else:
        st.markdown(f":green[**ε = {eps:g}: strong privacy.** Expect blurrier digits.]")
    return eps


def url_numbers(specs: dict[str, tuple[float, float, float, bool]]) -> list[str]:
    """Start numeric widgets {key: (lo, hi, default, whole)} from the page's URL, clamped; returns one
    note per parameter that had to change.

    Done by hand rather than with ``bind="query-params"``: Streamlit's binding parses the URL itself
    and raises (e.g. ``?seed=inf``) or silently drops what it cannot read. Only the first run of a
    session reads the URL; after that the widgets own the values and :func:`sync_url` writes them back.
    """
    notes = []
    for key, (lo, hi, default, whole) in specs.items():
        if key in st.session_state:
            continue
        raw = st.query_params.get_all(key)
        value, note = clamp_param(raw, key, lo, hi, default, whole=whole) if raw else (default, None)
        st.session_state[key] = value
        if note:
            notes.append(note)
    return notes


def url_list(key: str, allowed: list[str], fallback: str) -> list[str]:
    """Start a multiselect from a multi-valued URL parameter, keeping only ``allowed`` values."""
    if key in st.session_state:
        return []
    raw = st.query_params.get_all(key)
    good = list(dict.fromkeys(v for v in raw if v in allowed))
    st.session_state[key] = good or [fallback]
    if good == raw or not raw:
        return []
    bad = ", ".join(f"`{v[:40]}`" for v in raw if v not in allowed)
    return [f"{key}: no such generator {bad}; " + ("dropped" if good else f"showing {fallback}")]


def sync_url(keys: list[str]) -> None:
    """Write the widgets' current values into the URL, so copying it shares this exact view."""
    for key in keys:
        value = st.session_state.get(key)
        if isinstance(value, list):
            want = [str(v) for v in value]
        else:
            want = None if value is None else str(value)
        if want is not None and st.query_params.get_all(key) != (want if isinstance(want, list) else [want]):
            st.query_params[key] = want


def fmt_seconds(s: Optional[float]) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def job_label(j: jobs.Job) -> str:
    eps = j.info.config.get("privacy", {}).get("epsilon")
    tgt = "∞" if eps in ("inf", None) and j.info.config.get("privacy", {}).get("noise_multiplier") is None else eps
    ds = j.info.config.get("dataset", "?")
    return f"{STATE_ICONS.get(j.state, '?')} {j.id} · {j.state} · target ε {tgt} · {ds}"


def run_panel(job: jobs.Job, key: str) -> None:
    """Progress, stop button, live charts, latest samples and the run's ε-versus-quality curve."""
    st.markdown(f"**Run `{job.id}`** — {STATE_ICONS.get(job.state, '')} **{job.state}**")
    if job.state == "queued":
        st.info(f"Waiting in the queue (position {job.queue_position}): at most {jobs.max_concurrent()} "
                "training run(s) at once on this machine. It starts by itself when a slot frees up.")
    elif job.state == "failed":
        st.error(f"This run failed: {job.message}")
    elif job.state == "running" and job.step == 0:
        st.info("Starting the trainer (loading libraries and data)…")
    eps_txt = "∞" if math.isinf(job.epsilon) else f"{job.epsilon:.3g}"
    st.progress(job.progress, text=f"step {job.step} / {job.target_steps} · ε spent {eps_txt} · "
                                   f"ETA {fmt_seconds(job.eta_s) if job.state in ('running', 'stopping') else '–'}")
    if job.state in ("queued", "running", "stopping"):
        if st.button("⏹ Stop", key=f"{key}_stop_{job.id}", disabled=job.state == "stopping",
                     help="Sends SIGTERM: the trainer finishes its step and saves a checkpoint."):
            if jobs.stop(job.path):
                st.toast("Stopping… the last checkpoint is kept.")
            else:
                st.warning("Nothing to stop: the run already ended.")
    if job.state == "stopped" and job.info.checkpoint is not None:
        st.success(f"Stopped at step {job.step}; checkpoint kept at `{job.info.checkpoint}`.")
    m = job.info.metrics
    target = job.info.config.get("privacy", {}).get("epsilon")
    try:
        target_f = float(target) if target is not None else None
    except (TypeError, ValueError):
        target_f = None
    if not m:
        st.caption("No training steps recorded yet: the charts appear with the first logged step.")
        if job.state == "failed":
            with st.expander("Trainer log"):
                st.code(jobs.log_tail(job.path, 30) or "(empty)")
        return
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(charts.losses_figure(m), key=f"{key}_loss", width="stretch")
    with c2:
        st.plotly_chart(charts.epsilon_figure(m, target_f), key=f"{key}_eps", width="stretch")
    c3, c4 = st.columns(2)
    with c3:
        grid = job.info.latest_grid
        if grid is not None:
            st.image(str(grid), caption=f"fixed latent, one row per code (step {job.step})", width="stretch",
                     output_format="PNG")
        else:
            st.caption("The sample grid appears after the first saved step.")
    with c4:
        pts, metric = cache.run_quality_curve(job.path, job.info.config, m)
        if pts:
            st.plotly_chart(charts.run_quality_figure(pts, metric), key=f"{key}_q", width="stretch")
            if "proxy" in metric:
                st.caption("Quality here is a **proxy** (nearest class-mean template on the 80-image progress grid), "
                           "not an evaluator metric: the evaluator file is not in `checkpoints/` yet.")
            else:
                st.caption(f"{metric} on the 80-image progress grid saved every "
                           f"{job.info.config.get('sample_every', '?')} steps.")
        else:
            st.caption("The ε-versus-quality curve fills in as progress grids are saved.")
    warm = job.info.config.get("warm_start")
    if warm:
        png = cache.warm_start_grid(str(warm))
        w1, w2 = st.columns(2)
        with w1:
            if png:
                st.image(png, caption="where it started: the public warm start (synthetic digits, no private data)",
                         width="stretch", output_format="PNG")
            else:
                st.caption(f"The warm start `{Path(str(warm)).name}` is no longer on disk.")
        with w2:
            st.markdown("**What the private data added.** The left grid is the generator before it saw any "
                        "private image: it was pretrained on synthetic digits drawn from stroke templates, which are public, so it "
                        "cost no privacy. The run's grid shows what the private steps changed; ε counts only "
                        "those steps.")
    if job.state == "failed":
        with st.expander("Trainer log"):
            st.code(jobs.log_tail(job.path, 30) or "(empty)")
