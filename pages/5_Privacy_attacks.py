"""Privacy attacks: membership inference against the attack-lab models, the (ε, δ)-DP bound on
attack success, and the memorisation gallery. Reads the shipped results; runs no model."""
import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dpinfogan.attacks import FPR_LOW, auc_standard_error, decode_image, dp_tpr_bound, load_results
from dpinfogan.data import PROJECT_ROOT
from dpinfogan.fileio import image_grid

st.set_page_config(page_title="Privacy attacks · DP-InfoGAN Studio", page_icon="🕵️", layout="wide")
LAB = PROJECT_ROOT / "checkpoints" / "attack-lab"
INF_X = 1000.0  # where ε = ∞ sits on the log ε axis
COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b"]


@st.cache_data(show_spinner=False)
def _load(path: str, mtime: float) -> tuple[dict | None, str | None]:  # noqa: ARG001 - mtime keys the cache
    try:
        return load_results(path), None
    except (ValueError, KeyError, OSError) as e:
        return None, str(e)


def _eps_text(r: dict) -> str:
    steps = r["model"].get("steps")
    tail = f", {steps:,} steps" if isinstance(steps, int) else ""
    if r.get("clipped_without_noise"):
        tail += " (partly clipped, σ = 0)"  # clipping alone gives no ε
    return ("no privacy (ε = ∞)" if not r["private"] else f"ε = {r['epsilon']:.3g}") + tail


@st.cache_data(show_spinner=False)
def _pair_png(images: tuple[str, ...]) -> bytes:
    import io

    import torch

    arr = torch.from_numpy(np.stack([decode_image(t) for t in images]))
    buf = io.BytesIO()
    image_grid(arr, nrow=len(images), scale=3).save(buf, format="PNG")
    return buf.getvalue()


st.title("Privacy attacks: can anyone tell who was in the training set?")
st.markdown(
    """
A **membership-inference attack** takes an image and a trained model and guesses: *was this exact image
in the training set?* If the answer can be guessed much better than a coin flip, the model leaks who
contributed data — for medical or personal images, that alone can be sensitive.

We attack each model in two ways:
* **White-box (LOGAN)** — look at the discriminator: an over-trained discriminator is more confident
  that its own training images are "real" than it is for images it never saw.
* **Black-box (GAN-Leaks)** — only look at generated images: if the generator has memorised a training
  image, some generated sample sits very close to it.

Success is measured on 1,000 **members** (the training set) and 1,000 **non-members** (held out, same
distribution). **AUC** 0.5 = guessing, 1.0 = perfect. **TPR at 1 % FPR** asks: if the attacker may wrongly
accuse only 1 % of non-members, what fraction of members does it catch? (Guessing gives 1 %.)
"""
)

files = sorted(LAB.glob("*.attack.json")) if LAB.is_dir() else []
results = []
for f in files:
    res, err = _load(str(f), f.stat().st_mtime)
    if err:
        st.warning(f"Skipped `{f.name}`: {err}")
    else:
        results.append(res)
if not results:
    st.info("No attack results yet. Train the attack-lab models with `python scripts/attack_lab.py train ...` and "
            "attack them with `python -m dpinfogan attack checkpoints/attack-lab/<name>.safetensors`.")
    st.stop()
results.sort(key=lambda r: (-r["epsilon"], -(r["model"].get("steps") or 0)))  # ∞ first, then large ε
color = {r["checkpoint"]: COLORS[i % len(COLORS)] for i, r in enumerate(results)}
names = {"logan": "white-box (D score)", "gan_leaks": "black-box (pixels)",
         "gan_leaks_features": "black-box (evaluator features)"}

st.header("How well do the attacks work?")
rows = []
for r in results:
    row = {"model": _eps_text(r), "δ": r["delta"] if r["private"] else None}
    for k, a in r["attacks"].items():
        se = auc_standard_error(a["auc"], r["setting"]["n_members"], r["setting"]["n_nonmembers"])
        row[f"{names.get(k, k)} AUC"] = f"{a['auc']:.3f} ± {2 * se:.3f}"
        row[f"{names.get(k, k)} TPR@1%FPR"] = a["tpr_at_1pct_fpr"]
    b = r["dp_bound"]
    row["DP bound: max AUC"] = b["auc"] if b else None
    row["DP bound: max TPR@1%FPR"] = b["tpr_at_1pct_fpr"] if b else None
    rows.append(row)
st.dataframe(rows, hide_index=True, use_container_width=True)
st.caption("AUC ± two standard errors (Hanley–McNeil): with 1,000 members and 1,000 non-members, anything "
           "within about 0.5 ± 0.026 is indistinguishable from guessing.")

