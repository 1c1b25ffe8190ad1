"""Failed members of a run: guard the derivatives, blame a variable, mask what follows.

Every method reports a failure the same way, a
:class:`~sim.engine.results.Failure` (member, time, variable or ``'solver'``,
reason, kind); a member that failed is frozen during the run and its saved
values are NaN from the failure's time on.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.engine.results import NON_FINITE, SOLVER, Failure, FailureKind
from sim.engine.running.evaluator import Evaluator
from sim.engine.running.integrators import Outcome


def guarded_rates(ev: Evaluator, failures: list[Failure], rec_slots: list[int]) -> Callable:
    """Return the ensemble's ``rates(t, y, full)``: members that go non-finite are frozen.

    Each such member is reported (appended to ``failures``) with the first
    variable, in evaluation order, that is non-finite; its derivatives are 0
    from then on.
    """
    names = [s.name for s in ev.p.slots]

    def rates(t, y, full=True):
        out = ev.rates(t, y, full)
        if not ev.any_masked and math.isfinite(out.sum() + y.sum()):
            return out  # every member finite (one sum each instead of the per-member scan)
        bad = ~(np.isfinite(out).all(axis=0) & np.isfinite(y).all(axis=0)) & ~ev.masked
        if bad.any():
            for m in np.nonzero(bad)[0]:
                slot = ev.first_nonfinite(int(m), rec_slots)
                name = names[slot] if slot is not None else "?"
                failures.append(Failure(int(m), float(t), name))
            ev.mask(bad)
        if ev.any_masked:
            out[:, ev.masked] = 0.0
        return out
    return rates


def solver_failure(ev: Evaluator, out: Outcome, rec_slots: list[int],
                   shape: tuple | None) -> Failure:
    """Return the failure of a SciPy run that stopped (``out``): member, time, variable, reason.

    One member: when the solver stopped on its own (not on a bound), the
    run is evaluated where it stopped, and the first recorded variable
    (else any) that is non-finite there is named, with the reason
    'non-finite value', as a fixed-step run reports it; otherwise
    ``'solver'`` and the solver's reason. An ensemble's is the solver's
    (member -1): members that go non-finite are masked before.
    """
    kind = out.kind or FailureKind.SOLVER_FAILED
    if ev.n > 1 or kind.is_bound or out.state is None:
        return Failure(0 if ev.n == 1 else -1, out.time, SOLVER, out.reason, kind)
    y = out.state.reshape(shape) if shape else out.state.tolist()
    with np.errstate(all="ignore"):
        ev.rates(out.time, y, True)
    values = ev.values(rec_slots)
    bad = next((i for i, x in zip(rec_slots, values, strict=True)
                if not math.isfinite(x)), None)
    if bad is None:
        bad = ev.first_nonfinite(0, rec_slots)
    if bad is None:
        return Failure(0, out.time, SOLVER, out.reason, kind)
    return Failure(0, out.time, ev.p.slots[bad].name, NON_FINITE)


def blamer(ev: Evaluator, failures: list[Failure], rtol: float, atol: float,
           shape: tuple) -> Callable:
    """Return ``blame(t, y, kind, reason)``: name the members that made the solver fail, freeze them.

    The culprits are the members whose scaled derivative
    ``|f| / (atol + rtol |y|)`` is within a factor 10 of the largest; if
    that is every member still running, nobody is blamed. Each is reported
    with the stock whose derivative is the largest, and the reason: 'non-finite
    value' when it is, else why the solver stopped.
    """
    names = [ev.p.slots[s].name for s in ev.stocks]

    def blame(t, yflat, kind: FailureKind, reason: str):
        y = yflat.reshape(shape)
        with np.errstate(all="ignore"):
            f = ev.rates(t, y, False)
            sc = np.abs(f) / (atol + rtol * np.abs(y))
        sc[~np.isfinite(sc)] = np.inf
        per = sc.max(axis=0)
        per[ev.masked] = 0.0
        running = int((~ev.masked).sum())
        if running == 0 or not np.any(per > 0):
            return []
        top = per.max()
        culprits = np.nonzero(per >= top / 10.0)[0] if np.isfinite(top) \
            else np.nonzero(~np.isfinite(per))[0]
        if len(culprits) >= running:
            return []
        for m in culprits:
            k = int(np.argmax(sc[:, m]))
            if math.isfinite(f[k, m]) and math.isfinite(y[k, m]):
                failures.append(Failure(int(m), float(t), names[k], reason, kind))
            else:
                failures.append(Failure(int(m), float(t), names[k], NON_FINITE))
        ev.mask(culprits)
        return culprits
    return blame


def scan_nonfinite(table: np.ndarray, names: list[str], times: np.ndarray) -> list[Failure]:
    """Return the first non-finite value of a single run's saved ``table`` as a failure.

    The first saved time, and the first variable (in ``names`` order) there; a
    one-failure list, empty when every value is finite.
    """
    bad = ~np.isfinite(table)
    if not bad.any():
        return []
    k = int(np.argmax(bad.any(axis=1)))
    return [Failure(0, float(times[k]), names[int(np.argmax(bad[k]))])]


def scan_members(columns: list[np.ndarray], names: list[str], times: np.ndarray,
                 failures: list[Failure], n: int) -> list[Failure]:
    """Return :func:`scan_nonfinite` for each ensemble member not already reported.

    A member whose recorded variables (auxiliaries included) go non-finite
    is reported and masked from there, as the same run alone would be; the
    derivative guard only sees the stocks and their rates.
    """
    first = np.full(n, len(times))
    for arr in columns:
        with np.errstate(all="ignore"):  # the usual case, in one pass (a sum that
            if math.isfinite(arr.sum()):  # overflows is checked element by element)
                continue
        bad = ~np.isfinite(arr)
        hit = bad.any(axis=0)
        if hit.any():
            first = np.minimum(first, np.where(hit, bad.argmax(axis=0), len(times)))
    done = {f.member for f in failures}
    out = []
    for m in np.nonzero(first < len(times))[0]:
        if int(m) in done or -1 in done:
            continue
        k = int(first[m])
        var = next(nm for nm, arr in zip(names, columns, strict=True)
                   if not np.isfinite(arr[k, m]))
        out.append(Failure(int(m), float(times[k]), var))
    return out


def mask_failed(columns: list[np.ndarray], times: np.ndarray, failures: list[Failure]) -> None:
    """Set every saved value of a failed member to NaN from its failure's time on (in place)."""
    for f in failures:
        if f.member >= 0:
            after = times >= f.time - 1e-12
            for arr in columns:
                arr[after, f.member] = np.nan
