"""Run every check on one model: the pure part of ``sim check``."""
from __future__ import annotations

from pathlib import Path

from sim.checks.outcome import CheckOutcome
from sim.checks.step import DEFAULT_TOLERANCE, check_step
from sim.checks.structure import check_structure


def run_checks(model_path: str | Path, expectations: str | Path | None = None, *,
               step_tolerance: float = DEFAULT_TOLERANCE) -> list[CheckOutcome]:
    """Load ``model_path`` and run the structure, units, step and expectation checks.

    Parameters
    ----------
    model_path : path
        A Vensim ``.mdl`` file or an XMILE ``.xmile``/``.stmx`` file (whose
        units are not checked: the ``units`` outcome says so and passes).
    expectations : path, optional
        An expectations file (:mod:`sim.checks.expectations`); default the
        ``NAME.checks.yaml`` beside the model, if there is one.
    step_tolerance : float
        Largest relative change of a stock when TIME STEP is halved.

    Returns
    -------
    list of CheckOutcome
        In the order structure, units, step, expectations.
    """
    from sim.checks.expectations import check_expectations, default_path, load_expectations
    from sim.engine.model import load_model
    from sim.engine.reading.units import check_units
    from sim.engine.reading.xmile import is_xmile

    model = load_model(model_path)
    outcomes = check_structure(model)
    if is_xmile(model_path):  # not a failure of the model: the checker reads Vensim units only
        outcomes.append(CheckOutcome(
            "units", "units not checked (XMILE model)", True,
            "the units checker reads Vensim unit strings; XMILE units are not checked"))
    else:
        issues = check_units(model_path)
        outcomes.append(CheckOutcome(
            "units", "every equation's unit equals its declared unit", not issues,
            "" if not issues else "; ".join(f"{i.variable}: {i.message}" for i in issues[:5])
            + (f"; and {len(issues) - 5} more" if len(issues) > 5 else "")))
    outcomes.append(check_step(model, step_tolerance))
    path = Path(expectations) if expectations is not None else default_path(model_path)
    if expectations is not None or path.exists():
        outcomes += check_expectations(model, load_expectations(path), str(path))
    return outcomes
