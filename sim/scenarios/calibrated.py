"""``model/calibrated.yaml`` for scenarios: the optional calibration, and distributions from it.

The file is read and typed by :meth:`sim.calibration.results.Calibrated.read`
(the one reader); this module adds what scenarios need: an absent default file
means "no calibration", errors are :class:`ScenarioError`, and a parameter's
calibrated interval becomes a truncated normal.
"""
from __future__ import annotations

import math
from pathlib import Path

from pydantic import ValidationError

from sim.calibration.results import Calibrated, CalibratedError
from sim.ensembles.sampling import TruncatedLogNormal, TruncatedNormal
from sim.scenarios.errors import ScenarioError
from sim.scenarios.namer import Namer
from sim.suggest import close_matches, did_you_mean

_Z95 = 1.959963984540054  # a two-sided 95% interval spans +-1.96 sd of a normal


def load_calibrated(path: str | Path | None) -> Calibrated | None:
    """Read calibrated parameters; None when there is no file (or no path).

    Raises
    ------
    ScenarioError
        Not a ``calibrated.yaml`` written by ``sim calibrate`` (invalid YAML,
        another schema, missing sections), or an entry without a numeric
        ``estimate``.
    """
    if path is None or not Path(path).exists():
        return None
    try:
        return Calibrated.read(path)
    except CalibratedError as exc:
        raise ScenarioError(str(exc)) from None


def load_calibrated_option(path: str | Path | None,
                           default: str | Path | None) -> Calibrated | None:
    """Return the calibration a command runs from (``--calibrated PATH`` or its default).

    Parameters
    ----------
    path : path-like or None
        The file asked for explicitly; None when the option was not given.
    default : path-like or None
        Read when ``path`` is None; its absence (or None: no project folder)
        is not an error (the scenarios run on the model's own values and
        their notes say so).

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
    close = close_matches(path.name, names, n=1)
    if close:
        return f" Did you mean {folder / close[0]}?"
    yaml_files = [n for n in names if n.lower().endswith((".yaml", ".yml"))]
    return (f" YAML files in {folder}: {', '.join(yaml_files[:5])}." if yaml_files
            else f" There is no YAML file in {folder}.")


def from_calibration(vensim: str, calibrated: Calibrated | None, namer: Namer,
                     where: str) -> TruncatedNormal | TruncatedLogNormal:
    """Return the distribution of ``vensim`` from its calibrated 95% interval.

    A truncated normal (log-normal for a parameter fitted on the log scale)
    whose 95% interval is the calibrated one, truncated at the fit's bounds,
    else the constant's declared limits, else 4 sd from the estimate.

    Raises
    ------
    ScenarioError
        No calibration, the parameter is not in it, or it has no usable interval.
    """
    if calibrated is None:
        raise ScenarioError(f"{where}: 'calibration' needs calibrated.yaml, which was not found; "
                            "give an explicit distribution instead")
    cp = next((c for n, c in calibrated.parameters.items() if namer.constant(n) == vensim), None)
    if cp is None:
        raise ScenarioError(f"{where}: '{vensim}' is not in {calibrated.path}"
                            f"{did_you_mean(vensim, list(calibrated.parameters))}; give an explicit "
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
