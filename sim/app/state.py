"""Pure functions between the app's widget values and the library's inputs.

Nothing here touches Streamlit: widget values go in as a mapping (the session
state), a scenario document comes out, and :mod:`sim.scenarios` (the same
loader and resolver as ``sim run``) turns it into the parameters of
:meth:`sim.Model.simulate`. A scenario (a shipped file or an upload) goes back
to widget values. The app only wires these to widgets, so the tests check
every conversion directly.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sim import scenarios as sc
from sim.errors import SimError
from sim.project import OBSERVED_FOR as PROJECT_OBSERVED_FOR

#: Settings: Vensim name of a lever constant (size or start year) -> value [its model units].
Settings = dict[str, float]

#: Outputs charted on the trade tab and as headline metrics.
TRADE_OUTPUTS: tuple[str, ...] = ("Digitally Deliverable Exports", "Digitally Deliverable Imports",
                                  "Digital Trade Balance", "China World Share")
#: Stocks charted on the stocks tab (those the model has).
STOCK_OUTPUTS: tuple[str, ...] = ("Digital Infrastructure", "Digital Talent", "Openness",
                                  "Foreign Barriers", "Export Capability")
#: Observed series drawn beside a model output: :data:`sim.project.OBSERVED_FOR`.
OBSERVED_FOR = PROJECT_OBSERVED_FOR
#: Integration method of the app's runs: the default of ``sim run``.
METHOD = "scipy"
#: ``METHOD`` as the app names it beside its numbers (SciPy's default solver).
METHOD_LABEL = "scipy (RK45)"

#: The uncertainty band: an ensemble over the calibrated parameters the data
#: identify, drawn once (seeded) and shared by every slider position.
BAND_MEMBERS = 200
BAND_SEED = 20250101
BAND_SAMPLING = "latin_hypercube"
BAND_CALIBRATION = "identified"


class AppInputError(SimError):
    """A setting or an uploaded scenario the app cannot use (shown with st.error)."""


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
    """A lever (:data:`sim.scenarios.LEVERS`) as found in a model: size and start-year sliders."""

    lever: sc.Lever
    value: Slider
    start: Slider

    @property
    def short(self) -> str:
        return self.lever.short


def nice_step(span: float) -> float:
    """Return a round slider step giving 30-100 steps over ``span`` (1, 2 or 5 x 10^k)."""
    if not (span > 0 and math.isfinite(span)):
        return 0.01
    raw = span / 60
    k = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10 ** k >= raw - 1e-15:
            return float(round(m * 10 ** k, 12))
    return float(10 ** (k + 1))  # pragma: no cover


def _slider(model, name: str, *, integer: bool, horizon: float) -> Slider:
    py = model.py_name(name)
    info = model.variables[py]
    if info.kind != "constant":
        raise AppInputError(f"model variable '{name}' is a {info.kind}, not a constant; "
                            "a lever must be a constant")
    default = float(model.constants[py])
    lo, hi = info.limits if info.limits else (None, None)
    if integer:
        # A start year outside the simulated years does nothing visible.
        t0 = model.controls.initial_time
        lo = t0 if lo is None else max(lo, t0)
        hi = horizon if hi is None else min(hi, horizon)
        lo, hi = float(math.ceil(lo)), float(math.floor(hi))
        step = 1.0
    else:
        lo = min(0.0, default) if lo is None else float(lo)
        hi = max(2.0 * abs(default), lo + 1.0) if hi is None else float(hi)
        step = nice_step(hi - lo)
    lo, hi = min(lo, default), max(hi, default)
    return Slider(info.name, py, info.units, default, float(lo), float(hi), step, integer)


def _has(model, name: str) -> bool:
    return any(v.name == name for v in model.variables.values())


def lever_specs(model, horizon: float | None = None) -> tuple[list[LeverSpec], list[str]]:
    """Return the levers the model has, with ranges from its units fields.

    Parameters
    ----------
    model : sim.Model
    horizon : float, optional
        Last year a start year can take [year]; default: the model's FINAL TIME.

    Returns
    -------
    specs : list of LeverSpec
        In :data:`sim.scenarios.LEVERS` order.
    missing : list of str
        Vensim names of lever constants the model lacks (the app says so).
    """
    horizon = model.controls.final_time if horizon is None else horizon
    specs, missing = [], []
    for lv in sc.LEVERS.values():
        absent = [n for n in (lv.value, lv.start) if not _has(model, n)]
        if absent:
            missing += absent
            continue
        specs.append(LeverSpec(lv, _slider(model, lv.value, integer=False, horizon=horizon),
                               _slider(model, lv.start, integer=True, horizon=horizon)))
    return specs, missing


def sliders(specs: list[LeverSpec]) -> list[Slider]:
    """All sliders, each lever's size then its start year."""
    return [s for spec in specs for s in (spec.value, spec.start)]


