"""DP-InfoGAN Studio: ``streamlit run app.py``. Names the pages, so the sidebar says "Home" (the
home page itself is ``home.py``) and every page keeps its old URL."""
import streamlit as st

st.set_page_config(page_title="DP-InfoGAN Studio", page_icon="🔒", layout="wide")
PAGES = [
    st.Page("home.py", title="Home", icon="🔒", default=True),
    st.Page("pages/1_Train.py", title="Train", icon="🏋️", url_path="Train"),
    st.Page("pages/2_Privacy_vs_quality.py", title="Privacy vs quality", icon="📉", url_path="Privacy_vs_quality"),
    st.Page("pages/3_Latent_explorer.py", title="Latent explorer", icon="🎛️", url_path="Latent_explorer"),
    st.Page("pages/4_Federated.py", title="Federated", icon="🌐", url_path="Federated"),
    st.Page("pages/5_Privacy_attacks.py", title="Privacy attacks", icon="🕵️", url_path="Privacy_attacks"),
]
st.navigation(PAGES).run()
