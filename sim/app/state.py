"""Pure functions between the app's widget values and the library's inputs.

Nothing here touches Streamlit: widget values go in as a mapping (the
session state), parameters for :meth:`sim.Model.simulate` and scenario YAML
come out, and a scenario (a shipped file or an upload) goes back to widget
values. The app (``app.py``) only wires these to widgets, so the tests can
check every conversion directly.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import yaml

from ..errors import SimError

#: Settings: Vensim name of a lever constant -> value [its model units].
Settings = dict[str, float]


class AppInputError(SimError):
    """A setting or an uploaded scenario the app cannot use (shown with st.error)."""


@dataclass(frozen=True)
class LeverDef:
    """A policy lever of the model: a size constant and its start-year constant."""

    key: str
    value_name: str
    start_name: str


#: The model's policy levers (docs: model/digital_trade.mdl, "Policy levers").
LEVERS: tuple[LeverDef, ...] = (
    LeverDef("infrastructure", "Infrastructure Investment Lever", "Infrastructure Lever Start Year"),
    LeverDef("talent", "Talent Training Lever", "Talent Lever Start Year"),
    LeverDef("reform", "Reform Pace Lever", "Reform Lever Start Year"),
    LeverDef("data_flow", "Data Flow Tightening Lever", "Data Flow Lever Start Year"),
    LeverDef("innovation", "Innovation Protection Lever", "Innovation Lever Start Year"),
    LeverDef("world_demand", "World Demand Growth Lever", "World Demand Lever Start Year"),
    LeverDef("barrier_shock", "Foreign Barrier Shock Size", "Foreign Barrier Shock Year"),
)

#: Outputs charted on the trade tab and as headline metrics.
TRADE_OUTPUTS: tuple[str, ...] = ("Digitally Deliverable Exports", "Digitally Deliverable Imports",
                                  "Digital Trade Balance", "China World Share")
#: Stocks charted on the stocks tab (those the model has).
STOCK_OUTPUTS: tuple[str, ...] = ("Digital Infrastructure", "Digital Talent", "Openness",
                                  "Foreign Barriers", "Export Capability")
#: Observed series (``model/data/observed.csv``) drawn beside a model output, and
#: whether it measures the same quantity (False: a proxy in the same unit).
OBSERVED_FOR: dict[str, tuple[str, bool]] = {
    "Digitally Deliverable Exports": ("china_dds_exports_unctad", True),
    "Digitally Deliverable Imports": ("china_dds_imports_unctad", True),
    "Digital Trade Balance": ("china_dds_balance_unctad", True),
    "China World Share": ("china_world_share_dds_exports", True),
    "Digital Talent": ("rd_personnel_fte", False),
}
#: Years of the headline metrics.
METRIC_YEARS: tuple[int, ...] = (2025, 2030, 2035)


@dataclass(frozen=True)
class Slider:
    """One slider: a model constant with its range and default."""

    name: str          # Vensim name
    py_name: str
    units: str
    default: float
    min: float
    max: float
    step: float
    integer: bool      # start years are whole years

    @property
    def key(self) -> str:
        """Session-state key of the widget."""
        return f"lever:{self.py_name}"

    def clamp(self, x: float) -> float:
        return min(max(float(x), self.min), self.max)


@dataclass(frozen=True)
class LeverSpec:
    """A lever as found in a model: the size slider and the start-year slider."""

    lever: LeverDef
    value: Slider
    start: Slider


def nice_step(span: float) -> float:
    """A round slider step giving 30-100 steps over ``span`` (1, 2 or 5 x 10^k)."""
    if not (span > 0 and math.isfinite(span)):
        return 0.01
    raw = span / 60
    k = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10 ** k >= raw:
            return float(round(m * 10 ** k, 12))
    return float(10 ** (k + 1))  # pragma: no cover


def _slider(model, name: str, *, integer: bool) -> Slider:
    py = model.py_name(name)
    info = model.variables[py]
    if info.kind != "constant":
        raise AppInputError(f"model variable '{name}' is a {info.kind}, not a constant; "
                            "a lever must be a constant")
    default = float(model.constants[py])
    lo, hi = info.limits if info.limits else (None, None)
    c = model.controls
    if integer:
        # A start year outside the simulated horizon does nothing visible.
        lo = c.initial_time if lo is None else max(lo, c.initial_time)
        hi = c.final_time if hi is None else min(hi, c.final_time)
        lo, hi = float(math.ceil(lo)), float(math.floor(hi))
        step = 1.0
    else:
        lo = min(0.0, default) if lo is None else float(lo)
        hi = max(2.0 * abs(default), lo + 1.0) if hi is None else float(hi)
        step = nice_step(hi - lo)
    if not lo <= default <= hi:
        lo, hi = min(lo, default), max(hi, default)
    return Slider(info.name, py, info.units, default, float(lo), float(hi), step, integer)


def lever_specs(model) -> tuple[list[LeverSpec], list[str]]:
    """The levers the model has, with ranges from its units fields.

    Returns
    -------
    specs : list of LeverSpec
        In :data:`LEVERS` order.
    missing : list of str
        Vensim names of lever constants the model lacks (the app says so).
    """
    specs, missing = [], []
    for lv in LEVERS:
        absent = [n for n in (lv.value_name, lv.start_name) if not _has(model, n)]
        if absent:
            missing += absent
            continue
        specs.append(LeverSpec(lv, _slider(model, lv.value_name, integer=False),
                               _slider(model, lv.start_name, integer=True)))
    return specs, missing


def _has(model, name: str) -> bool:
    from ..errors import ParameterError
    try:
        model.py_name(name)
    except ParameterError:
        return False
    return True


def sliders(specs: list[LeverSpec]) -> list[Slider]:
    """All sliders, each lever's size then its start year."""
    return [s for spec in specs for s in (spec.value, spec.start)]


