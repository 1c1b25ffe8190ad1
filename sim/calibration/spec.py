"""The calibration specification (``model/calibration.yaml``) and its strict loader.

A specification names the free parameters (bounds, literature priors, the
source of each), the observed series each is held to (targets, weights, the
error model), the cross-check series kept out of the fit, the fixed parameters
with their sources, and the settings of the fit, its uncertainty and its
checks (seed, number of starts, bootstrap size, out-of-sample origins,
sensitivity ranges of the policy levers, extreme-condition tests).

Every error names the file, the field path (``targets.0.series``) and what
would be accepted. Checks that need the model (does the variable exist, is it
a constant) are in :func:`check_against_model`.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.data.observed import SERIES_UNITS, display_path
from sim.errors import SimError
from sim.project import CALIBRATION_WINDOW, EXANTE_ORIGINS, REPORT_YEARS
from sim.suggest import did_you_mean

CROSS_CHECK_MARKERS = ("mofcom", "seed001")
"""Series whose names contain one of these are a different vintage or definition
of the trade figures (MOFCOM totals, the seed-001 vintage): cross-checks only,
never calibration targets (model brief, "Calibration and validation")."""

Finite = Annotated[float, Field(allow_inf_nan=False)]


class SpecError(SimError):
    """A calibration specification is invalid.

    The message names the file, the field path and what would be accepted.
    """


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prior(_Strict):
    """A literature prior of a free parameter (reported beside the estimate).

    Priors are not added to the least-squares payoff: the estimate is the
    data's; the prior is shown so a reviewer can compare the two.

    Parameters
    ----------
    distribution : {'normal', 'lognormal', 'uniform'}
        ``normal``: ``mean`` and ``sd`` in the parameter's unit; ``lognormal``:
        ``mean`` is the median and ``sd`` the standard deviation of the log;
        ``uniform``: between ``low`` and ``high``.
    source : str
        The publication the prior comes from.
    """

    distribution: Literal["normal", "lognormal", "uniform"]
    mean: Finite | None = None
    sd: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    low: Finite | None = None
    high: Finite | None = None
    source: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _complete(self) -> Prior:
        if self.distribution in ("normal", "lognormal"):
            if self.mean is None or self.sd is None:
                raise ValueError(f"a {self.distribution} prior needs 'mean' and 'sd'")
            if self.low is not None or self.high is not None:
                raise ValueError(f"a {self.distribution} prior takes 'mean' and 'sd', "
                                 "not 'low'/'high'")
            if self.distribution == "lognormal" and self.mean <= 0:
                raise ValueError("a lognormal prior needs a positive 'mean' (its median)")
        else:
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError("a uniform prior needs 'low' < 'high'")
            if self.mean is not None or self.sd is not None:
                raise ValueError("a uniform prior takes 'low' and 'high', not 'mean'/'sd'")
        return self

    def interval(self) -> tuple[float, float]:
        """Central 95% interval of the prior [parameter unit]."""
        if self.distribution == "normal":
            return (self.mean - 1.96 * self.sd, self.mean + 1.96 * self.sd)
        if self.distribution == "lognormal":
            return (self.mean * math.exp(-1.96 * self.sd), self.mean * math.exp(1.96 * self.sd))
        return (self.low, self.high)


class FreeParameter(_Strict):
    """A parameter estimated from the data.

    Parameters
    ----------
    bounds : [low, high]
        The search box [parameter unit]; ``low < high``.
    scale : {'linear', 'log'}
        Coordinates the optimiser searches in; ``log`` needs ``low > 0`` and
        suits bounds spanning more than a decade.
    prior : Prior, optional
    source : str
        Why these bounds (model card, literature).
    """

    bounds: tuple[Finite, Finite]
    scale: Literal["linear", "log"] = "linear"
    prior: Prior | None = None
    source: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> FreeParameter:
        lo, hi = self.bounds
        if not lo < hi:
            raise ValueError(f"bounds must be [low, high] with low < high, got [{lo}, {hi}]")
        if self.scale == "log" and lo <= 0:
            raise ValueError("scale 'log' needs a positive lower bound")
        return self


def _known_series(v: str) -> str:
    """Refuse a series that is not in :data:`sim.data.observed.SERIES_UNITS`."""
    if v not in SERIES_UNITS:
        raise ValueError(f"unknown series '{v}'{did_you_mean(v, SERIES_UNITS, n=1)}; accepted: the "
                         "keys of sim.data.observed.SERIES_UNITS")
    return v


SeriesId = Annotated[str, AfterValidator(_known_series)]
"""A key of :data:`sim.data.observed.SERIES_UNITS` (an unknown one is refused with close names)."""


class Target(_Strict):
    """An observed series the model is fitted to.

    Parameters
    ----------
    series : str
        A series of :data:`sim.data.observed.SERIES_UNITS`; not a cross-check series
        (MOFCOM, seed-001 vintage).
    variable : str
        The model variable it measures (Vensim name).
    role : {'primary', 'secondary'}
        Primary: the trade flows; secondary: the stock proxies.
    weight : float
        Multiplies the series' squared residuals in the payoff (> 0).
    scale : float
        ``observed ≈ scale × model`` (unit conversion) (> 0).
    """

    series: str
    variable: Annotated[str, Field(min_length=1)]
    role: Literal["primary", "secondary"]
    weight: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0

    @field_validator("series")
    @classmethod
    def _target_series(cls, v: str) -> str:
        _known_series(v)
        if any(m in v for m in CROSS_CHECK_MARKERS):
            raise ValueError(f"series '{v}' is a different vintage/definition of the trade "
                             "figures and is a cross-check only; it cannot be a calibration "
                             "target (list it under 'cross_checks')")
        return v


class CrossCheck(_Strict):
    """An observed series compared with the model but kept out of the fit.

    Parameters
    ----------
    series : str
        A series of :data:`sim.data.observed.SERIES_UNITS`.
    variables : list of str
        Model variables whose sum the series is compared with.
    note : str
        How the series differs (vintage, definition).
    """

    series: SeriesId
    variables: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    note: Annotated[str, Field(min_length=1)]


class FixedParameter(_Strict):
    """A constant kept at the model's value, with the source of that value.

    ``value``, if given, must equal the model's (the model is the single
    source of truth; this documents and checks it).
    """

    value: Finite | None = None
    source: Annotated[str, Field(min_length=1)]


class OutOfSample(_Strict):
    """Rolling-origin forecasts inside the window.

    Parameters
    ----------
    origins : list of int
        Last fitted year of each forecast (fit window start..origin, forecast
        origin+1..origin+horizon, never past the window's end).
    horizon : int
        Longest forecast horizon [years].
    min_fit_years : int
        Fewest observed years per target a fit from an origin may use (the
        first year is the initial value, so 2 leaves one informative year).
    band_members : int
        Members of the ensemble each forecast band is drawn from.
    band_level : float
        Central probability of the forecast bands (0.9 = the 5-95% band).
    drivers : dict
        Target series -> the projected input series it is a share of: the
        persistence benchmark carries the last observed ratio of the two forward
        (China's world share times world demand, for exports).
    prior_sd, error_scale : float
        Shrinkage of the fits from an origin (None: none): a Gaussian prior on
        each free parameter, centred on the model's own value, with standard
        deviation ``prior_sd`` in unit coordinates (1 = the bounds' range, in log
        for log-scaled parameters), weighed against an observation error of
        ``error_scale`` (log). The estimate is the posterior mode (MAP).
    """

    origins: Annotated[list[int], Field(min_length=1)] = list(EXANTE_ORIGINS)
    horizon: Annotated[int, Field(ge=1, le=10)] = 3
    min_fit_years: Annotated[int, Field(ge=2)] = 2
    band_members: Annotated[int, Field(ge=20, le=20000)] = 400
    band_level: Annotated[float, Field(gt=0, lt=1)] = 0.9
    drivers: dict[SeriesId, SeriesId] = {}
    prior_sd: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    error_scale: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 0.05


class GrowthTerm(_Strict):
    """One observed series whose annual log growth enters a projection rule.

    ``weight`` multiplies the series' mean log growth (1 = at its own pace).
    """

    series: SeriesId
    weight: Annotated[float, Field(allow_inf_nan=False)] = 1.0


class ProjectedInput(_Strict):
    """The rule an exogenous input's growth follows after the last observed year.

    ``series`` is the input's own observed level (the driver a persistence
    benchmark scales). The model constant ``constant`` [fraction/year] is set to
    ``exp(sum_i weight_i * drift_i) - 1``, ``drift_i`` being the mean annual
    log growth of ``terms[i].series`` over the estimation window that ends at
    the last observed year (a random walk with drift, estimated by its
    maximum-likelihood drift). The year-to-year spread of the weighted growth,
    over every year from ``history_start`` on, is the input's uncertainty.
    """

    constant: Annotated[str, Field(min_length=1)]
    series: SeriesId
    terms: Annotated[list[GrowthTerm], Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]


class Variant(_Strict):
    """A structural hypothesis: the model with some constants set, maybe more free ones.

    Every variant is calibrated with the same specification (targets, window,
    error model, projection rules) plus its own ``free`` parameters, and judged
    by ex-ante skill, fit penalised for parameters (AICc, BIC) and the baseline
    share's behaviour.
    """

    name: Annotated[str, Field(min_length=1)]
    hypothesis: Annotated[str, Field(min_length=1)]
    set: dict[str, Finite] = {}
    free: dict[str, FreeParameter] = {}


class Projection(_Strict):
    """How the model's exogenous inputs are projected after the last observed year.

    The same rule serves the baseline after the window and every ex-ante
    forecast after an origin, with its rates estimated from data up to that
    year only.

    Parameters
    ----------
    last_observed : str
        Model constant holding the last year observed inputs are read [year];
        the model's input lookups must be read at ``MIN(Time, last_observed)``.
    history_start : int
        First year of the data the rates and spreads are estimated from.
    trailing_years : int
        Growth steps the drift is averaged over, ending at the last observed
        year (fewer where the data start later).
    inputs : list of ProjectedInput
    """

    last_observed: Annotated[str, Field(min_length=1)] = "Last Observed Year"
    history_start: int = 2010
    trailing_years: Annotated[int, Field(ge=1)] = 7
    inputs: list[ProjectedInput] = []


class Lever(_Strict):
    """Range of a policy lever (or other constant) for the sensitivity analysis."""

    range: tuple[Finite, Finite]
    source: str = "plausible range chosen for the sensitivity analysis"

    @model_validator(mode="after")
    def _ordered(self) -> Lever:
        if not self.range[0] < self.range[1]:
            raise ValueError(f"range must be [low, high] with low < high, got {list(self.range)}")
        return self


class Sensitivity(_Strict):
    """Global sensitivity of one output at a few years.

    Parameters
    ----------
    method : {'sobol', 'morris', 'auto'}
        ``auto``: Sobol unless the estimated run time exceeds ``budget_seconds``,
        then Morris.
    base_samples : int
        Sobol base sample N (a power of 2); N·(D+2) model runs in one ensemble.
    """

    method: Literal["sobol", "morris", "auto"] = "auto"
    output: Annotated[str, Field(min_length=1)] = "Digitally Deliverable Exports"
    years: Annotated[list[Finite], Field(min_length=1)] = list(REPORT_YEARS)
    base_samples: Annotated[int, Field(ge=8)] = 512
    budget_seconds: Annotated[float, Field(gt=0)] = 30.0
    levers: dict[str, Lever] = {}

    @field_validator("base_samples")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"base_samples must be a power of 2 (Sobol sequence), got {v}")
        return v


class Expectation(_Strict):
    """What must hold for one variable in an extreme-condition run.

    ``check``: ``nonnegative`` (never below 0), ``finite``, ``below_baseline``
    / ``above_baseline`` (at the final time, not above / not below the
    baseline run, 0.1% slack), ``at_most`` / ``at_least`` ``value`` everywhere.
    """

    variable: Annotated[str, Field(min_length=1)]
    check: Literal["nonnegative", "finite", "below_baseline", "above_baseline",
                   "at_most", "at_least"]
    value: Finite | None = None

    @model_validator(mode="after")
    def _needs_value(self) -> Expectation:
        if self.check in ("at_most", "at_least") and self.value is None:
            raise ValueError(f"check '{self.check}' needs a 'value'")
        return self


class ExtremeCondition(_Strict):
    """One extreme-condition test (Sterman 2000, ch. 21): settings and expectations."""

    name: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]
    set: Annotated[dict[str, Finite], Field(min_length=1)]
    expect: Annotated[list[Expectation], Field(min_length=1)]


class Validity(_Strict):
    """Validity tests run by the report builder.

    ``integration_tolerance``: largest relative change of a target variable
    when the time step is halved that still counts as "nothing that matters".
    """

    integration_tolerance: Annotated[float, Field(gt=0, lt=1)] = 0.01
    extreme_conditions: list[ExtremeCondition] = []


class CalibrationSpec(_Strict):
    """The whole specification (``calibration.yaml``).

    Paths (``model``, ``data``) are relative to the specification file.
    ``notes``: the calibrator's notes for the reviewer (shown in the report).
    ``exogenous`` lists the observed series the model embeds as inputs (for
    the report's data table; they are not fitted).
    """

    description: Annotated[str, Field(min_length=1)]
    notes: str = ""
    model: Annotated[str, Field(min_length=1)]
    data: Annotated[str, Field(min_length=1)] = "data/observed.csv"
    window: tuple[int, int] = CALIBRATION_WINDOW
    error_model: Literal["log", "relative"] = "log"
    method: Literal["euler", "rk4", "scipy"] = "euler"
    seed: Annotated[int, Field(ge=0)]
    starts: Annotated[int, Field(ge=1)] = 64
    polish: Annotated[int, Field(ge=1)] = 4
    bootstrap: Annotated[int, Field(ge=10)] = 200
    profile_points: Annotated[int, Field(ge=5)] = 17
    parameters: Annotated[dict[str, FreeParameter], Field(min_length=1)]
    targets: Annotated[list[Target], Field(min_length=1)]
    cross_checks: list[CrossCheck] = []
    exogenous: list[str] = []
    fixed: dict[str, FixedParameter] = {}
    out_of_sample: OutOfSample = OutOfSample()
    projection: Projection = Projection()
    variants: list[Variant] = []
    sensitivity: Sensitivity = Sensitivity()
    validity: Validity = Validity()

    @field_validator("exogenous")
    @classmethod
    def _known_inputs(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in SERIES_UNITS:
                raise ValueError(f"unknown series '{name}'{did_you_mean(name, SERIES_UNITS, n=1)}; "
                                 "accepted: the keys of sim.data.observed.SERIES_UNITS")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CalibrationSpec:
        start, end = self.window
        if not start < end:
            raise ValueError(f"window must be [first year, last year] with first < last, got "
                             f"[{start}, {end}]")
        if self.polish > self.starts:
            raise ValueError(f"polish ({self.polish}) must not exceed starts ({self.starts})")
        seen = set()
        for t in self.targets:
            if t.series in seen:
                raise ValueError(f"series '{t.series}' is a target twice")
            seen.add(t.series)
        if not any(t.role == "primary" for t in self.targets):
            raise ValueError("at least one target must have role 'primary'")
        both = set(self.parameters) & set(self.fixed)
        if both:
            raise ValueError(f"{sorted(both)} listed both as free and fixed")
        need = self.out_of_sample.min_fit_years
        for o in self.out_of_sample.origins:
            if not start + need - 1 <= o < end:
                raise ValueError(f"out-of-sample origin {o} must leave at least {need} fitted "
                                 f"years (out_of_sample.min_fit_years) and one forecast year "
                                 f"inside the window {start}-{end}")
        inputs = [p.series for p in self.projection.inputs]
        for target, driver in self.out_of_sample.drivers.items():
            if driver not in inputs:
                raise ValueError(f"out_of_sample.drivers.{target}: '{driver}' is not the series "
                                 f"of a projection input; accepted: {inputs}")
        overlap = set(self.sensitivity.levers) & set(self.parameters)
        if overlap:
            raise ValueError(f"{sorted(overlap)} are free parameters; their sensitivity ranges "
                             "are their bounds, do not list them as levers")
        return self


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) if loc else "(top level)"


def _format_error(err: ValidationError, where: str) -> SpecError:
    lines = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        loc = e["loc"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not accepted here; check the spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "literal_error":
            msg = f"{msg}; got {e.get('input')!r}"
        lines.append(f"{where}, field '{_loc(loc)}': {msg}")
    return SpecError("\n".join(lines))


def parse_spec(data: Any, where: str = "calibration.yaml") -> CalibrationSpec:
    """Validate a mapping (parsed YAML) into a :class:`CalibrationSpec`.

    Raises
    ------
    SpecError
        With one line per problem: file, field path, what is accepted.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping at the top level, got "
                        f"{type(data).__name__}")
    try:
        return CalibrationSpec.model_validate(data)
    except ValidationError as err:
        raise _format_error(err, where) from None


def read_spec_bytes(path: str | Path) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{display_path(path)}: calibration specification not found") from None


def load_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate ``calibration.yaml``.

    Parameters
    ----------
    path : path-like

    Raises
    ------
    SpecError
        Missing file, YAML syntax error, or schema violation (file, field, what
        is accepted).
    """
    raw = read_spec_bytes(path)
    where = display_path(path)
    from sim.yaml12 import SafeNumbersLoader  # numbers as YAML 1.2 reads them
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=SafeNumbersLoader)  # noqa: S506 (safe)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        raise SpecError(f"{where}: not valid UTF-8 YAML: {exc}") from None
    return parse_spec(data, where)


def spec_hash(path: str | Path) -> str:
    """Hex sha256 of the specification file's bytes."""
    return hashlib.sha256(read_spec_bytes(path)).hexdigest()


def check_against_model(spec: CalibrationSpec, model: Any, where: str = "calibration.yaml"
                        ) -> None:
    """Check that every name in ``spec`` is a variable of ``model`` of the right kind.

    Free parameters, fixed parameters and levers must be constants; target and
    cross-check variables must exist and not be lookups; a fixed ``value`` must
    equal the model's.

    Raises
    ------
    SpecError
        Naming the field and the close names the model has.
    """
    def resolve(name: str, field: str, constant: bool) -> str:
        try:
            py = model.py_name(name)
        except SimError as exc:
            raise SpecError(f"{where}, field '{field}': {exc}") from None
        kind = model.variables[py].kind
        if constant and kind != "constant":
            raise SpecError(f"{where}, field '{field}': '{name}' is a {kind}, not a constant; "
                            "only constants can be estimated, fixed or varied")
        if not constant and kind == "lookup":
            raise SpecError(f"{where}, field '{field}': '{name}' is a lookup table, not a "
                            "variable that can be compared with data")
        return py

    for name in spec.parameters:
        resolve(name, f"parameters.{name}", True)
    for name, fx in spec.fixed.items():
        py = resolve(name, f"fixed.{name}", True)
        if fx.value is not None:
            have = model.constants.get(py)
            if have is None or not math.isclose(have, fx.value, rel_tol=1e-9, abs_tol=1e-12):
                raise SpecError(f"{where}, field 'fixed.{name}.value': {fx.value} differs from "
                                f"the model's value {have}; the model is the source of truth "
                                "(change the model or drop 'value')")
    for i, t in enumerate(spec.targets):
        resolve(t.variable, f"targets.{i}.variable", False)
    for i, c in enumerate(spec.cross_checks):
        for j, v in enumerate(c.variables):
            resolve(v, f"cross_checks.{i}.variables.{j}", False)
    for name in spec.sensitivity.levers:
        resolve(name, f"sensitivity.levers.{name}", True)
    resolve(spec.projection.last_observed, "projection.last_observed", True)
    for i, v in enumerate(spec.variants):
        for name in list(v.set) + list(v.free):
            resolve(name, f"variants.{i}.{name}", True)
    for i, pi in enumerate(spec.projection.inputs):
        resolve(pi.constant, f"projection.inputs.{i}.constant", True)
    resolve(spec.sensitivity.output, "sensitivity.output", False)
    for i, ec in enumerate(spec.validity.extreme_conditions):
        for name in ec.set:
            resolve(name, f"validity.extreme_conditions.{i}.set.{name}", True)
        for j, ex in enumerate(ec.expect):
            resolve(ex.variable, f"validity.extreme_conditions.{i}.expect.{j}.variable", False)
