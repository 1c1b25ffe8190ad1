"""Evaluate many lever mixes at once: one vectorised ensemble of candidates x members.

Every candidate runs on the same members (the scenario's uncertainty sample, its
input random walks and its model-error paths: common random numbers), so the
differences between candidates are differences of levers, not of luck.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.engine.inputs import Ramp, Step, Table
from sim.ensembles.batch import model_error_factors
from sim.optimize.spec import OptimizeSpec, OptimizeSpecError, Quantity

#: A lever's neutral value: 1 for a multiplier, 0 for the barrier shock (no shock).
NEUTRAL = {"barrier_shock": 0.0}


def _tile(value, p: int):
    """Repeat a scenario parameter for ``p`` candidates (candidate-major member order)."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.size > 1:
        return np.tile(value, p)
    if isinstance(value, Step):
        return Step(_tile(value.value, p), value.start,
                    None if value.before is None else _tile(value.before, p))
    if isinstance(value, Ramp):
        return Ramp(_tile(value.value, p), value.start, value.end,
                    None if value.before is None else _tile(value.before, p))
    if isinstance(value, Table):
        return Table({k: _tile(np.asarray(v, float), p) if np.ndim(v) else v
                      for k, v in value.points.items()})
    return value


@dataclass(frozen=True)
class Evaluation:
    """What the candidates achieved.

    Attributes
    ----------
    objective : ndarray (P,)
        The robust objective (larger is better).
    constraints : ndarray (P, C)
        Each constraint's margin: >= 0 when met.
    cost : ndarray (P,)
        Total lever cost.
    members : ndarray (P, M)
        The objective quantity per member (before the robustness rule).
    """

    objective: np.ndarray
    constraints: np.ndarray
    cost: np.ndarray
    members: np.ndarray


