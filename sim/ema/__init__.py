"""EMA Workbench adapter: any ``.mdl`` as an EMA model, and a vectorised evaluator.

The Exploratory Modelling and Analysis Workbench (Kwakkel 2017) drives scenario
discovery (PRIM), feature scoring and robust optimisation over many runs of a
model. This adapter makes any model the engine runs an EMA model, and adds an
evaluator that sends all of EMA's experiments to one vectorised ensemble (in
chunks) instead of one model call per experiment::

    from ema_workbench import TimeSeriesOutcome, perform_experiments
    from sim.ema import MdlModel, VectorizedEvaluator, uncertainties_from_model

    model = MdlModel("trade", "model/digital_trade.mdl")
    model.uncertainties = uncertainties_from_model(model.sim_model, ["Trade Adjustment Time"])
    model.outcomes = [TimeSeriesOutcome("Digitally Deliverable Exports")]
    with VectorizedEvaluator(model) as evaluator:
        experiments, outcomes = perform_experiments(model, 1000, evaluator=evaluator)

``ema-workbench`` is an optional extra (``pip install -e '.[ema]'``; its 2.5 line
runs on Python 3.11). See ``docs/ema.md`` for a PRIM example.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

try:
    from ema_workbench import Constant, RealParameter
    from ema_workbench.em_framework.evaluators import BaseEvaluator
    from ema_workbench.em_framework.model import ExperimentReplication, Model
    from ema_workbench.em_framework.points import experiment_generator
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("sim.ema needs the EMA Workbench: pip install -e '.[ema]' "
                      "(ema-workbench 2.5 on Python 3.11)") from exc

__all__ = ["MdlModel", "VectorizedEvaluator", "uncertainties_from_model",
           "uncertainties_from_scenario", "CHUNK_MEMBERS"]

#: Experiments per vectorised ensemble run (bounds memory; results do not depend on it).
CHUNK_MEMBERS = 10_000


class MdlModel(Model):
    """A Vensim model the engine runs, as an EMA model.

    Parameters
    ----------
    name : str
        EMA model name (letters and digits).
    path : path-like
        The ``.mdl`` file.
    method : {'euler', 'rk4', 'scipy'}
        Integration method of every run (default ``euler``, Vensim's).
    final_time : float, optional
        Stop the runs here [model time unit].

    Notes
    -----
    EMA calls :meth:`run_experiment` once per experiment (its own evaluators);
    :class:`VectorizedEvaluator` runs the same experiments as one ensemble and gives
    the same numbers. Outcomes are the model's variables (Vensim names), each a
    series over the saved times; add ``TimeSeriesOutcome('TIME')`` for the times.
    """

    def __init__(self, name: str, path: str | Path, *, method: str = "euler",
                 final_time: float | None = None) -> None:
        from sim.engine.model import load_model

        self.sim_model = load_model(path)
        self.method = method
        self.final_time = final_time
        super().__init__(name, function=self._simulate_one)

    def _simulate_one(self, **values) -> dict:
        return self.simulate(values, 1)[0]

    def simulate(self, values: dict, n: int) -> list[dict]:
        """Run ``n`` experiments as one ensemble; return each one's output series."""
        params = {}
        for key, v in values.items():
            arr = np.asarray(v, dtype=float)
            params[key] = float(arr) if arr.ndim == 0 else arr
        res = self.sim_model.simulate(params or None, method=self.method,
                                      final_time=self.final_time,
                                      outputs=[v for v in self.output_variables if v != "TIME"])
        if res.failures and n == 1:
            raise RuntimeError(f"the run failed: {res.failures[0]}")
        times = np.asarray(res.times, float)
        data = {v: np.asarray(res[v], float).reshape(len(times), -1)
                for v in self.output_variables if v != "TIME"}
        out = []
        for i in range(n):
            row = {v: (data[v][:, i] if data[v].shape[1] > 1 else data[v][:, 0]).copy()
                   for v in data}
            if "TIME" in self.output_variables:
                row["TIME"] = times.copy()
            out.append(row)
        bad = {f.member for f in res.failures}
        for i in bad:  # a failed member's outputs are NaN from its failure on
            for v in data:
                out[i][v] = np.where(np.isfinite(out[i][v]), out[i][v], np.nan)
        return out


class VectorizedEvaluator(BaseEvaluator):
    """EMA evaluator that runs all experiments of an :class:`MdlModel` as vectorised ensembles.

    Parameters
    ----------
    msis : MdlModel or list of MdlModel
    chunk : int
        Experiments per ensemble run (default :data:`CHUNK_MEMBERS`).
    """

    def __init__(self, msis, chunk: int = CHUNK_MEMBERS) -> None:
        super().__init__(msis)
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.chunk = chunk

    def initialize(self) -> None:
        """Nothing to start: the runs are in this process."""

    def finalize(self) -> None:
        """Nothing to stop."""

    def evaluate_experiments(self, scenarios, policies, callback, combine="factorial", **kwargs):
        """Run EMA's experiments in chunks of one ensemble each; report each to ``callback``."""
        by_model: dict[str, list] = defaultdict(list)
        for experiment in experiment_generator(scenarios, self._msis, policies, combine=combine):
            by_model[experiment.model_name].append(experiment)
        models = {m.name: m for m in self._msis}
        for name, experiments in by_model.items():
            model = models[name]
            if not isinstance(model, MdlModel):
                raise TypeError(f"VectorizedEvaluator runs MdlModel models; '{name}' is a "
                                f"{type(model).__name__}")
            for start in range(0, len(experiments), self.chunk):
                part = experiments[start:start + self.chunk]
                values = [self._values(model, e) for e in part]
                keys = sorted({k for v in values for k in v})
                missing = [k for k in keys if any(k not in v for v in values)]
                if missing:
                    raise ValueError(f"experiments set different variables ({missing[0]})")
                params = {k: np.array([v[k] for v in values], dtype=float) for k in keys}
                if len(part) == 1:
                    params = {k: float(a[0]) for k, a in params.items()}
                for experiment, outputs in zip(part, model.simulate(params, len(part)),
                                               strict=True):
                    model.outcomes_output = outputs
                    callback(experiment, model.outcomes_output)
                    model.reset_model()

    @staticmethod
    def _values(model: MdlModel, experiment) -> dict:
        """Return the variable values of one experiment, as EMA's own runner passes them."""
        scenario, policy = experiment.scenario.copy(), experiment.policy.copy()
        model._transform(scenario, model.uncertainties)
        model._transform(policy, model.levers)
        constants = {c.name: c.value for c in model.constants}
        return dict(ExperimentReplication(scenario, policy, constants))


def uncertainties_from_model(model, names: list[str] | None = None) -> list:
    """Return an EMA ``RealParameter`` for each named constant, over its declared range.

    Parameters
    ----------
    model : sim.Model
    names : list of str, optional
        Constants (Vensim or Python names); default every constant whose units
        field declares a finite ``[min, max]``.
    """
    from sim.sensitivity.factors import declared_factors

    factors = declared_factors(model)
    if names is None:
        return [RealParameter(f.name, f.low, f.high) for f in factors]
    by_name = {f.name: f for f in factors}
    out = []
    for n in names:
        vensim = model.variables[model.py_name(n)].name
        if vensim not in by_name:
            raise ValueError(f"'{vensim}' declares no finite [min, max] range; give its range "
                             "with ema_workbench.RealParameter instead")
        f = by_name[vensim]
        out.append(RealParameter(f.name, f.low, f.high))
    return out


def uncertainties_from_scenario(path: str | Path) -> tuple[list, list]:
    """Return (uncertainties, constants) from a scenario file with one scenario.

    Its ``uncertainty:`` entries become ``RealParameter``s (uniform distributions
    only: EMA samples its parameters uniformly); its ``parameters:`` become EMA
    ``Constant``s.
    """
    from sim.scenarios import load_scenarios

    scenarios = load_scenarios(path)
    if len(scenarios) != 1:
        raise ValueError(f"{path}: holds {len(scenarios)} scenarios; give a file with one")
    sc = scenarios[0]
    out = []
    for name, dist in sc.uncertainty.items():
        d = dist.model_dump()
        if d.get("dist") != "uniform":
            raise ValueError(f"{path}: uncertainty '{name}' is {d.get('dist')}; EMA's "
                             "RealParameter samples uniformly, so only 'uniform' maps onto it")
        out.append(RealParameter(name, d["low"], d["high"]))
    constants = [Constant(k, v) for k, v in sc.parameters.items()]
    return out, constants
