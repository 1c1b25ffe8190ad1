"""Ex-ante forecasts, bands and structural variants (issue #12).

- A forecast from origin k is unchanged when any figure after k is altered,
  in the observed data or in the model's own input tables.
- The projection rules read no figure after their last year, and the model's
  growth assumptions are the rules evaluated at the window's end.
- The AR(1) error model and band coverage recover a known noise.
- Every structural variant of the specification runs and calibrates.
"""
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.calibration import bands, exante
from sim.calibration.fit import start_points
from sim.calibration.objective import Objective, ParameterSpace, build_observations
from sim.calibration.pipeline import calibrate
from sim.calibration.projection import input_rates
from sim.calibration.spec import load_spec
from sim.calibration.variants import information_criteria
from sim.data.observed import load_observed

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "model" / "calibration.yaml"
MODEL = REPO / "model" / "digital_trade.mdl"
DATA = REPO / "model" / "data" / "observed.csv"
ORIGIN = 2018


@pytest.fixture(scope="module")
def setting():
    spec = load_spec(SPEC)
    spec = spec.model_copy(update={"out_of_sample": spec.out_of_sample.model_copy(
        update={"band_members": 60})})
    return spec, sim.load_model(MODEL), load_observed(DATA)


def _starts(model, spec, observed):
    obj = Objective(model, spec, build_observations(spec, observed),
                    ParameterSpace.from_spec(spec))
    return start_points(obj, 8, np.random.default_rng(3))


def _altered_data(observed, after: int, factor: float):
    rows = tuple(r.model_copy(update={"value": r.value * factor}) if r.year > after else r
                 for r in observed.rows)
    return dataclasses.replace(observed, rows=rows)


def _altered_model(tmp_path: Path, after: int, factor: float):
    """Return the model with every point of its observed-input lookups after ``after`` scaled."""
    text = MODEL.read_text(encoding="utf-8")

    def scale(m):
        year, val = int(m.group(1)), float(m.group(2))
        return f"({year},{val * factor if year > after else val})"
    out = re.sub(r"\((20[12]\d),([0-9.]+)\)", scale, text)
    assert out != text
    path = tmp_path / "altered.mdl"
    path.write_text(out, encoding="utf-8")
    return sim.load_model(path)


def _exante_numbers(fc):
    out = [fc.theta]
    for _s, f in sorted(fc.series.items()):
        out += [f.low, f.median, f.high] + [f.exante[m] for m in sorted(f.exante)]
    return out


def test_no_figure_after_the_origin_reaches_the_forecast(setting, tmp_path):
    spec, model, observed = setting
    starts = _starts(model, spec, observed)
    ref = exante.forecast_from(model, spec, observed, ORIGIN, starts, 2,
                               np.random.default_rng(5))
    changed_data = _altered_data(observed, ORIGIN, 1.5)
    changed_model = _altered_model(tmp_path, ORIGIN, 1.5)
    for m, o in ((model, changed_data), (changed_model, observed), (changed_model, changed_data)):
        got = exante.forecast_from(m, spec, o, ORIGIN, starts, 2, np.random.default_rng(5))
        for a, b in zip(_exante_numbers(ref), _exante_numbers(got), strict=True):
            np.testing.assert_array_equal(a, b)
    # the conditional forecast does use the later inputs: the alteration reaches it
    got = exante.forecast_from(changed_model, spec, observed, ORIGIN, starts, 2,
                               np.random.default_rng(5))
    s = "china_dds_exports_unctad"
    assert not np.allclose(got.series[s].conditional["model"], ref.series[s].conditional["model"])