c1, c2 = st.columns([3, 2])
with c1:
    kinds = [k for k in names if any(k in r["attacks"] for r in results)]
    kind = st.radio("Attack", kinds, format_func=lambda k: names[k], horizontal=True, key="attacks_kind")
    log_axes = st.toggle("log axes (zoom on the low false-positive corner)", value=False, key="attacks_log")
    fig = go.Figure()
    lo = 1e-3 if log_axes else 0.0
    grid = np.geomspace(1e-3, 1, 300) if log_axes else np.linspace(0, 1, 301)
    fig.add_trace(go.Scatter(x=grid, y=grid, mode="lines", name="guessing", line=dict(color="#999", dash="dot")))
    for r in results:
        a = r["attacks"].get(kind)
        if a is None:
            continue
        c = color[r["checkpoint"]]
        fig.add_trace(go.Scatter(x=np.maximum(a["fpr"], lo), y=np.maximum(a["tpr"], lo), mode="lines",
                                 name=f"{_eps_text(r)} (AUC {a['auc']:.2f})", line=dict(color=c)))
        if r["private"]:
            fig.add_trace(go.Scatter(x=grid, y=np.maximum(dp_tpr_bound(grid, r["epsilon"], r["delta"]), lo),
                                     mode="lines", name=f"DP bound, ε = {r['epsilon']:.3g}",
                                     line=dict(color=c, dash="dash")))
    fig.add_vline(x=FPR_LOW, line_dash="dot", line_color="#bbb", annotation_text="1% FPR")
    axis = dict(type="log", range=[-3, 0]) if log_axes else dict(range=[0, 1])
    fig.update_layout(title=f"ROC curves — {names[kind]}", xaxis_title="false-positive rate (non-members accused)",
                      yaxis_title="true-positive rate (members caught)", xaxis=axis, yaxis=dict(axis),
                      height=460, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    st.plotly_chart(fig, use_container_width=True)
with c2:
    fig = go.Figure()
    xs = [r["epsilon"] if math.isfinite(r["epsilon"]) else INF_X for r in results]
    for k in kinds:
        fig.add_trace(go.Scatter(x=xs, y=[r["attacks"].get(k, {}).get("auc") for r in results],
                                 mode="lines+markers", name=names[k]))
    priv = [(x, r) for x, r in zip(xs, results) if r["private"]]
    if priv:
        fig.add_trace(go.Scatter(x=[x for x, _ in priv], y=[r["dp_bound"]["auc"] for _, r in priv], mode="markers",
                                 name="(ε, δ)-DP bound on AUC", marker=dict(symbol="line-ew-open", size=18, color="#444")))
    fig.add_hline(y=0.5, line_dash="dot", line_color="#999", annotation_text="guessing")
    ticks = sorted(set(xs))
    fig.update_layout(title="Attack AUC against ε", xaxis=dict(type="log", tickvals=ticks,
                      ticktext=["∞" if t == INF_X else f"{t:.3g}" for t in ticks], title="ε (privacy budget)"),
                      yaxis=dict(title="AUC", range=[0.4, 1.0]), height=460,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    st.plotly_chart(fig, use_container_width=True)

st.subheader("What ε promises")
st.markdown(
    """
If training is (ε, δ)-differentially private, **no attack of any kind** — however clever, with any
amount of side knowledge — can tell members from non-members better than

  **TPR ≤ min( e^ε · FPR + δ,  1 − e^(−ε) · (1 − δ − FPR) )**

at every false-positive rate. That is the dashed curve of the same colour. At ε = 1 it is close to the
diagonal (at 1 % FPR an attack catches at most about 2.7 % of members); at ε = 10 it is almost no
constraint (e^10 ≈ 22,000), so an ε = 10 model is protected in practice by the noise and clipping
rather than by the guarantee. The bound is a worst case over attackers and datasets: real attacks on an
average member usually land far below it. The non-private model has no bound at all.
"""
)

st.header("Memorisation: does the generator copy its training images?")
st.markdown(
    """
For each model we drew generated samples and found, for each one, the nearest **training** image
and the nearest **held-out** image (pixel distance). A sample much closer to a training image than to
anything held out is a near-copy. Below are each model's most copy-like samples
(left: generated, middle: nearest training image, right: nearest held-out image for comparison).
The margin is how much nearer the most copy-like sample is to its training image than to any held-out
image. Be aware of the price: with only 1,000 training images, the ε = 10 and ε = 1 generators barely
draw digits at all — nothing is copied, but little is learned either.
"""
)
cols = st.columns(len(results))
for col, r in zip(cols, results):
    m = r["memorisation"]
    with col:
        st.markdown(f"**{_eps_text(r)}**")
        best = 1 - m["pairs"][0]["ratio"] if m["pairs"] else 0.0
        st.metric("closest copy: margin over held-out", f"{best:.0%}",
                  help="1 − (distance to nearest member) / (distance to nearest non-member) for the most "
                       "copy-like generated sample. Near 0% = no sample singles out a training image.")
        st.caption(f"median distance to nearest member {m['median_nn_member']:.1f} vs non-member "
                   f"{m['median_nn_nonmember']:.1f}; {m['frac_closer_to_member']:.0%} of {m['n_generated']:,} "
                   "samples are nearer a member (a noisy statistic: ~50% means no preference)")
        for p in m["pairs"][:6]:
            im = p["images"]
            st.image(_pair_png((im["generated"], im["member"], im["nonmember"])),
                     caption=f"to member {p['d_member']:.2f} · to held-out {p['d_nonmember']:.2f}")

with st.expander("How these models and numbers were made"):
    r0 = results[0]
    s = r0["setting"]
    st.markdown(
        f"""
* **Data** — {s.get('members', '?')}; non-members: {s.get('nonmembers', '?')}. Offline, no download.
* **Models** — each trained with the project's own training loop on the members only, on one CPU thread,
  δ = 1e-4 (< 1/N = 1e-3) for the private ones. Generated samples per attack: {s['n_generated']:,}.
* **Reproduce** — `python scripts/attack_lab.py train --name eps1 --epsilon 1`, then
  `python -m dpinfogan attack checkpoints/attack-lab/eps1.safetensors` (also `nonprivate`/`inf`, `eps10`/`10`).
* **Attack your own model** — `python -m dpinfogan attack CHECKPOINT --members train.npz --nonmembers heldout.npz`
  (uint8 `images` arrays).
"""
    )
    st.dataframe([{"model": _eps_text(r), "σ": r["model"]["noise_multiplier"], "steps": r["model"]["steps"],
                   "batch": r["model"]["batch_size"], "train seconds": r["model"]["train_seconds"],
                   "file": r["checkpoint"]} for r in results], hide_index=True, use_container_width=True)
