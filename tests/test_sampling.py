"""Distributions and seeded ensemble sampling (sim.ensembles.sampling)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from sim.ensembles.sampling import (
    LogNormal,
    Triangular,
    TruncatedLogNormal,
    TruncatedNormal,
    Uniform,
    sample,
    unit_samples,
)

U = np.linspace(0.01, 0.99, 99)


@pytest.mark.parametrize("dist, ref", [
    (Uniform(low=2.0, high=5.0), stats.uniform(loc=2.0, scale=3.0)),
    (Triangular(low=0.0, mode=1.0, high=4.0), stats.triang(0.25, loc=0.0, scale=4.0)),
    (TruncatedNormal(mean=1.0, sd=0.5, low=0.5, high=2.0),
     stats.truncnorm(-1.0, 2.0, loc=1.0, scale=0.5)),
    (LogNormal(mean_log=0.2, sd_log=0.4), stats.lognorm(0.4, scale=math.exp(0.2))),
], ids=["uniform", "triangular", "truncated_normal", "lognormal"])
def test_ppf_matches_scipy(dist, ref):
    np.testing.assert_allclose(dist.ppf(U), ref.ppf(U), rtol=1e-12)
    assert dist.median() == pytest.approx(ref.median(), rel=1e-12)


def test_truncated_lognormal_is_a_truncated_normal_in_log_space():
    d = TruncatedLogNormal(mean_log=0.9, sd_log=0.5, low=0.3, high=3.0)
    a, b = (math.log(0.3) - 0.9) / 0.5, (math.log(3.0) - 0.9) / 0.5
    ref = stats.truncnorm(a, b, loc=0.9, scale=0.5)
    np.testing.assert_allclose(np.log(d.ppf(U)), ref.ppf(U), rtol=1e-12)
    assert d.median() == pytest.approx(math.exp(ref.median()))


@pytest.mark.parametrize("cls, kwargs, match", [
    (Uniform, {"low": 1.0, "high": 1.0}, "low < high"),
    (Triangular, {"low": 0.0, "mode": 2.0, "high": 1.0}, "low <= mode <= high"),
    (TruncatedNormal, {"mean": 0.0, "sd": 0.0, "low": -1.0, "high": 1.0}, "greater than 0"),
    (TruncatedNormal, {"mean": 0.0, "sd": 1.0, "low": 1.0, "high": -1.0}, "low < high"),
    (TruncatedNormal, {"mean": 0.0, "sd": 1e-3, "low": 5.0, "high": 6.0}, "almost no mass"),
    (LogNormal, {"mean_log": 0.0, "sd_log": -1.0}, "greater than 0"),
    (TruncatedLogNormal, {"mean_log": 0.0, "sd_log": 1.0, "low": 0.0, "high": 1.0},
     "greater than 0"),
    (Uniform, {"low": 0.0, "high": math.inf}, "finite"),
    (Uniform, {"low": 0.0, "high": 1.0, "mode": 0.5}, "Extra inputs"),
    (Uniform, {"low": "0", "high": 1.0}, "valid number"),
], ids=["uniform-empty", "triangular-order", "truncnorm-sd", "truncnorm-order",
        "truncnorm-no-mass", "lognormal-sd", "trunclognormal-low", "uniform-inf", "unknown-key", "string-number"])
def test_invalid_distributions_raise(cls, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("method", ["monte_carlo", "latin_hypercube"])
def test_same_seed_same_sample_and_seed_zero_is_a_seed(method):
    dists = {"b": Uniform(low=0.0, high=1.0), "a": LogNormal(mean_log=0.0, sd_log=1.0)}
    first = sample(dists, 64, method, seed=0)
    again = sample(dists, 64, method, seed=0)
    other = sample(dists, 64, method, seed=1)
    assert list(first) == ["a", "b"]
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
        assert not np.array_equal(first[k], other[k])


def test_sample_does_not_depend_on_listing_order():
    a = {"x": Uniform(low=0.0, high=1.0), "y": Uniform(low=5.0, high=6.0)}
    b = {"y": Uniform(low=5.0, high=6.0), "x": Uniform(low=0.0, high=1.0)}
    sa, sb = sample(a, 10, "latin_hypercube", 3), sample(b, 10, "latin_hypercube", 3)
    for k in ("x", "y"):
        np.testing.assert_array_equal(sa[k], sb[k])


def test_latin_hypercube_has_one_member_per_stratum():
    n, d = 50, 3
    u = unit_samples(n, d, "latin_hypercube", seed=7)
    assert u.shape == (n, d)
    for j in range(d):
        strata = np.floor(u[:, j] * n).astype(int)
        np.testing.assert_array_equal(np.sort(strata), np.arange(n))


def test_monte_carlo_is_not_stratified_but_uniform():
    u = unit_samples(4000, 2, "monte_carlo", seed=11)
    assert np.all((u > 0) & (u < 1))
    # loose, documented tolerance: mean of U(0,1) within 4 standard errors
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / u.size)
    strata = np.floor(u[:50, 0] * 50).astype(int)
    assert len(set(strata)) < 50


def test_samples_stay_inside_bounds():
    dist = TruncatedNormal(mean=0.0, sd=10.0, low=-1.0, high=1.0)
    x = sample({"p": dist}, 2000, "monte_carlo", seed=5)["p"]
    assert x.min() >= -1.0 and x.max() <= 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 5, "d": 1, "method": "sobol", "seed": 1}, "not one of"),
    ({"n": 5, "d": 1, "method": "monte_carlo", "seed": -1}, "non-negative"),
    ({"n": 5, "d": 1, "method": "monte_carlo", "seed": 1.5}, "non-negative integer"),
    ({"n": 5, "d": 1, "method": "monte_carlo", "seed": True}, "non-negative integer"),
    ({"n": 0, "d": 1, "method": "monte_carlo", "seed": 1}, "n >= 1"),
], ids=["method", "negative-seed", "float-seed", "bool-seed", "zero-n"])
def test_unit_samples_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unit_samples(**kwargs)