def baseline_settings(specs: list[LeverSpec]) -> Settings:
    """Return the model's own lever values (1 = baseline, shock 0)."""
    return {s.name: s.default for s in sliders(specs)}


def widget_values(settings: Mapping[str, float], specs: list[LeverSpec]) -> dict[str, float]:
    """Session-state values for the sliders showing ``settings`` (clamped to their ranges)."""
    out = {}
    for s in sliders(specs):
        x = s.clamp(settings.get(s.name, s.default))
        out[s.key] = int(round(x)) if s.integer else float(x)
    return out


def check_in_range(s: Slider, x: float) -> None:
    """Raise :class:`AppInputError` if ``x`` is not a finite value in the slider's range."""
    if not math.isfinite(x):
        raise AppInputError(f"'{s.name}': value must be finite, got {x}")
    if not s.min - 1e-9 <= x <= s.max + 1e-9:
        raise AppInputError(f"'{s.name}' = {x:g} is outside its range [{s.min:g}, {s.max:g}] "
                            f"({s.units})")


def settings_from_widgets(values: Mapping[str, object], specs: list[LeverSpec]) -> Settings:
    """Read the sliders' session-state values back into settings.

    Raises
    ------
    AppInputError
        A value is not a number, or outside the slider's range.
    """
    out: Settings = {}
    for s in sliders(specs):
        v = values.get(s.key, s.default)
        if isinstance(v, bool):
            raise AppInputError(f"'{s.name}': expected a number, got {v!r}")
        try:
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise AppInputError(f"'{s.name}': expected a number, got {v!r}") from None
        check_in_range(s, x)
        out[s.name] = x
    return out


def changed_levers(settings: Mapping[str, float], specs: list[LeverSpec]) -> list[LeverSpec]:
    """Levers whose size differs from the model's default.

    A start year alone changes nothing (the lever is at baseline either way);
    a shock of size 0 is no shock whatever its year.
    """
    return [spec for spec in specs
            if not math.isclose(settings.get(spec.value.name, spec.value.default),
                                spec.value.default, rel_tol=0, abs_tol=1e-12)]


# ------------------------------------------------------------ scenarios
#: Scenario fields the sliders do not show; kept from a loaded scenario.
EXTRA_FIELDS: tuple[str, ...] = ("base", "horizon", "members", "sampling", "seed", "parameters",
                                 "uncertainty", "calibration_uncertainty", "bands", "outputs")


@dataclass
class Extras:
    """What a loaded scenario sets besides its slider levers (kept and written back on download).

    ``shaped``: ramp and table levers, which no slider can show, by lever:
    ``(slider value, slider start, lever document)``. Such a lever runs as in
    the file while its two sliders stay where the scenario put them; moving
    either makes it a plain ``{value, start}`` lever.
    """

    fields: dict = field(default_factory=dict)
    shaped: dict = field(default_factory=dict)

    def horizon(self, model) -> float:
        return float(self.fields.get("horizon", model.controls.final_time))


def _same(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)


def _plain(x: float) -> float | int:
    """Round away binary noise from slider steps (0.30000000000000004 -> 0.3)."""
    r = round(float(x), 10)
    return int(r) if r.is_integer() and abs(r) < 1e15 else r


