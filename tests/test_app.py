"""Streamlit pages, headless (AppTest): every page renders with an empty and a tiny zoo, and the
widgets drive the library (start a run and see it finish, move a slider, change the metric)."""
import json
import math
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dpinfogan.config import ModelConfig, PrivacyConfig, TrainConfig
from dpinfogan.data import load_dataset
from dpinfogan.train import Trainer
from dpinfogan import catalog as models
from dpinfogan import grid_quality as quality

ROOT = Path(__file__).resolve().parent.parent
MINE = ["app.py", "home.py", "pages/1_Train.py", "pages/2_Privacy_vs_quality.py", "pages/3_Latent_explorer.py"]


def make_zoo(folder: Path) -> Path:
    """Three tiny generators (ε ≈ 1, ε ≈ 10, non-private), a corrupt file and an evaluator to skip."""
    folder.mkdir(parents=True, exist_ok=True)
    data = load_dataset("offline-digits")
    for name, eps in (("tiny-eps1", 1.0), ("tiny-eps10", 10.0), ("tiny-nonprivate", math.inf)):
        cfg = TrainConfig(dataset="offline-digits", steps=3, batch_size=32,
                          model=ModelConfig(g_width=8, d_width=8, d_hidden=16),
                          privacy=PrivacyConfig(epsilon=eps, delta=1e-5))
        t = Trainer(cfg, data)
        for _ in range(3):
            t.step()
        t.save(folder / f"{name}.safetensors", half=True, with_optimizers=False)
    (folder / "broken.safetensors").write_bytes(b"not a checkpoint")
    (folder / "evaluator-mnist.safetensors").write_bytes(b"skipped by the zoo scan")
    (folder / "tiny-eps1.eval.json").write_text(json.dumps({"metrics": {"cas": 0.5, "fid_evaluator": 30.0,
                                                                         "code_accuracy": 0.6}}))
    return folder


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    return make_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def env(tmp_path, monkeypatch, zoo):
    def use(with_zoo: bool) -> None:
        monkeypatch.setenv("DPINFOGAN_CHECKPOINTS", str(zoo if with_zoo else tmp_path / "empty"))
        monkeypatch.setenv("DPINFOGAN_RUNS", str(tmp_path / "runs"))
        monkeypatch.setenv("DPINFOGAN_REFERENCES", str(tmp_path / "refs.json"))
        (tmp_path / "refs.json").write_text(json.dumps([{"method": "GS-WGAN", "epsilon": 10, "cas": 80.8,
                                                         "source": "Chen et al. 2020"}]))
    return use


def run_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("with_zoo", [False, True], ids=["empty-zoo", "tiny-zoo"])
@pytest.mark.parametrize("page", MINE)
def test_every_page_renders(env, page, with_zoo):
    env(with_zoo)
    run_page(page)


def test_zoo_discovery_skips_evaluators_and_reports_bad_files(zoo):
    entries = models.discover_zoo(zoo)
    assert [e.name for e in entries if not e.error] == ["tiny-eps1", "tiny-eps10", "tiny-nonprivate"]
    (bad,) = [e for e in entries if e.error]
    assert bad.name == "broken" and "not a DP-InfoGAN checkpoint" in bad.error
    picks = models.pick_comparison(entries)
    assert [p[1].name for p in picks] == ["tiny-eps1", "tiny-eps10", "tiny-nonprivate"]
    assert entries[0].code_labels() == [str(i) for i in range(10)]


def test_home_shows_three_generators_and_new_sample_changes_them(env):
    env(True)
    at = run_page("app.py")
    titles = [m.value for m in at.markdown if m.value.startswith("**ε") or m.value.startswith("**no privacy")]
    assert titles == ["**ε ≈ 1 — strong privacy**", "**ε ≈ 10 — moderate privacy**", "**no privacy (ε = ∞)**"]
    assert any("broken.safetensors" in w.value for w in at.warning)
    before = [i.proto.imgs[0].url for i in at.get("image")]
    assert len(before) == 3
    at.button(key="home_new_sample").click().run()
    after = [i.proto.imgs[0].url for i in at.get("image")]
    assert not at.exception and len(after) == 3 and after != before


def test_explorer_slider_changes_the_image_and_the_url(env):
    env(True)
    at = run_page("pages/3_Latent_explorer.py")
    at.multiselect(key="models").set_value(["zoo:tiny-eps1", "zoo:tiny-nonprivate"]).run()
    main = lambda: [i.proto.imgs[0].url for i in at.get("image")][:2]  # noqa: E731 - the side-by-side images
    before = main()
    at.slider(key="c1").set_value(1.5).run()
    assert not at.exception and main() != before and len(main()) == 2
    at.segmented_control(key="digit").set_value(7).run()
    assert not at.exception and main() != before
    at.button(key="explorer_random").click().run()
    seed = at.number_input(key="seed").value
    assert seed != 0 and at.query_params["seed"] in (str(seed), [str(seed)])  # the shareable URL follows
    at.button(key="explorer_reset").click().run()
    assert at.slider(key="c1").value == 0.0 and at.segmented_control(key="digit").value == 0
    assert at.number_input(key="seed").value == 0 and main() == before


