"""What the app reads: the model, observed data, calibration results, scenarios.

Each loader returns a value or raises :class:`sim.SimError` (or
``FileNotFoundError``) with a message the app shows as it is; the app wraps
them in Streamlit caches. Paths default to the repository's files and can be
redirected with environment variables (used by the tests):

``DDS_MODEL``, ``DDS_CALIBRATED``, ``DDS_SCENARIOS`` (a directory).
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .state import AppInputError, LeverSpec, Settings, settings_from_scenario

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class AppPaths:
    """Files the app reads."""

    model: Path
    calibrated: Path
    scenarios: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppPaths:
        env = os.environ if env is None else env
        return cls(model=Path(env.get("DDS_MODEL", ROOT / "model" / "digital_trade.mdl")),
                   calibrated=Path(env.get("DDS_CALIBRATED", ROOT / "model" / "calibrated.yaml")),
                   scenarios=Path(env.get("DDS_SCENARIOS", ROOT / "scenarios")))


def display(path: Path) -> str:
    """A path relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------- calibration
@dataclass(frozen=True)
class ParamRow:
    """One calibrated parameter (a row of the parameter table)."""

    name: str
    estimate: float
    interval: tuple | None = None
    interval_bootstrap: tuple | None = None
    bounds: tuple | None = None
    flag: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Calibration:
    """Calibration results as the app uses them.

    Attributes
    ----------
    parameters : dict
        Vensim name -> ParamRow.
    fit : dict
        series -> {statistic: value}.
    meta : dict
        Everything else at the top level of the file (method, window, ...).
    """

    parameters: dict
    fit: dict
    meta: dict

    def estimates(self) -> dict[str, float]:
        """Vensim name -> calibrated estimate."""
        return {k: p.estimate for k, p in self.parameters.items()}

    def intervals(self, known: set[str] | None = None) -> dict:
        """name -> (estimate, lo, hi, bounds) for parameters with a usable interval."""
        out = {}
        for k, p in self.parameters.items():
            if known is not None and k not in known:
                continue
            iv = p.interval or p.interval_bootstrap
            if iv is None or not (iv[0] <= p.estimate <= iv[1]) or iv[0] == iv[1]:
                continue
            out[k] = (p.estimate, float(iv[0]), float(iv[1]), p.bounds)
        return out


_FIT_KEYS = ("fit", "fit_statistics", "statistics", "series")


def _pair(v, where: str) -> tuple | None:
    if v is None:
        return None
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        raise AppInputError(f"{where}: expected [low, high], got {v!r}")
    out = []
    for x in v:
        if x is None:
            out.append(None)
            continue
        try:
            out.append(float(x))
        except (TypeError, ValueError):
            raise AppInputError(f"{where}: expected numbers, got {v!r}") from None
    return tuple(out)


def parse_calibration(doc, where: str) -> Calibration:
    """Validate a calibration document (the content of ``model/calibrated.yaml``).

    Raises
    ------
    AppInputError
        Not a mapping, no ``parameters`` mapping, a parameter without a
        numeric ``estimate``, a malformed interval.
    """
    if not isinstance(doc, Mapping):
        raise AppInputError(f"{where}: expected a mapping at the top level")
    params = doc.get("parameters")
    if not isinstance(params, Mapping):
        raise AppInputError(f"{where}: expected a 'parameters' mapping "
                            "{<Vensim name>: {estimate, interval, ...}}")
    rows = {}
    for name, entry in params.items():
        w = f"{where}, parameter '{name}'"
        if isinstance(entry, (int, float)) and not isinstance(entry, bool):
            entry = {"estimate": entry}
        if not isinstance(entry, Mapping) or "estimate" not in entry:
            raise AppInputError(f"{w}: expected a mapping with an 'estimate'")
        try:
            est = float(entry["estimate"])
        except (TypeError, ValueError):
            raise AppInputError(f"{w}: estimate {entry['estimate']!r} is not a number") from None
        if not math.isfinite(est):
            raise AppInputError(f"{w}: estimate must be finite")
        known = {"estimate", "interval", "interval_bootstrap", "bounds", "flag"}
        rows[str(name)] = ParamRow(
            name=str(name), estimate=est,
            interval=_pair(entry.get("interval"), f"{w}, interval"),
            interval_bootstrap=_pair(entry.get("interval_bootstrap"), f"{w}, interval_bootstrap"),
            bounds=_pair(entry.get("bounds"), f"{w}, bounds"),
            flag="" if entry.get("flag") is None else str(entry.get("flag")),
            extra={k: v for k, v in entry.items() if k not in known})
    fit = {}
    for key in _FIT_KEYS:
        block = doc.get(key)
        if isinstance(block, Mapping) and all(isinstance(v, Mapping) for v in block.values()):
            fit = {str(k): dict(v) for k, v in block.items()}
            break
    meta = {k: v for k, v in doc.items() if k not in ("parameters",) + _FIT_KEYS}
    return Calibration(parameters=rows, fit=fit, meta=meta)


