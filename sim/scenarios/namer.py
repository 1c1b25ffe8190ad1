"""Scenario names matched against a model's constants and variables, and range checks."""
from __future__ import annotations

from sim.scenarios.levers import CONTROL_CONSTANTS
from sim.scenarios.names import normalise_name
from sim.suggest import did_you_mean


class Namer:
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
                target.setdefault(normalise_name(key), info.name)

    def info(self, vensim: str):
        return self.model.variables[self.model.py_name(vensim)]

    def constant(self, name: str) -> str | None:
        return self.constants.get(normalise_name(name))

    def constant_hint(self, name: str) -> str:
        pool = [v for v in dict.fromkeys(self.constants.values())
                if normalise_name(v) not in CONTROL_CONSTANTS]
        return did_you_mean(name, pool)

    def variable(self, name: str) -> str | None:
        return self.variables.get(normalise_name(name)) or self.constants.get(normalise_name(name))

    def variable_hint(self, name: str) -> str:
        return did_you_mean(name, list(dict.fromkeys(list(self.variables.values()) +
                                                 list(self.constants.values()))))


def format_limit(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def limit_error(ctx: str, name: str, value: float, limits) -> str | None:
    lo, hi = (tuple(limits) + (None, None))[:2] if limits else (None, None)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return (f"{ctx}: {value:g} is outside the model's range [{format_limit(lo)}, {format_limit(hi)}] for "
                f"'{name}'")
    return None
