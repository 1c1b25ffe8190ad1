"""Policy scenarios: the YAML schema, its strict loader, and resolution against a model.

A scenario file holds one scenario at top level, or several under a top-level
``scenarios:`` list where an entry may say ``extends: <name of an earlier or
later entry in the same file>`` and give only what changes (deep merge: nested
mappings merge, lists and numbers replace, ``null`` removes an inherited key;
``name`` and ``description`` are never inherited). Every mapping is closed:
an unknown key is an error, as is a wrong type or a value out of range, and
the message names the file, the line, the scenario and the field path.

Nothing is evaluated: the file is read with :class:`yaml.SafeLoader` and
validated by pydantic models. :func:`resolve` then checks the names against a
compiled :class:`sim.Model` (with the closest valid names on a miss), the
values against the model's ``[min, max]`` ranges, refuses an ensemble too
large for memory before allocating it, draws the seeded sample and returns the
concrete ``params`` for :meth:`sim.Model.simulate`.

Example
-------
.. code-block:: yaml

    scenarios:
      - name: baseline
        description: Calibrated model, no policy change.
        members: 500
        seed: 20250101
        calibration_uncertainty: identified
      - name: talent first
        extends: baseline
        description: ...
        levers:
          talent: {value: 1.3, start: 2026}
          infrastructure: {ramp: {value: 1.2, start: 2026, end: 2030}}
"""
from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag,
                      ValidationError, field_validator, model_validator)

from .errors import SimError
from .inputs import Ramp, Step, Table
from .sampling import (LogNormal, Triangular, TruncatedLogNormal, TruncatedNormal, Uniform,
                       sample)

__all__ = ["ScenarioError", "Scenario", "ResolvedScenario", "Calibrated", "CalibratedParameter",
           "LEVERS", "MAIN_OUTPUTS", "load_scenarios", "load_scenarios_text", "read_scenario_file",
           "read_scenario_text", "scenario_to_yaml", "resolve", "load_calibrated", "slugify",
           "DEFAULT_MEMORY_LIMIT", "ScenarioFile"]

DEFAULT_MEMORY_LIMIT = 4 * 2**30
"""Largest ensemble output accepted by :func:`resolve` [bytes] (4 GiB)."""

MAX_TEXT_BYTES = 2**20
"""Largest scenario text accepted [bytes]."""

_MAX_YAML_NODES = 200_000  # aliases expanded; guards against alias bombs
_Z95 = 1.959963984540054  # a two-sided 95% interval spans +-1.96 sd of a normal


class ScenarioError(SimError):
    """A scenario file or scenario is invalid, or cannot be run on the model."""


# --------------------------------------------------------------------- levers
@dataclass(frozen=True)
class Lever:
    """A policy lever of the model: a value constant and its start-year constant.

    Attributes
    ----------
    short : str
        Name used in scenario files.
    value : str
        Vensim name of the lever constant (1 = baseline; 0 = no shock for the shock).
    start : str
        Vensim name of its start-year constant [year].
    shock : bool
        A dated one-off event (size + year): only the ``{value, start}`` form.
    """

    short: str
    value: str
    start: str
    shock: bool = False


LEVERS: dict[str, Lever] = {lv.short: lv for lv in (
    Lever("infrastructure", "Infrastructure Investment Lever", "Infrastructure Lever Start Year"),
    Lever("talent", "Talent Training Lever", "Talent Lever Start Year"),
    Lever("reform", "Reform Pace Lever", "Reform Lever Start Year"),
    Lever("data_flow", "Data Flow Tightening Lever", "Data Flow Lever Start Year"),
    Lever("innovation", "Innovation Protection Lever", "Innovation Lever Start Year"),
    Lever("world_demand", "World Demand Growth Lever", "World Demand Lever Start Year"),
    Lever("barrier_shock", "Foreign Barrier Shock Size", "Foreign Barrier Shock Year",
          shock=True),
)}

MAIN_OUTPUTS: tuple[str, ...] = (
    "Digitally Deliverable Exports", "Digitally Deliverable Imports", "Digital Trade Balance",
    "Digital Trade Total", "China World Share", "Export Growth Rate", "Import Growth Rate",
    "Digital Infrastructure", "Digital Talent", "Openness", "Foreign Barriers", "Export Capability",
)
"""Default outputs: trade flows [100M USD], share [dmnl], growth rates [1/year], stocks."""

SUMMARY_OUTPUTS: tuple[str, ...] = MAIN_OUTPUTS[:3]
"""Always recorded: exports, imports and balance feed the summary table."""

_CONTROL_CONSTANTS = {"initial time", "final time", "time step", "saveper"}


def _norm(name: str) -> str:
    return " ".join(str(name).replace("_", " ").lower().split())


_LEVER_ALIASES: dict[str, str] = {}
for _lv in LEVERS.values():
    _LEVER_ALIASES[_norm(_lv.short)] = _lv.short
    _LEVER_ALIASES[_norm(_lv.value)] = _lv.short
