"""Issue #16, reliability: each app run has a time and memory budget; uploads own their errors.

The app (``app.py``, driven headless by Streamlit's ``AppTest``) runs every
simulation in a worker process (:mod:`sim.app.budget`). A run over the time
budget is stopped (the worker killed), an ensemble whose estimated memory is
over the budget is refused before it runs, and a run over it anyway is
stopped; each says so in the app, which stays usable, and other sessions go
on meanwhile. An upload's own errors (an unknown ``parameters:`` key) are
reported as its, not as the calibration's, and ``table:`` levers run as
``sim run`` runs them.
"""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import scenarios as sc
from sim.app import budget as B
from sim.app import i18n
from sim.app import state as S
from sim.app import worker as W

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
MODEL = ROOT / "model" / "digital_trade.mdl"
CALIBRATED = ROOT / "model" / "calibrated.yaml"
EXPORTS = "Digitally Deliverable Exports"
BUDGET_S = 1.5
#: ``One Year`` at 0.01 makes RK45 crawl: ~5 s for one run (measured), then the step collapses
CRAWL = b"name: crawl\ndescription: a run that takes long\nparameters: {One Year: 0.01}\n"
#: a band of 60,000 members: under the memory budget, ~6 s of SciPy
SLOW_BAND = (b"name: big band\ndescription: a long ensemble\nmembers: 60000\nseed: 1\n"
             b"calibration_uncertainty: identified\n")
HUGE_BAND = SLOW_BAND.replace(b"60000", b"1000000").replace(b"big band", b"huge band")

pytestmark = pytest.mark.skipif(not (MODEL.exists() and CALIBRATED.exists()),
                                reason="the project's model and calibration are needed")


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("DDS_MODEL", str(MODEL))
    monkeypatch.setenv("DDS_CALIBRATED", str(CALIBRATED))
    monkeypatch.setenv("DDS_APP_TIME_BUDGET", str(BUDGET_S))
    monkeypatch.delenv("DDS_APP_MEMORY_BUDGET", raising=False)


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    at.radio(key="lang").set_value("en")
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, content: bytes, name: str = "mine.yaml") -> float:
    """Upload ``content`` and rerun; the seconds the rerun took."""
    at.file_uploader(key="upload").upload(name, content, "application/x-yaml")
    t0 = time.perf_counter()
    at.run()
    assert not at.exception, at.exception
    return time.perf_counter() - t0


def library_value(text: str, var: str = EXPORTS, year: float = 2035.0) -> float:
    """``var`` in ``year`` of the scenario run as ``sim run`` runs it (calibrated base)."""
    model = sim.load_model(MODEL)
    resolved = sc.resolve(sc.load_scenarios_text(text, "t")[0], model,
                          sc.load_calibrated(CALIBRATED), members=1)
    return float(model.simulate(method="scipy", **resolved.simulate_kwargs()).at(var, year))


def charts(at: AppTest) -> int:
    """Vega-Lite charts on the page."""
    found = []

    def walk(node):
        kids = getattr(node, "children", None)
        for c in (kids.values() if isinstance(kids, dict) else kids or []):
            if getattr(c, "type", None) == "vega_lite_chart":
                found.append(c)
            walk(c)
    walk(at.main)
    return len(found)


def shown(x: float) -> str:
    return i18n.fmt_number(x, "en")


def baseline_metric() -> str:
    return shown(library_value("name: b\ndescription: b\n"))


# ------------------------------------------------------------------ the time budget
def test_a_point_run_over_the_time_budget_is_stopped_and_the_app_stays_usable(env):
    at = start()
    took = upload(at, CRAWL)
    assert took < BUDGET_S + 15, f"the message came after {took:.1f} s"
    assert [e.value for e in at.error] == [
        "The run was stopped (over the app's time or memory budget for one run): the point run "
        "was stopped after 1.5 s, the app's time budget (DDS_APP_TIME_BUDGET); lower members: or "
        "check the parameters of the scenario, or run it with sim run"]
    assert not at.metric
    # said again at once on the next rerun, not run again
    t0 = time.perf_counter()
    at.run()
    assert time.perf_counter() - t0 < BUDGET_S and len(at.error) == 1
    # usable: reset runs the baseline
    at.button(key="reset").click()
    at.run()
    assert not at.exception and not at.error
    assert at.metric[0].value == baseline_metric()


