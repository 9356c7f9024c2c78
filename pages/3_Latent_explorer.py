"""Latent explorer: steer generators with the digit code, style sliders and the noise seed."""
import random

import streamlit as st

from dpinfogan.catalog import pick_default
from dpinfogan.paths import checkpoints_root, runs_root
from dpinfogan.ui import cache, widgets

st.set_page_config(page_title="Latent explorer · DP-InfoGAN Studio", page_icon="🎛️", layout="wide")
widgets.named_pages()
st.title("Latent explorer")
st.caption("Every generator turns a latent — noise z, a digit code and style codes — into an image. Change one "
           "part and watch what moves. The settings live in the URL: copy it to share this exact view.")

entries = cache.discover(str(checkpoints_root()), str(runs_root()))
bad = [e for e in entries if e.error]
usable = [e for e in entries if not e.error]
if bad:
    with st.expander(f"{len(bad)} checkpoint(s) could not be read"):
        for e in bad:
            st.error(f"`{e.path.name}` skipped: {e.error}")
if not usable:
    st.info("No generators yet: the zoo folder (`checkpoints/`) is empty and you have no runs with a checkpoint. "
            "Start one on the **Train** page.")
    st.stop()

by_key = {e.key: e for e in usable}
keys = list(by_key)


LATENT_DEFAULTS = {"seed": 0, "digit": 0, **{f"c{i}": 0.0 for i in range(1, 9)}}


def _reset() -> None:
    for k, v in LATENT_DEFAULTS.items():
        st.session_state[k] = v


def _random_seed() -> None:
    st.session_state.seed = random.randrange(100_000)


# A shared link may carry anything: it is read once, clamped, and each change is said in a note.
best = pick_default(usable).key  # open on the best-looking private model, not the first file
notes = widgets.url_list("models", keys, best)
st.session_state.models = [k for k in st.session_state.models if k in by_key]  # a run may have gone
chosen = st.multiselect("Generators (zoo and your runs)", keys, key="models", format_func=lambda k: by_key[k].label)
if not chosen:
    st.info("Pick at least one generator.")
    st.stop()
models = [by_key[k] for k in chosen]
ref = models[0]
ref_ck, err = cache.load_model(ref)
if ref_ck is None:
    st.error(f"`{ref.path.name}`: {err}")
    st.stop()
lat = ref_ck.config.latent
labels = cache.code_labels(ref)
n_cont = max((cache.load_model(m)[0].config.latent.n_continuous for m in models if cache.load_model(m)[0]), default=0)
n_cont = min(n_cont, 8)  # the URL keeps c1…c8
notes += widgets.url_numbers({"digit": (0, lat.n_categories - 1, 0, True), "seed": (0, 10**9, 0, True),
                              **{f"c{i}": (-2.0, 2.0, 0.0, False) for i in range(1, 9)}})
if st.session_state.digit not in range(lat.n_categories):  # the reference model changed to a smaller one
    st.session_state.digit = 0
for note in notes:
    st.warning(f"Link adjusted: {note}")

def code_for(entry, label_idx: int) -> int:
    """The code of ``entry`` that draws what the reference model's code ``label_idx`` draws."""
    want = labels[label_idx]
    own = cache.code_labels(entry)
    return own.index(want) if want in own else label_idx


# The digit and the seed rerun the page (the traversals below follow them); a style slider reruns only
# the fragment under them, which sends its sliders and one small inline PNG per model (felt speed).
left, right = st.columns([1, 2])
with left:
    digit = st.segmented_control("What to draw (categorical code)", list(range(lat.n_categories)),
                                 required=True, format_func=lambda c: labels[c], key="digit", wrap=True)
with right:
    s1, s2, s3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    seed = s1.number_input("Noise seed (the 'handwriting')", min_value=0, max_value=10**9, key="seed")
    s2.button("🎲 Random", on_click=_random_seed, key="explorer_random", width="stretch")
    s3.button("↺ Reset", on_click=_reset, key="explorer_reset", width="stretch")
codes = {m.key: code_for(m, digit) for m in models}


@st.fragment
def explore() -> None:
    """The style sliders and the side-by-side images: a slider move reruns only this part."""
    left, right = st.columns([1, 2])
    with left:
        conts = [st.slider(f"Style code c{i + 2}", -2.0, 2.0, step=0.1, key=f"c{i + 1}",
                           help="Trained on −1…1; −2…2 goes beyond on purpose, to see where it breaks.")
                 for i in range(n_cont)]
    widgets.sync_url(["models", "digit", "seed", *[f"c{i + 1}" for i in range(n_cont)]])
    with right:
        for col, m in zip(st.columns(len(models)), models):
            with col:
                png, err = cache.render(m, [codes[m.key]], [conts], [seed], nrow=1, scale=8)
                if png is None:
                    st.error(f"{m.label}: {err}")
                    continue
                # inline (data URL): the browser shows it without fetching a media file from the server
                st.image(cache.inline_png(png), caption=m.label, width="content")
                st.download_button("⬇ PNG", lambda png=png: png, file_name=f"{m.name}-{labels[digit]}-seed{seed}.png",
                                   mime="image/png", key=f"dl_{m.key}", on_click="ignore")


explore()

st.subheader("Traversals")
st.caption("Each strip changes one code and keeps everything else fixed (same noise seed).")
steps = [-2.0 + 0.5 * i for i in range(9)]
for m in models:  # strips keep the other style codes at 0, so moving a slider does not redraw them
    ck, err = cache.load_model(m)
    if ck is None:
        continue
    n_cat, k = ck.config.latent.n_categories, ck.config.latent.n_continuous
    mc = code_for(m, digit)
    own_labels = cache.code_labels(m)
    st.markdown(f"**{m.label}**")
    png, _ = cache.render(m, list(range(n_cat)), [()] * n_cat, [seed] * n_cat, nrow=n_cat, scale=3)
    st.image(png, caption="categorical code: " + " · ".join(own_labels), output_format="PNG")
    for i in range(k):
        rows = [[v if j == i else 0.0 for j in range(k)] for v in steps]
        png, _ = cache.render(m, [mc] * len(steps), rows, [seed] * len(steps), nrow=len(steps), scale=3)
        st.image(png, caption=f"style code c{i + 2} from −2 to 2, the others at 0 (digit {own_labels[mc]})",
                 output_format="PNG")
