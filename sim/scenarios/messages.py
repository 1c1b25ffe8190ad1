"""Validation errors as messages naming the file, line, scenario and field path."""
from __future__ import annotations

import re

from pydantic import ValidationError

from sim.scenarios.errors import ScenarioError
from sim.scenarios.schema import DISTRIBUTIONS_TEXT, FIELD_ORDER, LEVER_FORMS_TEXT


def format_path(loc) -> str:
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
            return f"; accepted keys: {', '.join(FIELD_ORDER)}"
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


def line_of(lines_chain: list[dict], loc: tuple) -> int | None:
    for k in range(len(loc), -1, -1):
        for lines in lines_chain:
            if loc[:k] in lines:
                return lines[loc[:k]]
    return None


def validation_error(exc: ValidationError, source: str, name: str,
                      lines_chain: list[dict]) -> ScenarioError:
    parts = []
    for err in exc.errors()[:6]:
        loc = _display_loc(err["loc"])
        line = line_of(lines_chain, loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        where = f"{source}" + (f", line {line}" if line else "") + f", scenario '{name}'"
        if loc:
            where += f", field {format_path(loc)}"
        parts.append(f"{where}: {msg}{_accepted(loc, err['type'])}")
    more = len(exc.errors()) - 6
    if more > 0:
        parts.append(f"... and {more} more error(s)")
    return ScenarioError("\n".join(parts))