def load_calibration(path: Path) -> Calibration:
    """Read ``calibrated.yaml``.

    Raises
    ------
    FileNotFoundError
        No file (the app says the model runs with its defaults).
    AppInputError
        The file is not valid YAML or not a calibration document.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AppInputError(f"{display(path)}: not valid YAML ({exc})") from None
    return parse_calibration(doc, display(path))


# ------------------------------------------------------------ scenarios
@dataclass(frozen=True)
class LoadedScenario:
    """A scenario turned into slider settings."""

    name: str
    description: str
    settings: Settings
    unknown: list[str]


def list_scenarios(directory: Path) -> list[Path]:
    """The scenario files in ``directory`` (``*.yaml`` and ``*.yml``), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _scenarios_module():
    """``sim.scenarios`` when it is installed, else None."""
    try:
        from .. import scenarios  # type: ignore[attr-defined]
    except ImportError:
        return None
    return scenarios


def parse_scenario_text(text: str, source: str, specs: list[LeverSpec]) -> LoadedScenario:
    """Parse scenario YAML (a shipped file or an upload) into slider settings.

    The document is validated by :func:`sim.scenarios.load_scenarios_text`
    (the same loader as ``sim run``) when that module exists; otherwise by a
    minimal check of the fields the app uses. A file holding several
    scenarios yields its first.

    Raises
    ------
    AppInputError
        Invalid YAML, a document that is not a scenario, or a lever value
        out of range; the message names the source and the field.
    """
    mod = _scenarios_module()
    if mod is not None:
        try:
            loaded = mod.load_scenarios_text(text, source)
        except (mod.ScenarioError, SimError_) as exc:
            raise AppInputError(str(exc)) from None
        except Exception as exc:  # the loader's own validation errors (pydantic, yaml)
            raise AppInputError(f"{source}: {exc}") from None
        if not loaded:
            raise AppInputError(f"{source}: no scenario in the file")
        sc = loaded[0]
        name, desc = str(getattr(sc, "name", source)), str(getattr(sc, "description", ""))
        levers = getattr(sc, "levers", None) or {}
        params = getattr(sc, "parameters", None) or {}
    else:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AppInputError(f"{source}: not valid YAML ({exc})") from None
        if isinstance(doc, list):
            doc = doc[0] if doc else None
        if not isinstance(doc, Mapping):
            raise AppInputError(f"{source}: expected a scenario mapping with name, description "
                                "and levers")
        for req in ("name", "description"):
            if not isinstance(doc.get(req), str) or not doc[req].strip():
                raise AppInputError(f"{source}: field '{req}' is required (a non-empty text)")
        name, desc = doc["name"], doc["description"]
        levers = doc.get("levers") or {}
        params = doc.get("parameters") or {}
        if not isinstance(levers, Mapping):
            raise AppInputError(f"{source}, field 'levers': expected a mapping "
                                "{lever: {value, start}}")
        if not isinstance(params, Mapping):
            raise AppInputError(f"{source}, field 'parameters': expected a mapping {{name: value}}")
    try:
        settings, unknown = settings_from_scenario(levers, params, specs)
    except AppInputError as exc:
        raise AppInputError(f"{source}: {exc}") from None
    return LoadedScenario(name=name, description=desc, settings=settings, unknown=unknown)


from ..errors import SimError as SimError_  # noqa: E402
