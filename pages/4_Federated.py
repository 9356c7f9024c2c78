"""Federated: K clients each hold their own digits; through Flower they learn to draw each other's."""
import numpy as np
import streamlit as st
import torch

from dpinfogan import jobs
from dpinfogan.checkpoint import read_metadata
from dpinfogan.data import OFFLINE, available_datasets, load_dataset, to_uint8
from dpinfogan.federated.coverage import COVERED_AT
from dpinfogan.federated.config import FedConfig, recipe_settings
from dpinfogan.partition import SPLITS, describe, partition_indices
from dpinfogan.runs import read_run
from dpinfogan.sampling import png_bytes
from dpinfogan.ui import charts, widgets
from dpinfogan.ui.widgets import STATE_ICONS

st.set_page_config(page_title="Federated · DP-InfoGAN Studio", page_icon="🌐", layout="wide")
widgets.named_pages()
st.title("Federated training (DPD-InfoGAN)")
st.caption(
    "Each client keeps its images at home and trains its own private discriminator (DP-SGD, its own ε). "
    "Only model weights travel: the server trains the one generator against the clients' discriminators (on "
    "Flower), each image judged by the clients that hold its digit, by the one that finds it most real, or by "
    "their average — the generator never needs data. A client that only ever saw 0s and 1s gets back a "
    "generator that also draws digits it never saw."
)
GEN_HELP = {"server-class": "on the server, each image judged by the clients that hold its digit (each client "
                            "releases its class counts with noise, counted in its ε)",
            "server-max": "on the server, each image judged by the client discriminator that finds it most real",
            "server": "on the server, against the averaged discriminator (DP-FedAvg-GAN)",
            "client": "on every client, then averaged with the discriminators (plain FedAvg)"}
SPLIT_HELP = {"class": "by class: client k holds only its own digits", "iid": "IID: a uniform share of every digit",
              "dirichlet": "Dirichlet(α): skewed shares; small α = very uneven"}


@st.cache_data(ttl=300, show_spinner=False)
def _datasets() -> list[str]:
    return [d for d in available_datasets() if d in ("mnist", OFFLINE)]


@st.cache_resource(max_entries=2, show_spinner=False)
def _data(dataset: str):
    return load_dataset(dataset)


@st.cache_data(max_entries=16, show_spinner=False)
def _preview(dataset: str, k: int, split: str, alpha: float, seed: int, batch: int):
    """Per-client counts by digit and a strip of each client's real images (PNG bytes)."""
    data = _data(dataset)
    parts = partition_indices(data.labels, k, split, alpha=alpha, seed=seed, min_size=batch)
    infos = [i.to_dict() for i in describe(data.labels, parts, len(data.class_names))]
    strips = []
    for p in parts:
        pick = np.random.default_rng(seed).choice(p, size=min(12, len(p)), replace=False)
        strips.append(png_bytes(to_uint8(data.images[torch.as_tensor(pick)]), nrow=12, scale=1))
    return infos, strips, data.class_names


# -- settings ------------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    ds_options = _datasets()
    dataset = st.selectbox("Data shared out to the clients", ds_options, index=ds_options.index(OFFLINE),
                           key="fed_dataset")
    k = st.slider("Clients K", 1, 10, 5, key="fed_clients")
    split = st.radio("How the data is split", list(SPLITS), index=list(SPLITS).index("class"), horizontal=True,
                     format_func=SPLIT_HELP.get, key="fed_split")
    alpha = st.select_slider("Dirichlet α", [0.05, 0.1, 0.3, 0.5, 1.0, 3.0, 10.0], value=0.5, key="fed_alpha",
                             disabled=split != "dirichlet")
with right:
    eps = st.select_slider("Each client's privacy budget ε", [0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 20.0], value=10.0,
                           key="fed_eps", help="Sample-level (ε, δ) for each client's data, over all rounds.")
    r1, r2 = st.columns(2)
    rounds = r1.number_input("Rounds R", 1, 1000, 10, key="fed_rounds")
    local_steps = r2.number_input("Local steps per round E", 1, 10_000, 30, key="fed_local_steps")
    batch = r1.number_input("Batch per client step", 1, 4096, 64, step=16, key="fed_batch")
    delta = r2.select_slider("δ", [1e-6, 1e-5, 1e-4], value=1e-6, format_func=lambda d: f"{d:g}", key="fed_delta",
                             help="Must be at most 1/(10·N_k) for every client: 1e-6 for 5 clients on full MNIST.")
    gen_mode = st.radio("Generator trained", list(GEN_HELP), format_func=GEN_HELP.get, key="fed_generator")
    use_recipe = st.checkbox("Private recipe: public warm start, EMA generator, adaptive D steps (free in privacy)",
                             value=True, key="fed_recipe",
                             help="The single-machine recipe (dpinfogan/recipe.py): the global model starts from "
                                  "networks trained on public font digits; clients still spend ε only on their "
                                  "own steps.")
    isolated = st.checkbox("Also train client 0 alone (same data, budget and steps) for comparison", value=True,
                           key="fed_isolated")