def test_explorer_reads_settings_from_the_url(env):
    env(True)
    at = AppTest.from_file(str(ROOT / "pages/3_Latent_explorer.py"), default_timeout=120)
    at.query_params["seed"] = "42"
    at.query_params["c2"] = "-1.0"
    at.run()
    assert not at.exception
    assert at.number_input(key="seed").value == 42 and at.slider(key="c2").value == -1.0


def test_privacy_page_metric_switch_and_model_pick(env):
    env(True)
    at = run_page("pages/2_Privacy_vs_quality.py")
    assert at.radio(key="pq_metric").value == "cas"  # an eval.json exists, so CAS is the default
    assert len(at.get("plotly_chart")) == 1  # tiny-eps1 (from its eval.json) + the literature point
    at.radio(key="pq_metric").set_value("fid_evaluator").run()
    assert not at.exception and len(at.get("plotly_chart")) == 1
    at.radio(key="pq_metric").set_value("proxy").run()
    assert not at.exception
    at.selectbox(key="pq_pick").set_value("zoo:tiny-eps10").run()
    assert not at.exception and any("Samples of tiny-eps10" in s.value for s in at.subheader)


def test_sweep_button_queues_one_run_per_epsilon(env, tmp_path, monkeypatch):
    from dpinfogan import jobs

    env(False)
    monkeypatch.setenv("DPINFOGAN_MAX_JOBS", "1")
    at = run_page("pages/2_Privacy_vs_quality.py")
    at.text_input(key="pq_sweep_steps").set_value("50")
    at.button(key="pq_sweep").click().run()
    try:
        assert not at.exception and not at.error
        sweep = jobs.list_jobs(tmp_path / "runs")
        assert len(sweep) == 4 and all(j.tags.get("sweep") for j in sweep)
        assert sorted(j.state for j in sweep) == ["queued", "queued", "queued", "running"]
        eps = sorted(j.info.config["privacy"]["epsilon"] for j in sweep if j.info.config["privacy"]["epsilon"] != "inf")
        assert eps == [1.0, 3.0, 10.0] and all(j.target_steps == 50 for j in sweep)
        assert at.button(key="pq_sweep").disabled  # one sweep at a time
        assert any("sweep runs: 0 of 4 done" in p.proto.text for p in at.get("progress"))
    finally:
        for j in jobs.list_jobs(tmp_path / "runs", pump_queue=False):
            jobs.stop(j.path)
    assert all(jobs.wait(j.path, 60).state == "stopped" for j in jobs.list_jobs(tmp_path / "runs", pump_queue=False))


def test_train_page_validates_then_runs_to_the_end(env, tmp_path):
    env(False)
    at = run_page("pages/1_Train.py")
    # δ choices follow from N = 4,000: none above 1/(10·N) = 2.5e-5, and 1e-5 by default
    assert at.select_slider(key="train_delta").value == 1e-5
    assert [str(o) for o in at.select_slider(key="train_delta").options][-1] == "1e-05"
    at.text_input(key="train_steps").set_value("20")
    at.text_input(key="train_batch").set_value("32")
    at.text_input(key="train_g_width").set_value("8")
    at.text_input(key="train_d_width").set_value("8")
    at.text_input(key="train_sample_every").set_value("5").run()
    assert not at.error
    at.button(key="train_start").click().run()
    assert not at.exception and any("Started" in s.value for s in at.success)
    deadline = time.monotonic() + 120
    while "finished" not in " ".join(m.value for m in at.markdown):
        assert time.monotonic() < deadline, [m.value for m in at.markdown]
        assert not at.error, [e.value for e in at.error]
        time.sleep(1)
        at.run()
    assert at.get("progress")[0].proto.value == 100
    assert len(at.get("plotly_chart")) == 3  # losses, ε spent, ε versus quality
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "checkpoint.safetensors").is_file() and (run / "train.log").is_file()


def test_grid_quality_reads_the_trainers_grid(tmp_path):
    data = load_dataset("offline-digits")
    cfg = TrainConfig(dataset="offline-digits", steps=2, batch_size=32, model=ModelConfig(g_width=8, d_width=8))
    t = Trainer(cfg, data)
    t.sample_grid().save(tmp_path / "step_000002.png")
    cells = quality.split_grid(tmp_path / "step_000002.png", 10)
    assert cells.shape == (80, 28, 28)
    value, name = quality.grid_quality(tmp_path / "step_000002.png", 10, list(range(10)))
    assert 0.0 <= value <= 1.0 and "proxy" in name
    # real digits laid out like a grid score far above chance
    from dpinfogan.data import to_uint8
    from dpinfogan.fileio import image_grid
    import torch
    idx = torch.cat([torch.nonzero(data.labels == c)[:8, 0] for c in range(10)])
    image_grid(to_uint8(data.images[idx]), nrow=8, scale=2).save(tmp_path / "real.png")
    real, _ = quality.grid_quality(tmp_path / "real.png", 10, list(range(10)))
    assert real > 0.6


