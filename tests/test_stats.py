"""Fit statistics on analytic cases (sim.calibration.stats)."""
import math

import numpy as np
import pytest

from sim.calibration import stats
from sim.data.observed import load_observed

A = np.array([10.0, 12.0, 15.0, 14.0, 18.0, 21.0, 20.0, 25.0])


def test_perfect_fit():
    st = stats.fit_statistics(A, A)
    assert st.r2 == 1.0
    assert st.mape_pct == 0.0
    assert st.rmse == 0.0
    assert st.theil_u == 0.0
    assert all(math.isnan(x) for x in (st.theil_um, st.theil_us, st.theil_uc))


def test_pure_bias_is_all_um():
    th = stats.theil(A + 3.0, A)
    assert th.um == pytest.approx(1.0, abs=1e-12)
    assert th.us == pytest.approx(0.0, abs=1e-12)
    assert th.uc == pytest.approx(0.0, abs=1e-12)


def test_pure_unequal_variation_is_all_us():
    sim = A.mean() + 2.0 * (A - A.mean())  # same mean, r = 1, twice the spread
    th = stats.theil(sim, A)
    assert (th.um, th.us, th.uc) == pytest.approx((0.0, 1.0, 0.0), abs=1e-12)


def test_pure_covariation_is_all_uc():
    sim = A[::-1].copy()  # same mean and spread, imperfect correlation
    th = stats.theil(sim, A)
    assert (th.um, th.us) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert th.uc == pytest.approx(1.0, abs=1e-12)
    assert th.r < 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3], ids=lambda s: f"seed{s}")
def test_theil_components_sum_to_one(seed):
    rng = np.random.default_rng(seed)
    sim = A * rng.lognormal(0.0, 0.2, A.size) + rng.normal(0, 2, A.size)
    th = stats.theil(sim, A)
    assert th.um + th.us + th.uc == pytest.approx(1.0, abs=1e-12)
    assert th.mse == pytest.approx(np.mean((sim - A) ** 2), rel=1e-12)


def test_theil_u_of_doubling_is_one_third():
    assert stats.theil(2 * A, A).u == pytest.approx(1 / 3, rel=1e-12)


def test_r2_mape_rmse_analytic():
    obs, sim = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])
    assert stats.r_squared(sim, obs) == pytest.approx(0.5)  # SSE 1, SST 2
    assert stats.mape([110.0, 180.0], [100.0, 200.0]) == pytest.approx(10.0)
    assert stats.rmse([1.0, 3.0], [0.0, 0.0]) == pytest.approx(math.sqrt(5.0))


def test_durbin_watson_and_autocorrelation_analytic():
    alt = np.array([1.0, -1.0, 1.0, -1.0])
    assert stats.durbin_watson(alt) == pytest.approx(3.0)  # 3·4 / 4
    assert stats.durbin_watson(np.ones(5)) == 0.0
    r = stats.autocorrelation(alt, lags=(1, 2, 3, 4))
    assert r[:3] == pytest.approx([-0.75, 0.5, -0.25])
    assert math.isnan(r[3])


def test_loglinear_trend_recovers_exponential():
    years = np.arange(2015, 2023)
    a, b = stats.loglinear_trend(years, 5.0 * np.exp(0.1 * (years - 2015)))
    assert b == pytest.approx(0.1, rel=1e-10)
    assert stats.loglinear_values((a, b), [2015])[0] == pytest.approx(5.0, rel=1e-10)


def test_naive_growth_carries_the_last_rate():
    out = stats.naive_growth_forecast([2019, 2020], [100.0, 110.0], [2021, 2022])
    np.testing.assert_allclose(out, [121.0, 133.1])


@pytest.mark.parametrize("series,expected", [("china_dds_exports_unctad", 4.5),
                                             ("china_dds_imports_unctad", 2.8)],
                         ids=["exports", "imports"])
def test_trend_mape_on_the_data(series, expected):
    s = load_observed().series(series).loc[2015:2022]
    assert len(s) == 8
    trend = stats.loglinear_values(stats.loglinear_trend(s.index, s.to_numpy()), s.index)
    assert stats.mape(trend, s.to_numpy()) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("sim,obs,match", [
    ([1.0, 2.0], [1.0, 2.0, 3.0], "equal length"),
    ([1.0], [1.0], "at least 2"),
    ([1.0, np.nan], [1.0, 2.0], "finite"),
], ids=["length", "short", "nan"])
def test_bad_inputs_raise(sim, obs, match):
    with pytest.raises(ValueError, match=match):
        stats.fit_statistics(sim, obs)


def test_mape_refuses_zero_observation():
    with pytest.raises(ValueError, match="undefined"):
        stats.mape([1.0, 2.0], [0.0, 2.0])
