"""Privacy vs quality: every model on one ε-versus-quality chart; click a point to see its samples."""
import math
import time

import streamlit as st

from dpinfogan import jobs
from dpinfogan.catalog import discover_attack_lab, eps_text, frontier_points, metrics_table
from dpinfogan.config import PrivacyConfig
from dpinfogan.inputs import NumberField, parse_number
from dpinfogan.paths import checkpoints_root, runs_root
from dpinfogan.recipe import recipe_config
from dpinfogan.ui import cache, charts, widgets

st.set_page_config(page_title="Privacy vs quality · DP-InfoGAN Studio", page_icon="📉", layout="wide")
widgets.named_pages()
st.title("Privacy vs quality")
st.caption("Each point is one generator: how private it is (ε, left = more private) against how good its images are. "
           "Hover for its settings; click a point to see its samples.")

METRICS = {
    "cas": ("CAS", "Classification accuracy score: a classifier trained only on generated digits, tested on real "
                   "ones (higher is better). Comparable with the literature points."),
    "fid_evaluator": ("FID (evaluator features)", "Distance between generated and real images in the evaluator's "
                                                  "feature space (lower is better; not Inception-FID)."),
    "code_accuracy": ("Code accuracy", "How often the evaluator sees the digit the code asked for (higher is better)."),
    "attack_auc": ("Attack AUC", "How well the best membership-inference attack tells training digits from "
                                 "unseen ones (0.5 = chance, lower is more private). Measured on the attack-lab "
                                 "models and on any checkpoint attacked with `python -m dpinfogan attack`."),
    "proxy": ("Template match (proxy)", "Computed here for every model: nearest real class-mean image on 200 samples. "
                                        "A rough proxy, not an evaluator metric — useful when no evaluation "
                                        "exists yet."),
}
SWEEP_EPS = [1.0, 3.0, 10.0, math.inf]
SWEEP_STEPS = NumberField("Steps per sweep run", 300, 50, 5000)

_evaluated = any(e.evaluation() for e in cache.discover(str(checkpoints_root()), str(runs_root())) if not e.error)
metric = st.radio("Quality metric", list(METRICS), format_func=lambda k: METRICS[k][0], horizontal=True,
                  key="pq_metric", index=0 if _evaluated else len(METRICS) - 1)
st.caption(METRICS[metric][1])
_joint = cache.zoo_joint_release(str(checkpoints_root()))
if _joint:
    st.info(f"**Every release spends budget.** {_joint} (RDP composition of their accountants; they share the "
            "same 60,000 training images.)")


def _points(metric: str) -> tuple[list[dict], dict, list[str]]:
    entries = cache.discover(str(checkpoints_root()), str(runs_root()))
    if metric == "attack_auc":
        entries = list(entries) + discover_attack_lab()
    return frontier_points(entries, metric, METRICS[metric][0], proxy=cache.entry_proxy_quality)


def _sweep_jobs() -> list[jobs.Job]:
    return [j for j in jobs.list_jobs() if j.tags.get("sweep")]


sweep = _sweep_jobs()
active = any(j.state in ("queued", "running", "stopping") for j in sweep)


@st.fragment(run_every=3 if active else None)
def chart_and_sweep() -> None:
    points, by_key, notes = _points(metric)
    for n in notes:
        st.caption("ℹ️ " + n)
    if not points:
        st.info("Nothing to plot for this metric yet. Choose the proxy metric, or start a sweep below.")
        selected_key = None
    else:
        fig = charts.frontier_figure(points, METRICS[metric][0], lower_is_better=metric in ("fid_evaluator", "attack_auc"))
        event = st.plotly_chart(fig, key="pq_chart", on_select="rerun", selection_mode="points", width="stretch")
        sel = [p.get("customdata") for p in (event.selection.points if event else [])] if event else []
        sel = [c[0] if isinstance(c, list) else c for c in sel if c]
        options = [p["key"] for p in points if p["group"] != "literature"]
        labels = {p["key"]: f"{p['label']} ({eps_text(p['epsilon'])})" for p in points}
        picked = st.selectbox("…or pick a model", [None] + options, key="pq_pick",
                              format_func=lambda k: "—" if k is None else labels[k])
        selected_key = (sel[0] if sel else None) or picked
        if selected_key and str(selected_key).startswith("ref:"):
            ref = next(p for p in points if p["key"] == selected_key)
            st.info(ref["hover"].replace("<br>", " · ").replace("<b>", "").replace("</b>", ""))
            selected_key = None
    if selected_key and selected_key in by_key:
        e = by_key[selected_key]
        st.subheader(f"Samples of {e.name} — {eps_text(e.epsilon)}")
        ck, err = cache.load_model(e)
        if ck is None:
            st.error(err)
        else:
            n_cat = ck.config.latent.n_categories
            cats = list(range(n_cat)) * 4
            seeds = [i // n_cat for i in range(len(cats))]  # one noise draw per row
            png, err = cache.render(e, cats, [()] * len(cats), seeds, nrow=n_cat, scale=3)
            st.image(png, caption=" · ".join(e.code_labels()), output_format="PNG")
            st.caption(e.settings_text())
            ev = e.evaluation()
            if ev:
                st.dataframe(metrics_table(ev.get("metrics", {})), hide_index=True)

    st.subheader("Fill in the curve")
    st.caption(f"A small sweep trains {len(SWEEP_EPS)} short runs on the offline digits, one per ε in "
               f"{', '.join('∞' if math.isinf(x) else f'{x:g}' for x in SWEEP_EPS)}, one after the other in the "
               "background, with the Train page's recipe (fine-tuning the public warm start). Each appears on the "
               "chart (under “your runs”) as soon as it has a checkpoint.")
    cur = _sweep_jobs()
    if cur:
        done = sum(j.state in ("finished", "stopped") for j in cur)
        st.progress(done / len(cur), text=f"sweep runs: {done} of {len(cur)} done · "
                    + ", ".join(f"{j.id[-4:]}: {j.state}" for j in cur[:8]))


chart_and_sweep()

steps_text = st.text_input(SWEEP_STEPS.label, SWEEP_STEPS.text(), key="pq_sweep_steps")
try:
    steps, steps_problem = parse_number(steps_text, SWEEP_STEPS), None
except ValueError as err:
    steps, steps_problem = None, str(err)
    st.error(f"Cannot start a sweep — {steps_problem}")
if st.button("▶ Start a small sweep", key="pq_sweep", disabled=active or steps_problem is not None):
    sweep_id = time.strftime("%H%M%S")
    try:
        for eps in SWEEP_EPS:
            # the Train page's recipe (warm start, n_D 5, EMA); δ from N: 1e-5 for the 4,000 digits
            cfg = recipe_config("live", dataset="offline-digits", steps=int(steps), sample_every=50,
                                checkpoint_every=50, threads=1, privacy=PrivacyConfig(epsilon=eps))
            jobs.launch(cfg, tags={"sweep": sweep_id, "epsilon": "inf" if math.isinf(eps) else eps})
    except ValueError as err:
        st.error(f"Cannot start the sweep: {err}")
    else:
        st.rerun()
