"""Probability distributions of uncertain parameters and ensemble sampling.

Every distribution maps a uniform number ``u`` in (0, 1) to a parameter value
through its inverse CDF (:meth:`ppf`), so Monte Carlo (independent uniforms
from an explicit :class:`numpy.random.Generator`) and Latin hypercube
sampling (:class:`scipy.stats.qmc.LatinHypercube`, seeded) share one code
path. Parameters are sampled in sorted name order, so the draws do not depend
on the order in which a scenario file lists them.

References
----------
McKay, Beckman and Conover (1979), "A comparison of three methods for
selecting values of input variables in the analysis of output from a computer
code", Technometrics 21(2): 239-245 (Latin hypercube sampling).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats
from scipy.stats import qmc

SamplingMethod = Literal["monte_carlo", "latin_hypercube"]
SAMPLING_METHODS: tuple[str, ...] = ("monte_carlo", "latin_hypercube")

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def _finite(**values: float) -> None:
    for name, v in values.items():
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v}")


class Uniform(BaseModel):
    """Uniform on [low, high] [parameter units]."""

    model_config = _STRICT
    dist: Literal["uniform"] = "uniform"
    low: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> Uniform:
        _finite(low=self.low, high=self.high)
        if not self.low < self.high:
            raise ValueError(f"uniform needs low < high, got low={self.low}, high={self.high}")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF at ``u`` in (0, 1) [parameter units]."""
        return self.low + (self.high - self.low) * np.asarray(u, dtype=float)

    def median(self) -> float:
        return 0.5 * (self.low + self.high)


class Triangular(BaseModel):
    """Triangular with support [low, high] and peak at ``mode`` [parameter units]."""

    model_config = _STRICT
    dist: Literal["triangular"] = "triangular"
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> Triangular:
        _finite(low=self.low, mode=self.mode, high=self.high)
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise ValueError("triangular needs low <= mode <= high and low < high, got "
                             f"low={self.low}, mode={self.mode}, high={self.high}")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        width = self.high - self.low
        c = (self.mode - self.low) / width
        return stats.triang.ppf(np.asarray(u, dtype=float), c, loc=self.low, scale=width)

    def median(self) -> float:
        return float(self.ppf(np.array([0.5]))[0])