_LEVER_CONSTANTS: dict[str, str] = {}  # normalised Vensim name -> lever short name
for _lv in LEVERS.values():
    _LEVER_CONSTANTS[_norm(_lv.value)] = _lv.short
    _LEVER_CONSTANTS[_norm(_lv.start)] = _lv.short


def lever_key(name: str) -> str | None:
    """Short name of the lever called ``name`` (short or Vensim name), else None."""
    return _LEVER_ALIASES.get(_norm(name))


def _closest(name: str, pool, n: int = 3) -> str:
    pool = list(dict.fromkeys(pool))
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    if not close:
        lowered = {p.lower(): p for p in pool}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered),
                                                                 n=n, cutoff=0.4)]
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def slugify(name: str) -> str:
    """Folder-safe version of a scenario name: lower case, runs of other characters -> '-'."""
    return re.sub(r"[^\w]+", "-", name.strip().lower(), flags=re.UNICODE).strip("-_")


# --------------------------------------------------------------------- schema
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
    def _order(self) -> "RampSpec":
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


def _lever_form(v: Any) -> str | None:
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
    Union[Annotated[ConstantLever, Tag("constant")], Annotated[StepLever, Tag("step")],
          Annotated[RampLever, Tag("ramp")], Annotated[TableLever, Tag("table")]],
    Discriminator(_lever_form, custom_error_type="lever_form",
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

UncertaintySpec = Annotated[Union[Uniform, Triangular, TruncatedNormal, LogNormal,
                                  TruncatedLogNormal, FromCalibration],
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
    horizon: int = Field(2035, gt=2015, le=2100)
    members: int = Field(1, ge=1)
    sampling: Literal["latin_hypercube", "monte_carlo"] = "latin_hypercube"
    seed: int | None = Field(None, ge=0, validate_default=True)
    levers: dict[str, LeverSetting] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    uncertainty: dict[str, UncertaintySpec] = Field(default_factory=dict)
    calibration_uncertainty: Literal["none", "identified", "all"] = "none"
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
                hint = _closest(str(key), pool)
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
            lv = _LEVER_CONSTANTS.get(_norm(key))
            if info.field_name == "parameters" and lv is not None:
                raise ValueError(f"{key!r} belongs to the policy lever '{lv}'; set it under "
                                 f"levers: {{{lv}: {{value, start}}}}")
            if info.field_name == "uncertainty" and lv is not None and \
                    _norm(key) == _norm(LEVERS[lv].start):
                raise ValueError(f"{key!r} is a start year; only a lever's value can be uncertain")
        if info.field_name == "uncertainty":
            return {k: ({"dist": "calibration"} if s == "calibration" else s) for k, s in v.items()}
        return v

    @field_validator("outputs")
    @classmethod
    def _unique_outputs(cls, v: list[str]) -> list[str]:
        seen = set()
        for name in v:
            if _norm(name) in seen:
                raise ValueError(f"output {name!r} is listed twice")
            seen.add(_norm(name))
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
    def _consistency(self) -> "Scenario":
        for key in self.uncertainty:
            short = lever_key(key)
            setting = self.levers.get(short) if short else None
            if setting is not None and not isinstance(setting, ConstantLever):
                raise ValueError(f"lever '{short}' has a time series in levers: and a distribution "
                                 "in uncertainty:; only a {value, start} lever can be sampled")
        if self.members > 1 and not self.uncertainty and self.calibration_uncertainty == "none":
            raise ValueError(f"members = {self.members} but nothing is uncertain: add "
                             "uncertainty: or calibration_uncertainty:, or set members: 1")
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


_FIELD_ORDER = tuple(Scenario.model_fields)


# ------------------------------------------------------------------- YAML I/O
def _safe_dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=100)


def scenario_to_yaml(scenario: Scenario, provenance: Mapping | None = None) -> str:
    """Write a scenario as YAML that :func:`load_scenarios_text` reads back equal.

    Parameters
    ----------
    scenario : Scenario
    provenance : mapping, optional
        Informational metadata (hashes, seed, command line, ...). When given,
        the text is ``{scenarios: [scenario], provenance: ...}``; the loader
        accepts and ignores ``provenance``.

    Returns
    -------
    str
        Every field written explicitly (no reliance on defaults).
    """
    data = scenario.model_dump(mode="python")
    data = {k: data[k] for k in _FIELD_ORDER}
    if provenance is None:
        return _safe_dump(data)
    return _safe_dump({"scenarios": [data], "provenance": _plain(provenance)})


def _plain(obj: Any) -> Any:
    """YAML-safe copy: numpy scalars to Python numbers, tuples to lists."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def _yaml_error(source: str, exc: yaml.YAMLError) -> ScenarioError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
    text = f"{context}, {problem}" if context else problem
    return ScenarioError(f"{where}: invalid YAML: {text}")


def _parse_yaml(text: str, source: str) -> tuple[Any, dict]:
    """Safe-load ``text``; also return {path tuple: line} and refuse duplicate keys."""
    if len(text.encode("utf-8", "replace")) > MAX_TEXT_BYTES:
        raise ScenarioError(f"{source}: scenario text is larger than {MAX_TEXT_BYTES} bytes")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError(f"{source}: the file is empty; expected a scenario mapping "
                                "(name, description, ...) or a 'scenarios:' list")
        lines: dict = {}
        _index_nodes(loader, node, (), lines, source, [0], set())
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    finally:
        loader.dispose()
    return data, lines


def _index_nodes(loader, node, path, lines, source, count, active) -> None:
    count[0] += 1
    if count[0] > _MAX_YAML_NODES:
        raise ScenarioError(f"{source}: the YAML expands to more than {_MAX_YAML_NODES} nodes "
                            "(aliases?); refusing it")
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in active:  # recursive alias
        raise ScenarioError(f"{source}, line {node.start_mark.line + 1}: recursive YAML alias")
    if isinstance(node, yaml.MappingNode):
        active = active | {id(node)}
        seen: dict = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise ScenarioError(f"{source}, line {knode.start_mark.line + 1}: mapping keys "
                                    "must be plain names or numbers")
            key = loader.construct_object(knode)
            if key in seen:
                raise ScenarioError(f"{source}, line {knode.start_mark.line + 1}: duplicate key "
                                    f"{key!r} (first given at line {seen[key]})")
            seen[key] = knode.start_mark.line + 1
            _index_nodes(loader, vnode, path + (key,), lines, source, count, active)
    elif isinstance(node, yaml.SequenceNode):
        active = active | {id(node)}
        for i, item in enumerate(node.value):
            _index_nodes(loader, item, path + (i,), lines, source, count, active)


def _fmt_path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, (int, float)) and not isinstance(part, bool):
            out += f"[{part:g}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out or "(top level)"


def _display_loc(loc: tuple) -> tuple:
    """Drop pydantic's union tags (levers.x.<tag>.value -> levers.x.value)."""
    loc = tuple(loc)
    if len(loc) >= 3 and loc[0] in ("levers", "uncertainty") and \
            loc[2] in ("constant", "step", "ramp", "table", "uniform", "triangular",
                       "truncated_normal", "lognormal", "truncated_lognormal", "calibration"):
        loc = loc[:2] + loc[3:]
    return tuple(p for p in loc if p != "[key]")


def _accepted(loc: tuple, err_type: str) -> str:
    if err_type == "extra_forbidden":
        if len(loc) == 1:
            return f"; accepted keys: {', '.join(_FIELD_ORDER)}"
        if loc[0] == "levers":
            return f"; a lever takes {LEVER_FORMS_TEXT}"
        if loc[0] == "uncertainty":
            return f"; a distribution is one of {DISTRIBUTIONS_TEXT}"
    if loc and loc[0] == "uncertainty" and err_type in ("union_tag_invalid", "union_tag_not_found",
                                                        "model_attributes_type", "dict_type"):
        return f"; expected one of {DISTRIBUTIONS_TEXT}"
    if loc and loc[0] == "levers" and err_type in ("missing",):
        return f"; a lever takes {LEVER_FORMS_TEXT}"
    return ""


def _line_of(lines_chain: list[dict], loc: tuple) -> int | None:
    for k in range(len(loc), -1, -1):
        for lines in lines_chain:
            if loc[:k] in lines:
                return lines[loc[:k]]
    return None


def _validation_error(exc: ValidationError, source: str, name: str,
                      lines_chain: list[dict]) -> ScenarioError:
    parts = []
    for err in exc.errors()[:6]:
        loc = _display_loc(err["loc"])
        line = _line_of(lines_chain, loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        where = f"{source}" + (f", line {line}" if line else "") + f", scenario '{name}'"
        if loc:
            where += f", field {_fmt_path(loc)}"
        parts.append(f"{where}: {msg}{_accepted(loc, err['type'])}")
    more = len(exc.errors()) - 6
    if more > 0:
        parts.append(f"... and {more} more error(s)")
    return ScenarioError("\n".join(parts))


# ------------------------------------------------------------------- merging
def _form_of(path: tuple, value: Any) -> str | None:
    if len(path) == 2 and path[0] == "levers":
        return _lever_form(value)
    if len(path) == 2 and path[0] == "uncertainty" and isinstance(value, Mapping):
        return str(value.get("dist"))
    return None


def _deep_merge(base: Any, over: Any, path: tuple = ()) -> Any:
    """``over`` merged into ``base`` (new objects); None in ``over`` deletes the key."""
    if not (isinstance(base, Mapping) and isinstance(over, Mapping)):
        return over
    if _form_of(path, base) != _form_of(path, over):
        return dict(over)  # a lever or distribution changing form replaces the whole entry
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = _deep_merge(out[key], value, path + (key,))
        else:
            out[key] = value
    return out


def _strip_nulls(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _strip_nulls(v) for k, v in obj.items() if v is not None}
    return obj


# -------------------------------------------------------------------- loading
@dataclass
class ScenarioFile:
    """What a file held: the valid scenarios and one error per invalid entry.

    Attributes
    ----------
    source : str
        File name (or label of an uploaded text).
    scenarios : list of Scenario
        Valid scenarios, in file order, fully merged (no ``extends``).
    errors : list of ScenarioError
    """

    source: str
    scenarios: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    provenance: dict | None = None


_WRAPPER_KEYS = ("scenarios", "provenance")


def read_scenario_text(text: str, source: str = "upload") -> ScenarioFile:
    """Parse and validate scenario text, keeping going past invalid entries.

    Parameters
    ----------
    text : str
        YAML text.
    source : str
        Label used in messages (the file name).

    Returns
    -------
    ScenarioFile
        File-level problems (invalid YAML, wrong top-level shape) are one error
        and no scenarios.
    """
    out = ScenarioFile(source)
    try:
        data, lines = _parse_yaml(text, source)
        entries, out.provenance = _entries(data, lines, source)
    except ScenarioError as exc:
        out.errors.append(exc)
        return out
    by_name: dict[str, int] = {}
    for i, entry in enumerate(entries):
        name = entry.get("name")
        if isinstance(name, str) and name.strip():
            key = name.strip()
            if key in by_name:
                line = lines.get(("scenarios", i, "name"))
                out.errors.append(ScenarioError(
                    f"{source}" + (f", line {line}" if line else "") + f", scenario '{key}': "
                    f"the name is already used by entry {by_name[key] + 1}; names must be unique"))
                continue
            by_name[key] = i
    wrapped = isinstance(data, Mapping) and "scenarios" in data
    for i, entry in enumerate(entries):
        name = entry.get("name")
        label = name.strip() if isinstance(name, str) and name.strip() else f"#{i + 1}"
        if by_name.get(label, i) != i:
            continue  # duplicate name, reported above
        try:
            merged, chain = _merge_entry(i, entries, by_name, lines, source, wrapped)
            try:
                scenario = Scenario.model_validate(merged)
            except ValidationError as exc:
                raise _validation_error(exc, source, label, chain) from None
            scenario._source = source
            scenario._lines = chain[0]
            out.scenarios.append(scenario)
        except ScenarioError as exc:
            out.errors.append(exc)
    return out


def _entries(data: Any, lines: dict, source: str) -> tuple[list[dict], dict | None]:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}, line 1: expected a mapping (a scenario with name, "
                            f"description, ...) or 'scenarios:' with a list; got "
                            f"{type(data).__name__}")
    provenance = data.get("provenance")
    if provenance is not None and not isinstance(provenance, Mapping):
        raise ScenarioError(f"{source}, line {lines.get(('provenance',), '?')}: 'provenance' "
                            "must be a mapping")
    if "scenarios" in data:
        extra = [k for k in data if k not in _WRAPPER_KEYS]
        if extra:
            raise ScenarioError(f"{source}, line {lines.get((extra[0],), '?')}: unknown top-level "
                                f"key {extra[0]!r} next to 'scenarios:' (accepted: "
                                f"{', '.join(_WRAPPER_KEYS)}; scenario fields go inside the list "
                                "entries)")
        items = data["scenarios"]
        if not isinstance(items, list) or not items:
            raise ScenarioError(f"{source}, line {lines.get(('scenarios',), '?')}: 'scenarios' "
                                "must be a non-empty list of scenario mappings")
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ScenarioError(f"{source}, line {lines.get(('scenarios', i), '?')}: entry "
                                    f"{i + 1} of 'scenarios' must be a mapping, got "
                                    f"{type(item).__name__}")
        return [dict(x) for x in items], provenance
    entry = {k: v for k, v in data.items() if k != "provenance"}
    if "extends" in entry:
        raise ScenarioError(f"{source}, line {lines.get(('extends',), '?')}: 'extends' only works "
                            "inside a 'scenarios:' list (it names another entry of the same file)")
    return [entry], provenance


def _merge_entry(i: int, entries: list[dict], by_name: dict, lines: dict, source: str,
                 wrapped: bool) -> tuple[dict, list[dict]]:
    """Entry ``i`` merged over its ``extends`` chain; also the line maps, child first."""
    def entry_lines(j: int) -> dict:
        prefix = ("scenarios", j) if wrapped else ()
        n = len(prefix)
        out = {k[n:]: v for k, v in lines.items() if k[:n] == prefix}
        for k in list(out):  # lever names are stored canonically; index those too
            if len(k) >= 2 and k[0] == "levers" and isinstance(k[1], str) and lever_key(k[1]):
                out.setdefault(("levers", lever_key(k[1])) + k[2:], out[k])
        return out

    chain, order, j = [], [], i
    while True:
        if j in order:
            names = " -> ".join(str(entries[k].get("name")) for k in order + [j])
            raise ScenarioError(f"{source}, scenario '{entries[i].get('name')}': 'extends' forms "
                                f"a cycle: {names}")
        order.append(j)
        chain.append(entry_lines(j))
        parent = entries[j].get("extends")
        if parent is None:
            break
        if not isinstance(parent, str) or parent.strip() not in by_name:
            line = lines.get(("scenarios", j, "extends"))
            raise ScenarioError(f"{source}" + (f", line {line}" if line else "") +
                                f", scenario '{entries[j].get('name')}', field extends: no "
                                f"scenario named {parent!r} in this file"
                                f"{_closest(str(parent), list(by_name))}")
        j = by_name[parent.strip()]
    merged: dict = {}
    for k in reversed(order):
        body = {key: v for key, v in entries[k].items()
                if key not in ("extends", "name", "description")}
        merged = _deep_merge(merged, body) if merged else _strip_nulls(body)
    for key in ("name", "description"):
        if key in entries[i]:
            merged[key] = entries[i][key]
    return merged, chain


def read_scenario_file(path: str | Path) -> ScenarioFile:
    """:func:`read_scenario_text` on a file (UTF-8).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out = ScenarioFile(str(path))
        out.errors.append(ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})"))
        return out
    return read_scenario_text(text, str(path))


def _raise_errors(loaded: ScenarioFile) -> list[Scenario]:
    if loaded.errors:
        raise ScenarioError("\n".join(str(e) for e in loaded.errors))
    return loaded.scenarios


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Load every scenario of a file.

    Raises
    ------
    ScenarioError
        Any entry is invalid (all problems in one message).
    """
    return _raise_errors(read_scenario_file(path))


def load_scenarios_text(text: str, source: str = "upload") -> list[Scenario]:
    """Load every scenario of a YAML text (e.g. uploaded in the app).

    Raises
    ------
    ScenarioError
        Any entry is invalid (all problems in one message).
    """
    return _raise_errors(read_scenario_text(text, source))


# --------------------------------------------------------------- calibration
@dataclass(frozen=True)
class CalibratedParameter:
    """One entry of calibrated.yaml [the parameter's units]."""

    name: str
    estimate: float
    interval: tuple[float, float] | None
    bounds: tuple[float, float] | None
    flag: str | None
    scale: str = "linear"


@dataclass(frozen=True)
class Calibrated:
    """Calibrated parameter estimates (``model/calibrated.yaml``).

    Attributes
    ----------
    path : str
    parameters : dict
        Vensim name -> CalibratedParameter.
    model_hash, data_hash : str or None
        Hashes of the model and data the calibration used.
    file_hash : str
        sha256 of the file's bytes.
    """

    path: str
    parameters: dict
    model_hash: str | None
    data_hash: str | None
    file_hash: str


def _pair(value: Any, what: str, where: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
        raise ScenarioError(f"{where}: '{what}' must be a list [low, high] of two numbers, "
                            f"got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def load_calibrated(path: str | Path) -> Calibrated | None:
    """Read calibrated parameters; None when the file does not exist.

    Raises
    ------
    ScenarioError
        Invalid YAML, or an entry without a numeric ``estimate``.
    """
    path = Path(path)
    if not path.exists():
        return None
    raw = path.read_bytes()
    data, _ = _parse_yaml(raw.decode("utf-8-sig"), str(path))
    if not isinstance(data, Mapping) or not isinstance(data.get("parameters"), Mapping):
        raise ScenarioError(f"{path}: expected a mapping with 'parameters: {{name: {{estimate, "
                            "interval, bounds, flag}}}}'")
    params = {}
    for name, entry in data["parameters"].items():
        where = f"{path}, parameter {name!r}"
        if not isinstance(entry, Mapping):
            raise ScenarioError(f"{where}: expected a mapping with 'estimate'")
        est = entry.get("estimate")
        if isinstance(est, bool) or not isinstance(est, (int, float)) or not math.isfinite(est):
            raise ScenarioError(f"{where}: 'estimate' must be a finite number, got {est!r}")
        flag = entry.get("flag")
        params[str(name)] = CalibratedParameter(str(name), float(est),
                                                _pair(entry.get("interval"), "interval", where),
                                                _pair(entry.get("bounds"), "bounds", where),
                                                None if flag is None else str(flag),
                                                str(entry.get("scale") or "linear"))
    return Calibrated(str(path), params, _opt_str(data.get("model_hash")),
                      _opt_str(data.get("data_hash")), hashlib.sha256(raw).hexdigest())


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


# ----------------------------------------------------------------- resolution
@dataclass(frozen=True)
class ResolvedScenario:
    """A scenario made concrete for one model.

    Attributes
    ----------
    scenario : Scenario
    params : dict
        Vensim constant name -> float, ndarray (members,), or
        :class:`sim.Step` / :class:`sim.Ramp` / :class:`sim.Table`; pass to
        :meth:`sim.Model.simulate` (see :meth:`simulate_kwargs`).
    final_time : float
        [year]
    outputs : tuple of str
        Vensim names recorded.
    members : int
        Ensemble size actually run.
    samples : dict
        Sampled constants (Vensim name -> ndarray (members,)), a subset of ``params``.
    distributions : dict
        Vensim name -> distribution sampled (``calibration`` made concrete).
    base_used : {"calibrated", "model"}
    notes : tuple of str
        Facts the user should know (base fallback, calibration for another model, ...).
    estimated_bytes : int
        Memory estimate of the recorded output [bytes].
    """

    scenario: Scenario
    params: dict
    final_time: float
    outputs: tuple
    members: int
    samples: dict
    distributions: dict
    base_used: str
    notes: tuple
    estimated_bytes: int

    def simulate_kwargs(self) -> dict:
        """Keyword arguments for :meth:`sim.Model.simulate` (add ``method``)."""
        return {"params": dict(self.params), "final_time": self.final_time,
                "outputs": list(self.outputs)}

    def provenance(self) -> dict:
        """YAML-safe description of what was set: constants, time series, distributions."""
        point, series = {}, {}
        for name, v in self.params.items():
            if name in self.samples:
                continue
            if isinstance(v, Step):
                series[name] = {"step": {"value": v.value, "start": v.start, "before": v.before}}
            elif isinstance(v, Ramp):
                series[name] = {"ramp": {"value": v.value, "start": v.start, "end": v.end,
                                         "before": v.before}}
            elif isinstance(v, Table):
                series[name] = {"table": {float(k): float(x) for k, x in v.points.items()}}
            else:
                point[name] = float(v)
        return {"base_used": self.base_used, "members": self.members,
                "constants": point, "time_series": series,
                "distributions": {k: d.model_dump() for k, d in self.distributions.items()},
                "notes": list(self.notes), "estimated_output_bytes": self.estimated_bytes}


class _Namer:
    """Resolve names against a model's constants, with close matches on a miss."""

    def __init__(self, model) -> None:
        self.model = model
        self.constants: dict[str, str] = {}   # normalised key -> Vensim name
        self.variables: dict[str, str] = {}
        for py, info in model.variables.items():
            target = self.constants if info.kind == "constant" else self.variables
            if info.kind == "lookup":
                continue
            for key in (info.name, py):
                target.setdefault(_norm(key), info.name)

    def info(self, vensim: str):
        return self.model.variables[self.model.py_name(vensim)]

    def constant(self, name: str) -> str | None:
        return self.constants.get(_norm(name))

    def constant_hint(self, name: str) -> str:
        pool = [v for v in dict.fromkeys(self.constants.values())
                if _norm(v) not in _CONTROL_CONSTANTS]
        return _closest(name, pool)

    def variable(self, name: str) -> str | None:
        return self.variables.get(_norm(name)) or self.constants.get(_norm(name))

    def variable_hint(self, name: str) -> str:
        return _closest(name, list(dict.fromkeys(list(self.variables.values()) +
                                                 list(self.constants.values()))))


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def _limit_error(ctx: str, name: str, value: float, limits) -> str | None:
    lo, hi = (tuple(limits) + (None, None))[:2] if limits else (None, None)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return (f"{ctx}: {value:g} is outside the model's range [{_fmt(lo)}, {_fmt(hi)}] for "
                f"'{name}'")
    return None


def estimate_bytes(members: int, n_recorded: int, n_stocks: int, n_times: int) -> int:
    """Memory the ensemble's output needs: members x (recorded + stocks) x times x 8 [bytes]."""
    return int(members) * (int(n_recorded) + int(n_stocks)) * int(n_times) * 8


def _fmt_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


def resolve(scenario: Scenario, model, calibrated: Calibrated | str | Path | None = None, *,
            members: int | None = None,
            memory_limit: int = DEFAULT_MEMORY_LIMIT) -> ResolvedScenario:
    """Check a scenario against a model and make its parameters concrete.

    Parameters
    ----------
    scenario : Scenario
    model : sim.Model
    calibrated : Calibrated or path-like, optional
        Estimates to start from when ``scenario.base == "calibrated"`` (a
        path is read with :func:`load_calibrated`); when None or an absent
        file, the model's own values are used and ``notes`` says so.
    members : int, optional
        Override the scenario's ensemble size (``sim run --members``).
    memory_limit : int
        Refuse ensembles whose output would exceed this [bytes].

    Returns
    -------
    ResolvedScenario

    Raises
    ------
    ScenarioError
        Unknown lever, parameter or output (with the closest valid names), a
        value outside the model's range, a calibration distribution without an
        interval, or an ensemble larger than ``memory_limit`` (checked before
        anything is sampled).
    """
    if isinstance(calibrated, (str, Path)):
        calibrated = load_calibrated(calibrated)
    if members is not None:
        try:
            scenario = _with_members(scenario, members)
        except ValidationError as exc:
            raise _validation_error(exc, scenario.source, scenario.name,
                                    [scenario._lines]) from None
    src, lines = scenario.source, scenario._lines
    namer = _Namer(model)
    notes: list[str] = []

    def where(*loc) -> str:
        line = _line_of([lines], tuple(loc))
        return f"{src}" + (f", line {line}" if line else "") + \
            f", scenario '{scenario.name}', field {_fmt_path(loc)}"

    def need_constant(name: str, *loc) -> str:
        vensim = namer.constant(name)
        if vensim is None:
            other = namer.variable(name)
            if other is not None:
                kind = namer.info(other).kind
                raise ScenarioError(f"{where(*loc)}: '{other}' is a {kind} of the model, not a "
                                    "constant; only constants can be set")
            raise ScenarioError(f"{where(*loc)}: the model {model.path.name} has no constant "
                                f"{name!r}{namer.constant_hint(name)}")
        if _norm(vensim) in _CONTROL_CONSTANTS:
            raise ScenarioError(f"{where(*loc)}: '{vensim}' is a time control; use horizon: for "
                                "the final year")
        return vensim

    # --- time axis, outputs and the memory check come first: nothing is allocated before
    ctl = model.controls
    t0, final = float(ctl.initial_time), float(scenario.horizon)
    if not final > t0:
        raise ScenarioError(f"{where('horizon')}: {scenario.horizon} must be after the model's "
                            f"initial time {t0:g}")
    outputs: list[str] = []
    for i, name in enumerate(list(scenario.outputs) + list(SUMMARY_OUTPUTS)):
        vensim = namer.variable(name)
        if vensim is None:
            raise ScenarioError(f"{where('outputs', i) if i < len(scenario.outputs) else src}: "
                                f"the model {model.path.name} has no variable {name!r}"
                                f"{namer.variable_hint(name)}")
        if vensim not in outputs:
            outputs.append(vensim)
    saveper = float(ctl.saveper) if ctl.saveper > 0 else float(ctl.time_step)
    n_times = int(math.floor((final - t0) / saveper + 1e-9)) + 1
    n_members = scenario.members
    need = estimate_bytes(n_members, len(outputs), len(model.stocks), n_times)
    if need > memory_limit:
        raise ScenarioError(
            f"{where('members')}: an ensemble of {n_members} members x ({len(outputs)} recorded + "
            f"{len(model.stocks)} stock variables) x {n_times} saved times x 8 bytes needs "
            f"{_fmt_bytes(need)}, more than the limit of {_fmt_bytes(memory_limit)}; lower "
            "members, record fewer outputs, or raise the limit (sim run --memory-limit)")

    # --- base values
    params: dict[str, Any] = {}
    base_values: dict[str, float] = {}
    base_used = scenario.base
    if scenario.base == "calibrated":
        if calibrated is None:
            base_used = "model"
            notes.append("base: calibrated was asked for but no calibrated.yaml was found; the "
                         "model's own parameter values were used")
        else:
            if calibrated.model_hash and calibrated.model_hash != model.model_hash:
                notes.append(f"{calibrated.path} was calibrated on another version of the model "
                             f"(model_hash {calibrated.model_hash[:12]}..., this model "
                             f"{model.model_hash[:12]}...)")
            for name, cp in calibrated.parameters.items():
                vensim = namer.constant(name)
                if vensim is None:
                    raise ScenarioError(f"{calibrated.path}: parameter {name!r} is not a constant "
                                        f"of {model.path.name}{namer.constant_hint(name)}")
                base_values[vensim] = cp.estimate
                params[vensim] = cp.estimate

    def base_of(vensim: str) -> float:
        if vensim in base_values:
            return base_values[vensim]
        return float(model.constants[model.py_name(vensim)])

    # --- parameters
    for name, value in scenario.parameters.items():
        vensim = need_constant(name, "parameters", name)
        msg = _limit_error(where("parameters", name), vensim, value, namer.info(vensim).limits)
        if msg:
            raise ScenarioError(msg)
        params[vensim] = float(value)

    # --- levers
    for short, setting in scenario.levers.items():
        lever = LEVERS[short]
        value_name = need_constant(lever.value, "levers", short)
        start_name = need_constant(lever.start, "levers", short)
        limits = namer.info(value_name).limits
        if isinstance(setting, ConstantLever):
            for what, v, nm in (("value", setting.value, value_name),
                                ("start", setting.start, start_name)):
                msg = _limit_error(where("levers", short, what), nm, v, namer.info(nm).limits)
                if msg:
                    raise ScenarioError(msg)
            params[value_name] = float(setting.value)
            params[start_name] = float(setting.start)
            continue
        before = base_of(value_name)
        if isinstance(setting, StepLever):
            checks = [("step", "value", setting.step.value)]
            series = Step(setting.step.value, setting.step.start, before=before)
        elif isinstance(setting, RampLever):
            checks = [("ramp", "value", setting.ramp.value)]
            series = Ramp(setting.ramp.value, setting.ramp.start, setting.ramp.end, before=before)
        else:
            checks = [("table", year, v) for year, v in setting.table.items()]
            series = Table(dict(sorted(setting.table.items())))
        for form, key, v in checks:
            msg = _limit_error(where("levers", short, form, key), value_name, v, limits)
            if msg:
                raise ScenarioError(msg)
        params[value_name] = series
        # the time series alone decides when the lever acts: switch the model's own start on
        params[start_name] = t0

    # --- uncertainty
    distributions: dict[str, Any] = {}
    unc_key: dict[str, str] = {}
    for name, spec in scenario.uncertainty.items():
        short = lever_key(name)
        vensim = need_constant(LEVERS[short].value if short else name, "uncertainty", name)
        if vensim in distributions:
            raise ScenarioError(f"{where('uncertainty', name)}: '{vensim}' has two distributions")
        if isinstance(spec, FromCalibration):
            spec = _from_calibration(vensim, calibrated, namer, where("uncertainty", name))
        distributions[vensim] = spec
        unc_key[vensim] = name
    if scenario.calibration_uncertainty != "none":
        if calibrated is None:
            notes.append(f"calibration_uncertainty: {scenario.calibration_uncertainty} but no "
                         "calibrated.yaml was found; no calibrated parameter was sampled")
        else:
            for name, cp in calibrated.parameters.items():
                vensim = namer.constant(name)
                if vensim in distributions or vensim in _scenario_set(scenario, namer):
                    continue
                if scenario.calibration_uncertainty == "identified" and \
                        (cp.flag or "").strip().lower() not in ("identified", "weakly identified"):
                    continue
                distributions[vensim] = _from_calibration(
                    vensim, calibrated, namer, f"{calibrated.path}, parameter {name!r}")
    samples: dict[str, np.ndarray] = {}
    if n_members > 1 and not distributions:
        notes.append(f"members = {n_members} but nothing was left to sample; one run was made")
        n_members = 1
    if n_members > 1:
        samples = sample(distributions, n_members, scenario.sampling, scenario.seed)
        for vensim, arr in samples.items():
            lo, hi = (tuple(namer.info(vensim).limits or ()) + (None, None))[:2]
            bad = np.zeros(arr.shape, bool)
            if lo is not None:
                bad |= arr < lo
            if hi is not None:
                bad |= arr > hi
            if bad.any():
                field_ = where("uncertainty", unc_key[vensim]) if vensim in unc_key else \
                    f"{calibrated.path if calibrated else src}, parameter '{vensim}'"
                raise ScenarioError(
                    f"{field_}: {int(bad.sum())} of {n_members} sampled values of "
                    f"'{vensim}' fall outside the model's range [{_fmt(lo)}, {_fmt(hi)}] (e.g. "
                    f"{arr[bad][0]:g}); use a distribution bounded inside that range")
            params[vensim] = arr
    elif distributions:
        notes.append("members = 1: uncertainty was not sampled; point values were used")
    return ResolvedScenario(scenario=scenario, params=params, final_time=final,
                            outputs=tuple(outputs), members=n_members, samples=samples,
                            distributions=distributions, base_used=base_used, notes=tuple(notes),
                            estimated_bytes=estimate_bytes(n_members, len(outputs),
                                                           len(model.stocks), n_times))


def _scenario_set(scenario: Scenario, namer: _Namer) -> set[str]:
    """Vensim names the scenario sets explicitly (parameters and lever values)."""
    out = {namer.constant(n) for n in scenario.parameters}
    out |= {LEVERS[s].value for s in scenario.levers}
    return {n for n in out if n}


def _from_calibration(vensim: str, calibrated: Calibrated | None, namer: _Namer,
                      where: str) -> TruncatedNormal | TruncatedLogNormal:
    if calibrated is None:
        raise ScenarioError(f"{where}: 'calibration' needs calibrated.yaml, which was not found; "
                            "give an explicit distribution instead")
    cp = next((c for n, c in calibrated.parameters.items() if namer.constant(n) == vensim), None)
    if cp is None:
        raise ScenarioError(f"{where}: '{vensim}' is not in {calibrated.path}"
                            f"{_closest(vensim, list(calibrated.parameters))}; give an explicit "
                            "distribution instead")
    if cp.interval is None or not cp.interval[1] > cp.interval[0]:
        raise ScenarioError(f"{where}: '{vensim}' has no usable interval in {calibrated.path} "
                            f"(interval {cp.interval}); give an explicit distribution instead")
    lo_i, hi_i = cp.interval
    sd = (hi_i - lo_i) / (2 * _Z95)
    limits = tuple(namer.info(vensim).limits or ()) + (None, None)
    low = cp.bounds[0] if cp.bounds else limits[0]
    high = cp.bounds[1] if cp.bounds else limits[1]
    low = cp.estimate - 4 * sd if low is None else low
    high = cp.estimate + 4 * sd if high is None else high
    try:
        if cp.scale == "log" and min(lo_i, low, cp.estimate) > 0:
            sd_log = (math.log(hi_i) - math.log(lo_i)) / (2 * _Z95)
            return TruncatedLogNormal(mean_log=math.log(cp.estimate), sd_log=sd_log, low=low,
                                      high=high)
        return TruncatedNormal(mean=cp.estimate, sd=sd, low=low, high=high)
    except ValidationError as exc:
        raise ScenarioError(f"{where}: cannot build a truncated normal for '{vensim}' from "
                            f"{calibrated.path}: {exc.errors()[0]['msg']}") from None


def _with_members(scenario: Scenario, members: int) -> Scenario:
    data = scenario.model_dump()
    data["members"] = members
    out = Scenario.model_validate(data)
    out._source, out._lines = scenario._source, scenario._lines
    return out
