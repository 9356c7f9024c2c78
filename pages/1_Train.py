"""Train: configure a private run, start it in the background, watch it live, stop it."""
import math

import streamlit as st

from dpinfogan import jobs
from dpinfogan.config import LatentConfig, ModelConfig, PrivacyConfig, TrainConfig, default_delta, max_delta
from dpinfogan.data import OFFLINE, available_datasets
from dpinfogan.ui import widgets

st.set_page_config(page_title="Train · DP-InfoGAN Studio", page_icon="🏋️", layout="wide")
st.title("Train a private generator")
st.caption("Training runs in a separate background process: you can close this tab, come back, or open a "
           "second tab — runs are kept on disk under `runs/`.")


@st.cache_data(ttl=300, show_spinner=False)
def _datasets() -> list[str]:
    return available_datasets()


DATASET_HELP = {OFFLINE: "offline-digits — 4,000 real MNIST digits shipped with the app (always available)",
                "mnist": "MNIST — 60,000 handwritten digits", "fashion-mnist": "Fashion-MNIST — 60,000 clothes",
                "kmnist": "KMNIST — 60,000 Japanese characters"}

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
    steps = st.number_input("Training steps (discriminator updates)", 1, 100_000, 300, step=50, key="train_steps")
    batch = st.number_input("Batch size (expected real images per step)", 1, 4096, 64, step=16, key="train_batch")
    st.caption(f"≈ {steps * batch / n:,.1f} passes over the {n:,} images.")
    with st.expander("Advanced settings"):
        a1, a2 = st.columns(2)
        sigma = a1.number_input("Noise multiplier σ (0 = calibrate from ε)", 0.0, 100.0, 0.0, step=0.1,
                                key="train_sigma",
                                help="Noise std is σ·C. With a fixed σ the run stops when ε is spent.")
        clip = a2.number_input("Clipping norm C", 0.01, 100.0, 1.0, step=0.1, key="train_clip")
        lr_d = a1.number_input("Discriminator learning rate", 1e-6, 1.0, 2e-4, format="%.5f", key="train_lr_d")
        lr_g = a2.number_input("Generator learning rate", 1e-6, 1.0, 1e-3, format="%.5f", key="train_lr_g")
        g_width = a1.number_input("Generator width", 1, 256, 64, key="train_g_width")
        d_width = a2.number_input("Discriminator width", 1, 256, 32, key="train_d_width")
        d_steps = a1.number_input("D steps per G step", 1, 10, 1, key="train_d_steps")
        sample_every = a2.number_input("Sample grid + quality every K steps", 1, 10_000, 25, key="train_sample_every")
        seed = a1.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")

    cfg = TrainConfig(
        dataset=dataset, code_mode=code_mode, batch_size=int(batch), steps=int(steps), d_steps_per_g=int(d_steps),
        lr_d=float(lr_d), lr_g=float(lr_g), sample_every=int(sample_every), checkpoint_every=max(50, int(sample_every)),
        seed=int(seed), threads=1,
        model=ModelConfig(g_width=int(g_width), d_width=int(d_width)), latent=LatentConfig(),
        privacy=PrivacyConfig(epsilon=float(eps), delta=float(delta), max_grad_norm=float(clip),
                              noise_multiplier=float(sigma) if sigma > 0 else None),
    )
    problem = None
    try:
        cfg.validate(n)
    except ValueError as e:
        problem = str(e)
    if problem:
        st.error(f"Cannot start: {problem}")
    if math.isinf(eps) and sigma > 0:
        st.warning("A noise multiplier σ with ε = ∞ trains privately with that σ and reports the ε it spends.")

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

        @st.fragment(run_every=1.5 if active else None)
        def live_panel() -> None:
            job = jobs.get_job(jobs.runs_root() / chosen)
            jobs.pump()  # start queued runs when a slot frees up
            widgets.run_panel(job, key="run_panel")
            was = st.session_state.get("train_was_active")
            now = job.state in ("queued", "running", "stopping")
            st.session_state.train_was_active = now
            if was and not now:
                st.rerun(scope="app")  # the run ended: stop polling, refresh the run list

        live_panel()
        with st.expander(f"All runs ({len(all_jobs)})"):
            st.dataframe([{"run": j.id, "state": j.state, "step": j.step, "of": j.target_steps,
                           "ε spent": None if math.isinf(j.epsilon) else round(j.epsilon, 3),
                           "dataset": j.info.config.get("dataset"), "queue": j.queue_position} for j in all_jobs],
                         hide_index=True, width="stretch")
