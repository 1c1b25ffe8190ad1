"""``calibrated.yaml``: the calibration result as data, and its reader and writer.

The document holds, for each free parameter (Vensim name), the estimate, the
profile-likelihood and bootstrap 95% intervals, bounds, prior, identification
flag with its evidence and source; the fit statistics per series with the
log-linear trend's beside them; the out-of-sample errors with their
benchmarks; the correlation matrix; the cross-checks; whether each target of
the calibration is met; and the provenance (hashes of model, data and
specification, seed, versions).

The file is reproducible: every float is written to
:data:`SIGNIFICANT_DIGITS` significant digits (stated in its header), and it
holds nothing that depends on the machine or the moment -- no date, and no
evaluation counts (the optimiser's iteration count follows last-bit
differences of ``exp``/``log`` between CPUs; ``sim calibrate`` prints the
counts and the date instead). Rerunning the same calibration with the same
package versions rewrites the same bytes; a file read back and written again
is byte-identical.

:meth:`Calibrated.read` is the one reader of the file and
:func:`write_calibrated` its one writer. :class:`Calibrated` is the document
typed: the parameters' estimates, intervals and bounds, the provenance
(:func:`provenance_of`, the one place that knows where the hashes are), the
file's sha256 and the sections as read. The report reads the sections
(:func:`read_calibrated`), the scenarios, ``sim run``, ``sim holdout`` and the
app the typed parameters (:func:`sim.scenarios.load_calibrated`, which adds
"no file: no calibration"). The module needs neither SciPy nor the fit.
"""
from __future__ import annotations

import hashlib
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from sim.data.observed import display_path
from sim.errors import SimError
from sim.io import atomic_write_text

if TYPE_CHECKING:  # the pipeline (SciPy, the fit) is not needed to read a file
    from sim.calibration.pipeline import CalibrationOutcome

SCHEMA = "sim.calibrated/1"
REQUIRED = ("schema", "parameters", "statistics", "provenance")

SIGNIFICANT_DIGITS = 6
"""Significant digits of every float written to ``calibrated.yaml``: far below
the estimates' uncertainty, and above the last-bit noise that differs between
machines, so a rerun elsewhere reproduces the file."""

HEADER = (
    "# Written by `sim calibrate`; do not edit by hand.\n"
    f"# Every non-integer number is rounded to {SIGNIFICANT_DIGITS} significant digits. "
    "The run is\n"
    "# deterministic given its seed: rerunning the command with the same specification,\n"
    "# model, data and package versions rewrites this file byte for byte. The date and\n"
    "# the evaluation counts are printed by the command, not stored here.\n")
"""The comment lines at the top of the file."""


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


