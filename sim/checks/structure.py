"""Structural checks read from the compiled model's variable table."""
from __future__ import annotations

from sim.checks.outcome import CheckOutcome

#: Control variables: used by the engine, not by equations.
CONTROLS = {"initial_time", "final_time", "time_step", "saveper"}
#: A units field that declares no unit (empty, or Vensim's "?").
_BLANK = {"", "?"}


def _names(model, pys) -> str:
    shown = [model.variables[p].name for p in sorted(pys)]
    return ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")


def check_structure(model) -> list[CheckOutcome]:
    """Check that every stock has a flow, every input is used and every constant has a unit.

    Parameters
    ----------
    model : sim.Model
        A loaded model.

    Returns
    -------
    list of CheckOutcome
        Three outcomes, category ``structure``. An *input* is a constant or a
        lookup; one that no equation refers to cannot change any result (an
        auxiliary nothing uses is an output, which is allowed).
    """
    v = model.variables
    stocks = [p for p, i in v.items() if i.kind == "stock"]
    flowless = [p for p in stocks if not (v[p].inflows or v[p].outflows)]
    used = {d for info in v.values() for d in info.depends_on}
    unused = [p for p, i in v.items() if i.kind in ("constant", "lookup")
              and p not in used and p not in CONTROLS]
    unitless = [p for p, i in v.items() if i.kind == "constant" and p not in CONTROLS
                and i.units.strip() in _BLANK]
    return [
        CheckOutcome("structure", "every stock has a flow", not flowless,
                     f"{len(stocks)} stocks" if not flowless else
                     f"no inflow or outflow: {_names(model, flowless)}"),
        CheckOutcome("structure", "every constant and lookup is used", not unused,
                     "" if not unused else f"used by no equation: {_names(model, unused)}"),
        CheckOutcome("structure", "every constant has a unit", not unitless,
                     "" if not unitless else f"no unit: {_names(model, unitless)}"),
    ]