def baseline_settings(specs: list[LeverSpec]) -> Settings:
    """The model's own lever values (1 = baseline, shock 0)."""
    return {s.name: s.default for s in sliders(specs)}


def widget_values(settings: Mapping[str, float], specs: list[LeverSpec]) -> dict[str, float]:
    """Session-state values for the sliders showing ``settings``."""
    out = {}
    for s in sliders(specs):
        x = s.clamp(settings.get(s.name, s.default))
        out[s.key] = int(round(x)) if s.integer else float(x)
    return out


def settings_from_widgets(values: Mapping[str, object], specs: list[LeverSpec]) -> Settings:
    """Read the sliders' session-state values back into settings.

    Raises
    ------
    AppInputError
        A value is missing, not a number, or outside the slider's range.
    """
    out: Settings = {}
    for s in sliders(specs):
        v = values.get(s.key, s.default)
        try:
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise AppInputError(f"'{s.name}': expected a number, got {v!r}") from None
        check_in_range(s, x)
        out[s.name] = x
    return out


def check_in_range(s: Slider, x: float) -> None:
    """Raise :class:`AppInputError` if ``x`` is not a finite value in the slider's range."""
    if not math.isfinite(x):
        raise AppInputError(f"'{s.name}': value must be finite, got {x}")
    if not s.min - 1e-9 <= x <= s.max + 1e-9:
        raise AppInputError(f"'{s.name}' = {x:g} is outside its range [{s.min:g}, {s.max:g}] "
                            f"({s.units})")


def run_params(settings: Mapping[str, float], base: Mapping[str, float] | None = None
               ) -> dict[str, float]:
    """Parameters for :meth:`sim.Model.simulate`: the base (calibrated) values, then the levers."""
    params = dict(base or {})
    params.update({k: float(v) for k, v in settings.items()})
    return params


def changed_levers(settings: Mapping[str, float], specs: list[LeverSpec]) -> list[LeverSpec]:
    """Levers whose size or start year differs from the model's default."""
    out = []
    for spec in specs:
        v = settings.get(spec.value.name, spec.value.default)
        st = settings.get(spec.start.name, spec.start.default)
        if not (math.isclose(v, spec.value.default, abs_tol=1e-12)
                and math.isclose(st, spec.start.default, abs_tol=1e-12)):
            out.append(spec)
    return out


# ----------------------------------------------------------- scenarios
def scenario_dict(settings: Mapping[str, float], specs: list[LeverSpec], *, name: str,
                  description: str, horizon: float | None = None,
                  extra_parameters: Mapping[str, float] | None = None) -> dict:
    """The current settings as a scenario document (the schema of ``scenarios/*.yaml``).

    Only levers that differ from the baseline are listed, so the file reads as
    "base + changes"; the scenario's base is the calibrated model.
    """
    if not name.strip():
        raise AppInputError("the scenario needs a name")
    if not description.strip():
        raise AppInputError("the scenario needs a description")
    doc: dict = {"name": name.strip(), "description": description.strip(), "base": "calibrated"}
    if horizon is not None:
        doc["horizon"] = int(horizon) if float(horizon).is_integer() else float(horizon)
    levers = {}
    for spec in changed_levers(settings, specs):
        value = float(settings.get(spec.value.name, spec.value.default))
        start = float(settings.get(spec.start.name, spec.start.default))
        levers[spec.lever.value_name] = {"value": _plain(value), "start": int(round(start))}
    doc["levers"] = levers
    if extra_parameters:
        doc["parameters"] = {k: _plain(float(v)) for k, v in extra_parameters.items()}
    return doc


