"""DP-InfoGAN Studio — home page: an instant three-ε comparison from the zoo, then what the method does.

The comparison comes first (above the fold on a 1366×768 projector) but is filled last: its container
is placed at the top and filled after the text. It is read from a disk cache keyed by the zoo files'
sha256 (:mod:`dpinfogan.comparison`), so a cold start shows it without loading torch; only a new zoo
or a new seed draws it."""
import math
import random

import streamlit as st

st.set_page_config(page_title="DP-InfoGAN Studio", page_icon="🔒", layout="wide")
st.title("DP-InfoGAN Studio")
demo = st.container()  # filled last: the text and navigation show first
st.header("How it works")
st.markdown(
    """
A **generator** learns to draw handwritten digits without ever looking at the real ones: only the
**discriminator** sees real images, and it learns with *differentially private* SGD — every real
image's influence is clipped and hidden under random noise. **ε (epsilon)** measures how much any
single person's image could still leak: **smaller ε = stronger privacy**, at some cost in image quality.
Like InfoGAN, the generator also takes *codes*: one picks the digit, two more steer the style (slant, thickness).
"""
)
st.graphviz_chart(
    """digraph { rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="sans-serif"];
    codes [label="random noise z\\n+ digit code c1\\n+ style codes c2, c3"]; G [label="Generator"];
    fake [label="generated digits", fillcolor="#fff"]; real [label="real digits\\n(private data)", fillcolor="#fde2e1"];
    D [label="Discriminator + Q head\\ntrained with DP-SGD:\\nclip each image's gradient,\\nadd Gaussian noise",
       fillcolor="#fde2e1"];
    codes -> G -> fake -> D; real -> D; D -> G [label="feedback (already private)", style=dashed]; }""",
    width="content",
)

st.header("What each page is for")
st.markdown(
    """
- **Train** — pick a privacy budget ε and start your own private training run; watch the losses, the ε spent and the
  samples improve live; stop it any time (the last checkpoint is kept).
- **Privacy vs quality** — every model on one chart: ε against image quality, with published results for
  comparison. Click a point to see its samples; start a small sweep and watch the curve fill in.
- **Latent explorer** — steer a generator: choose the digit, move the style sliders, compare generators side by side,
  share the view by URL.
- **Federated** — several clients each hold only some digits and train together (DPD-InfoGAN): only model weights
  travel, each client keeps its own privacy budget.
- **Privacy attacks** — can an attacker tell whether an image was in the training set? Membership-inference
  attacks against private and non-private models, with the bound that ε puts on any such attack.
"""
)

with demo:
    from dpinfogan.ui import home  # no torch: a cold start reads the drawn comparison from the disk cache

    st.subheader("Same latent, three privacy levels")
    top = st.columns([3, 1])
    top[0].caption("Each column is a different generator from the shipped zoo, fed exactly the same noise and codes: "
                   "one noise draw, the digits 0–9.")
    if "home_seed" not in st.session_state:
        st.session_state.home_seed = 0
    if top[1].button("🎲 New sample", key="home_new_sample", width="stretch"):
        st.session_state.home_seed = random.randrange(1_000_000)
    result = home.comparison(st.session_state.home_seed)
    for name, error in result.skipped:
        st.warning(f"`{name}` skipped: {error}")
    titles = {1.0: "ε ≈ 1 — strong privacy", 10.0: "ε ≈ 10 — moderate privacy", math.inf: "no privacy (ε = ∞)"}
    for col, c in zip(st.columns(3), result.columns):
        with col:
            st.markdown(f"**{titles[c.target]}**")
            if c.status == "missing":
                st.info("No such model in the zoo yet (`checkpoints/`). Train one on the **Train** page "
                        "or with `python -m dpinfogan train`.")
            elif c.status == "error":
                st.error(c.error)
            else:
                st.image(c.png, caption=c.caption, width="stretch", output_format="PNG")

    if result.empty:
        st.info("The zoo folder is empty. Everything still works: train a model on the Train page, "
                "it then appears in the explorer and on the chart.")