def default_outputs(model) -> list[str]:
    """Return the scenario outputs (:data:`sim.scenarios.MAIN_OUTPUTS`) this model has."""
    names = {v.name for v in model.variables.values() if v.kind != "lookup"}
    return [n for n in sc.MAIN_OUTPUTS if n in names] or \
        [model.variables[p].name for p in model.stocks]


def scenario_doc(settings: Mapping[str, float], specs: list[LeverSpec], model, *, name: str,
                 description: str, extras: Extras | None = None, band: bool = False,
                 calibrated_band: bool = False) -> dict:
    """Return the current settings as a scenario document (the schema of ``scenarios/*.yaml``).

    Only levers whose size differs from the baseline are listed ("base +
    changes"). With ``band``, and unless the loaded scenario brings its own
    ensemble, the document also asks for the calibrated-uncertainty ensemble the
    app draws as its band, so ``sim run`` reproduces the band too; with
    ``calibrated_band`` (calibrated.yaml has a ``bands`` section) that is the
    calibrated forecast band of the baseline scenario (``bands: calibrated``:
    parameters, the inputs' random walks and the model error).
    """
    fields_ = dict(extras.fields) if extras else {}
    doc: dict = {"name": name.strip(), "description": description.strip()}
    doc["base"] = fields_.pop("base", "calibrated")
    doc["horizon"] = int(fields_.pop("horizon", int(model.controls.final_time)))
    changed = {spec.short for spec in changed_levers(settings, specs)}
    shaped = extras.shaped if extras else {}
    doc["levers"] = {}
    for spec in specs:
        kept = shaped.get(spec.short)
        if kept is not None and _same(settings[spec.value.name], kept[0]) and \
                _same(settings[spec.start.name], kept[1]):
            doc["levers"][spec.short] = kept[2]
        elif spec.short in changed:
            doc["levers"][spec.short] = {"value": _plain(settings[spec.value.name]),
                                         "start": _plain(settings[spec.start.name])}
    if band and not has_own_ensemble(fields_):
        fields_.update(members=BAND_MEMBERS, seed=BAND_SEED, sampling=BAND_SAMPLING,
                       calibration_uncertainty=BAND_CALIBRATION)
        if calibrated_band:
            fields_["bands"] = "calibrated"
    fields_.setdefault("outputs", default_outputs(model))
    for key in EXTRA_FIELDS:
        if key in fields_ and key not in doc:
            doc[key] = fields_[key]
    return doc


def has_own_ensemble(fields_: Mapping) -> bool:
    """Return a loaded scenario that samples something itself (members > 1)."""
    return int(fields_.get("members", 1) or 1) > 1 and (
        bool(fields_.get("uncertainty")) or fields_.get("calibration_uncertainty", "none") != "none"
        or fields_.get("bands", "none") != "none")


def validate_doc(doc: Mapping) -> sc.Scenario:
    """Validate a scenario document with the schema of ``sim run`` (no YAML round trip).

    Raises
    ------
    AppInputError
        One line per problem: ``field: message``.
    """
    from pydantic import ValidationError
    try:
        return sc.Scenario.model_validate(dict(doc))
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:6]:
            loc = ".".join(str(x) for x in err["loc"]) or "scenario"
            parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        raise AppInputError("; ".join(parts)) from None


def scenario_text(doc: Mapping) -> str:
    """Return a scenario document as the YAML ``sim run`` reads: what the app's runs read too.

    Through the same loader as ``sim run``, every lever form runs as there
    (a JSON round trip made a ``table:`` lever's years text, which the schema
    refuses).

    Raises
    ------
    AppInputError
        The document does not validate.
    """
    return sc.scenario_to_yaml(validate_doc(doc))


def scenario_from_text(text: str) -> sc.Scenario:
    """Return the scenario of :func:`scenario_text`'s YAML (the ``sim run`` loader)."""
    return sc.load_scenarios_text(text, "app")[0]


