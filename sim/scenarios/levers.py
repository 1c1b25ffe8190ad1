"""The model's policy levers (:data:`sim.project.LEVERS`) as scenarios name them.

The levers and default outputs are the project's (:mod:`sim.project`); this
module adds the name lookups the scenario schema and resolver use.
"""
from __future__ import annotations

from sim.project import LEVERS, MAIN_OUTPUTS, SUMMARY_OUTPUTS, Lever
from sim.scenarios.names import normalise_name

__all__ = ["LEVERS", "MAIN_OUTPUTS", "SUMMARY_OUTPUTS", "Lever", "CONTROL_CONSTANTS",
           "LEVER_CONSTANTS", "lever_key"]


CONTROL_CONSTANTS = {"initial time", "final time", "time step", "saveper"}
"""Vensim's control constants (normalised): never a scenario parameter."""


_LEVER_ALIASES: dict[str, str] = {}
for _lv in LEVERS.values():
    _LEVER_ALIASES[normalise_name(_lv.short)] = _lv.short
    _LEVER_ALIASES[normalise_name(_lv.value)] = _lv.short
LEVER_CONSTANTS: dict[str, str] = {}  # normalised Vensim name -> lever short name
for _lv in LEVERS.values():
    LEVER_CONSTANTS[normalise_name(_lv.value)] = _lv.short
    LEVER_CONSTANTS[normalise_name(_lv.start)] = _lv.short


def lever_key(name: str) -> str | None:
    """Short name of the lever called ``name`` (short or Vensim name), else None."""
    return _LEVER_ALIASES.get(normalise_name(name))
