"""``calibrated.yaml``: the calibration result as data, and its reader and writer.

The document holds, for each free parameter (Vensim name), the estimate, the
profile-likelihood and bootstrap 95% intervals, bounds, prior, identification
flag with its evidence and source; the fit statistics per series with the
log-linear trend's beside them; the out-of-sample errors with their
benchmarks; the correlation matrix; the cross-checks; whether each target of
the calibration is met; and the provenance (hashes of model, data and
specification, seed, versions, date). Only ``date`` changes when the same
calibration is rerun.
"""
from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim.data import display_path
from sim.errors import SimError
from sim.io import atomic_write_text

from .pipeline import CalibrationOutcome

SCHEMA = "sim.calibrated/1"
REQUIRED = ("schema", "parameters", "statistics", "provenance")


class CalibratedError(SimError):
    """A ``calibrated.yaml`` cannot be read."""


def versions() -> dict[str, str]:
    """Versions of the packages a calibration depends on, and Python's."""
    out = {}
    for name, dist in (("sim", "dds-sim"), ("numpy", "numpy"), ("scipy", "scipy"),
                       ("pysd", "pysd"), ("SALib", "SALib"), ("pandas", "pandas")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


def plain(x: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to plain Python for YAML/JSON."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x)
    return x


def _stats(st) -> dict:
    return st.to_dict()


def to_document(out: CalibrationOutcome, provenance: dict, date: str | None = None) -> dict:
    """Build the ``calibrated.yaml`` mapping from a calibration outcome.

    Parameters
    ----------
    out : CalibrationOutcome
    provenance : dict
        ``command``, ``spec`` {path, hash}, ``model`` {path, hash}, ``data``
        {path, hash}: recorded as given.
    date : str, optional
        ISO 8601; default: now (UTC).
    """
    spec = out.spec
    names = list(out.space.names)
    params = {}
    for j, (name, prof) in enumerate(zip(names, out.profiles, strict=True)):
        fp = spec.parameters[name]
        params[name] = {
            "estimate": out.fit.theta[j],
            "interval": list(prof.interval),
            "interval_open": [prof.open_low, prof.open_high],
            "interval_bootstrap": list(out.bootstrap.interval[j]),
            "standard_error": out.covariance.se[j],
            "bounds": list(fp.bounds),
            "scale": fp.scale,
            "prior": None if fp.prior is None else {
                **fp.prior.model_dump(exclude_none=True),
                "interval_95": list(fp.prior.interval())},
            "flag": prof.flag,
            "evidence": prof.evidence,
            "source": fp.source,
        }
    statistics = {}
    fitted = {}
    for sf in out.series:
        statistics[sf.series] = {"variable": sf.variable, "role": sf.role, "weight": sf.weight,
                                 **_stats(sf.statistics),
                                 "trend": _stats(sf.trend_statistics)}
        fitted[sf.series] = {"years": sf.years, "observed": sf.observed,
                             "simulated": sf.simulated, "trend": sf.trend}
    oos = []
    for o in out.out_of_sample:
        oos.append({
            "origin": o.origin, "fit_years": list(o.fit_years),
            "estimates": dict(zip(names, o.theta, strict=True)), "payoff": o.payoff,
            "series": {s: {"years": f.years, "observed": f.observed, "model": f.model,
                           "trend": f.trend, "naive": f.naive, "errors": f.errors}
                       for s, f in o.series.items()}})
    checks = {c.series: {"variables": c.variables, "note": c.note, "years": c.years,
                         "observed": c.observed, "simulated": c.simulated,
                         "percent_difference": c.percent_difference, "mape_pct": c.mape_pct}
              for c in out.cross_checks}
    criteria = [{"criterion": c.name, "series": c.series, "value": c.value,
                 "benchmark": c.benchmark, "met": c.met} for c in out.criteria]
    doc = {
        "schema": SCHEMA,
        "description": spec.description,
        "parameters": params,
        "fixed": {n: {"value": out.fixed_values[n], "source": f.source}
                  for n, f in spec.fixed.items()},
        "fit": {
            "window": list(spec.window), "error_model": spec.error_model,
            "method": spec.method, "n_observations": out.n_observations,
            "n_parameters": out.space.k, "payoff": out.fit.payoff,
            "payoff_parts": out.fit.parts, "sigma2": out.sigma2,
            "optimizer": {"success": out.fit.success, "status": out.fit.status,
                          "message": out.fit.message, "nfev": out.fit.nfev},
            "starts": {"screened": out.fit.n_screened,
                       "polished": len(out.fit.polished_payoffs),
                       "polished_payoffs": out.fit.polished_payoffs,
                       "same_optimum": out.fit.n_same_optimum},
            "jacobian_rank": out.covariance.rank,
            "model_evaluations": out.model_evaluations,
        },
        "statistics": statistics,
        "fitted": fitted,
        "cross_checks": checks,
        "out_of_sample": oos,
        "correlation": {"parameters": names, "matrix": out.covariance.corr},
        "profiles": {p.name: {"theta": p.theta, "delta_chi2": p.delta, "max_delta": p.max_delta}
                     for p in out.profiles},
        "bootstrap": {"replicates": out.bootstrap.n_replicates,
                      "converged": out.bootstrap.n_converged,
                      "estimates": out.bootstrap.theta},
        "targets": {"criteria": criteria, "all_met": all(c.met for c in out.criteria)},
        "settings": {"seed": spec.seed, "starts": out.settings.starts,
                     "polish": out.settings.polish, "bootstrap": out.settings.bootstrap,
                     "profile_points": out.settings.profile_points,
                     "quick": out.settings.quick},
        "provenance": {**provenance, "seed": spec.seed, "versions": versions(),
                       "date": date or datetime.now(UTC).isoformat(
                           timespec="seconds")},
    }
    return plain(doc)


def dump(doc: dict) -> str:
    """YAML text of a document (keys in insertion order, floats round-trip exactly)."""
    head = ("# Written by `sim calibrate`; do not edit by hand. Rerunning the command with\n"
            "# the same specification, model and data reproduces it (only the date differs).\n")
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True,
                            width=100)


def write_calibrated(path: str | Path, doc: dict) -> Path:
    """Write ``doc`` to ``path`` atomically."""
    return atomic_write_text(path, dump(doc))


def read_calibrated(path: str | Path) -> dict:
    """Read a ``calibrated.yaml``.

    Raises
    ------
    CalibratedError
        Missing file, invalid YAML, wrong schema or missing sections.
    """
    path = Path(path)
    where = display_path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibratedError(f"{where}: not found; run `sim calibrate` first") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CalibratedError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise CalibratedError(f"{where}, field 'schema': expected '{SCHEMA}'")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise CalibratedError(f"{where}: missing section(s) {', '.join(missing)}")
    return doc


def estimates(doc: dict) -> dict[str, float]:
    """Free parameter name -> estimate (to pass as ``params`` to ``Model.simulate``)."""
    return {name: float(p["estimate"]) for name, p in doc["parameters"].items()}


def without_date(doc: dict) -> dict:
    """The document less ``provenance.date`` (what a rerun must reproduce)."""
    out = dict(doc)
    out["provenance"] = {k: v for k, v in doc["provenance"].items() if k != "date"}
    return out