def _plain(x: float) -> float | int:
    """Round away binary noise from slider steps (0.30000000000000004 -> 0.3)."""
    r = round(x, 10)
    return int(r) if r.is_integer() and abs(r) < 1e15 else r


def scenario_yaml(doc: Mapping) -> str:
    """Serialise a scenario document as YAML (keys in schema order, UTF-8 text)."""
    return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, default_flow_style=False)


def _lever_entry(entry) -> tuple[float | None, float | None]:
    """(value, start) of a scenario lever entry: a number, a mapping or an object."""
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        return float(entry), None
    get = entry.get if isinstance(entry, Mapping) else (lambda k: getattr(entry, k, None))
    value, start = get("value"), get("start")
    return (None if value is None else float(value)), (None if start is None else float(start))


def settings_from_scenario(levers: Mapping, parameters: Mapping | None,
                           specs: list[LeverSpec]) -> tuple[Settings, list[str]]:
    """Settings for the sliders from a scenario's ``levers`` and ``parameters``.

    Levers are keyed by the Vensim name of their size constant (or its Python
    name, or the lever's short key); a lever absent from the scenario is at
    baseline. A start-year constant given under ``parameters`` is honoured.

    Returns
    -------
    settings : Settings
    unknown : list of str
        Scenario entries with no slider here (kept by the scenario, shown to the user).

    Raises
    ------
    AppInputError
        A lever value outside its slider's range, or a lever name the model lacks.
    """
    settings = baseline_settings(specs)
    index = {}
    for spec in specs:
        for k in (spec.lever.value_name, spec.value.py_name, spec.lever.key,
                  spec.lever.value_name.lower()):
            index[k] = spec
    by_slider = {s.name: s for s in sliders(specs)}
    by_slider.update({s.py_name: s for s in sliders(specs)})
    for key, entry in (levers or {}).items():
        spec = index.get(key) or index.get(str(key).strip().lower())
        if spec is None:
            import difflib
            close = difflib.get_close_matches(str(key), [s.lever.value_name for s in specs], n=2)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise AppInputError(f"lever '{key}' is not a lever of the model{hint} (levers: "
                                f"{', '.join(s.lever.value_name for s in specs)})")
        try:
            value, start = _lever_entry(entry)
        except (TypeError, ValueError):
            raise AppInputError(f"lever '{key}': expected {{value: NUMBER, start: YEAR}}, "
                                f"got {entry!r}") from None
        for slider, x in ((spec.value, value), (spec.start, start)):
            if x is not None:
                check_in_range(slider, x)
                settings[slider.name] = x
    unknown = []
    for key, value in (parameters or {}).items():
        slider = by_slider.get(key)
        if slider is None:
            unknown.append(str(key))
            continue
        try:
            x = float(value)
        except (TypeError, ValueError):
            unknown.append(str(key))
            continue
        check_in_range(slider, x)
        settings[slider.name] = x
    return settings, unknown


# ----------------------------------------------------- uncertainty band
def sample_calibrated(intervals: Mapping[str, tuple[float, float, float, tuple | None]],
                      n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``n`` parameter sets from calibrated intervals.

    Each parameter is drawn independently from a split normal centred on its
    estimate whose 2.5% and 97.5% quantiles are the interval ends (a 95%
    interval), clipped to its bounds.

    Parameters
    ----------
    intervals : mapping
        name -> (estimate, lo, hi, bounds or None).
    n : int
        Number of draws (ensemble members), >= 2.
    rng : numpy.random.Generator

    Returns
    -------
    dict
        name -> array (n,).
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    z = 1.959963984540054
    out = {}
    for name in sorted(intervals):
        est, lo, hi, bounds = intervals[name]
        e = rng.standard_normal(n)
        sd_lo, sd_hi = max(est - lo, 0.0) / z, max(hi - est, 0.0) / z
        x = est + np.where(e < 0, e * sd_lo, e * sd_hi)
        if bounds is not None:
            b_lo, b_hi = bounds
            x = np.clip(x, -np.inf if b_lo is None else b_lo, np.inf if b_hi is None else b_hi)
        out[name] = x
    return out


def band(values: np.ndarray, lo_q: float = 5.0, hi_q: float = 95.0) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentiles of an ensemble (T, N), ignoring members masked to NaN."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"expected a (T, N) ensemble array, got shape {arr.shape}")
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanpercentile(arr, lo_q, axis=1), np.nanpercentile(arr, hi_q, axis=1)
