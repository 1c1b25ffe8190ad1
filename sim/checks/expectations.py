"""Reality-Check-style expectations: "if these inputs are set so, that variable behaves so".

An expectations file (``MODEL.checks.yaml`` beside the model, or any file given to
``sim check --expectations``) reads::

    schema: sim.checks/1
    expectations:
      - name: no world demand, no exports
        why: Vensim Reality Check habit; exports are a share of world demand
        set: {World Demand Scale: 0}         # constants overridden (Vensim names)
        from: 2023                           # optional: set from this time (a step)
        expect:
          - {variable: World DDS Exports, equals: 0}
          - {variable: Digitally Deliverable Exports, vanishes_within: 3}
          - {variable: Digital Talent, falls: true, during: [2025, 2035]}
          - {variable: Digitally Deliverable Exports, vs_baseline: lower}

Each ``expect`` item names one variable and exactly one test:

- ``equals: x``: the value is ``x`` at every saved time of the window;
- ``at_most: x`` / ``at_least: x``: never above / below ``x``;
- ``falls: true`` / ``rises: true``: never increases / decreases, and ends
  lower / higher than it starts;
- ``vanishes_within: T``: from ``T`` time units after the window's start, the
  magnitude stays below ``fraction`` (default 1e-3) of its value at the start;
- ``vs_baseline: lower | higher | same``: against the run without ``set``, the
  value is never above / below it and ends strictly lower / higher (``same``: equal
  throughout).

``during: [t0, t1]`` limits the window (default: ``from`` or INITIAL TIME to FINAL
TIME); comparisons allow ``tolerance`` (absolute plus relative, default 1e-9).
Runs use Euler at the model's TIME STEP, so the check sees what Vensim would.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.checks.outcome import CheckOutcome
from sim.errors import SimError

SCHEMA = "sim.checks/1"
TESTS = ("equals", "at_most", "at_least", "falls", "rises", "vanishes_within", "vs_baseline")
MAX_BYTES = 2**20


class ExpectationsError(SimError):
    """An expectations file that cannot be read; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


Number = Annotated[float, Field(allow_inf_nan=False)]


class Expect(_Strict):
    """One behaviour test on one variable."""

    variable: str
    equals: Number | None = None
    at_most: Number | None = None
    at_least: Number | None = None
    falls: Literal[True] | None = None
    rises: Literal[True] | None = None
    vanishes_within: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    vs_baseline: Literal["lower", "higher", "same"] | None = None
    during: tuple[Number, Number] | None = None
    tolerance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1e-9
    fraction: Annotated[float, Field(gt=0, lt=1)] = 1e-3

    @model_validator(mode="after")
    def _one_test(self) -> Expect:
        given = [t for t in TESTS if getattr(self, t) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one test of {', '.join(TESTS)}; got "
                             f"{', '.join(given) if given else 'none'}")
        if self.during is not None and self.during[0] > self.during[1]:
            raise ValueError(f"during: start {self.during[0]:g} is after end {self.during[1]:g}")
        return self

    @property
    def test(self) -> str:
        """Name of the one test this item asks for."""
        return next(t for t in TESTS if getattr(self, t) is not None)


class Expectation(_Strict):
    """Inputs to set and the behaviour expected of the run."""

    name: str = Field(min_length=1)
    why: str = ""
    set: dict[str, Number] = Field(default_factory=dict)
    from_: Number | None = Field(default=None, alias="from")
    expect: list[Expect] = Field(min_length=1)


class ExpectationsFile(_Strict):
    """The whole file."""

    schema_: Literal["sim.checks/1"] = Field(alias="schema")
    expectations: list[Expectation] = Field(min_length=1)

    @field_validator("expectations")
    @classmethod
    def _unique(cls, v: list[Expectation]) -> list[Expectation]:
        names = [e.name for e in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"expectation names must be unique; repeated: {', '.join(dup)}")
        return v


