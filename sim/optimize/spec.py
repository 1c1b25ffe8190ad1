"""The optimisation spec (YAML, ``schema: sim.optimize/1``), strict like the scenarios.

Example (``scenarios/optimize/offset_fragmentation.yaml``)::

    schema: sim.optimize/1
    name: offset fragmentation by 2030
    description: ...
    scenario: ../04_fragmentation.yaml     # levers searched on top of this scenario
    reference: ../00_baseline.yaml         # "gain" is measured against this one (paired)
    members: 500                           # optional: the scenario's ensemble size otherwise
    levers:                                # searched: name -> bounds, start year, cost
      talent: {low: 1, high: 2, start: 2026, cost: 1.0}
    objective:                             # what is maximised ...
      sum_of: [Digitally Deliverable Exports, Digitally Deliverable Imports]
      year: 2030
      measure: gain                        # level | gain (relative to the reference run)
      robustness: {rule: percentile, q: 10}    # mean | percentile (q) | regret (q)
    goal: min_cost                         # min_cost: cheapest mix meeting `require`
    require: {at_least: 0.0}               #   ... with the objective at least this
    constraints:                           # optional, each on a robust statistic too
      - {sum_of: [Digital Trade Balance], year: 2030, measure: level, at_least: -2000,
         robustness: {rule: percentile, q: 10}}
    search: {seed: 1, generations: 40, population: 8}
    pareto: {points: 5}                    # optional two-objective mode: objective vs cost

``goal: max_objective`` maximises the robust objective within ``budget`` (the total
lever cost allowed). A lever's cost is ``cost x |value - neutral|`` (neutral: 1 for a
multiplier lever, 0 for the barrier shock).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.errors import SimError

SCHEMA = "sim.optimize/1"
MAX_BYTES = 2**20

Finite = Annotated[float, Field(allow_inf_nan=False)]


class OptimizeSpecError(SimError):
    """An optimisation spec that cannot be used; the message names file and field."""


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Robustness(_Closed):
    """How one number is taken from the ensemble's members.

    ``mean``; ``percentile``: the ``q``-th percentile (10: what 90 % of members reach);
    ``regret``: minus the ``q``-th percentile of the shortfall from the best of a
    reference set of lever mixes, member by member (so larger is better, as for the others).
    """

    rule: Literal["mean", "percentile", "regret"] = "percentile"
    q: Annotated[float, Field(ge=0, le=100)] = 10.0


class Quantity(_Closed):
    """A model quantity at one year: a sum of variables, as a level or a gain."""

    sum_of: list[str] = Field(min_length=1)
    year: Finite
    measure: Literal["level", "gain"] = "level"
    robustness: Robustness = Robustness()


class Constraint(Quantity):
    """A robust quantity that must stay at least / at most a bound."""

    at_least: Finite | None = None
    at_most: Finite | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Constraint:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("give exactly one of at_least, at_most")
        return self


class LeverRange(_Closed):
    """A lever searched over ``[low, high]`` from ``start`` [year], at ``cost`` per unit.

    ``start`` is required for a lever of the project and not given for any other
    constant (set for the whole run, as a scenario's ``parameters``).
    """

    low: Finite
    high: Finite
    start: Finite | None = None
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> LeverRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


class Requirement(_Closed):
    """``goal: min_cost``: the robust objective must be at least this."""

    at_least: Finite


class Search(_Closed):
    """Differential evolution settings: each generation is one vectorised ensemble."""

    seed: int = 1
    generations: Annotated[int, Field(ge=1, le=1000)] = 40
    population: Annotated[int, Field(ge=2, le=50)] = 8
    tolerance: Annotated[float, Field(gt=0)] = 1e-3
    method: Literal["euler", "rk4", "scipy"] = "euler"


class Pareto(_Closed):
    """Two-objective mode: the robust objective against the lever cost, at ``points`` budgets."""

    points: Annotated[int, Field(ge=2, le=20)] = 5


class OptimizeSpec(_Closed):
    """The whole file."""

    schema_: Literal["sim.optimize/1"] = Field(alias="schema")
    name: str = Field(min_length=1)
    description: str = ""
    scenario: str
    reference: str | None = None
    members: Annotated[int, Field(ge=2, le=100_000)] | None = None
    levers: dict[str, LeverRange] = Field(min_length=1)
    objective: Quantity
    goal: Literal["min_cost", "max_objective"] = "min_cost"
    require: Requirement | None = None
    budget: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    constraints: list[Constraint] = Field(default_factory=list)
    search: Search = Search()
    pareto: Pareto | None = None

    @model_validator(mode="after")
    def _goal_inputs(self) -> OptimizeSpec:
        if self.goal == "min_cost" and self.require is None:
            raise ValueError("goal min_cost needs 'require: {at_least: ...}' (the objective to reach)")
        uses_gain = self.objective.measure == "gain" or any(
            c.measure == "gain" for c in self.constraints)
        if uses_gain and self.reference is None:
            raise ValueError("measure 'gain' needs 'reference:' (the scenario file gains are "
                             "measured against)")
        return self


_ACCEPTED = {
    (): "schema, name, description, scenario, reference, members, levers, objective, goal, "
        "require, budget, constraints, search, pareto",
    ("levers", "*"): "low, high, start, cost",
    ("objective",): "sum_of, year, measure, robustness",
    ("constraints", "*"): "sum_of, year, measure, robustness, at_least, at_most",
    ("search",): "seed, generations, population, tolerance, method",
}


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_spec(path: str | Path) -> OptimizeSpec:
    """Read and validate an optimisation spec.

    Raises
    ------
    OptimizeSpecError
        Naming the file, the field and what would be accepted.
    """
    from sim.yaml12 import read_user_yaml

    path = Path(path)
    data = read_user_yaml(path, OptimizeSpecError, "the optimisation spec", MAX_BYTES)
    try:
        return OptimizeSpec.model_validate(data)
    except ValidationError as exc:
        from sim.yaml12 import first_error

        err = first_error(exc)
        loc = tuple("schema" if p == "schema_" else p for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = tuple("*" if (i == 1 and loc[0] in ("levers", "constraints")) else p
                           for i, p in enumerate(loc[:-1]))
            msg = f"unknown key; accepted: {_ACCEPTED.get(parent, 'see sim/optimize/spec.py')}"
        elif err["type"] == "missing":
            msg = "required but missing"
        raise OptimizeSpecError(f"{path}, field '{_where(loc)}': {msg}") from None
