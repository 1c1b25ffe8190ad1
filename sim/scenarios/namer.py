"""Scenario names matched against a model's constants and variables, and range checks."""
from __future__ import annotations

from sim.scenarios.levers import _CONTROL_CONSTANTS
from sim.scenarios.names import _closest, _norm


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
