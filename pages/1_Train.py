"""Train: configure a private run, start it in the background, watch it live, stop it."""
import math

import streamlit as st

from dpinfogan import jobs
from dpinfogan.config import default_delta, max_delta
from dpinfogan.data import OFFLINE, available_datasets
from dpinfogan.inputs import TRAIN_FIELDS, parse_form, train_config
from dpinfogan.recipe import shipped_warm_start, warm_start_problem
from dpinfogan.ui import widgets

st.set_page_config(page_title="Train · DP-InfoGAN Studio", page_icon="🏋️", layout="wide")
widgets.named_pages()
st.title("Train a private generator")
st.caption("Training runs in a separate background process: you can close this tab, come back, or open a "
           "second tab — runs are kept on disk under `runs/`.")


@st.cache_data(ttl=300, show_spinner=False)
def _datasets() -> list[str]:
    return available_datasets()


DATASET_HELP = {OFFLINE: "offline-digits — 4,000 real MNIST digits shipped with the app (always available)",
                "mnist": "MNIST — 60,000 handwritten digits", "fashion-mnist": "Fashion-MNIST — 60,000 clothes",
                "kmnist": "KMNIST — 60,000 Japanese characters"}

HELP = {"train_sigma": "Noise std is σ·C. With a fixed σ the run stops when ε is spent.",
        "train_ema": "The grids and the saved generator are an average of its recent weights: smoother digits, "
                     "no privacy cost (the generator never sees a real image)."}

settings, live = st.columns([2, 3], gap="large")  # settings on the left, the live run on the right
with settings:
    st.subheader("Settings")
    ds_options = _datasets()
    dataset = st.selectbox("Training data", ds_options, index=ds_options.index(OFFLINE),
                           format_func=lambda k: DATASET_HELP.get(k, k), key="train_dataset")
    n = jobs.TRAIN_SIZES[dataset]
    eps = widgets.epsilon_picker("train_eps", default=10.0)
    delta = st.select_slider("δ (chance the ε guarantee fails)",
                             options=[d for d in (1e-8, 1e-7, 1e-6, 1e-5) if d <= max_delta(n)],
                             value=default_delta(n), format_func=lambda d: f"{d:g}", key="train_delta",
                             help=f"At most 1/(10·N) = {max_delta(n):.2g} for N = {n:,} training images: a δ near "
                                  "1/N would allow publishing one whole image.")
    code_mode = st.radio("Digit code", ["labels", "unsupervised"], horizontal=True, key="train_code_mode",
                         format_func={"labels": "labels: code = the digit (ask for a '7')",
                                      "unsupervised": "unsupervised: InfoGAN discovers it"}.get)
    texts = {"train_steps": st.text_input(TRAIN_FIELDS["train_steps"].label, TRAIN_FIELDS["train_steps"].text(),
                                          key="train_steps"),
             "train_batch": st.text_input(TRAIN_FIELDS["train_batch"].label, TRAIN_FIELDS["train_batch"].text(),
                                          key="train_batch")}
    with st.expander("Advanced settings"):
        cols = st.columns(2)
        for i, (k, f) in enumerate(list(TRAIN_FIELDS.items())[2:]):
            texts[k] = cols[i % 2].text_input(f.label, f.text(), key=k, help=HELP.get(k))
    warm = shipped_warm_start()
    use_warm = st.checkbox("Start from the public warm start (synthetic pen-stroke digits)", value=warm is not None,
                           disabled=warm is None, key="train_warm",
                           help="A generator and discriminator pretrained on public, synthetic digits drawn "
                                "from pen-stroke templates: no private image, so no privacy cost. The private run fine-tunes them; ε "
                                "counts only its own steps. Needs the default widths (generator 64, "
                                "discriminator 16).")
    values, problems = parse_form(texts, TRAIN_FIELDS)
    cfg = None
    if not problems:
        v = values
        st.caption(f"≈ {v['train_steps'] * v['train_batch'] / n:,.1f} passes over the {n:,} images.")
        cfg = train_config(v, dataset=dataset, code_mode=code_mode, epsilon=eps, delta=delta,
                           warm_start=str(warm) if use_warm and warm else "")
        try:
            cfg.validate(n)
        except ValueError as e:
            problems.append(str(e))
        warm_problem = warm_start_problem(cfg)
        if warm_problem:
            problems.append(f"the warm start does not fit: {warm_problem} — untick it or use the default widths")
    for p in problems:
        st.error(f"Cannot start — {p}")
    if cfg is not None and math.isinf(eps) and cfg.privacy.noise_multiplier is not None:
        st.warning("A noise multiplier σ with ε = ∞ trains privately with that σ and reports the ε it spends.")
    problem = problems[0] if problems else None
    st.caption("**Why ε jumps early:** the accountant's ε grows fastest over the first steps and then more "
               "and more slowly (roughly with the square root of the steps), so a run can show ε ≈ 4 after "
               "10 steps and still end below ε = 10 after thousands.")

    if st.button("▶ Start training", type="primary", disabled=problem is not None, key="train_start"):
        try:
            run_dir = jobs.launch(cfg)
        except ValueError as e:
            st.error(f"Cannot start: {e}")
        else:
            st.session_state.train_run = run_dir.name
            st.session_state.train_show = run_dir.name  # the run picker below switches to the new run
            job = jobs.get_job(run_dir)
            if job.state == "queued":
                st.info(f"Queued `{run_dir.name}`: {jobs.max_concurrent()} run(s) already training; it starts "
                        "automatically when one ends.")
            else:
                st.success(f"Started `{run_dir.name}` in the background.")


with live:
    st.subheader("Your runs")
    all_jobs = jobs.list_jobs()
    if not all_jobs:
        st.info("No runs yet. Choose settings on the left and press **Start training** (300 steps on the offline digits "
                "take about a minute).")
    else:
        ids = [j.id for j in all_jobs]
        current = st.session_state.get("train_run")
        chosen = st.selectbox("Show run", ids, index=ids.index(current) if current in ids else 0, key="train_show",
                              format_func=lambda i: widgets.job_label(next(j for j in all_jobs if j.id == i)))
        st.session_state.train_run = chosen
        active = any(j.state in ("queued", "running", "stopping") for j in all_jobs)

        seen = {j.id: j.state for j in all_jobs}

        @st.fragment(run_every=1.5 if active else None)
        def live_panel() -> None:
            now = {j.id: j.state for j in jobs.list_jobs()}  # also starts queued runs when a slot frees up
            if now != seen:
                st.rerun(scope="app")  # a run changed state: the picker's labels and the polling follow
            widgets.run_panel(jobs.get_job(jobs.runs_root() / chosen), key="run_panel")

        live_panel()
        with st.expander(f"All runs ({len(all_jobs)})"):
            st.dataframe([{"run": j.id, "state": j.state, "step": j.step, "of": j.target_steps,
                           "ε spent": None if math.isinf(j.epsilon) else round(j.epsilon, 3),
                           "dataset": j.info.config.get("dataset"), "queue": j.queue_position} for j in all_jobs],
                         hide_index=True, width="stretch")
