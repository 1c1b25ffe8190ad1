"""Resolution: a scenario checked against a model and made concrete (:func:`resolve`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from sim.engine.inputs import Ramp, Step, Table
from sim.ensembles.sampling import sample
from sim.scenarios.calibrated import Calibrated, from_calibration, load_calibrated
from sim.scenarios.errors import ScenarioError
from sim.scenarios.levers import CONTROL_CONSTANTS, LEVERS, SUMMARY_OUTPUTS, lever_key
from sim.scenarios.memory import DEFAULT_MEMORY_LIMIT, estimate_bytes, format_bytes
from sim.scenarios.messages import format_path, line_of, validation_error
from sim.scenarios.namer import Namer, format_limit, limit_error
from sim.scenarios.names import normalise_name
from sim.scenarios.resolved import ResolvedScenario
from sim.scenarios.schema import ConstantLever, FromCalibration, RampLever, Scenario, StepLever


def resolve(scenario: Scenario, model, calibrated: Calibrated | str | Path | None = None, *,
            members: int | None = None,
            memory_limit: int = DEFAULT_MEMORY_LIMIT,
            allow_out_of_range: bool = False) -> ResolvedScenario:
    """Check a scenario against a model and make its parameters concrete.

    Parameters
    ----------
    scenario : Scenario
    model : sim.Model
    calibrated : Calibrated or path-like, optional
        Estimates to start from when ``scenario.base == "calibrated"`` (a
        path is read with :func:`load_calibrated`); when None or an absent
        file, the model's own values are used and ``notes`` says so.
    members : int, optional
        Override the scenario's ensemble size (``sim run --members``).
    memory_limit : int
        Refuse ensembles whose output would exceed this [bytes].
    allow_out_of_range : bool
        Run a set value outside its constant's declared range (a note says so)
        instead of refusing it, as ``sim simulate --allow-out-of-range``.

    Returns
    -------
    ResolvedScenario

    Raises
    ------
    ScenarioError
        Unknown lever, parameter or output (with the closest valid names), a
        value outside the model's range, a calibration distribution without an
        interval, or an ensemble larger than ``memory_limit`` (checked before
        anything is sampled).
    """
    if isinstance(calibrated, (str, Path)):
        calibrated = load_calibrated(calibrated)
    if members is not None:
        try:
            scenario = _with_members(scenario, members)
        except ValidationError as exc:
            raise validation_error(exc, scenario.source, scenario.name,
                                   [scenario._lines]) from None
    ctx = _Context(scenario, model, Namer(model), allow_out_of_range)
    # time axis, outputs and the memory check come first: nothing is allocated before
    t0, final, outputs, n_times = _time_and_outputs(ctx, memory_limit)
    params, base_values, base_used = _base_values(ctx, calibrated)
    _set_parameters(ctx, params)
    leveled = _set_levers(ctx, params, base_values, t0)
    distributions, unc_key = _distributions(ctx, calibrated)
    samples, n_members = _sample(ctx, calibrated, distributions, unc_key, leveled, params)
    errors, band_last = _calibrated_band(ctx, calibrated, params, distributions, n_members,
                                         final)
    return ResolvedScenario(error_models=errors, band_last_year=band_last,
                            scenario=scenario, params=params, final_time=final,
                            outputs=tuple(outputs), members=n_members, samples=samples,
                            distributions=distributions, base_used=base_used,
                            notes=tuple(ctx.notes),
                            estimated_bytes=estimate_bytes(n_members, len(outputs),
                                                           len(model.stocks), n_times))


@dataclass
class _Context:
    """What every step of :func:`resolve` reads: the scenario, the model, names, notes."""

    scenario: Scenario
    model: Any
    namer: Namer
    allow_out_of_range: bool
    notes: list[str] = field(default_factory=list)

    def where(self, *loc) -> str:
        """Return ``FILE, line N, scenario 'S', field F`` for a field of the scenario."""
        line = line_of([self.scenario._lines], tuple(loc))
        return f"{self.scenario.source}" + (f", line {line}" if line else "") + \
            f", scenario '{self.scenario.name}', field {format_path(loc)}"

    def need_constant(self, name: str, *loc) -> str:
        """Return the Vensim name of the constant ``name`` set at field ``loc``.

        Raises
        ------
        ScenarioError
            Not a constant of the model (with the closest names), or a time control.
        """
        namer, model = self.namer, self.model
        vensim = namer.constant(name)
        if vensim is None:
            other = namer.variable(name)
            if other is not None:
                kind = namer.info(other).kind
                raise ScenarioError(f"{self.where(*loc)}: '{other}' is a {kind} of the model, "
                                    "not a constant; only constants can be set")
            raise ScenarioError(f"{self.where(*loc)}: the model {model.path.name} has no "
                                f"constant {name!r}{namer.constant_hint(name)}")
        if normalise_name(vensim) in CONTROL_CONSTANTS:
            raise ScenarioError(f"{self.where(*loc)}: '{vensim}' is a time control; use "
                                "horizon: for the final year")
        return vensim

    def out_of_range(self, msg: str | None) -> None:
        """Refuse a value outside its range (``msg``), or note it when that is allowed."""
        if msg and not self.allow_out_of_range:
            raise ScenarioError(msg)
        if msg:
            self.notes.append(f"{msg.split(' (')[0]}; run as asked (--allow-out-of-range)")


def _time_and_outputs(ctx: _Context, memory_limit: int) -> tuple[float, float, list[str], int]:
    """Return the initial and final times, the recorded outputs and the saved-time count.

    Raises
    ------
    ScenarioError
        A horizon before the start, an unknown output, or an ensemble whose
        output would exceed ``memory_limit`` [bytes].
    """
    scenario, model, namer = ctx.scenario, ctx.model, ctx.namer
    ctl = model.controls
    t0, final = float(ctl.initial_time), float(scenario.horizon)
    if not final > t0:
        raise ScenarioError(f"{ctx.where('horizon')}: {scenario.horizon} must be after the "
                            f"model's initial time {t0:g}")
    outputs: list[str] = []
    for i, name in enumerate(list(scenario.outputs) + list(SUMMARY_OUTPUTS)):
        vensim = namer.variable(name)
        if vensim is None:
            at = ctx.where("outputs", i) if i < len(scenario.outputs) else scenario.source
            raise ScenarioError(f"{at}: the model {model.path.name} has no variable {name!r}"
                                f"{namer.variable_hint(name)}")
        if vensim not in outputs:
            outputs.append(vensim)
    saveper = float(ctl.saveper) if ctl.saveper > 0 else float(ctl.time_step)
    n_times = int(math.floor((final - t0) / saveper + 1e-9)) + 1
    n_members = scenario.members
    need = estimate_bytes(n_members, len(outputs), len(model.stocks), n_times)
    if need > memory_limit:
        raise ScenarioError(
            f"{ctx.where('members')}: an ensemble of {n_members} members x ({len(outputs)} "
            f"recorded + {len(model.stocks)} stock variables) x {n_times} saved times x 8 bytes "
            f"needs {format_bytes(need)}, more than the limit of {format_bytes(memory_limit)}; "
            "lower members, record fewer outputs, or raise the limit (sim run --memory-limit)")
    return t0, final, outputs, n_times


def _base_values(ctx: _Context, calibrated: Calibrated | None
                 ) -> tuple[dict[str, Any], dict[str, float], str]:
    """Return the base parameters, their values and the base used (calibrated or model)."""
    scenario, model, namer = ctx.scenario, ctx.model, ctx.namer
    params: dict[str, Any] = {}
    base_values: dict[str, float] = {}
    base_used = scenario.base
    if scenario.base == "calibrated":
        if calibrated is None:
            base_used = "model"
            ctx.notes.append("base: calibrated was asked for but no calibrated.yaml was found; "
                             "the model's own parameter values were used")
        else:
            if calibrated.model_hash and calibrated.model_hash != model.model_hash:
                ctx.notes.append(f"{calibrated.path} was calibrated on another version of the "
                                 f"model (model_hash {calibrated.model_hash[:12]}..., this model "
                                 f"{model.model_hash[:12]}...)")
            for name, cp in calibrated.parameters.items():
                vensim = namer.constant(name)
                if vensim is None:
                    raise ScenarioError(f"{calibrated.path}: parameter {name!r} is not a constant "
                                        f"of {model.path.name}{namer.constant_hint(name)}")
                base_values[vensim] = cp.estimate
                params[vensim] = cp.estimate
    return params, base_values, base_used


def _set_parameters(ctx: _Context, params: dict[str, Any]) -> None:
    """Set the scenario's ``parameters:`` into ``params``, range-checked."""
    for name, value in ctx.scenario.parameters.items():
        vensim = ctx.need_constant(name, "parameters", name)
        ctx.out_of_range(limit_error(ctx.where("parameters", name), vensim, value,
                                     ctx.namer.info(vensim).limits))
        params[vensim] = float(value)


