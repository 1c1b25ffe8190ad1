"""The scenario schema: strict pydantic models for a scenario, its levers and distributions."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from sim.ensembles.sampling import (
    LogNormal,
    Triangular,
    TruncatedLogNormal,
    TruncatedNormal,
    Uniform,
)
from sim.project import CALIBRATION_WINDOW, HORIZON
from sim.scenarios.levers import LEVER_CONSTANTS, LEVERS, MAIN_OUTPUTS, lever_key
from sim.scenarios.names import normalise_name, slugify
from sim.suggest import did_you_mean

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class ConstantLever(BaseModel):
    """The lever constant set to ``value`` and its start-year constant to ``start`` [year]."""

    model_config = _STRICT
    value: float
    start: float


class StepSpec(BaseModel):
    """Baseline value until ``start`` [year], then ``value``."""

    model_config = _STRICT
    value: float
    start: float


class RampSpec(BaseModel):
    """Linear from the baseline value at ``start`` to ``value`` at ``end`` [year]."""

    model_config = _STRICT
    value: float
    start: float
    end: float

    @model_validator(mode="after")
    def _order(self) -> RampSpec:
        if not self.end > self.start:
            raise ValueError(f"ramp end ({self.end}) must be after its start ({self.start})")
        return self


class StepLever(BaseModel):
    model_config = _STRICT
    step: StepSpec


class RampLever(BaseModel):
    model_config = _STRICT
    ramp: RampSpec


class TableLever(BaseModel):
    """Piecewise-linear {year: value}, held constant beyond its first and last year."""

    model_config = _STRICT
    table: dict[float, float] = Field(min_length=1)


_LEVER_FORMS = ("step", "ramp", "table")
LEVER_FORMS_TEXT = ("{value, start}, {step: {value, start}}, {ramp: {value, start, end}} "
                    "or {table: {year: value, ...}}")


def lever_form(v: Any) -> str | None:
    if isinstance(v, Mapping):
        for form in _LEVER_FORMS:
            if form in v:
                return form
        return "constant"
    for cls, form in ((ConstantLever, "constant"), (StepLever, "step"), (RampLever, "ramp"),
                      (TableLever, "table")):
        if isinstance(v, cls):
            return form
    return None


LeverSetting = Annotated[
    Annotated[ConstantLever, Tag("constant")] | Annotated[StepLever, Tag("step")] | Annotated[RampLever, Tag("ramp")] | Annotated[TableLever, Tag("table")],
    Discriminator(lever_form, custom_error_type="lever_form",
                  custom_error_message=f"a lever setting is a mapping: {LEVER_FORMS_TEXT}"),
]


class FromCalibration(BaseModel):
    """Sample from the interval in calibrated.yaml.

    A normal with the estimate as mean and the interval as +-1.96 sd, truncated
    to the calibration bounds (else the model's range); for a parameter the
    calibration estimated on a log scale (``scale: log``), the same in log space.
    """

    model_config = _STRICT
    dist: Literal["calibration"] = "calibration"


DISTRIBUTIONS_TEXT = ("{dist: uniform, low, high}, {dist: triangular, low, mode, high}, "
                      "{dist: truncated_normal, mean, sd, low, high}, "
                      "{dist: lognormal, mean_log, sd_log}, "
                      "{dist: truncated_lognormal, mean_log, sd_log, low, high} or calibration")

UncertaintySpec = Annotated[Uniform | Triangular | TruncatedNormal | LogNormal | TruncatedLogNormal | FromCalibration,
                            Field(discriminator="dist")]


class Scenario(BaseModel):
    """One validated scenario.

    Attributes
    ----------
    name : str
        Unique within a run; its slug names the output folder.
    description : str
        What the scenario represents and where it comes from (required).
    base : {"calibrated", "model"}
        Start from the estimates in ``model/calibrated.yaml`` (default) or the
        model's own constants.
    horizon : int
        Final year simulated [year], 2016-2100.
    levers : dict
        Lever short name -> setting (:data:`LEVER_FORMS_TEXT`); Vensim lever
        names are accepted and stored as the short name.
    parameters : dict
        Other model constants -> value [their units].
    uncertainty : dict
        Constant (or lever) -> distribution, sampled when ``members > 1``;
        with ``members = 1`` the run uses the point values and samples nothing.
    calibration_uncertainty : {"none", "identified", "all"}
        Also sample the calibrated parameters from their intervals: none,
        those flagged identified or weakly identified, or all.
    bands : {"none", "calibrated"}
        ``calibrated``: the forecast band of ``calibrated.yaml`` (its
        ``bands`` section): each projected input grows as a random walk with
        its rule's drift and spread, and the targets carry the AR(1) model
        error after the last observed year -- the band whose coverage the
        ex-ante forecasts measured.
    members : int
        Ensemble size N (one vectorised run).
    sampling : {"latin_hypercube", "monte_carlo"}
    seed : int or None
        Seed of the sample (required when ``members > 1``; 0 is a seed).
    outputs : list of str
        Variables recorded (Vensim names); exports, imports and balance are
        always added for the summary.
    """

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(min_length=1)
    base: Literal["calibrated", "model"] = "calibrated"
    horizon: int = Field(HORIZON, gt=CALIBRATION_WINDOW[0], le=2100)
    members: int = Field(1, ge=1)
    sampling: Literal["latin_hypercube", "monte_carlo"] = "latin_hypercube"
    seed: int | None = Field(None, ge=0, validate_default=True)
    levers: dict[str, LeverSetting] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    uncertainty: dict[str, UncertaintySpec] = Field(default_factory=dict)
    calibration_uncertainty: Literal["none", "identified", "all"] = "none"
    bands: Literal["none", "calibrated"] = "none"
    outputs: list[str] = Field(default_factory=lambda: list(MAIN_OUTPUTS), min_length=1)

    _source: str = PrivateAttr(default="<scenario>")
    _lines: dict = PrivateAttr(default_factory=dict)

    @field_validator("name", "description")
    @classmethod
    def _not_blank(cls, v: str, info) -> str:
        v = v.strip()
        if not v:
            raise ValueError(f"{info.field_name} must not be blank")
        if info.field_name == "name" and not slugify(v):
            raise ValueError("name needs at least one letter or digit (it names the output folder)")
        return v

    @field_validator("levers", mode="before")
    @classmethod
    def _lever_names(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        out: dict = {}
        for key, setting in v.items():
            short = lever_key(key) if isinstance(key, str) else None
            if short is None:
                pool = list(LEVERS) + [lv.value for lv in LEVERS.values()]
                hint = did_you_mean(str(key), pool)
                raise ValueError(f"unknown lever {key!r}{hint} (levers: {', '.join(LEVERS)})")
            if short in out:
                raise ValueError(f"lever '{short}' is given twice (as {key!r} and another name)")
            out[short] = setting
        return out

    @field_validator("parameters", "uncertainty", mode="before")
    @classmethod
    def _no_lever_parameters(cls, v: Any, info) -> Any:
        if not isinstance(v, Mapping):
            return v
        for key in v:
            if not isinstance(key, str):
                raise ValueError(f"names must be text, got {key!r}")
            lv = LEVER_CONSTANTS.get(normalise_name(key))
            if info.field_name == "parameters" and lv is not None:
                raise ValueError(f"{key!r} belongs to the policy lever '{lv}'; set it under "
                                 f"levers: {{{lv}: {{value, start}}}}")
            if info.field_name == "uncertainty" and lv is not None and \
                    normalise_name(key) == normalise_name(LEVERS[lv].start):
                raise ValueError(f"{key!r} is a start year; only a lever's value can be uncertain")
        if info.field_name == "uncertainty":
            return {k: ({"dist": "calibration"} if s == "calibration" else s) for k, s in v.items()}
        return v

    @field_validator("outputs")
    @classmethod
    def _unique_outputs(cls, v: list[str]) -> list[str]:
        seen = set()
        for name in v:
            if normalise_name(name) in seen:
                raise ValueError(f"output {name!r} is listed twice")
            seen.add(normalise_name(name))
        return v

    @field_validator("levers")
    @classmethod
    def _shock_form(cls, v: dict) -> dict:
        for short, setting in v.items():
            if LEVERS[short].shock and not isinstance(setting, ConstantLever):
                raise ValueError(f"lever '{short}' is a dated shock: give {{value: <size>, "
                                 "start: <year>}, not a step, ramp or table")
        return v

    @field_validator("seed")
    @classmethod
    def _seed_needed(cls, v: int | None, info) -> int | None:
        members = info.data.get("members", 1)
        if v is None and members > 1:
            raise ValueError(f"seed is required when members > 1 (members = {members}); give "
                             "an integer >= 0, e.g. seed: 20250101")
        return v

    @model_validator(mode="after")
    def _consistency(self) -> Scenario:
        for key in self.uncertainty:
            short = lever_key(key)
            setting = self.levers.get(short) if short else None
            if setting is not None and not isinstance(setting, (ConstantLever, StepLever,
                                                                 RampLever)):
                raise ValueError(f"lever '{short}' has a table in levers: and a distribution in "
                                 "uncertainty:; a {value, start}, step or ramp lever can be "
                                 "sampled (its level), a table cannot")
        if self.members > 1 and not self.uncertainty and self.calibration_uncertainty == "none" \
                and self.bands == "none":
            raise ValueError(f"members = {self.members} but nothing is uncertain: add "
                             "uncertainty:, calibration_uncertainty: or bands:, or set "
                             "members: 1")
        return self

    def __eq__(self, other: object) -> bool:
        """Equal when every field is; where the scenario was read from does not count."""
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # mutable containers inside; not hashable

    @property
    def slug(self) -> str:
        """Output folder name."""
        return slugify(self.name)

    @property
    def source(self) -> str:
        """File (or label) the scenario was read from."""
        return self._source


FIELD_ORDER = tuple(Scenario.model_fields)