def rounded(x: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """:func:`plain` with every float rounded to ``digits`` significant digits.

    Rounding is idempotent (a rounded value rounds to itself), so a document
    read back and rounded again is unchanged. Non-finite floats are kept.
    """
    x = plain(x)
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    if isinstance(x, float) and math.isfinite(x):
        return float(f"{x:.{digits}g}")
    return x


def _stats(st) -> dict:
    return st.to_dict()


def to_document(out: CalibrationOutcome, provenance: dict) -> dict:
    """Build the ``calibrated.yaml`` mapping from a calibration outcome.

    Parameters
    ----------
    out : CalibrationOutcome
    provenance : dict
        ``command``, ``spec`` {path, hash}, ``model`` {path, hash}, ``data``
        {path, hash}: recorded as given.

    Returns
    -------
    dict
        Plain Python, floats rounded to :data:`SIGNIFICANT_DIGITS`; nothing
        that depends on the machine or the time (see :func:`run_counts`).
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
    from sim.calibration.forecast_doc import forecast_sections
    forecasts = forecast_sections(out)
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
                          "message": out.fit.message},
            "starts": {"screened": out.fit.n_screened,
                       "polished": len(out.fit.polished_payoffs),
                       "polished_payoffs": out.fit.polished_payoffs,
                       "same_optimum": out.fit.n_same_optimum},
            "jacobian_rank": out.covariance.rank,
        },
        "statistics": statistics,
        "fitted": fitted,
        "cross_checks": checks,
        **forecasts,
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
        "provenance": {**provenance, "seed": spec.seed, "versions": versions()},
    }
    return rounded(doc)


def run_counts(out: CalibrationOutcome) -> dict[str, int]:
    """Return what a calibration cost: counts printed by ``sim calibrate``, kept out of the file.

    They follow the optimiser's path, which last-bit differences between
    machines (SIMD ``exp``/``log``) can lengthen or shorten by an iteration.
    """
    return {"model_evaluations": int(out.model_evaluations),
            "optimizer_evaluations": int(out.fit.nfev)}


def dump(doc: dict) -> str:
    """YAML text of a document: the header, then the keys in insertion order.

    The floats are written as they are in ``doc``: the writer rounds them
    (:func:`to_document`), so ``dump(read(dump(doc))) == dump(doc)``.
    """
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def write_calibrated(path: str | Path, doc: dict) -> Path:
    """Write ``doc`` to ``path`` atomically."""
    return atomic_write_text(path, dump(doc))


def read_calibrated(path: str | Path) -> dict:
    """Return the sections of a ``calibrated.yaml`` as read (:meth:`Calibrated.read`).

    Raises
    ------
    CalibratedError
        See :meth:`Calibrated.read`.
    """
    return Calibrated.read(path).document


def parse_calibrated(raw: bytes, where: str) -> dict:
    """Return the document in the bytes of a ``calibrated.yaml`` (``where`` names it in errors).

    Raises
    ------
    CalibratedError
        Invalid YAML, wrong schema or missing sections.
    """
    try:
        doc = yaml.safe_load(raw.decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CalibratedError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise CalibratedError(f"{where}, field 'schema': expected '{SCHEMA}'")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise CalibratedError(f"{where}: missing section(s) {', '.join(missing)}")
    return doc


def estimates(doc: Mapping) -> dict[str, float]:
    """Return free parameter name -> estimate (``params`` for ``Model.simulate``)."""
    return {name: float(p["estimate"]) for name, p in doc["parameters"].items()}


@dataclass(frozen=True)
class CalibrationProvenance:
    """Where a calibration came from: its ``provenance`` section, typed.

    Attributes
    ----------
    model_hash, data_hash, spec_hash : str or None
        sha256 of the model file, data hash (:attr:`sim.data.observed.ObservedData.data_hash`)
        and specification hash the calibration used; None when the file does
        not record them (a hand-written file).
    seed : int or None
    command : str or None
        The command that wrote the file.
    """

    model_hash: str | None
    data_hash: str | None
    spec_hash: str | None
    seed: int | None
    command: str | None


def provenance_of(doc: Mapping, where: str = "calibrated.yaml") -> CalibrationProvenance:
    """Return the typed provenance of a document written by :func:`to_document`.

    The hashes sit under ``provenance`` as ``{model,data,spec}: {path, hash}``.

    Raises
    ------
    CalibratedError
        ``provenance`` (or one of its entries) is not a mapping, or a hash is
        not a string.
    """
    prov = doc.get("provenance")
    if not isinstance(prov, Mapping):
        raise CalibratedError(f"{where}, field 'provenance': expected a mapping")

    def hash_of(what: str) -> str | None:
        entry = prov.get(what)
        if entry is None:
            return None
        if not isinstance(entry, Mapping):
            raise CalibratedError(f"{where}, field 'provenance.{what}': expected a mapping "
                                  "{path, hash}")
        value = entry.get("hash")
        if value is not None and not isinstance(value, str):
            raise CalibratedError(f"{where}, field 'provenance.{what}.hash': expected a "
                                  f"sha256 string, got {value!r}")
        return value

    seed = prov.get("seed")
    command = prov.get("command")
    return CalibrationProvenance(
        model_hash=hash_of("model"), data_hash=hash_of("data"), spec_hash=hash_of("spec"),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        command=command if isinstance(command, str) else None)


def without_date(doc: dict) -> dict:
    """Return the document less ``provenance.date``.

    Files written before the date was dropped still carry it; the rest is what
    a rerun must reproduce.
    """
    out = dict(doc)
    out["provenance"] = {k: v for k, v in doc["provenance"].items() if k != "date"}
    return out


@dataclass(frozen=True)
class CalibratedParameter:
    """One free parameter of ``calibrated.yaml`` [the parameter's units].

    Attributes
    ----------
    name : str
        Vensim name.
    estimate : float
    interval : (float, float) or None
        Profile-likelihood 95% interval; None when absent or not finite.
    bounds : (float, float) or None
        The fit's bounds; None when absent or not finite.
    flag : str or None
        Identification flag.
    scale : str
        ``linear`` or ``log``: the scale the parameter was fitted on.
    """

    name: str
    estimate: float
    interval: tuple[float, float] | None
    bounds: tuple[float, float] | None
    flag: str | None
    scale: str = "linear"


def _pair(value: Any, what: str, where: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
        raise CalibratedError(f"{where}: '{what}' must be a list [low, high] of two numbers, "
                              f"got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def _parameters(doc: Mapping, where: str) -> dict[str, CalibratedParameter]:
    if not isinstance(doc.get("parameters"), Mapping):
        raise CalibratedError(f"{where}: expected a mapping with 'parameters: {{name: {{estimate, "
                              "interval, bounds, flag}}}}'")
    params = {}
    for name, entry in doc["parameters"].items():
        at = f"{where}, parameter {name!r}"
        if not isinstance(entry, Mapping):
            raise CalibratedError(f"{at}: expected a mapping with 'estimate'")
        est = entry.get("estimate")
        if isinstance(est, bool) or not isinstance(est, (int, float)) or not math.isfinite(est):
            raise CalibratedError(f"{at}: 'estimate' must be a finite number, got {est!r}")
        flag = entry.get("flag")
        params[str(name)] = CalibratedParameter(str(name), float(est),
                                                _pair(entry.get("interval"), "interval", at),
                                                _pair(entry.get("bounds"), "bounds", at),
                                                None if flag is None else str(flag),
                                                str(entry.get("scale") or "linear"))
    return params


@dataclass(frozen=True)
class Calibrated:
    """A ``calibrated.yaml``, typed: what :func:`to_document` wrote, read back.

    Attributes
    ----------
    path : str
        The file, as it was named.
    parameters : dict
        Vensim name -> :class:`CalibratedParameter`.
    provenance : CalibrationProvenance
        Hashes of the model, data and specification the calibration used.
    file_hash : str
        sha256 of the file's bytes.
    bands : dict or None
        The ``bands`` section (inputs' projection and the model's error model).
    document : dict
        Every section as read (schema checked), for the report and the app.
    """

    path: str
    parameters: dict[str, CalibratedParameter]
    provenance: CalibrationProvenance
    file_hash: str
    bands: dict | None = None
    document: dict = field(default_factory=dict, repr=False)

    @property
    def model_hash(self) -> str | None:
        """Return the sha256 of the model the calibration used (None if not recorded)."""
        return self.provenance.model_hash

    @property
    def data_hash(self) -> str | None:
        """Return the hash of the data the calibration used (None if not recorded)."""
        return self.provenance.data_hash

    @classmethod
    def parse(cls, raw: bytes, path: str | Path, where: str | None = None) -> Calibrated:
        """Return the typed document in the bytes ``raw`` of the file ``path``.

        Raises
        ------
        CalibratedError
            Invalid YAML, wrong schema, missing sections, a parameter without a
            finite ``estimate``, a malformed interval or provenance.
        """
        where = str(path) if where is None else where
        doc = parse_calibrated(raw, where)
        bands = doc.get("bands")
        return cls(str(path), _parameters(doc, where), provenance_of(doc, where),
                   hashlib.sha256(raw).hexdigest(),
                   dict(bands) if isinstance(bands, Mapping) else None, doc)

    @classmethod
    def read(cls, path: str | Path) -> Calibrated:
        """Read a ``calibrated.yaml``: the one reader of the file.

        Raises
        ------
        CalibratedError
            Missing file, a folder, or anything :meth:`parse` refuses.
        """
        where = display_path(path)
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise CalibratedError(f"{where}: not found; run `sim calibrate` first") from None
        except IsADirectoryError:
            raise CalibratedError(f"{where}: is a folder, not a calibrated.yaml file") from None
        return cls.parse(raw, path, where)