fed = FedConfig.of(dataset=dataset, clients=int(k), split=split, alpha=float(alpha), rounds=int(rounds),
                   local_steps=int(local_steps), epsilon=float(eps), delta=float(delta), batch_size=int(batch),
                   generator=gen_mode.partition("-")[0], d_aggregation=gen_mode.partition("-")[2] or "average",
                   **(recipe_settings() if use_recipe else {}))
problem = None
try:
    fed.validate()
    infos, strips, names = _preview(dataset, int(k), split, float(alpha), fed.train.seed, int(batch))
    for info in infos:
        fed.train_config().validate(info["n"])
except ValueError as e:
    problem, infos = str(e), []
    st.error(f"Cannot start: {problem}")

if infos:
    st.subheader("Each client's data")
    st.plotly_chart(charts.client_split_figure(infos, names), key="fed_split_chart")
    cols = st.columns(min(len(infos), 5))
    for i, info in enumerate(infos):
        with cols[i % len(cols)]:
            st.markdown(f"**Client {info['client']}** · {info['n']:,} images · digits "
                        f"{', '.join(names[c] for c in info['classes'])}")
            st.image(strips[i], width="stretch")

if st.button("▶ Start federation", type="primary", disabled=problem is not None, key="fed_start"):
    try:
        run_dir = jobs.launch_federated(fed, isolated=0 if isolated else None)
    except ValueError as e:
        st.error(f"Cannot start: {e}")
    else:
        st.session_state.fed_run = run_dir.name
        queued = jobs.get_job(run_dir).state == "queued"
        st.success(f"{'Queued' if queued else 'Started'} `{run_dir.name}` in the background (Flower's simulation "
                   "engine: the first round includes starting Ray, about half a minute)"
                   + (": it starts when the run before it ends." if queued else "."))

# -- runs ----------------------------------------------------------------------------------------
st.divider()
st.header("Federated runs")
runs = jobs.list_federated()
if not runs:
    st.info("No federated runs yet. Pick the clients above and press **Start federation** — or from a terminal: "
            "`python -m dpinfogan federated --clients 5 --split class --rounds 10 --local-steps 30`.")
    st.stop()
ids = [r.id for r in runs]
current = st.session_state.get("fed_run")
chosen = st.selectbox("Show run", ids, index=ids.index(current) if current in ids else 0, key="fed_show",
                      format_func=lambda i: f"{STATE_ICONS.get(runs[ids.index(i)].state, '?')} {i}")
st.session_state.fed_run = chosen
active = runs[ids.index(chosen)].state in ("queued", "running", "stopping") or jobs.isolated_running(
    runs[ids.index(chosen)].path)


def _held(fedcfg: dict) -> dict[int, dict]:
    """What each client holds, recomputed on this machine from the split's settings: the run folder
    keeps no statistics of any client's data (they would not be covered by DP)."""
    try:
        infos, _, _ = _preview(fedcfg["dataset"], int(fedcfg["clients"]), fedcfg["split"], float(fedcfg["alpha"]),
                               int(fedcfg["seed"]), int(fedcfg["batch_size"]))
    except (KeyError, TypeError, ValueError):
        return {}
    return {i["client"]: i for i in infos}


def _client_table(info, names) -> list[dict]:
    fedcfg = info.config.get("federated", {})
    parts = _held(fedcfg)
    last = info.metrics[-1] if info.metrics else {}
    rows = []
    for c in sorted(set(parts) | {int(m["client"]) for m in last.get("clients", [])}):
        m = next((m for m in last.get("clients", []) if int(m["client"]) == c), {})
        p = parts.get(c, {})
        rows.append({"client": c, "digits": ", ".join(names[d] for d in p.get("classes", [])), "images": p.get("n"),
                     "ε spent": round(m["epsilon"], 3) if "epsilon" in m else None,
                     "target ε": fedcfg.get("epsilon"), "σ": round(m["sigma"], 3) if "sigma" in m else None,
                     "steps": int(m["steps"]) if "steps" in m else 0})
    return rows


@st.cache_data(ttl=5, show_spinner=False)
def _void_reason(path) -> str | None:
    """Why the run's global checkpoint claims no ε (e.g. noise from a stored seed), or None."""
    try:
        return read_metadata(path / "checkpoint.safetensors")["privacy"].get("void_reason")
    except (ValueError, OSError, KeyError, TypeError):
        return None