def test_a_band_over_the_time_budget_is_stopped_and_the_numbers_still_shown(env):
    at = start()
    took = upload(at, SLOW_BAND)
    assert took < BUDGET_S + 15, f"the message came after {took:.1f} s"
    assert not at.error
    assert [w.value for w in at.warning] == [
        "No uncertainty band: the band was stopped after 1.5 s, the app's time budget "
        "(DDS_APP_TIME_BUDGET); lower members: or check the parameters of the scenario, or run "
        "it with sim run"]
    assert at.metric[0].value == baseline_metric()  # the point run (nothing else changed)


# ------------------------------------------------------------------ the memory budget
def test_an_ensemble_over_the_memory_budget_is_refused_before_it_runs(env):
    at = start()
    took = upload(at, HUGE_BAND)
    assert took < 10, f"{took:.1f} s: it ran"
    assert not at.error
    assert len(at.warning) == 1
    text = at.warning[0].value
    assert text.startswith("No uncertainty band: the scenario's ensemble of 1,000,000 members "
                           "would need about "), text
    assert "more than the limit of 1.0 GiB (the app budget DDS_APP_MEMORY_BUDGET); it was not " \
           "run: lower members: to at most " in text, text
    most = int(re.search(r"to at most ([\d,]+), or run it with sim run$", text).group(1)
               .replace(",", ""))
    assert 20_000 < most < 200_000
    assert at.metric[0].value == baseline_metric()


def test_a_run_over_the_memory_budget_is_stopped():
    runner = B.Runner(max_workers=1, keep_idle=1)
    model = sim.load_model(MODEL)
    specs, _ = S.lever_specs(model)
    doc = S.scenario_doc(S.baseline_settings(specs), specs, model, name="app",
                         description="app", band=True)
    doc["members"] = 60000
    req = {"op": "band", "model": str(MODEL), "calibrated": str(CALIBRATED),
           "scenario": S.scenario_text(doc), "outputs": list(S.TRADE_OUTPUTS), "base": None}
    try:
        with pytest.raises(B.BudgetExceeded, match=r"^the band was stopped at \d+\.\d MiB of "
                                                   r"memory, over the app's memory budget of "
                                                   r"400\.0 MiB \(DDS_APP_MEMORY_BUDGET\); lower "
                                                   r"members: or record fewer outputs, or run it "
                                                   r"with sim run$") as info:
            runner.run(req, B.Budget(seconds=120, memory=400 * 2**20), "the band")
        assert info.value.kind == "memory"
        # the worker was killed; the next run gets a new one and works
        ans = runner.run(dict(req, scenario=S.scenario_text({**doc, "members": 50})),
                         B.Budget(), "the band")
        assert ans["members"] == 50 and set(ans["bands"]) == set(S.TRADE_OUTPUTS)
    finally:
        runner.close()


# ------------------------------------------------------------------ other sessions
def test_other_sessions_go_on_while_one_runs_over_its_budget(env, monkeypatch):
    # a band of 150,000 members: ~15 s of SciPy (1.4 GB), stopped after 5 s
    monkeypatch.setenv("DDS_APP_TIME_BUDGET", "5")
    monkeypatch.setenv("DDS_APP_MEMORY_BUDGET", "3GiB")
    talent = next(s for s in S.lever_specs(sim.load_model(MODEL))[0] if s.short == "talent")
    slow, other = start(), start()
    slow.file_uploader(key="upload").upload("big.yaml", SLOW_BAND.replace(b"60000", b"150000"),
                                            "application/x-yaml")
    done = {}

    def run_slow():
        slow.run()
        done["slow"] = time.perf_counter()

    thread = threading.Thread(target=run_slow)
    thread.start()
    time.sleep(1.0)  # the slow session's band is under way
    t0 = time.perf_counter()
    other.slider(key=talent.value.key).set_value(1.5)
    other.run()
    finished = time.perf_counter()
    thread.join(60)
    assert not other.exception and not other.error and not other.warning
    assert other.metric[0].value != baseline_metric()
    assert finished - t0 < 3.5, f"the other session waited {finished - t0:.1f} s"
    assert finished < done["slow"], "the other session finished after the slow one"
    assert [w.value for w in slow.warning] == [
        "No uncertainty band: the band was stopped after 5 s, the app's time budget "
        "(DDS_APP_TIME_BUDGET); lower members: or check the parameters of the scenario, or run "
        "it with sim run"]


