"""The integration-step check: halving TIME STEP must change the stocks little."""
from __future__ import annotations

import numpy as np

from sim.checks.outcome import CheckOutcome

#: Largest relative change of any stock at any saved time when TIME STEP is halved.
DEFAULT_TOLERANCE = 0.01


def check_step(model, tolerance: float = DEFAULT_TOLERANCE) -> CheckOutcome:
    """Compare Euler at the model's TIME STEP with Euler at half of it.

    Parameters
    ----------
    model : sim.Model
        A loaded model.
    tolerance : float
        Largest accepted relative change of a stock at a saved time (``|a - b|``
        over ``max(|a|, |b|, 1e-9)``).

    Returns
    -------
    CheckOutcome
        Category ``step``; the detail names the stock and time of the largest change.
    """
    c = model.controls
    stocks = [p for p, i in model.variables.items() if i.kind == "stock"]
    if not stocks:
        return CheckOutcome("step", "halving TIME STEP changes the stocks little", True,
                            "no stocks")
    full = model.simulate(method="euler", outputs=stocks)
    half = model.simulate(method="euler", outputs=stocks, time_step=c.time_step / 2,
                          saveper=c.saveper)
    for res in (full, half):
        if res.failures:
            return CheckOutcome("step", "halving TIME STEP changes the stocks little", False,
                                f"the run failed: {res.failures[0]}")
    worst, where = 0.0, ""
    for p in stocks:
        name = model.variables[p].name
        a, b = np.asarray(full[name], float), np.asarray(half[name], float)
        if a.shape != b.shape:
            return CheckOutcome("step", "halving TIME STEP changes the stocks little", False,
                                f"saved times differ ({a.shape} vs {b.shape})")
        rel = np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-9)
        if np.any(~np.isfinite(rel)):
            return CheckOutcome("step", "halving TIME STEP changes the stocks little", False,
                                f"{name} is not finite")
        k = int(np.argmax(rel)) if rel.size else 0
        if rel.size and rel[k] > worst:
            worst, where = float(rel[k]), f"{name} at {float(full.times[k]):g}"
    ok = worst <= tolerance
    return CheckOutcome("step", "halving TIME STEP changes the stocks little", ok,
                        f"largest change {worst:.2%} ({where}); tolerance {tolerance:.2%}"
                        if where else "no change")
