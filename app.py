"""DP-InfoGAN Studio — home page."""
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="DP-InfoGAN Studio", layout="wide")
st.title("DP-InfoGAN Studio")
st.write(
    "InfoGAN trained with differential privacy: a generator learns to draw digits while the "
    "discriminator, the only part that sees real data, is trained with DP-SGD."
)
ckpts = sorted(Path(__file__).parent.joinpath("checkpoints").glob("*.safetensors"))
if not ckpts:
    st.info("No shipped checkpoints yet: train one with `python -m dpinfogan train`.")
