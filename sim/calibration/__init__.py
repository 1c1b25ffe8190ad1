"""Calibration of the model to observed data, its uncertainty and its checks.

The modules are pure computation (no printing, no files except the explicit
readers/writers of :mod:`sim.calibration.spec` and
:mod:`sim.calibration.results`):

- :mod:`~sim.calibration.spec`: the strict schema of ``calibration.yaml``;
- :mod:`~sim.calibration.objective`: the weighted residual vector over the
  targets, evaluated for a whole ensemble of parameter sets in one run;
- :mod:`~sim.calibration.fit`: multi-start bounded least squares and a batched
  Levenberg-Marquardt solver for many fits at once;
- :mod:`~sim.calibration.uncertainty`: profile likelihood, residual bootstrap,
  correlation matrix and identification flags;
- :mod:`~sim.calibration.stats`: fit statistics (R², MAPE, RMSE, Theil);
- :mod:`~sim.calibration.projection`: the rules projecting the exogenous inputs
  after a last observed year, estimated from data up to it;
- :mod:`~sim.calibration.exante`: ex-ante rolling-origin forecasts with trend,
  naive and share-persistence benchmarks, and conditional forecasts;
- :mod:`~sim.calibration.bands`: forecast bands (parameters, input random walks,
  AR(1) model error) and their coverage;
- :mod:`~sim.calibration.variants`: structural hypotheses calibrated and compared;
- :mod:`~sim.calibration.sensitivity`: SALib Sobol (or Morris) indices;
- :mod:`~sim.calibration.validity`: extreme conditions, integration error, units;
- :mod:`~sim.calibration.synthetic`: data from known parameters (recovery tests);
- :mod:`~sim.calibration.pipeline`: the whole calibration, stage by stage;
- :mod:`~sim.calibration.results`: ``calibrated.yaml`` as data.
"""