def _field(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def default_path(model_path: str | Path) -> Path:
    """Return the expectations file beside ``model_path``: ``NAME.checks.yaml``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".checks.yaml")


def load_expectations(path: str | Path) -> ExpectationsFile:
    """Read and validate an expectations file.

    Raises
    ------
    ExpectationsError
        Naming the file, the field (e.g. ``expectations[0].expect[1]``) and what
        would be accepted.
    """
    from sim.yaml12 import read_user_yaml

    path = Path(path)
    data = read_user_yaml(path, ExpectationsError, "the expectations file", MAX_BYTES)
    if not isinstance(data.get("expectations", []), list):
        raise ExpectationsError(f"{path}, field 'expectations': expected a list")
    try:
        return ExpectationsFile.model_validate(data)
    except ValidationError as exc:
        from sim.yaml12 import first_error

        err = first_error(exc)
        loc = tuple("from" if p == "from_" else "schema" if p == "schema_" else p
                    for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            where = loc[:-1]
            if not where:
                accepted = "schema, expectations"
            elif len(where) == 2:
                accepted = "name, why, set, from, expect"
            else:
                accepted = "variable, during, tolerance, fraction and one of " + ", ".join(TESTS)
            msg = f"unknown key; accepted: {accepted}"
        raise ExpectationsError(f"{path}, field '{_field(loc)}': {msg}") from None


def _window(times: np.ndarray, e: Expectation, x: Expect) -> np.ndarray:
    lo, hi = x.during if x.during is not None else (
        e.from_ if e.from_ is not None else times[0], times[-1])
    return (times >= lo - 1e-9) & (times <= hi + 1e-9)


def _judge(x: Expect, t: np.ndarray, y: np.ndarray, base: np.ndarray) -> tuple[bool, str]:
    tol = x.tolerance
    slack = tol + tol * np.abs(y)
    if not np.all(np.isfinite(y)):
        return False, "not finite"
    if x.equals is not None:
        bad = np.abs(y - x.equals) > tol + tol * abs(x.equals)
        return _first(bad, t, y, f"equals {x.equals:g}")
    if x.at_most is not None:
        return _first(y > x.at_most + slack, t, y, f"at most {x.at_most:g}")
    if x.at_least is not None:
        return _first(y < x.at_least - slack, t, y, f"at least {x.at_least:g}")
    if x.falls or x.rises:
        sign = -1.0 if x.falls else 1.0
        d = sign * np.diff(y)
        bad = np.concatenate([[False], d < -(tol + tol * np.abs(y[1:]))])
        word = "falls" if x.falls else "rises"
        ok, detail = _first(bad, t, y, word)
        if ok and not sign * (y[-1] - y[0]) > 0:
            return False, f"does not {word[:-1]}: {y[0]:.4g} at {t[0]:g}, {y[-1]:.4g} at {t[-1]:g}"
        return ok, detail
    if x.vanishes_within is not None:
        start = abs(y[0])
        late = t >= t[0] + x.vanishes_within - 1e-9
        bad = late & (np.abs(y) > x.fraction * start + tol)
        return _first(bad, t, y, f"below {x.fraction:g} x {start:.4g} from {t[0] + x.vanishes_within:g}")
    # vs_baseline
    diff = y - base
    slack = tol + tol * np.abs(base)
    if x.vs_baseline == "same":
        return _first(np.abs(diff) > slack, t, y, "same as the baseline")
    sign = -1.0 if x.vs_baseline == "lower" else 1.0
    ok, detail = _first(sign * diff < -slack, t, y, f"{x.vs_baseline} than the baseline")
    if ok and not sign * diff[-1] > slack[-1]:
        return False, (f"not {x.vs_baseline} than the baseline at {t[-1]:g}: "
                       f"{y[-1]:.6g} vs {base[-1]:.6g}")
    return ok, detail


def _first(bad: np.ndarray, t: np.ndarray, y: np.ndarray, what: str) -> tuple[bool, str]:
    if not np.any(bad):
        return True, f"{what}: holds over {t[0]:g}-{t[-1]:g}"
    k = int(np.argmax(bad))
    return False, f"{what}: fails at {t[k]:g} (value {y[k]:.6g})"


def check_expectations(model, spec: ExpectationsFile, source: str = "") -> list[CheckOutcome]:
    """Run every expectation of ``spec`` on ``model``.

    Parameters
    ----------
    model : sim.Model
        A loaded model.
    spec : ExpectationsFile
        From :func:`load_expectations`.
    source : str
        The file's name, for messages.

    Returns
    -------
    list of CheckOutcome
        One per ``expect`` item, category ``expectations``, named
        ``"<expectation>: <variable> <test>"``.

    Raises
    ------
    ExpectationsError
        A variable or input the model does not have (named, with suggestions), or an
        input that is not a constant.
    """
    from sim.engine.inputs import Step
    from sim.errors import ParameterError

    names = {i.name: p for p, i in model.variables.items()}
    wanted = sorted({x.variable for e in spec.expectations for x in e.expect})
    for k, e in enumerate(spec.expectations):
        for j, x in enumerate(e.expect):
            _known(model, x.variable, f"{source}, field 'expectations[{k}].expect[{j}].variable'")
        for key in e.set:
            _known(model, key, f"{source}, field 'expectations[{k}].set'")
    outputs = [names.get(w, w) for w in wanted]
    base = model.simulate(method="euler", outputs=outputs)
    out: list[CheckOutcome] = []
    for k, e in enumerate(spec.expectations):
        params = {key: (Step(value, e.from_) if e.from_ is not None else value)
                  for key, value in e.set.items()}
        try:
            run = model.simulate(params, method="euler", outputs=outputs)
        except ParameterError as exc:
            raise ExpectationsError(f"{source}, field 'expectations[{k}].set': {exc}") from None
        for x in e.expect:
            label = f"{e.name}: {x.variable} {x.test.replace('_', ' ')}"
            if run.failures:
                out.append(CheckOutcome("expectations", label, False,
                                        f"the run failed: {run.failures[0]}"))
                continue
            t = np.asarray(run.times, float)
            w = _window(t, e, x)
            y = np.asarray(run[x.variable], float)[w]
            b = np.asarray(base[x.variable], float)[w]
            if not np.any(w):
                out.append(CheckOutcome("expectations", label, False,
                                        "no saved time inside the window"))
                continue
            ok, detail = _judge(x, t[w], y, b)
            out.append(CheckOutcome("expectations", label, ok, detail))
    return out


def _known(model, name: str, where: str) -> None:
    from sim.errors import ParameterError
    from sim.suggest import did_you_mean

    try:
        model.py_name(name)
    except ParameterError:  # the engine's message names the model; ours the file and field
        pool = [i.name for i in model.variables.values()]
        raise ExpectationsError(f"{where}: the model has no variable '{name}'"
                                f"{did_you_mean(name, pool)}") from None