def test_privacy_page_plots_attack_auc_of_the_attack_lab(monkeypatch, tmp_path):
    root = Path(__file__).resolve().parent.parent
    monkeypatch.setenv("DPINFOGAN_CHECKPOINTS", str(root / "checkpoints"))
    monkeypatch.setenv("DPINFOGAN_RUNS", str(tmp_path / "runs"))
    at = run_page("pages/2_Privacy_vs_quality.py")
    at.radio(key="pq_metric").set_value("attack_auc").run()
    assert not at.exception
    spec = at.get("plotly_chart")[0].proto.spec
    assert "attack lab" in spec and "nonprivate" in spec and "eps1" in spec
    assert "lower is better" in spec


# ---- bad inputs, table-driven from the battery (benchmarks/bad_input_cases.py)
import sys  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import bad_input_cases  # noqa: E402

from dpinfogan.inputs import TRAIN_FIELDS  # noqa: E402


@pytest.mark.parametrize("field", list(TRAIN_FIELDS))
def test_train_field_bad_values_disable_start_and_name_the_field(env, field):
    env(False)
    at = run_page("pages/1_Train.py")
    assert not at.button(key="train_start").disabled
    for key, text, expect, caption in [c for c in bad_input_cases.ui_cases() if c[0] == field]:
        at.text_input(key=key).set_value(text).run()
        assert not at.exception
        errors = " ".join(e.value for e in at.error)
        if expect == "refuse":
            assert at.button(key="train_start").disabled, text
            assert TRAIN_FIELDS[key].label in errors or "dataset" in errors, (text, errors)
        else:
            assert not errors and not at.button(key="train_start").disabled, (text, errors)
            if caption:
                assert any(caption in c.value for c in at.caption), (text, caption)
        at.text_input(key=key).set_value(TRAIN_FIELDS[key].text()).run()


@pytest.fixture(scope="module")
def good_zoo(tmp_path_factory) -> Path:
    """The names the battery's URL table expects: copies of two shipped generators."""
    import shutil

    zoo = tmp_path_factory.mktemp("good-zoo")
    for eps in ("eps10", "eps1"):
        shutil.copy(ROOT / "checkpoints" / f"mnist-labels-{eps}.safetensors", zoo / f"good-{eps}.safetensors")
    return zoo


@pytest.mark.parametrize("query,expect,want", bad_input_cases.URL_CASES, ids=[str(c[0]) for c in bad_input_cases.URL_CASES])
def test_explorer_link_is_clamped_with_a_note(good_zoo, monkeypatch, query, expect, want):
    monkeypatch.setenv("DPINFOGAN_CHECKPOINTS", str(good_zoo))
    at = AppTest.from_file(str(ROOT / "pages/3_Latent_explorer.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    kinds = {"digit": "segmented_control", "seed": "number_input", "c1": "slider", "c2": "slider",
             "models": "multiselect"}
    assert {k: getattr(at, kinds[k])(key=k).value for k in want} == want
    noted = any("Link adjusted" in w.value for w in at.warning)
    assert noted == (expect == "refuse")


def test_explorer_opens_on_the_best_private_model(good_zoo, monkeypatch):
    monkeypatch.setenv("DPINFOGAN_CHECKPOINTS", str(good_zoo))
    at = run_page("pages/3_Latent_explorer.py")
    assert at.multiselect(key="models").value == ["zoo:good-eps10"]


def test_train_page_offers_the_public_warm_start(tmp_path, monkeypatch):
    from dpinfogan.fontdigits import font_digits
    from dpinfogan.recipe import WARM_START_FILE
    from dpinfogan.train import train

    zoo = tmp_path / "zoo"
    cfg = TrainConfig(dataset="font-digits", steps=2, batch_size=32, model=ModelConfig(g_width=64, d_width=16),
                      privacy=PrivacyConfig(epsilon=math.inf))
    res = train(cfg, font_digits(100), tmp_path / "warm", log_every=1000)
    zoo.mkdir()
    (zoo / WARM_START_FILE).write_bytes(res.checkpoint.read_bytes())
    monkeypatch.setenv("DPINFOGAN_CHECKPOINTS", str(zoo))
    monkeypatch.setenv("DPINFOGAN_RUNS", str(tmp_path / "runs"))
    at = run_page("pages/1_Train.py")
    box = at.checkbox(key="train_warm")
    assert box.value is True and not box.disabled and not at.error
    at.text_input(key="train_d_width").set_value("8").run()  # other networks: the warm start cannot fit
    assert any("warm start does not fit" in e.value for e in at.error) and at.button(key="train_start").disabled
    at.checkbox(key="train_warm").uncheck().run()
    assert not at.error and not at.button(key="train_start").disabled


def test_streamlit_config_keeps_the_measured_speed_settings():
    """The two server settings benchmarks/app_latency.py measured (README, App latency): no full GC after
    each script run, and no file watcher (it cost ~1 s of every cold start and kept the server busy while a
    tab sat open)."""
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["postScriptGC"] is False
    assert cfg["server"]["fileWatcherType"] == "none"