def test_forecasts_cover_origins_and_horizons(setting):
    spec, model, observed = setting
    fcs = exante.rolling_exante(model, spec, observed, _starts(model, spec, observed), 2,
                                np.random.default_rng(1))
    assert [f.origin for f in fcs] == [2016, 2017, 2018, 2019, 2020, 2021]
    rows = exante.rows(fcs)
    exports = [r for r in rows if r.series == "china_dds_exports_unctad"]
    assert len(exports) == 3 + 3 + 3 + 3 + 2 + 1
    assert {r.horizon for r in exports} == {1, 2, 3}
    for r in exports:
        assert set(r.exante) == {"model", "trend", "naive", "persistence"}
        assert r.low <= r.high
        # share persistence: the origin's share times world demand grown at the rule's drift
        s = observed.series("china_dds_exports_unctad")
        w = observed.series("world_dds_exports_unctad")
        drift = input_rates(observed, spec.projection, r.origin)[0].drift
        want = s.loc[r.origin] / w.loc[r.origin] * w.loc[r.origin] * np.exp(drift * r.horizon)
        assert r.exante["persistence"] == pytest.approx(want, rel=1e-12)
    sk = exante.skill(rows, "china_dds_exports_unctad", 0.9)
    assert sk.n == 15 and 0 <= sk.inside <= sk.total == 15


def test_projection_rules_use_data_up_to_their_year_only(setting):
    spec, _, observed = setting
    changed = _altered_data(observed, 2019, 3.0)
    for year in (2016, 2019):
        assert input_rates(observed, spec.projection, year) == \
            input_rates(changed, spec.projection, year)
    assert input_rates(observed, spec.projection, 2022) != \
        input_rates(changed, spec.projection, 2022)


def test_model_growth_assumptions_are_the_rules_at_the_window_end(setting):
    spec, model, observed = setting
    for r in input_rates(observed, spec.projection, spec.window[1]):
        have = model.constants[model.py_name(r.constant)]
        assert have == pytest.approx(r.growth, abs=5e-7), r.constant
    assert model.constants[model.py_name(spec.projection.last_observed)] == spec.window[1]


def test_error_model_and_coverage_recover_known_noise():
    rng = np.random.default_rng(11)
    sigma, rho, n_series, window, horizon = 0.05, 0.5, 400, 30, 3
    inside = total = 0
    est_sigma, est_rho = [], []
    for _ in range(n_series):
        e = np.empty(window + horizon)
        e[0] = 0.0
        for t in range(1, len(e)):
            e[t] = rho * e[t - 1] + np.sqrt(1 - rho ** 2) * sigma * rng.standard_normal()
        truth = 100.0 * np.exp(0.05 * np.arange(len(e)))          # the model, known exactly
        observed = truth * np.exp(e)
        em = bands.error_model(np.log(truth[:window] / observed[:window]) * -1)
        est_sigma.append(em.sigma)
        est_rho.append(em.rho)
        paths = bands.error_paths(em, horizon, 2000, rng)             # (horizon, members)
        members = truth[window:, None] * np.exp(paths)
        lo, _, hi = bands.central_interval(members, 0.9, axis=1)
        k, n = bands.coverage(observed[window:], lo, hi)
        inside, total = inside + k, total + n
    assert np.mean(est_sigma) == pytest.approx(sigma, rel=0.1)
    assert np.mean(est_rho) == pytest.approx(rho, abs=0.12)
    assert 0.85 <= inside / total <= 0.95


def test_coverage_counts():
    assert bands.coverage([1, 2, 3, np.nan], [0, 2.5, 2, 0], [2, 3, 4, 9]) == (2, 3)


def test_information_criteria():
    aicc, bic = information_criteria(0.5, 20, 2)
    assert aicc == pytest.approx(20 * np.log(0.5 / 20) + 4 + 12 / 17)
    assert bic == pytest.approx(20 * np.log(0.5 / 20) + 2 * np.log(20))


