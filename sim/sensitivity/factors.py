"""Factors of a sensitivity analysis: from a YAML file or from the model's declared ranges."""
from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.calibration.sensitivity import Factor
from sim.errors import SimError

SCHEMA = "sim.sensitivity/1"


class SensitivityError(SimError):
    """A factor file or range that cannot be used; the message names file and field."""


class _Range(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low:g}")
        return self


class FactorFile(BaseModel):
    """``schema: sim.sensitivity/1``, ``factors: {Name: {low, high, log}}``, optional ``outputs``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: str = Field(alias="schema", pattern=r"^sim\.sensitivity/1$")
    factors: dict[str, _Range] = Field(min_length=1)
    outputs: list[str] = Field(default_factory=list)


def load_factor_file(path: str | Path) -> FactorFile:
    """Read and validate a factor file; errors name the file and the field."""
    from sim.yaml12 import read_user_yaml

    path = Path(path)
    data = read_user_yaml(path, SensitivityError, "the factor file")
    try:
        return FactorFile.model_validate(data)
    except ValidationError as exc:
        from sim.yaml12 import first_error

        err = first_error(exc)
        loc = ".".join("schema" if p == "schema_" else str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = ("unknown key; accepted: low, high, log" if len(err["loc"]) == 3 else
                   "unknown key; accepted: schema, factors, outputs")
        elif err["type"] == "missing":
            msg = "required but missing"
        elif err["type"] == "string_pattern_mismatch":
            msg = f"expected '{SCHEMA}'"
        raise SensitivityError(f"{path}, field '{loc}': {msg}") from None


def factors_from_file(model, spec: FactorFile, source: str) -> list[Factor]:
    """Return the factors of ``spec``, each checked to be a constant of ``model``."""
    out = []
    for name, r in spec.factors.items():
        info = _constant(model, name, f"{source}, field 'factors.{name}'")
        out.append(Factor(info.name, r.low, r.high, r.log, "parameter"))
    return out


def declared_factors(model, *, dates: bool = True) -> list[Factor]:
    """Return every constant with a finite declared ``[min, max]`` range (not the controls).

    ``dates=False`` leaves out constants measured in years (a lever's start year,
    a shock's year): dates, not quantities.

    Raises
    ------
    SensitivityError
        If the model declares no such range (the message says how to give factors).
    """
    out = []
    for py, info in model.variables.items():
        if info.kind != "constant" or py in ("initial_time", "final_time", "time_step", "saveper"):
            continue
        if not dates and info.units.strip().lower() in ("year", "years"):
            continue
        lo, hi = (tuple(info.limits) + (None, None))[:2]
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            continue
        out.append(Factor(info.name, float(lo), float(hi), False, "parameter"))
    if not out:
        raise SensitivityError(f"{model.path}: no constant declares a finite [min, max] range; "
                               "give the factors in a file (--factors FILE)")
    return out


def _constant(model, name: str, where: str):
    from sim.errors import ParameterError

    try:
        py = model.py_name(name)
    except ParameterError as exc:
        raise SensitivityError(f"{where}: {exc}") from None
    info = model.variables[py]
    if info.kind != "constant":
        raise SensitivityError(f"{where}: '{info.name}' is not a constant ({info.kind}); only "
                               "constants can be factors")
    return info
