"""The model's policy levers and the outputs a scenario records by default."""
from __future__ import annotations

from dataclasses import dataclass

from sim.scenarios.names import normalise_name


@dataclass(frozen=True)
class Lever:
    """A policy lever of the model: a value constant and its start-year constant.

    Attributes
    ----------
    short : str
        Name used in scenario files.
    value : str
        Vensim name of the lever constant (1 = baseline; 0 = no shock for the shock).
    start : str
        Vensim name of its start-year constant [year].
    shock : bool
        A dated one-off event (size + year): only the ``{value, start}`` form.
    """

    short: str
    value: str
    start: str
    shock: bool = False


LEVERS: dict[str, Lever] = {lv.short: lv for lv in (
    Lever("infrastructure", "Infrastructure Investment Lever", "Infrastructure Lever Start Year"),
    Lever("talent", "Talent Training Lever", "Talent Lever Start Year"),
    Lever("reform", "Reform Pace Lever", "Reform Lever Start Year"),
    Lever("data_flow", "Data Flow Tightening Lever", "Data Flow Lever Start Year"),
    Lever("innovation", "Innovation Protection Lever", "Innovation Lever Start Year"),
    Lever("world_demand", "World Demand Growth Lever", "World Demand Lever Start Year"),
    Lever("barrier_shock", "Foreign Barrier Shock Size", "Foreign Barrier Shock Year",
          shock=True),
)}

MAIN_OUTPUTS: tuple[str, ...] = (
    "Digitally Deliverable Exports", "Digitally Deliverable Imports", "Digital Trade Balance",
    "Digital Trade Total", "China World Share", "Export Growth Rate", "Import Growth Rate",
    "Digital Infrastructure", "Digital Talent", "Openness", "Foreign Barriers", "Export Capability",
)
"""Default outputs: trade flows [100M USD], share [dmnl], growth rates [1/year], stocks."""

SUMMARY_OUTPUTS: tuple[str, ...] = MAIN_OUTPUTS[:3]
"""Always recorded: exports, imports and balance feed the summary table."""

CONTROL_CONSTANTS = {"initial time", "final time", "time step", "saveper"}


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