def test_every_variant_runs_and_calibrates(setting):
    spec, model, observed = setting
    out = calibrate(spec, model, observed, quick=True)
    names = [v.name for v in out.variants]
    assert names == [v.name for v in spec.variants] and len(names) >= 3
    for v, vs in zip(out.variants, spec.variants, strict=True):
        assert np.isfinite(v.aicc) and np.isfinite(v.bic) and v.payoff > 0
        assert set(v.estimates) == set(spec.parameters) | set(vs.free)
        for name, fp in {**spec.parameters, **vs.free}.items():
            assert fp.bounds[0] - 1e-9 <= v.estimates[name] <= fp.bounds[1] + 1e-9
        assert 0 < v.share[2035] < 1 and np.isfinite(v.share_growth)
        for k, n in v.coverage.values():
            assert 0 <= k <= n == 15
    adopted = out.variants[0]
    assert adopted.payoff == pytest.approx(out.fit.payoff, rel=1e-3)
    crit = [c.name for c in out.criteria]
    assert any("ex-ante MAPE below the persistence" in c for c in crit)
    assert any("90% band covers" in c for c in crit)


def test_shrinkage_barely_moves_the_full_window_estimate(setting):
    """The prior that steadies the short fits from an origin is negligible on 2015-2022."""
    from sim.calibration.exante import shrinkage
    from sim.calibration.fit import fit
    spec, model, observed = setting
    space = ParameterSpace.from_spec(spec)
    obj = Objective(model, spec, build_observations(spec, observed), space)
    starts = _starts(model, spec, observed)
    ml = fit(obj, starts, 2)
    obj.prior = shrinkage(model, spec, space)
    assert obj.prior is not None
    u0, w = obj.prior
    assert w == pytest.approx(spec.out_of_sample.error_scale / spec.out_of_sample.prior_sd)
    r = obj.residual_vector(ml.u)
    assert r.shape == (obj.obs.m + space.k,)
    np.testing.assert_allclose(r[obj.obs.m:], w * (ml.u - u0))
    mapped = fit(obj, starts, 2)
    np.testing.assert_allclose(mapped.theta, ml.theta, rtol=0.03)  # measured: 1.8%, 2.5%, 0.2%
    assert not np.allclose(mapped.theta, ml.theta, rtol=1e-6)  # the prior does act


def test_scenarios_draw_the_calibrated_band(tmp_path):
    """Check ``bands: calibrated`` draws the same paths for every scenario of one seed.

    Inputs as per-member random walks and the AR(1) model error on the targets
    after 2022, the same paths for every scenario of one seed (paired).
    """
    from sim.ensembles.batch import run_scenario
    from sim.scenarios import load_calibrated, load_scenarios_text, resolve
    model = sim.load_model(MODEL)
    cal = load_calibrated(REPO / "model" / "calibrated.yaml")
    text = ("name: b\ndescription: d\nmembers: 40\nseed: 5\nbands: {bands}\n"
            "calibration_uncertainty: none\n")
    runs = {}
    for kind in ("calibrated", "none"):
        if kind == "none":
            sc, = load_scenarios_text(text.format(bands=kind).replace("members: 40", "members: 1"),
                                      "t.yaml")
        else:
            sc, = load_scenarios_text(text.format(bands=kind), "t.yaml")
        res = resolve(sc, model, cal)
        runs[kind] = (res, run_scenario(res, model, method="euler"))
    res, run = runs["calibrated"]
    assert set(res.error_models) == {"Digitally Deliverable Exports",
                                     "Digitally Deliverable Imports"}
    x = run.values("Digitally Deliverable Exports")
    t = run.times
    np.testing.assert_allclose(x[t <= 2022].std(axis=1), 0.0, atol=1e-9)   # observed inputs
    spread = np.std(np.log(x[t == 2030][0]))
    assert 0.05 < spread < 1.0                                             # inputs + error
    point = runs["none"][1].values("Digitally Deliverable Exports")[:, 0]
    # member 0 is the point run (the model holds the rule's growth to 5 digits)
    np.testing.assert_allclose(x[:, 0], point, rtol=2e-5)
    again = run_scenario(resolve(load_scenarios_text(text.format(bands="calibrated"),
                                                     "u.yaml")[0], model, cal),
                         model, method="euler")
    np.testing.assert_array_equal(again.values("Digitally Deliverable Exports"), x)
