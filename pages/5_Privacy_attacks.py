"""Privacy attacks: membership inference against the attack-lab models, the ε each attack proves
against the ε each model claims, the (ε, δ)-DP bound, the canary audit and the memorisation gallery.
Reads the shipped results; runs no model."""
import numpy as np
import streamlit as st
import torch

from dpinfogan.attack_lab import audit_verdict, evaluator_warning, file_sha256, load_results
from dpinfogan.attacks import auc_standard_error, decode_image
from dpinfogan.paths import checkpoints_root, evaluator_path
from dpinfogan.sampling import png_bytes
from dpinfogan.ui import charts

st.set_page_config(page_title="Privacy attacks · DP-InfoGAN Studio", page_icon="🕵️", layout="wide")
LAB = checkpoints_root() / "attack-lab"
EVALUATOR = evaluator_path("mnist")


@st.cache_data(show_spinner=False)
def _load(path: str, mtime: float) -> tuple[dict | None, str | None]:  # noqa: ARG001 - mtime keys the cache
    try:
        return load_results(path), None
    except (ValueError, KeyError, OSError) as e:
        return None, str(e)


@st.cache_data(show_spinner=False)
def _sha256(path: str, mtime: float) -> str | None:  # noqa: ARG001 - mtime keys the cache
    return file_sha256(path)


def _eps_text(r: dict) -> str:
    steps = r["model"].get("steps")
    tail = f", {steps:,} steps" if isinstance(steps, int) else ""
    if r.get("void_reason"):
        tail += " (trained with DP, but no guarantee holds)"
    return ("no privacy (ε = ∞)" if not r["private"] else f"ε = {r['epsilon']:.3g}") + tail


@st.cache_data(show_spinner=False)
def _pair_png(images: tuple[str, ...]) -> bytes:
    return png_bytes(torch.from_numpy(np.stack([decode_image(t) for t in images])), nrow=len(images), scale=3)


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

**AUC** is the chance that the attack scores a random member above a random non-member (0.5 = guessing,
1.0 = perfect); **TPR at 1 % FPR** is the fraction of members it catches when it may wrongly accuse only
1 % of non-members (guessing catches 1 %). The **lower bound** is the smallest ε consistent with what the
attack achieved: with 95 % confidence the model cannot be more private than that, so a lower bound above
the ε a model claims would prove the claim false.
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
shipped_sha = _sha256(str(EVALUATOR), EVALUATOR.stat().st_mtime) if EVALUATOR.is_file() else None
for r in results:
    why = evaluator_warning(r, shipped_sha)
    if why:
        st.warning(f"`{r['checkpoint']}`: {why}. Its feature-attack numbers are not comparable with the others.")
s0 = results[0]["setting"]
st.caption(f"Measured on {s0['n_members']:,} **members** (the training set) and {s0['n_nonmembers']:,} "
           "**non-members** (held out, same distribution).")

st.header("Does each model keep its promise?")
for r in results:
    v = audit_verdict(r)
    proved = f"the attacks prove ε ≥ {v['epsilon_lb']:.2f}" + (f" ({v['by']})" if v["by"] and v["epsilon_lb"] > 0 else "")
    if v["violated"]:
        st.error(f"**{_eps_text(r)}**: {proved}, but the model claims ε ≤ {v['claimed']:.3g}. A lower bound above "
                 "the claimed ε means the privacy accounting or the private step is wrong: this is a bug.")
    elif r["private"]:
        st.success(f"**{_eps_text(r)}**: {proved}; the model claims ε ≤ {v['claimed']:.3g}. Consistent.")
    else:
        why = f" ({r['void_reason']})" if r.get("void_reason") else ""
        st.info(f"**{_eps_text(r)}**: {proved}; the model claims no guarantee{why}.")
st.caption("Each lower bound holds with 95 % confidence: the attack's threshold is chosen on a random half of the "
           "members and non-members, and Clopper–Pearson intervals on the other half bound its TPR and FPR "
           "(δ: the model's, or for a model without DP the δ a private run on its data would use). "
           "See `dpinfogan/audit.py`.")
color = {r["checkpoint"]: charts.ATTACK_COLORS[i % len(charts.ATTACK_COLORS)] for i, r in enumerate(results)}
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
        row[f"{names.get(k, k)} proves ε ≥"] = round(a["audit"]["epsilon_lb"], 2) if a.get("audit") else None
    b = r["dp_bound"]
    row["DP bound: max AUC"] = b["auc"] if b else None
    row["DP bound: max TPR@1%FPR"] = b["tpr_at_1pct_fpr"] if b else None
    rows.append(row)
st.dataframe(rows, hide_index=True, width="stretch")
se0 = auc_standard_error(0.5, s0["n_members"], s0["n_nonmembers"])
st.caption(f"AUC ± two standard errors (Hanley–McNeil): with these set sizes, anything within about "
           f"0.5 ± {2 * se0:.3f} is indistinguishable from guessing.")