class TruncatedNormal(BaseModel):
    """Normal(mean, sd) truncated to [low, high] [parameter units]."""

    model_config = _STRICT
    dist: Literal["truncated_normal"] = "truncated_normal"
    mean: float
    sd: float = Field(gt=0)
    low: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> TruncatedNormal:
        _finite(mean=self.mean, sd=self.sd, low=self.low, high=self.high)
        if not self.low < self.high:
            raise ValueError(f"truncated_normal needs low < high, got low={self.low}, "
                             f"high={self.high}")
        a, b = self._ab()
        if stats.norm.cdf(b) - stats.norm.cdf(a) < 1e-12:
            raise ValueError(f"truncated_normal: [low, high] = [{self.low}, {self.high}] holds "
                             f"almost no mass of Normal(mean={self.mean}, sd={self.sd})")
        return self

    def _ab(self) -> tuple[float, float]:
        return (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd

    def ppf(self, u: np.ndarray) -> np.ndarray:
        a, b = self._ab()
        x = stats.truncnorm.ppf(np.asarray(u, dtype=float), a, b, loc=self.mean, scale=self.sd)
        return np.clip(x, self.low, self.high)

    def median(self) -> float:
        return float(self.ppf(np.array([0.5]))[0])


class LogNormal(BaseModel):
    """exp(Normal(mean_log, sd_log)) [parameter units]; ``mean_log`` is the log of the median."""

    model_config = _STRICT
    dist: Literal["lognormal"] = "lognormal"
    mean_log: float
    sd_log: float = Field(gt=0)

    @model_validator(mode="after")
    def _check(self) -> LogNormal:
        _finite(mean_log=self.mean_log, sd_log=self.sd_log)
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return stats.lognorm.ppf(np.asarray(u, dtype=float), self.sd_log,
                                 scale=math.exp(self.mean_log))

    def median(self) -> float:
        return math.exp(self.mean_log)


class TruncatedLogNormal(BaseModel):
    """exp(Normal(mean_log, sd_log)) truncated to [low, high], 0 < low [parameter units].

    The truncated normal of a parameter estimated on a log scale.
    """

    model_config = _STRICT
    dist: Literal["truncated_lognormal"] = "truncated_lognormal"
    mean_log: float
    sd_log: float = Field(gt=0)
    low: float = Field(gt=0)
    high: float

    @model_validator(mode="after")
    def _check(self) -> TruncatedLogNormal:
        _finite(mean_log=self.mean_log, sd_log=self.sd_log, low=self.low, high=self.high)
        if not self.low < self.high:
            raise ValueError(f"truncated_lognormal needs 0 < low < high, got low={self.low}, "
                             f"high={self.high}")
        a, b = self._ab()
        if stats.norm.cdf(b) - stats.norm.cdf(a) < 1e-12:
            raise ValueError(f"truncated_lognormal: [low, high] = [{self.low}, {self.high}] holds "
                             "almost no mass")
        return self

    def _ab(self) -> tuple[float, float]:
        return ((math.log(self.low) - self.mean_log) / self.sd_log,
                (math.log(self.high) - self.mean_log) / self.sd_log)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        a, b = self._ab()
        z = stats.truncnorm.ppf(np.asarray(u, dtype=float), a, b, loc=self.mean_log,
                                scale=self.sd_log)
        return np.clip(np.exp(z), self.low, self.high)

    def median(self) -> float:
        return float(self.ppf(np.array([0.5]))[0])


Distribution = Annotated[Uniform | Triangular | TruncatedNormal | LogNormal | TruncatedLogNormal,
                         Field(discriminator="dist")]
"""Any of the sampling distributions, told apart by their ``dist`` key."""


def unit_samples(n: int, d: int, method: SamplingMethod, seed: int) -> np.ndarray:
    """Uniform numbers in (0, 1) for ``n`` members and ``d`` parameters.

    Parameters
    ----------
    n : int
        Ensemble size (>= 1).
    d : int
        Number of uncertain parameters (>= 0).
    method : {"monte_carlo", "latin_hypercube"}
        Independent draws, or one stratified draw per member and dimension.
    seed : int
        Seed of the :class:`numpy.random.Generator` (0 is a valid seed).

    Returns
    -------
    ndarray, shape (n, d)
    """
    if method not in SAMPLING_METHODS:
        raise ValueError(f"sampling method '{method}' is not one of {', '.join(SAMPLING_METHODS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if n < 1 or d < 0:
        raise ValueError(f"need n >= 1 and d >= 0, got n={n}, d={d}")
    rng = np.random.default_rng(int(seed))
    if d == 0:
        return np.empty((n, 0))
    if method == "monte_carlo":
        u = rng.random((n, d))
    else:
        u = qmc.LatinHypercube(d=d, rng=rng).random(n)
    # ppf(0) is -inf for unbounded distributions; stay strictly inside (0, 1)
    tiny = np.finfo(float).eps
    return np.clip(u, tiny, 1.0 - tiny)


def sample(distributions: Mapping[str, Uniform | Triangular | TruncatedNormal | LogNormal
                                   | TruncatedLogNormal],
           n: int, method: SamplingMethod, seed: int) -> dict[str, np.ndarray]:
    """Draw an ensemble of parameter values.

    Parameters
    ----------
    distributions : mapping
        Parameter name -> distribution.
    n : int
        Ensemble size.
    method : {"monte_carlo", "latin_hypercube"}
    seed : int

    Returns
    -------
    dict
        Parameter name -> ndarray (n,) [parameter units], in sorted name order.
        The same arguments give identical arrays.
    """
    names = sorted(distributions)
    u = unit_samples(n, len(names), method, seed)
    return {name: np.asarray(distributions[name].ppf(u[:, j]), dtype=float)
            for j, name in enumerate(names)}
