"""``model/calibrated.yaml``: reading the estimates, and the distributions built from them.

The file is read by :func:`sim.calibration.results.read_calibrated` (the one
reader, schema checked) and its hashes by
:func:`sim.calibration.results.provenance_of`; this module keeps what
scenarios need: the estimates, intervals and bounds, typed.
"""
from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.calibration.results import CalibratedError, parse_calibrated, provenance_of
from sim.ensembles.sampling import TruncatedLogNormal, TruncatedNormal
from sim.scenarios.errors import ScenarioError
from sim.scenarios.namer import _Namer
from sim.scenarios.names import _closest

_Z95 = 1.959963984540054  # a two-sided 95% interval spans +-1.96 sd of a normal


@dataclass(frozen=True)
class CalibratedParameter:
    """One entry of calibrated.yaml [the parameter's units]."""

    name: str
    estimate: float
    interval: tuple[float, float] | None
    bounds: tuple[float, float] | None
    flag: str | None
    scale: str = "linear"


@dataclass(frozen=True)
class Calibrated:
    """Calibrated parameter estimates (``model/calibrated.yaml``).

    Attributes
    ----------
    path : str
    parameters : dict
        Vensim name -> CalibratedParameter.
    model_hash, data_hash : str or None
        Hashes of the model and data the calibration used.
    file_hash : str
        sha256 of the file's bytes.
    bands : dict or None
        The ``bands`` section (inputs' projection and the model's error model).
    """

    path: str
    parameters: dict
    model_hash: str | None
    data_hash: str | None
    file_hash: str
    bands: dict | None = None


def _pair(value: Any, what: str, where: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
        raise ScenarioError(f"{where}: '{what}' must be a list [low, high] of two numbers, "
                            f"got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def load_calibrated(path: str | Path) -> Calibrated | None:
    """Read calibrated parameters; None when the file does not exist.

    Raises
    ------
    ScenarioError
        Not a ``calibrated.yaml`` written by ``sim calibrate`` (invalid YAML,
        another schema, missing sections), or an entry without a numeric
        ``estimate``.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        raw = path.read_bytes()
        data = parse_calibrated(raw, str(path))
        prov = provenance_of(data, str(path))
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a folder, not a calibrated.yaml file") from None
    except CalibratedError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(data.get("parameters"), Mapping):
        raise ScenarioError(f"{path}: expected a mapping with 'parameters: {{name: {{estimate, "
                            "interval, bounds, flag}}}}'")
    params = {}
    for name, entry in data["parameters"].items():
        where = f"{path}, parameter {name!r}"
        if not isinstance(entry, Mapping):
            raise ScenarioError(f"{where}: expected a mapping with 'estimate'")
        est = entry.get("estimate")
        if isinstance(est, bool) or not isinstance(est, (int, float)) or not math.isfinite(est):
            raise ScenarioError(f"{where}: 'estimate' must be a finite number, got {est!r}")
        flag = entry.get("flag")
        params[str(name)] = CalibratedParameter(str(name), float(est),
                                                _pair(entry.get("interval"), "interval", where),
                                                _pair(entry.get("bounds"), "bounds", where),
                                                None if flag is None else str(flag),
                                                str(entry.get("scale") or "linear"))
    bands = data.get("bands")
    return Calibrated(str(path), params, prov.model_hash, prov.data_hash,
                      hashlib.sha256(raw).hexdigest(),
                      dict(bands) if isinstance(bands, Mapping) else None)


def load_calibrated_option(path: str | Path | None, default: str | Path) -> Calibrated | None:
    """The calibration a command runs from (``--calibrated PATH`` or its default).

    Parameters
    ----------
    path : path-like or None
        The file asked for explicitly; None when the option was not given.
    default : path-like
        Read when ``path`` is None; its absence is not an error (None: the
        scenarios run on the model's own values and their notes say so).

    Raises
    ------
    ScenarioError
        A file asked for explicitly does not exist (naming it and the closest
        existing file) or cannot be read; the default exists but cannot be read.
    """
    if path is None:
        return load_calibrated(default)
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"--calibrated {path}: no such file, so nothing was run (a "
                            f"calibration asked for by name must exist).{_nearby(path)}")
    return load_calibrated(path)


def _nearby(path: Path) -> str:
    """' Did you mean DIR/NAME?' for the existing file whose name is closest to ``path``'s."""
    folder = path.parent
    if not folder.is_dir():
        return f" The folder {folder} does not exist."
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    if close:
        return f" Did you mean {folder / close[0]}?"
    yaml_files = [n for n in names if n.lower().endswith((".yaml", ".yml"))]
    return (f" YAML files in {folder}: {', '.join(yaml_files[:5])}." if yaml_files
            else f" There is no YAML file in {folder}.")


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


def _from_calibration(vensim: str, calibrated: Calibrated | None, namer: _Namer,
                      where: str) -> TruncatedNormal | TruncatedLogNormal:
    if calibrated is None:
        raise ScenarioError(f"{where}: 'calibration' needs calibrated.yaml, which was not found; "
                            "give an explicit distribution instead")
    cp = next((c for n, c in calibrated.parameters.items() if namer.constant(n) == vensim), None)
    if cp is None:
        raise ScenarioError(f"{where}: '{vensim}' is not in {calibrated.path}"
                            f"{_closest(vensim, list(calibrated.parameters))}; give an explicit "
                            "distribution instead")
    if cp.interval is None or not cp.interval[1] > cp.interval[0]:
        raise ScenarioError(f"{where}: '{vensim}' has no usable interval in {calibrated.path} "
                            f"(interval {cp.interval}); give an explicit distribution instead")
    lo_i, hi_i = cp.interval
    sd = (hi_i - lo_i) / (2 * _Z95)
    limits = tuple(namer.info(vensim).limits or ()) + (None, None)
    low = cp.bounds[0] if cp.bounds else limits[0]
    high = cp.bounds[1] if cp.bounds else limits[1]
    low = cp.estimate - 4 * sd if low is None else low
    high = cp.estimate + 4 * sd if high is None else high
    try:
        if cp.scale == "log" and min(lo_i, low, cp.estimate) > 0:
            sd_log = (math.log(hi_i) - math.log(lo_i)) / (2 * _Z95)
            return TruncatedLogNormal(mean_log=math.log(cp.estimate), sd_log=sd_log, low=low,
                                      high=high)
        return TruncatedNormal(mean=cp.estimate, sd=sd, low=low, high=high)
    except ValidationError as exc:
        raise ScenarioError(f"{where}: cannot build a truncated normal for '{vensim}' from "
                            f"{calibrated.path}: {exc.errors()[0]['msg']}") from None