c1, c2 = st.columns([3, 2])
with c1:
    kinds = [k for k in names if any(k in r["attacks"] for r in results)]
    kind = st.radio("Attack", kinds, format_func=lambda k: names[k], horizontal=True, key="attacks_kind")
    log_axes = st.toggle("log axes (zoom on the low false-positive corner)", value=False, key="attacks_log")
    curves = [{"name": f"{_eps_text(r)} (AUC {r['attacks'][kind]['auc']:.2f})", "fpr": r["attacks"][kind]["fpr"],
               "tpr": r["attacks"][kind]["tpr"], "color": color[r["checkpoint"]],
               **({"epsilon": r["epsilon"], "delta": r["delta"], "bound_name": f"DP bound, ε = {r['epsilon']:.3g}"}
                  if r["private"] else {})} for r in results if kind in r["attacks"]]
    st.plotly_chart(charts.roc_figure(curves, f"ROC curves — {names[kind]}", log_axes), width="stretch")
with c2:
    aucs = {names[k]: [r["attacks"].get(k, {}).get("auc") for r in results] for k in kinds}
    bounds = [(r["epsilon"], r["dp_bound"]["auc"]) for r in results if r["private"]]
    st.plotly_chart(charts.attack_auc_figure([r["epsilon"] for r in results], aucs, bounds,
                                            [color[r["checkpoint"]] for r in results]), width="stretch")

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

st.header("Canaries: a second view of the same question")
st.markdown(
    """
Besides the ordinary digits, each lab model trained on a few **canaries**: digits with a random
black-and-white stamp, each stamp different, so they look like nothing else in the data. As many
canaries, stamped the same way, were held out. If the discriminator scores the canaries it trained on
higher than the held-out ones, it remembers individual records; DP promises it barely can.
"""
)
canaried = [r for r in results if r.get("canaries")]
if not canaried:
    st.info("These results have no canary audit; re-run `python scripts/attack_lab.py attack`.")
else:
    fig = charts.canary_gap_figure([_eps_text(r) for r in canaried], [r["canaries"]["gap"] for r in canaried],
                                   [2 * r["canaries"]["gap_se"] for r in canaried],
                                   [color[r["checkpoint"]] for r in canaried])
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(fig, width="stretch")
    c2.dataframe([{"model": _eps_text(r), "canaries in / out": f"{r['canaries']['k']} / {r['canaries']['k_heldout']}",
                   "score gap": round(r["canaries"]["gap"], 2), "canary AUC": round(r["canaries"]["auc"], 3),
                   "proves ε ≥": round(r["canaries"].get("epsilon_lb", 0.0), 2)} for r in canaried],
                 hide_index=True, width="stretch")
    examples = canaried[0]["canaries"].get("images") or []
    if examples:
        c2.image(_pair_png(tuple(examples)), caption="some of the inserted canaries")

st.header("Memorisation: does the generator copy its training images?")
st.markdown(
    """
For each model we drew generated samples and found, for each one, the nearest **training** image
and the nearest **held-out** image (pixel distance). A sample much closer to a training image than to
anything held out is a near-copy. Below are each model's most copy-like samples
(left: generated, middle: nearest training image, right: nearest held-out image for comparison).
The margin is how much nearer the most copy-like sample is to its training image than to any held-out
image. Be aware of the price: with so few training images, the ε = 10 and ε = 1 generators barely
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
                   "samples are nearer a member (~50% means no preference, but when the samples all look alike "
                   "one training image can decide it; the median distance ratio "
                   f"{m.get('median_ratio', float('nan')):.3f} is steadier: 1 = no preference)")
        for p in m["pairs"][:6]:
            im = p["images"]
            st.image(_pair_png((im["generated"], im["member"], im["nonmember"])),
                     caption=f"to member {p['d_member']:.2f} · to held-out {p['d_nonmember']:.2f}")

with st.expander("How these models and numbers were made"):
    r0 = results[0]
    s = r0["setting"]
    ev = r0.get("evaluator") or {}
    st.markdown(
        f"""
* **Data** — {s.get('members', '?')}; non-members: {s.get('nonmembers', '?')}; plus
  {s.get('lab_canaries', '?')} stamped canaries trained on and as many held out. Offline, no download.
* **Models** — each trained with the project's own training loop on the members and canaries only, on one CPU
  thread, with one recipe and the same number of steps; only clipping and noise differ. δ ≤ 1/(10·N) for the
  private ones. Generated samples per attack: {s['n_generated']:,}.
* **Evaluator** (feature attack) — sha256 `{str(ev.get('sha256', '?'))[:16]}…`, `{ev.get('path', '?')}`.
* **Reproduce** — `python scripts/attack_lab.py train --name eps1 --epsilon 1` (trains, then attacks);
  `python scripts/attack_lab.py attack` re-attacks every shipped lab model.
* **Attack your own model** — `python -m dpinfogan attack CHECKPOINT --members train.npz --nonmembers heldout.npz`
  (uint8 `images` arrays).
"""
    )
    st.dataframe([{"model": _eps_text(r), "σ": r["model"]["noise_multiplier"], "steps": r["model"]["steps"],
                   "batch": r["model"]["batch_size"], "D width / hidden": f"{r['model'].get('d_width')} / "
                   f"{r['model'].get('d_hidden')}", "train seconds": r["model"]["train_seconds"],
                   "file": r["checkpoint"]} for r in results], hide_index=True, width="stretch")