# ------------------------------------------------------------------ the upload's own errors
def test_an_unknown_parameter_is_the_uploads_error_not_the_calibrations(env):
    at = start()
    before = {s.key: s.value for s in at.slider}
    drawn = charts(at)
    upload(at, b"name: t\ndescription: d\nparameters: {One Yeer: 2}\n", "bad.yaml")
    assert [e.value for e in at.error] == [
        "The uploaded scenario is invalid: bad.yaml, line 3, scenario 't', field "
        "parameters['One Yeer']: the model digital_trade.mdl has no constant 'One Yeer'; did you "
        "mean 'One Year', 'Base Year'?"]
    assert {s.key: s.value for s in at.slider} == before
    assert charts(at) == drawn > 0
    assert at.metric[0].value == baseline_metric()


def test_a_scenario_that_fails_to_run_is_its_own_error_not_the_calibrations(env):
    at = start()
    at.session_state["extras"] = S.Extras(fields={"parameters": {"One Yeer": 2.0}})
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Invalid settings: "), errors
    assert "no constant 'One Yeer'" in errors[0]
    assert not any("could not be read" in e for e in errors)


def test_a_table_lever_runs_as_sim_run_runs_it(env):
    text = ("name: tabled\ndescription: talent by year\nlevers:\n"
            "  talent: {table: {2025: 1.0, 2030: 1.5, 2035: 1.2}}\n")
    at = start()
    upload(at, text.encode())
    assert not at.error
    assert any("table over 2025-2035" in i.value for i in at.info)
    assert at.metric[0].value == shown(library_value(text))
    assert at.metric[0].value != baseline_metric()


# ------------------------------------------------------------------ the pieces
def test_the_wire_carries_values_and_arrays_and_refuses_objects():
    value = {"a": (np.arange(6.0).reshape(2, 3), [1, "x", None]), "b": np.array([True, False]),
             "c": {"n": np.int64(3), "f": float("nan")}}
    back = W.decode(W.encode(value))
    np.testing.assert_array_equal(back["a"][0], value["a"][0])
    assert back["a"][1] == [1, "x", None] and isinstance(back["a"], tuple)
    np.testing.assert_array_equal(back["b"], value["b"])
    assert back["c"]["n"] == 3 and np.isnan(back["c"]["f"])
    with pytest.raises(TypeError, match="cannot send an array of object"):
        W.encode({"x": np.array([object()])})
    with pytest.raises(TypeError, match="cannot send a set"):
        W.encode({"x": {1, 2}})


@pytest.mark.parametrize("env_, expected", [
    ({}, (B.DEFAULT_SECONDS, B.DEFAULT_MEMORY)),
    ({"DDS_APP_TIME_BUDGET": "2.5", "DDS_APP_MEMORY_BUDGET": "800MiB"}, (2.5, 800 * 2**20)),
    ({"DDS_APP_MEMORY_BUDGET": "2GB"}, (B.DEFAULT_SECONDS, 2 * 10**9)),
], ids=["defaults", "both", "decimal-size"])
def test_budget_from_the_environment(env_, expected):
    b = B.Budget.from_env(env_)
    assert (b.seconds, b.memory) == expected


@pytest.mark.parametrize("env_, match", [
    ({"DDS_APP_TIME_BUDGET": "soon"}, "could not convert string to float: 'soon'"),
    ({"DDS_APP_TIME_BUDGET": "-1"}, "seconds must be positive, got -1.0"),
    ({"DDS_APP_MEMORY_BUDGET": "lots"}, "'lots' is not a size; e.g. 1GiB, 800MB"),
], ids=["time-text", "time-negative", "memory-text"])
def test_a_bad_budget_setting_names_the_variable(env_, match):
    with pytest.raises(ValueError, match=r"^DDS_APP_TIME_BUDGET / DDS_APP_MEMORY_BUDGET: " + match):
        B.Budget.from_env(env_)
