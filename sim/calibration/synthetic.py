"""Synthetic observed data from a model at known parameters (recovery experiments).

Fitting a model to data it generated itself, with noise of a known size,
shows whether the calibration recovers the parameters and whether its
intervals cover them (Sterman 2000, ch. 21, "synthetic data"). The functions
return the CSV text of an ``observed.csv`` and a ``sources.csv`` in the schema
of :mod:`sim.data.observed`; writing them is the caller's business.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping

import numpy as np

from sim.data.observed import OBSERVED_COLUMNS, SERIES_UNITS, SOURCE_COLUMNS

SOURCE_ID = "synthetic"


def synthetic_observed(model, params: Mapping[str, float], series: Mapping[str, str | list],
                       years: range, noise_sd: float, rng: np.random.Generator,
                       method: str = "euler") -> tuple[str, str]:
    """Simulate ``model`` at ``params`` and add multiplicative lognormal noise.

    Parameters
    ----------
    model : sim.Model
    params : mapping
        Constant name -> value (the "true" parameters).
    series : mapping
        Series name (a key of :data:`sim.data.observed.SERIES_UNITS`) -> model variable,
        or list of variables whose sum it measures.
    years : range
        Years to write (saved times of the simulation).
    noise_sd : float
        Standard deviation of the log noise (0: exact values).
    rng : numpy.random.Generator
    method : str
        Integration method.

    Returns
    -------
    (observed_csv, sources_csv) : tuple of str
    """
    yrs = np.array(list(years), dtype=float)
    res = model.simulate(params=dict(params), method=method, saveper=1.0,
                         final_time=float(yrs[-1]))
    idx = np.searchsorted(res.times, yrs - 1e-9)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(OBSERVED_COLUMNS)
    for name, var in series.items():
        if name not in SERIES_UNITS:
            raise KeyError(f"unknown series '{name}'")
        variables = [var] if isinstance(var, str) else list(var)
        vals = sum(np.asarray(res[v])[idx] for v in variables)
        vals = vals * np.exp(noise_sd * rng.standard_normal(len(yrs)))
        for y, v in zip(yrs, vals, strict=True):
            w.writerow([name, int(y), repr(float(v)), SERIES_UNITS[name], "derived", SOURCE_ID,
                        "synthetic: model output times lognormal noise"])
    src = io.StringIO()
    ws = csv.writer(src, lineterminator="\n")
    ws.writerow(SOURCE_COLUMNS)
    ws.writerow([SOURCE_ID, "sim test suite", "Synthetic data from a model at known parameters",
                 "", f"noise sd {noise_sd} (log)"])
    return out.getvalue(), src.getvalue()