def _set_levers(ctx: _Context, params: dict[str, Any], base_values: dict[str, float],
                t0: float) -> dict[str, Any]:
    """Set the scenario's levers into ``params``.

    Returns
    -------
    dict
        Step and ramp levers' value constant -> a maker of its series from a
        level (so a sampled level keeps the lever's times).
    """
    model, namer = ctx.model, ctx.namer

    def base_of(vensim: str) -> float:
        if vensim in base_values:
            return base_values[vensim]
        return float(model.constants[model.py_name(vensim)])

    leveled: dict[str, Any] = {}
    for short, setting in ctx.scenario.levers.items():
        lever = LEVERS[short]
        value_name = ctx.need_constant(lever.value, "levers", short)
        start_name = ctx.need_constant(lever.start, "levers", short)
        limits = namer.info(value_name).limits
        if isinstance(setting, ConstantLever):
            for what, v, nm in (("value", setting.value, value_name),
                                ("start", setting.start, start_name)):
                ctx.out_of_range(limit_error(ctx.where("levers", short, what), nm, v,
                                             namer.info(nm).limits))
            params[value_name] = float(setting.value)
            params[start_name] = float(setting.start)
            continue
        before = base_of(value_name)
        if isinstance(setting, StepLever):
            checks = [("step", "value", setting.step.value)]
            st = setting.step

            def make(level, st=st, before=before):
                return Step(level, st.start, before=before)
            series = make(st.value)
            leveled[value_name] = make
        elif isinstance(setting, RampLever):
            checks = [("ramp", "value", setting.ramp.value)]
            rp = setting.ramp

            def make(level, rp=rp, before=before):
                return Ramp(level, rp.start, rp.end, before=before)
            series = make(rp.value)
            leveled[value_name] = make
        else:
            checks = [("table", year, v) for year, v in setting.table.items()]
            series = Table(dict(sorted(setting.table.items())))
        for form, key, v in checks:
            ctx.out_of_range(limit_error(ctx.where("levers", short, form, key), value_name, v,
                                         limits))
        params[value_name] = series
        # the time series alone decides when the lever acts: switch the model's own start on
        params[start_name] = t0
    return leveled


