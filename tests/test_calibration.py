"""Calibration on the fixture model: recovery of known parameters, determinism, CLI."""
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import sim
from sim.calibration.fit import batched_lm, polish
from sim.calibration.objective import Objective, ParameterSpace, build_observations
from sim.calibration.results import read_calibrated, without_date
from sim.calibration.spec import parse_spec
from sim.calibration.stats import fit_statistics, loglinear_trend, loglinear_values
from sim.calibration.synthetic import synthetic_observed
from sim.cli import main
from sim.data.observed import load_observed

FIXTURE = Path(__file__).parent / "models" / "calib_fixture.mdl"
TRUE = {"Export Growth Rate": 0.3, "Export Capacity": 3500.0, "Import Ratio": 0.8}
SERIES = {"china_dds_exports_unctad": "Digitally Deliverable Exports",
          "china_dds_imports_unctad": "Digitally Deliverable Imports",
          "china_dds_total_mofcom": ["Digitally Deliverable Exports",
                                     "Digitally Deliverable Imports"]}

SPEC = f"""
description: Fixture calibration to synthetic data from known parameters.
model: {FIXTURE.as_posix()}
data: data/observed.csv
seed: 7
starts: 24
polish: 2
bootstrap: 60
profile_points: 13
parameters:
  Export Growth Rate: {{bounds: [0.05, 0.8], source: fixture card}}
  Export Capacity:
    bounds: [1500, 20000]
    scale: log
    source: fixture card
    prior: {{distribution: lognormal, mean: 4000, sd: 0.3, source: invented for the test}}
  Import Ratio: {{bounds: [0.3, 1.5], source: fixture card}}
  Late Boost: {{bounds: [0.5, 2.0], source: acts after 2030 only}}
targets:
  - {{series: china_dds_exports_unctad, variable: Digitally Deliverable Exports, role: primary}}
  - {{series: china_dds_imports_unctad, variable: Digitally Deliverable Imports, role: primary}}
cross_checks:
  - series: china_dds_total_mofcom
    variables: [Digitally Deliverable Exports, Digitally Deliverable Imports]
    note: synthetic stand-in for the MOFCOM totals
fixed:
  Import Adjustment Time: {{value: 1.5, source: fixture card}}
"""


def make_workspace(root: Path, spec_text: str = SPEC, noise: float = 0.03) -> Path:
    model = sim.load_model(FIXTURE)
    obs, src = synthetic_observed(model, TRUE, SERIES, range(2015, 2023), noise,
                                  np.random.default_rng(2024))
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "observed.csv").write_text(obs)
    (root / "data" / "sources.csv").write_text(src)
    (root / "calibration.yaml").write_text(spec_text)
    return root / "calibration.yaml"


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """Return the fixture calibrated twice by the same command (same seed)."""
    root = tmp_path_factory.mktemp("calib")
    spec = make_workspace(root)
    docs = []
    for _ in range(2):
        assert main(["calibrate", "--spec", str(spec), "--out", str(root / "out.yaml")]) == 0
        docs.append(read_calibrated(root / "out.yaml"))
    return root, docs


@pytest.fixture(scope="module")
def objective(calibrated):
    root, _ = calibrated
    spec = parse_spec(yaml.safe_load((root / "calibration.yaml").read_text()))
    model = sim.load_model(FIXTURE)
    obs = build_observations(spec, load_observed(root / "data" / "observed.csv"))
    return Objective(model, spec, obs, ParameterSpace.from_spec(spec))