class Problem:
    """An optimisation spec bound to a model, its scenario and its reference run.

    Parameters
    ----------
    spec : OptimizeSpec
    spec_path : path
        The spec's file (scenario paths are relative to it).
    model : sim.Model
    calibrated : Calibrated or None
    """

    def __init__(self, spec: OptimizeSpec, spec_path: Path, model, calibrated) -> None:
        from sim.ensembles.batch import run_scenario
        from sim.scenarios import LEVERS, load_scenarios, resolve

        self.spec, self.model = spec, model
        folder = Path(spec_path).parent
        self.scenario = self._one(load_scenarios(folder / spec.scenario), spec_path, "scenario")
        self.resolved = resolve(self.scenario, model, calibrated, members=spec.members)
        self.m = self.resolved.members
        self.levers = [self._lever(k, r, spec_path, LEVERS) for k, r in spec.levers.items()]
        quantities = [spec.objective, *spec.constraints]
        self.outputs = sorted({v for q in quantities for v in q.sum_of})
        for name in self.outputs:
            try:
                model.py_name(name)
            except Exception as exc:  # noqa: BLE001 - re-raised with the file and field
                raise OptimizeSpecError(f"{spec_path}, field 'objective/constraints': {exc}") \
                    from None
        self.final_time = float(max(q.year for q in quantities))
        if self.final_time > self.resolved.final_time:
            raise OptimizeSpecError(f"{spec_path}: year {self.final_time:g} is after the "
                                    f"scenario's horizon ({self.resolved.final_time:g})")
        self.reference: dict[tuple, np.ndarray] = {}
        if spec.reference is not None:
            ref_sc = self._one(load_scenarios(folder / spec.reference), spec_path, "reference")
            ref = resolve(ref_sc, model, calibrated, members=self.m)
            run = run_scenario(ref, model, spec.search.method)
            for q in quantities:
                if q.measure == "gain":
                    self.reference[(tuple(q.sum_of), q.year)] = self._quantity(
                        run.result.times, {v: np.asarray(run.result[v], float) for v in q.sum_of},
                        q, 1, level=True)[0]
        self.times: np.ndarray | None = None
        self.best_per_member: np.ndarray | None = None  # regret's reference, set by search
        self.runs = 0

    def _lever(self, key: str, r, spec_path, levers) -> tuple:
        """Return ``(key, value constant, start constant or None, range, neutral value)``.

        A key is a lever of the project (``sim.scenarios.LEVERS``: its value constant is
        set and its start-year constant is set to ``start``) or any constant of the
        model (set for the whole run, as a scenario's ``parameters``).
        """
        from sim.errors import ParameterError
        from sim.suggest import did_you_mean

        if key in levers:
            if r.start is None:
                raise OptimizeSpecError(f"{spec_path}, field 'levers.{key}.start': required "
                                        "for a lever (the year it starts)")
            lv = levers[key]
            return (key, lv.value, lv.start, r, NEUTRAL.get(key, 1.0))
        if r.start is not None:
            raise OptimizeSpecError(f"{spec_path}, field 'levers.{key}.start': only a lever "
                                    f"({', '.join(levers)}) has a start year; another constant "
                                    "is set for the whole run")
        try:
            py = self.model.py_name(key)
        except ParameterError:
            pool = list(levers) + [i.name for i in self.model.variables.values()
                                   if i.kind == "constant"]
            raise OptimizeSpecError(f"{spec_path}, field 'levers': '{key}' is neither a lever "
                                    f"({', '.join(levers)}) nor a constant of the model"
                                    f"{did_you_mean(key, pool)}") from None
        info = self.model.variables[py]
        if info.kind != "constant":
            raise OptimizeSpecError(f"{spec_path}, field 'levers': '{info.name}' is not a "
                                    f"constant ({info.kind})")
        return (key, info.name, None, r, float(self.model.constants[py]))

    @staticmethod
    def _one(scenarios, spec_path, field: str):
        if len(scenarios) != 1:
            raise OptimizeSpecError(f"{spec_path}, field '{field}': the file holds "
                                    f"{len(scenarios)} scenarios; give a file with one")
        return scenarios[0]

    def neutral(self) -> np.ndarray:
        """Return the mix with every searched lever at its neutral value (no policy change)."""
        return np.array([[lv[4] for lv in self.levers]])

    def cost(self, x: np.ndarray) -> np.ndarray:
        """Return the lever cost of each candidate: sum of cost x |value - neutral|."""
        x = np.atleast_2d(x)
        return sum(lv[3].cost * np.abs(x[:, j] - lv[4]) for j, lv in enumerate(self.levers))

    def _quantity(self, times, data: dict, q: Quantity, p: int, level: bool = False) -> np.ndarray:
        """Return the quantity per (candidate, member), gains against the reference.

        ``level=True`` gives the level whatever ``q.measure`` says (the reference itself).
        """
        k = np.flatnonzero(np.abs(np.asarray(times, float) - q.year) < 1e-9)
        if not k.size:
            raise OptimizeSpecError(f"year {q.year:g} is not a saved time of the model "
                                    f"(saved: {times[0]:g}, {times[1]:g}, ... {times[-1]:g})")
        total = sum(data[v][k[0]].reshape(p, -1) for v in q.sum_of)
        if q.measure == "gain" and not level:
            ref = self.reference[(tuple(q.sum_of), q.year)]
            total = total / ref[None, :] - 1.0
        return total

    def _robust(self, values: np.ndarray, q: Quantity, is_objective: bool) -> np.ndarray:
        rule = q.robustness
        if rule.rule == "mean":
            return np.nanmean(values, axis=1)
        if rule.rule == "percentile":
            return np.nanpercentile(values, rule.q, axis=1)
        if not is_objective or self.best_per_member is None:
            return np.nanpercentile(values, rule.q, axis=1)
        regret = np.maximum(self.best_per_member[None, :] - values, 0.0)
        return -np.nanpercentile(regret, rule.q, axis=1)

    def evaluate(self, x: np.ndarray) -> Evaluation:
        """Run the candidates ``x`` (P, levers) as one ensemble of P x M members."""
        x = np.atleast_2d(np.asarray(x, float))
        p = x.shape[0]
        params = {name: _tile(v, p) for name, v in self.resolved.params.items()}
        for j, (_, value, start, r, _) in enumerate(self.levers):
            level = np.repeat(x[:, j], self.m) if p * self.m > 1 else float(x[0, j])
            params[value] = level
            if start is not None:
                params[start] = r.start
        res = self.model.simulate(params, method=self.spec.search.method,
                                  final_time=self.final_time, outputs=self.outputs)
        self.runs += p * self.m
        times = np.asarray(res.times, float)
        factors = model_error_factors(self.resolved, times, self.m)
        data = {}
        for v in self.outputs:
            arr = np.asarray(res[v], float).reshape(len(times), p, self.m)
            if v in factors:
                arr = arr * factors[v][:, None, :]
            data[v] = arr.reshape(len(times), p * self.m)
        bad = sorted({f.member for f in res.failures})
        if bad:  # a failed member counts as missing for its candidate
            for v in data:
                data[v][:, [b for b in bad if b >= 0]] = np.nan
        members = self._quantity(times, data, self.spec.objective, p)
        objective = self._robust(members, self.spec.objective, True)
        margins = []
        for c in self.spec.constraints:
            stat = self._robust(self._quantity(times, data, c, p), c, False)
            margins.append(stat - c.at_least if c.at_least is not None else c.at_most - stat)
        cons = np.column_stack(margins) if margins else np.zeros((p, 0))
        return Evaluation(objective, cons, self.cost(x), members)
