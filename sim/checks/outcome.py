"""The record every check returns, and the summary the command prints."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict.

    Attributes
    ----------
    category : str
        ``structure``, ``units``, ``step`` or ``expectations``.
    name : str
        What was checked, e.g. ``every stock has a flow`` or an expectation's name.
    passed : bool
        Whether the model passed.
    detail : str
        What was found (the offending variables, the measured error, ...).
    """

    category: str
    name: str
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict:
        """Return the outcome as a plain dict (the JSON form)."""
        return asdict(self)


def table(outcomes: list[CheckOutcome]) -> str:
    """Return a fixed-width text table of ``outcomes``, one line each, with a total."""
    rows = [("result", "category", "check", "detail")]
    rows += [("pass" if o.passed else "FAIL", o.category, o.name, o.detail) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    failed = sum(not o.passed for o in outcomes)
    lines.append(f"{len(outcomes) - failed} of {len(outcomes)} checks passed"
                 + (f"; {failed} failed" if failed else ""))
    return "\n".join(line.rstrip() for line in lines)