def nan_equal(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            nan_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(
            nan_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_same_seed_reproduces_every_number(calibrated):
    _, (a, b) = calibrated
    assert nan_equal(without_date(a), without_date(b))
    assert a["provenance"]["seed"] == 7


@pytest.mark.parametrize("name", list(TRUE))
def test_known_parameters_inside_both_intervals(calibrated, name):
    _, (doc, _) = calibrated
    p = doc["parameters"][name]
    lo, hi = p["interval"]
    blo, bhi = p["interval_bootstrap"]
    assert lo < TRUE[name] < hi
    assert blo < TRUE[name] < bhi
    assert lo <= p["estimate"] <= hi
    assert p["flag"] == "identified"
    assert p["interval_open"] == [False, False]


def test_parameter_without_effect_is_not_identified(calibrated):
    _, (doc, _) = calibrated
    p = doc["parameters"]["Late Boost"]
    assert p["flag"] == "not identified"
    assert "flat profile" in p["evidence"]
    assert p["interval"] == p["bounds"]
    assert doc["fit"]["jacobian_rank"] == 3


# calibrated.yaml holds 6 significant digits: numbers recomputed from it agree to ~1e-5
WRITTEN = 1e-5


def test_document_is_consistent(calibrated):
    _, (doc, _) = calibrated
    fit = doc["fit"]
    assert sum(fit["payoff_parts"].values()) == pytest.approx(fit["payoff"], rel=WRITTEN)
    assert fit["sigma2"] == pytest.approx(fit["payoff"] / (16 - 4), rel=WRITTEN)
    corr = np.array(doc["correlation"]["matrix"], dtype=float)
    np.testing.assert_allclose(corr[:3, :3], corr[:3, :3].T, atol=1e-6)
    np.testing.assert_allclose(np.diag(corr)[:3], 1.0)
    assert corr[0, 1] < -0.5  # growth rate and capacity trade off in a logistic
    for key in ("sim", "numpy", "scipy", "pysd", "python"):
        assert doc["provenance"]["versions"][key]
    assert len(doc["provenance"]["model"]["hash"]) == 64
    assert len(doc["provenance"]["data"]["hash"]) == 64
    assert len(doc["provenance"]["spec"]["hash"]) == 64
    assert doc["bootstrap"]["converged"] >= 55


def test_statistics_recomputed_from_fitted_values(calibrated):
    _, (doc, _) = calibrated
    for series, st in doc["statistics"].items():
        f = doc["fitted"][series]
        obs, simv = np.array(f["observed"]), np.array(f["simulated"])
        again = fit_statistics(simv, obs, resid=np.log(simv) - np.log(obs)).to_dict()
        for key, value in again.items():  # from 6-digit values: agree to ~1e-5
            np.testing.assert_allclose(np.asarray(value, float), np.asarray(st[key], float),
                                       rtol=1e-4, atol=1e-4, err_msg=key)
        trend = loglinear_values(loglinear_trend(f["years"], obs), f["years"])
        assert st["trend"]["mape_pct"] == pytest.approx(fit_statistics(trend, obs).mape_pct,
                                                        rel=1e-4)
        assert st["mape_pct"] < st["trend"]["mape_pct"]


def test_out_of_sample_and_criteria(calibrated):
    _, (doc, _) = calibrated
    origins = [o["origin"] for o in doc["out_of_sample"]]
    assert origins == [2016, 2017, 2018, 2019, 2020, 2021]
    obs = np.array(doc["fitted"]["china_dds_exports_unctad"]["observed"])
    years = np.arange(2015, 2023)
    for o in doc["out_of_sample"]:
        ex = o["series"]["china_dds_exports_unctad"]
        assert ex["years"] == list(range(o["origin"] + 1, min(o["origin"] + 3, 2022) + 1))
        past = years <= o["origin"]
        trend = loglinear_values(loglinear_trend(years[past], obs[past]), ex["years"])
        # from written (rounded) observations: extrapolation widens the rounding a little
        np.testing.assert_allclose(ex["exante"]["trend"], trend, rtol=10 * WRITTEN)
        g = obs[past][-1] / obs[past][-2]
        np.testing.assert_allclose(ex["exante"]["naive"], obs[past][-1] * g ** np.arange(
            1, len(ex["years"]) + 1), rtol=10 * WRITTEN)
        assert all(lo <= hi for lo, hi in zip(ex["low"], ex["high"], strict=True))
    crit = doc["targets"]["criteria"]
    # per primary series: trend MAPE, U^M, U^S, ex-ante vs trend and naive, band coverage
    assert len(crit) == 2 * (3 + 2 + 1)
    assert doc["targets"]["all_met"] == all(c["met"] for c in crit)
    sk = doc["forecast_skill"]["china_dds_exports_unctad"]
    assert sk["n"] == 15 and sk["total"] == 15


def test_cross_check_is_not_fitted(calibrated):
    _, (doc, _) = calibrated
    assert "china_dds_total_mofcom" not in doc["statistics"]
    cc = doc["cross_checks"]["china_dds_total_mofcom"]
    total = np.add(doc["fitted"]["china_dds_exports_unctad"]["simulated"],
                   doc["fitted"]["china_dds_imports_unctad"]["simulated"])
    np.testing.assert_allclose(cc["simulated"], total, rtol=WRITTEN)


def test_batched_fit_agrees_with_least_squares(objective):
    start = np.array([[0.5, 0.5, 0.5, 0.5], [0.2, 0.8, 0.3, 0.1]])
    res = batched_lm(objective, start)
    ref = polish(objective, start[0])
    assert res.converged.all()
    np.testing.assert_allclose(res.payoff, 2 * ref.cost, rtol=1e-6)
    np.testing.assert_allclose(res.u[:, :3], np.vstack([ref.x[:3]] * 2), atol=1e-4)


def test_ensemble_jacobian_matches_single_runs(objective):
    u = np.array([0.4, 0.5, 0.45, 0.5])
    r, J = objective.jacobian(u[None, :])
    h = 1e-6
    for j in range(3):
        e = np.zeros(4)
        e[j] = h
        col = (objective.residual_vector(u + e) - objective.residual_vector(u - e)) / (2 * h)
        np.testing.assert_allclose(J[0][:, j], col, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(r[0], objective.residual_vector(u), rtol=1e-12)


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_parameter_space_round_trip(scale):
    spec = parse_spec(yaml.safe_load(SPEC))
    space = ParameterSpace.from_spec(spec)
    u = np.linspace(0, 1, 4 * 5).reshape(5, 4)
    np.testing.assert_allclose(space.to_unit(space.to_theta(u)), u, atol=1e-12)
    assert space.to_theta(np.zeros(4))[1] == pytest.approx(1500.0)
    assert space.to_theta(np.full(4, 0.5))[1] == pytest.approx(math.sqrt(1500 * 20000))


def test_cli_refuses_a_mofcom_target(tmp_path, capsys):
    text = SPEC.replace("series: china_dds_imports_unctad", "series: china_dds_total_mofcom")
    spec = make_workspace(tmp_path, text)
    assert main(["calibrate", "--spec", str(spec), "--out", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "field 'targets.1.series'" in err and "cross-check only" in err
    assert not (tmp_path / "c.yaml").exists()


@pytest.mark.parametrize("error_model,method", [("relative", "rk4"), ("log", "scipy")],
                         ids=["relative-rk4", "log-scipy"])
def test_other_error_models_and_methods_recover(tmp_path, error_model, method):
    from sim.calibration.pipeline import calibrate

    text = SPEC.replace("seed: 7", f"seed: 7\nerror_model: {error_model}\nmethod: {method}")
    path = make_workspace(tmp_path, text)
    spec = parse_spec(yaml.safe_load(path.read_text()))
    out = calibrate(spec, sim.load_model(FIXTURE), load_observed(tmp_path / "data" /
                                                                 "observed.csv"), quick=True)
    for j, name in enumerate(out.space.names[:3]):
        lo, hi = out.profiles[j].interval
        assert lo < TRUE[name] < hi, name
    assert out.profiles[3].flag == "not identified"