def _heat_map(metrics: list[dict], held: list[int], key: str, start: list[float] | None = None) -> None:
    """Per-digit accuracy (rows: digit codes 0–9) over rounds, from the metrics' ``digit_accuracy``;
    ``start`` is round 0, the model both runs start from."""
    rows = [m for m in metrics if m.get("digit_accuracy")]
    if rows and start:
        rows = [{"round": 0, "digit_accuracy": start}] + rows
    if not rows:
        st.info("No per-digit readings yet (they appear after the first round).")
        return
    st.plotly_chart(charts.digit_heatmap_figure(rows, held), key=key)
    last = rows[-1]["digit_accuracy"]
    drawn = [d for d in range(10) if last[d] >= COVERED_AT]
    st.caption(f"Round {rows[-1]['round']}: draws {len(drawn)}/10 digits recognisably"
               + (f" ({', '.join(map(str, drawn))})" if drawn else "") + ".")


def _digit_maps(run) -> None:
    """Which digits the global generator draws, round by round, beside client 0 trained alone."""
    st.subheader("Which digits does the generator draw?")
    st.caption("For each digit code, the share of 100 generated images that the evaluator CNN "
               f"(`checkpoints/evaluator-mnist.safetensors`) reads as that digit; a digit counts as drawn at ≥ "
               f"{COVERED_AT:.0%}. Only generated images are looked at, so this costs no privacy.")
    held = _held(run.config.get("federated", {})).get(0, {}).get("classes", [])
    start = (run.config.get("derived") or {}).get("start_digit_accuracy")
    if start and (run.config.get("federated") or {}).get("warm_start"):
        st.caption(f"Round 0 is the public warm start (synthetic digits, no privacy spent): it already draws "
                   f"{sum(x >= COVERED_AT for x in start)}/10 digits recognisably.")
    iso = read_run(run.path / "isolated" / "client-0")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Global (federated) generator**")
        _heat_map(run.metrics, [], "fed_digit_heatmap", start)
    with c2:
        st.markdown("**Client 0 alone**" + (f" (holds {', '.join(map(str, held))})" if held else ""))
        if iso.error is None and iso.metrics:
            _heat_map(iso.metrics, held, "fed_iso_digit_heatmap", start)
        else:
            st.info("Trained after the federation finishes (when chosen at start).")


@st.fragment(run_every=2.0 if active else None)
def live_panel() -> None:
    job = jobs.get_job(runs[ids.index(chosen)].path)
    run, state = job.info, job.state
    fedcfg = run.config.get("federated", {})
    names = [str(i) for i in range(10)]
    total = int(run.status.get("rounds") or fedcfg.get("rounds") or 1)
    done = int(run.status.get("round") or 0)
    st.markdown(f"**Run `{run.id}`** — {STATE_ICONS.get(state, '')} **{state}** · round {done} of {total}"
                + (f" · {run.status['message']}" if run.status.get("message") else ""))
    st.progress(min(done / max(total, 1), 1.0))
    if state in ("queued", "running"):
        if st.button("⏹ Stop after this round", key="fed_stop"):
            jobs.stop(run.path)
            st.rerun()
    if state == "failed":
        st.code(jobs.log_tail(run.path) or "(no log)", language=None)
    void = _void_reason(run.path)
    if void:
        st.warning(f"**Not differentially private (ε = ∞):** {void}. The ε curve below is what its accountant "
                   "counted, but the guarantee does not hold for these weights.")
    if run.metrics:
        st.dataframe(_client_table(run, names), hide_index=True, width="stretch")
        st.plotly_chart(charts.client_epsilon_figure(run.metrics, fedcfg.get("epsilon")), key="fed_eps_chart")
        secs = [m["seconds"] for m in run.metrics]
        st.caption(f"Seconds per round: last {secs[-1]:.1f}, mean {sum(secs) / len(secs):.1f}.")
    _digit_maps(run)
    grid = run.path / "samples" / "latest.png"
    iso = run.path / "isolated" / "client-0" / "samples" / "latest.png"
    held = _held(fedcfg).get(0, {}).get("classes", [])
    for col, title, png, pending in zip(
            st.columns(2),
            ("**Global (federated) model** — one row per digit code",
             "**Client 0 alone** — same data, budget and steps, no federation"),
            (grid, iso),
            ("The first grid appears after round 1.", "Trained after the federation finishes (when chosen at start).")):
        with col:
            st.markdown(title)
            if png.is_file():
                st.image(png.read_bytes(), width="stretch")
            else:
                st.info(pending)
    if held:
        never = [d for d in range(10) if d not in held]
        if never:
            st.caption(f"Client 0 only ever held digits {', '.join(map(str, held))}: rows "
                       f"{', '.join(map(str, never))} in the federated grid are digits it never saw.")
    was = st.session_state.get("fed_was_active")
    now = state in ("queued", "running", "stopping") or jobs.isolated_running(run.path)
    st.session_state.fed_was_active = now
    if was and not now:
        st.rerun(scope="app")


live_panel()
