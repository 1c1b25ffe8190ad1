"""A scenario made concrete for one model (:class:`ResolvedScenario`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.engine.inputs import Ramp, Step, Table
from sim.scenarios.schema import Scenario


@dataclass(frozen=True)
class ResolvedScenario:
    """A scenario made concrete for one model.

    Attributes
    ----------
    scenario : Scenario
    params : dict
        Vensim constant name -> float, ndarray (members,), or
        :class:`sim.Step` / :class:`sim.Ramp` / :class:`sim.Table`; pass to
        :meth:`sim.Model.simulate` (see :meth:`simulate_kwargs`).
    final_time : float
        [year]
    outputs : tuple of str
        Vensim names recorded.
    members : int
        Ensemble size actually run.
    samples : dict
        Sampled constants (Vensim name -> ndarray (members,)), a subset of ``params``.
    distributions : dict
        Vensim name -> distribution sampled (``calibration`` made concrete).
    base_used : {"calibrated", "model"}
    notes : tuple of str
        Facts the user should know (base fallback, calibration for another model, ...).
    estimated_bytes : int
        Memory estimate of the recorded output [bytes].
    """

    scenario: Scenario
    params: dict
    final_time: float
    outputs: tuple
    members: int
    samples: dict
    distributions: dict
    base_used: str
    notes: tuple
    estimated_bytes: int
    error_models: dict = field(default_factory=dict)
    band_last_year: float | None = None

    def simulate_kwargs(self) -> dict:
        """Keyword arguments for :meth:`sim.Model.simulate` (add ``method``)."""
        return {"params": dict(self.params), "final_time": self.final_time,
                "outputs": list(self.outputs)}

    def provenance(self) -> dict:
        """YAML-safe description of what was set: constants, time series, distributions."""
        point, series = {}, {}
        for name, v in self.params.items():
            sampled = name in self.samples
            if sampled and not isinstance(v, (Step, Ramp)):
                continue
            level = "sampled: see distributions" if sampled else getattr(v, "value", None)
            if isinstance(v, Step):
                series[name] = {"step": {"value": level, "start": v.start, "before": v.before}}
            elif isinstance(v, Ramp):
                series[name] = {"ramp": {"value": level, "start": v.start, "end": v.end,
                                         "before": v.before}}
            elif isinstance(v, Table) and any(np.ndim(x) for x in v.points.values()):
                series[name] = {"random walk": "bands: calibrated (see calibrated.yaml, bands)"}
            elif isinstance(v, Table):
                series[name] = {"table": {float(k): float(x) for k, x in v.points.items()}}
            else:
                point[name] = float(v)
        out_err = {v: {"sigma": e.sigma, "rho": e.rho} for v, e in self.error_models.items()}
        return {"base_used": self.base_used, "members": self.members,
                "constants": point, "time_series": series, "model_error": out_err,
                "distributions": {k: d.model_dump() for k, d in self.distributions.items()},
                "notes": list(self.notes), "estimated_output_bytes": self.estimated_bytes}