def check_with_model(scenario: sc.Scenario, model, calibrated: sc.Calibrated | None) -> None:
    """Raise :class:`AppInputError` for a scenario that does not fit the model.

    An unknown ``parameters:`` or ``uncertainty:`` name, an output the model
    lacks, a value outside a constant's range: resolved as ``sim run`` does
    (one member, nothing sampled or run). A problem of ``calibrated`` alone
    (a calibration for another model) is not the scenario's; the app reports
    it on its own.
    """
    try:
        sc.resolve(scenario, model, calibrated, members=1)
    except sc.ScenarioError as exc:
        if calibrated is None:
            raise AppInputError(str(exc)) from None
        try:
            sc.resolve(scenario, model, None, members=1)
        except sc.ScenarioError as own:
            raise AppInputError(str(own)) from None


def download_text(settings: Mapping[str, float], specs: list[LeverSpec], model, *, name: str,
                  description: str, extras: Extras | None = None, band: bool = False,
                  calibrated_band: bool = False) -> str:
    """Return the scenario YAML offered for download; ``sim run`` runs it as it is.

    The document is validated by the schema of ``sim run`` and written by
    :func:`sim.scenarios.scenario_to_yaml` (every field explicit), whose
    output that loader reads back equal.

    Raises
    ------
    AppInputError
        E.g. a blank name or description.
    """
    doc = scenario_doc(settings, specs, model, name=name, description=description, extras=extras,
                       band=band, calibrated_band=calibrated_band)
    return sc.scenario_to_yaml(validate_doc(doc))


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario turned into slider settings."""

    name: str
    description: str
    settings: Settings
    extras: Extras
    notes: tuple[str, ...]


def _dump_field(value):
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="python")
    if isinstance(value, Mapping):
        return {k: _dump_field(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump_field(v) for v in value]
    return value


def from_scenario(scenario: sc.Scenario, specs: list[LeverSpec]) -> LoadedScenario:
    """Slider settings and kept fields of a validated scenario.

    ``{value, start}`` and ``step`` levers map exactly onto the sliders; a
    ``ramp`` or ``table`` lever has no slider form: its sliders show its final
    value and first year, and it runs as in the file (kept in
    ``extras.shaped``) until one of them is moved (``notes`` says so).

    Raises
    ------
    AppInputError
        A lever the model lacks, or a value outside its slider's range.
    """
    settings = baseline_settings(specs)
    by_short = {spec.short: spec for spec in specs}
    notes = []
    shaped: dict = {}
    for short, setting in scenario.levers.items():
        spec = by_short.get(short)
        if spec is None:
            raise AppInputError(f"scenario '{scenario.name}': lever '{short}' is not in the model")
        if isinstance(setting, sc.ConstantLever):
            value, start = setting.value, setting.start
        elif isinstance(setting, sc.StepLever):
            value, start = setting.step.value, setting.step.start
        elif isinstance(setting, sc.RampLever):
            value, start = setting.ramp.value, setting.ramp.start
            notes.append(f"{short}: ramp to {value:g} over {setting.ramp.start:g}-"
                         f"{setting.ramp.end:g}, run as in the file; its sliders show the final "
                         "value and the first year (moving one makes it a step)")
            shaped[short] = (value, start, {"ramp": setting.ramp.model_dump(mode="python")})
        else:
            years = sorted(setting.table)
            value, start = setting.table[years[-1]], years[0]
            notes.append(f"{short}: table over {years[0]:g}-{years[-1]:g}, run as in the file; its "
                         f"sliders show the last value and the first year (moving one makes it "
                         "a step)")
            shaped[short] = (value, start, {"table": {_plain(y): _plain(v)
                                                      for y, v in setting.table.items()}})
        for slider, x in ((spec.value, value), (spec.start, start)):
            try:
                check_in_range(slider, float(x))
            except AppInputError as exc:
                raise AppInputError(f"scenario '{scenario.name}', lever '{short}': {exc}") from None
            settings[slider.name] = float(x)
    data = scenario.model_dump(mode="python")
    extras = Extras({k: _dump_field(data[k]) for k in EXTRA_FIELDS
                     if k in data and data[k] != sc.Scenario.model_fields[k].get_default(
                         call_default_factory=True)}, shaped)
    return LoadedScenario(scenario.name, scenario.description, settings, extras, tuple(notes))


def parse_upload(data: bytes, filename: str, specs: list[LeverSpec], *, model=None,
                 calibrated: sc.Calibrated | None = None) -> list[LoadedScenario]:
    """Return the upload handler: bytes of a scenario YAML -> the scenarios it holds.

    With ``model``, each scenario is also checked against it
    (:func:`check_with_model`), so the file's own errors are reported as its.

    Raises
    ------
    AppInputError
        Not UTF-8, invalid YAML or schema (the message of the ``sim run``
        loader, with line numbers), a lever out of range, or (with
        ``model``) a name or value the model does not have.
    """
    if len(data) > sc.MAX_TEXT_BYTES:
        raise AppInputError(f"{filename}: {len(data)} bytes is more than the "
                            f"{sc.MAX_TEXT_BYTES} accepted for a scenario file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AppInputError(f"{filename}: not UTF-8 text (byte {exc.start})") from None
    try:
        scenarios = sc.load_scenarios_text(text, filename)
    except sc.ScenarioError as exc:
        raise AppInputError(str(exc)) from None
    if not scenarios:
        raise AppInputError(f"{filename}: no scenario in the file")
    if model is not None:
        for s in scenarios:
            check_with_model(s, model, calibrated)
    return [from_scenario(s, specs) for s in scenarios]


# ----------------------------------------------------- uncertainty band
def band(values: np.ndarray, lo_q: float = 5.0, hi_q: float = 95.0) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentiles of an ensemble (T, N), ignoring members masked to NaN."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"expected a (T, N) ensemble array, got shape {arr.shape}")
    if not np.isnan(arr).any():  # the common case, and 10x faster than nanpercentile
        q = np.percentile(arr, [lo_q, hi_q], axis=1)
        return q[0], q[1]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (every member failed)
        return np.nanpercentile(arr, lo_q, axis=1), np.nanpercentile(arr, hi_q, axis=1)


# ---------------------------------------------------------------- runs
class LRU:
    """A small least-recently-used store (the app's bands by settings)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self._data: dict = {}

    def get(self, key, default=None):
        if key not in self._data:
            return default
        value = self._data.pop(key)
        self._data[key] = value
        return value

    def put(self, key, value) -> None:
        self._data.pop(key, None)
        self._data[key] = value
        while len(self._data) > self.size:
            self._data.pop(next(iter(self._data)))

    def __len__(self) -> int:
        return len(self._data)


_QUIET_NOTES = ("members = 1", "base: calibrated was asked for")


def notes_to_show(notes) -> list[str]:
    """Return resolver notes worth showing beside the point run.

    Left out: that the point run samples nothing (the band is a separate run)
    and that calibrated.yaml is missing (the app says so itself).
    """
    return [n for n in notes if not n.startswith(_QUIET_NOTES)]

def baseline_doc(model, horizon: float | None = None) -> dict:
    """Return the comparison run: the calibrated model with no lever moved."""
    return {"name": "baseline", "description": "Calibrated model, no policy change.",
            "base": "calibrated",
            "horizon": int(model.controls.final_time if horizon is None else horizon),
            "outputs": default_outputs(model)}


def simulate_scenario(scenario: sc.Scenario, model, calibrated: sc.Calibrated | None, *,
                      members: int | None = 1, outputs: list[str] | None = None):
    """Resolve a scenario as ``sim run`` does and run it once (one vectorised call).

    Parameters
    ----------
    members : int or None
        1 for the point run (nothing sampled); None for the scenario's own ensemble.
    outputs : list of str, optional
        Variables to record (default: all, for the results CSV).

    Returns
    -------
    (SimulationResult, ResolvedScenario)
    """
    resolved = sc.resolve(scenario, model, calibrated, members=members)
    res = model.simulate(resolved.params, method=METHOD, final_time=resolved.final_time,
                         outputs=outputs)
    return res, resolved