def _distributions(ctx: _Context, calibrated: Calibrated | None
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the distributions to sample, and the scenario key of each it names."""
    scenario, namer = ctx.scenario, ctx.namer
    distributions: dict[str, Any] = {}
    unc_key: dict[str, str] = {}
    for name, spec in scenario.uncertainty.items():
        short = lever_key(name)
        vensim = ctx.need_constant(LEVERS[short].value if short else name, "uncertainty", name)
        if vensim in distributions:
            raise ScenarioError(f"{ctx.where('uncertainty', name)}: '{vensim}' has two "
                                "distributions")
        if isinstance(spec, FromCalibration):
            spec = from_calibration(vensim, calibrated, namer, ctx.where("uncertainty", name))
        distributions[vensim] = spec
        unc_key[vensim] = name
    if scenario.calibration_uncertainty != "none":
        if calibrated is None:
            ctx.notes.append(f"calibration_uncertainty: {scenario.calibration_uncertainty} but "
                             "no calibrated.yaml was found; no calibrated parameter was sampled")
        else:
            for name, cp in calibrated.parameters.items():
                vensim = namer.constant(name)
                if vensim in distributions or vensim in _scenario_set(scenario, namer):
                    continue
                if scenario.calibration_uncertainty == "identified" and \
                        (cp.flag or "").strip().lower() not in ("identified", "weakly identified"):
                    continue
                distributions[vensim] = from_calibration(
                    vensim, calibrated, namer, f"{calibrated.path}, parameter {name!r}")
    return distributions, unc_key


def _sample(ctx: _Context, calibrated: Calibrated | None, distributions: dict[str, Any],
            unc_key: dict[str, str], leveled: dict[str, Any], params: dict[str, Any]
            ) -> tuple[dict[str, np.ndarray], int]:
    """Sample ``distributions`` into ``params``; return the samples and the member count.

    Raises
    ------
    ScenarioError
        A sampled value outside its constant's declared range.
    """
    scenario, namer = ctx.scenario, ctx.namer
    n_members = scenario.members
    samples: dict[str, np.ndarray] = {}
    if n_members > 1 and not distributions and scenario.bands == "none":
        ctx.notes.append(f"members = {n_members} but nothing was left to sample; one run was "
                         "made")
        n_members = 1
    if n_members > 1:
        samples = sample(distributions, n_members, scenario.sampling, scenario.seed)
        for vensim, arr in samples.items():
            lo, hi = (tuple(namer.info(vensim).limits or ()) + (None, None))[:2]
            bad = np.zeros(arr.shape, bool)
            if lo is not None:
                bad |= arr < lo
            if hi is not None:
                bad |= arr > hi
            if bad.any():
                field_ = ctx.where("uncertainty", unc_key[vensim]) if vensim in unc_key else \
                    f"{calibrated.path if calibrated else scenario.source}, parameter '{vensim}'"
                raise ScenarioError(
                    f"{field_}: {int(bad.sum())} of {n_members} sampled values of "
                    f"'{vensim}' fall outside the model's range [{format_limit(lo)}, "
                    f"{format_limit(hi)}] (e.g. {arr[bad][0]:g}); use a distribution bounded "
                    "inside that range")
            # a step or ramp lever keeps its times; the level it reaches is sampled
            params[vensim] = leveled[vensim](arr) if vensim in leveled else arr
    elif distributions:
        ctx.notes.append("members = 1: uncertainty was not sampled; point values were used")
    return samples, n_members


def _calibrated_band(ctx: _Context, calibrated: Calibrated | None, params: dict,
                     distributions: dict, n_members: int, final: float
                     ) -> tuple[dict, float | None]:
    """Add the calibrated band's input random walks to ``params``; return its error models."""
    scenario, namer, where, notes = ctx.scenario, ctx.namer, ctx.where, ctx.notes
    if scenario.bands != "calibrated":
        return {}, None
    bdoc = calibrated.bands if calibrated is not None else None
    if not bdoc:
        raise ScenarioError(f"{where('bands')}: 'calibrated' needs the 'bands' section of "
                            "calibrated.yaml (written by sim calibrate); none was found")
    if n_members < 2:
        notes.append("members = 1: the calibrated band was not drawn; the point run was made")
        return {}, None
    from sim.calibration import bands as cb
    seed = (scenario.seed or 0) + 7919  # a stream apart from the sample's, same for every scenario
    tables = cb.projection_inputs(bdoc, final, n_members, np.random.default_rng(seed))
    fixed = _scenario_set(scenario, namer)
    for name, table in tables.items():
        vensim = namer.constant(name)
        if vensim in distributions:
            raise ScenarioError(f"{where('uncertainty', name)}: '{vensim}' is drawn by "
                                "'bands: calibrated' (a random walk from calibrated.yaml); "
                                "remove it from uncertainty:")
        if vensim not in fixed:
            params[vensim] = table
    errors = cb.errors_from_document(bdoc)
    return errors, float(bdoc["last_observed_year"])


def _scenario_set(scenario: Scenario, namer: Namer) -> set[str]:
    """Vensim names the scenario sets explicitly (parameters and lever values)."""
    out = {namer.constant(n) for n in scenario.parameters}
    out |= {LEVERS[s].value for s in scenario.levers}
    return {n for n in out if n}


def _with_members(scenario: Scenario, members: int) -> Scenario:
    data = scenario.model_dump()
    data["members"] = members
    out = Scenario.model_validate(data)
    out._source, out._lines = scenario._source, scenario._lines
    return out
