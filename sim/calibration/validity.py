"""Validity tests of the calibrated model (Sterman 2000, ch. 21; Barlas 1996).

- dimensional consistency: :func:`sim.engine.reading.units.check_units` when that module exists;
- extreme conditions: the model run with extreme settings must stay plausible
  (finite, non-negative stocks, expectations of the specification);
- integration error: halving the time step must change nothing that matters.

Pure computation: runs the model, returns results.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from sim.calibration.spec import CalibrationSpec, ExtremeCondition

SLACK = 1e-3
"""Relative slack of the below/above-baseline checks."""


@dataclass(frozen=True)
class Check:
    """One expectation and its outcome."""

    variable: str
    check: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ExtremeResult:
    name: str
    description: str
    settings: dict
    checks: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass(frozen=True)
class UnitsResult:
    """``available`` False when :mod:`sim.engine.reading.units` is not there."""

    available: bool
    issues: list
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.available and not self.issues and not self.error


@dataclass(frozen=True)
class IntegrationResult:
    """Largest relative change of each variable when the step is halved."""

    method: str
    step: float
    half_step: float
    max_relative_change: dict
    tolerance: float
    alternative: dict

    @property
    def passed(self) -> bool:
        return all(v <= self.tolerance for v in self.max_relative_change.values())


def check_units(model_path) -> UnitsResult:
    """Run :func:`sim.engine.reading.units.check_units` if the module exists."""
    try:
        units = importlib.import_module("sim.engine.reading.units")
    except ModuleNotFoundError:
        return UnitsResult(available=False, issues=[], error="sim.engine.reading.units is not available")
    try:
        issues = units.check_units(model_path)
    except Exception as exc:  # report, do not fail the report
        return UnitsResult(available=True, issues=[], error=f"{type(exc).__name__}: {exc}")
    return UnitsResult(available=True, issues=[str(i) for i in issues])


def _run(model, spec: CalibrationSpec, params: dict, variables: list[str], **kw):
    return model.simulate(params=params, method=spec.method, saveper=1.0,
                          outputs=variables, **kw)


def _evaluate(ex, series: np.ndarray, base: np.ndarray) -> Check:
    s = np.asarray(series, dtype=float)
    if ex.check == "finite":
        ok = bool(np.all(np.isfinite(s)))
        return Check(ex.variable, ex.check, ok, "finite throughout" if ok else
                     "non-finite values")
    if not np.all(np.isfinite(s)):
        return Check(ex.variable, ex.check, False, "non-finite values")
    if ex.check == "nonnegative":
        lo = float(s.min())
        return Check(ex.variable, ex.check, lo >= -1e-9 * max(1.0, float(np.abs(s).max())),
                     f"minimum {lo:.4g}")
    if ex.check == "at_most":
        hi = float(s.max())
        return Check(ex.variable, f"at_most {ex.value:g}", hi <= ex.value * (1 + 1e-9) + 1e-12,
                     f"maximum {hi:.4g}")
    if ex.check == "at_least":
        lo = float(s.min())
        return Check(ex.variable, f"at_least {ex.value:g}", lo >= ex.value - 1e-9 * max(
            1.0, abs(ex.value)), f"minimum {lo:.4g}")
    end, b = float(s[-1]), float(base[-1])
    tol = SLACK * max(abs(b), 1e-12)
    ok = end <= b + tol if ex.check == "below_baseline" else end >= b - tol
    return Check(ex.variable, ex.check, bool(ok), f"final {end:.4g} vs baseline {b:.4g}")


def extreme_conditions(model, spec: CalibrationSpec, estimates: dict,
                       cases: list[ExtremeCondition] | None = None) -> list[ExtremeResult]:
    """Run each extreme-condition case of the specification from the calibrated estimates.

    Every case also checks that every stock stays finite.
    """
    cases = spec.validity.extreme_conditions if cases is None else cases
    stocks = [model.variables[s].name for s in model.stocks]
    out = []
    for case in cases:
        wanted = list(dict.fromkeys(stocks + [e.variable for e in case.expect]))
        base = _run(model, spec, estimates, wanted)
        res = _run(model, spec, {**estimates, **case.set}, wanted)
        checks = [_evaluate(e, res[e.variable], base[e.variable]) for e in case.expect]
        bad = [s for s in stocks if not np.all(np.isfinite(res[s]))]
        checks.append(Check("all stocks", "finite", not bad,
                            "finite throughout" if not bad else f"non-finite: {', '.join(bad)}"))
        out.append(ExtremeResult(case.name, case.description, dict(case.set), checks))
    return out


def integration_error(model, spec: CalibrationSpec, estimates: dict, variables: list[str]
                      ) -> IntegrationResult:
    """Halve the time step (or tighten the tolerances for ``scipy``) and compare yearly values.

    Also reports the change from switching Euler to RK4 (``alternative``) for
    the fixed-step methods.
    """
    names = list(dict.fromkeys(variables + [model.variables[s].name for s in model.stocks]))
    dt = model.controls.time_step

    def rel(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        scale = np.maximum(np.abs(b).max(), 1e-12)
        return float(np.max(np.abs(a - b)) / scale)

    if spec.method == "scipy":
        a = model.simulate(params=estimates, method="scipy", saveper=1.0, outputs=names)
        b = model.simulate(params=estimates, method="scipy", saveper=1.0, outputs=names,
                           rtol=1e-9, atol=1e-9)
        change = {n: rel(a[n], b[n]) for n in names}
        return IntegrationResult("scipy (rtol 1e-6 vs 1e-9)", dt, dt, change,
                                 spec.validity.integration_tolerance, {})
    a = model.simulate(params=estimates, method=spec.method, saveper=1.0, outputs=names)
    b = model.simulate(params=estimates, method=spec.method, saveper=1.0, outputs=names,
                       time_step=dt / 2)
    other = "rk4" if spec.method == "euler" else "euler"
    c = model.simulate(params=estimates, method=other, saveper=1.0, outputs=names)
    return IntegrationResult(spec.method, dt, dt / 2, {n: rel(a[n], b[n]) for n in names},
                             spec.validity.integration_tolerance,
                             {f"{spec.method} vs {other}": {n: rel(a[n], c[n]) for n in names}})
