"""Parity on the conformance models: integrators, PySD, ensembles.

* ``scipy`` converges to the continuous solution that Euler approaches as
  TIME STEP shrinks, so ``scipy`` must agree with ``euler`` at TIME STEP/16
  within Euler's own error at that step.
* The engine's ``euler`` is Vensim's Euler, and so is PySD's run of the same
  file: every common column at every saved time agrees to rtol 1e-6.
* An ensemble of N members is N independent runs evaluated as one array: it
  equals the member-by-member runs, whole arrays.

Subscripted models are refused by the engine (see ``test_conformance``) and
are not part of these comparisons.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conformance import CONTROL_COLUMNS, models_dir, supported_cases

import sim

PLAIN = supported_cases(models_dir())


def _case_params(marks: dict[str, pytest.MarkDecorator] | None = None):
    marks = marks or {}
    return [pytest.param(cid, mdl, id=cid, marks=[marks[cid]] if cid in marks else [])
            for cid, mdl, _ in PLAIN]


class _Loaded(dict):
    """Compiled models by case id, each loaded on first use (a load error fails only its own tests)."""

    def __missing__(self, cid: str) -> sim.Model:
        mdl = next(m for c, m, _ in PLAIN if c == cid)
        self[cid] = model = sim.load_model(mdl)
        return model


@pytest.fixture(scope="module")
def loaded():
    return _Loaded()


# ------------------------------------------------------------ scipy vs fine Euler
# Tolerance. Euler's global error is first order, e(h) ~ C h, so the
# difference of two fine runs estimates it: e(h/16) ~ 2 |y(h/16) - y(h/32)|
# (Richardson). On the fast exponentials of the sqrt/ln/initial models
# (growth rate 1 per time unit over 10-20 units) the runs are not yet in the
# asymptotic regime and the estimate is low by up to ~25%, so we allow 3x the
# difference. On top: a floor for SciPy's own error (run at rtol 1e-8) and
# for rounding, 1e-6 of the column's magnitude. A fixed rtol (2e-2) would be
# far too loose for slow models and too tight for e^20 growth, where Euler at
# h/16 is still ~45% off.
SCIPY_KW = dict(method="scipy", rtol=1e-8, atol=1e-12)

# Equations that depend on TIME STEP itself have no continuous-time limit.
NO_LIMIT = pytest.mark.skip(reason="Stock/TIME STEP and 'Time = FINAL TIME' events: the model's "
                                   "equations depend on TIME STEP, there is no continuous limit")
SCIPY_PARITY_MARKS = {
    "tests/time/test_time.mdl": NO_LIMIT,
    "tests/control_vars/test_control_vars.mdl": pytest.mark.skip(
        reason="time-varying TIME STEP/SAVEPER/FINAL TIME: Euler only (scipy refuses; "
               "see test_bad_input)"),
}

# Saved times where a variable jumps and the two methods legitimately report
# different one-sided values: DELAY N's output at t=15, when its delay time
# steps from 4 to 6, uses the previous step's delay time in Vensim's
# fixed-step pipeline (left value, for every TIME STEP) and the current one in
# continuous time (right value). Every other time is compared.
JUMPS = {("tests/delays/test_delays.mdl", "OutputDelayN"): [15.0]}


@pytest.mark.parametrize("scipy_method", ["RK45", "DOPRI5"])
@pytest.mark.parametrize(("cid", "mdl"), _case_params(SCIPY_PARITY_MARKS))
def test_scipy_matches_fine_euler(loaded, cid, mdl, scipy_method):
    model = loaded[cid]
    h = model.controls.time_step
    ref = model.simulate(scipy_method=scipy_method, **SCIPY_KW)
    fine = model.simulate(method="euler", time_step=h / 16)
    finer = model.simulate(method="euler", time_step=h / 32)
    assert ref.success and fine.success and finer.success
    np.testing.assert_allclose(ref.times, fine.times, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fine.times, finer.times, rtol=0, atol=1e-9)
    compared = 0
    for name in ref.variables:
        if name.upper().replace("_", " ") in CONTROL_COLUMNS:  # TIME STEP differs by construction
            continue
        got, y16, y32 = ref[name], fine[name], finer[name]
        scale = float(np.max(np.abs(y16)))
        tol = 3 * np.abs(y16 - y32) + 1e-6 * scale + 1e-5 * np.abs(y16) + 1e-12
        keep = ~np.isin(ref.times, JUMPS.get((cid, name), []))
        bad = keep & ~(np.abs(got - y16) <= tol)
        assert not bad.any(), (f"{name}: first at t={ref.times[bad][0]}: scipy {got[bad][0]}, "
                               f"euler h/16 {y16[bad][0]}, h/32 {y32[bad][0]}")
        compared += 1
    assert compared > 0


def test_scipy_parity_tolerance_catches_a_coarse_run(loaded):
    # the Richardson tolerance is not vacuous: Euler at the model's own step
    # (16x coarser) is rejected by it on the teacup
    model = loaded["samples/teacup/teacup.mdl"]
    h = model.controls.time_step
    coarse = model.simulate(method="euler")
    y16 = model.simulate(method="euler", time_step=h / 16)["Teacup Temperature"]
    y32 = model.simulate(method="euler", time_step=h / 32)["Teacup Temperature"]
    tol = 3 * np.abs(y16 - y32) + 1e-6 * np.max(np.abs(y16)) + 1e-5 * np.abs(y16) + 1e-12
    assert (np.abs(coarse["Teacup Temperature"] - y16) > tol).any()


# ------------------------------------------------------------------- vs PySD
@pytest.fixture(scope="module")
def pysd_runs(tmp_path_factory):
    """PySD's run of each model, computed at most once per model.

    PySD writes a .py file next to the .mdl it reads, so each model is copied
    into a temporary folder first (the shared conformance folder stays
    untouched).
    """
    import pysd

    models: dict = {}
    cache: dict[tuple, pd.DataFrame] = {}

    def run(cid: str, mdl, params: dict | None = None) -> pd.DataFrame:
        key = (cid, tuple(sorted((params or {}).items())))
        if key not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if cid not in models:
                    folder = tmp_path_factory.mktemp("pysd")
                    copy = folder / mdl.name
                    for f in mdl.parent.iterdir():  # the model and the data files it reads
                        if f.is_file():
                            shutil.copy(f, folder / f.name)
                    models[cid] = pysd.read_vensim(str(copy))
                cache[key] = models[cid].run(params=params)
        return cache[key]
    return run


@pytest.mark.parametrize(("cid", "mdl"), _case_params())
def test_euler_matches_pysd(loaded, pysd_runs, cid, mdl):
    theirs = pysd_runs(cid, mdl)
    ours = loaded[cid].simulate(method="euler").to_frame()
    assert set(ours.columns) == set(theirs.columns)
    np.testing.assert_allclose(ours.index.to_numpy(float), theirs.index.to_numpy(float), rtol=1e-12)
    for col in theirs.columns:
        want = theirs[col].to_numpy(float)
        got = ours[col].to_numpy(float)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12 * max(1.0, np.max(np.abs(want))),
                                   err_msg=col)


KITCHEN = Path(__file__).parent / "models" / "kitchen.mdl"


@pytest.mark.parametrize("k", [-2.5, 0.0, 0.5, 1.0, 1.7], ids=lambda k: f"k={k}")
def test_every_construct_matches_pysd_with_params(pysd_runs, k):
    # one PySD translation (cached), one PySD run per value of k
    theirs = pysd_runs("kitchen", KITCHEN, params={"k": k})
    ours = sim.load_model(KITCHEN).simulate({"k": k}, method="euler").to_frame()
    assert set(ours.columns) == set(theirs.columns)
    for col in theirs.columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float), rtol=1e-9,
                                   atol=1e-12, err_msg=col)


# ------------------------------------------------------------------ ensembles
def _varied_constant(model: sim.Model) -> tuple[str, np.ndarray] | None:
    """Return the first non-control constant and five values around its default."""
    for py, value in model.constants.items():
        if model.variables[py].name.upper() in CONTROL_COLUMNS:
            continue
        if value == 0:
            return py, np.array([0.0, 0.5, 1.0, 1.5, 2.0])
        return py, value * np.array([0.5, 0.8, 1.0, 1.25, 2.0])
    return None


def _has_constant(mdl) -> bool:
    try:
        return _varied_constant(sim.load_model(mdl)) is not None
    except sim.SimError:
        return True  # keep the case: the test reports the load error


# models whose only constants are the control variables have nothing to vary
WITH_CONSTANT = [p for p in _case_params() if _has_constant(p.values[1])]


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize(("cid", "mdl"), WITH_CONSTANT)
def test_ensemble_equals_single_runs(loaded, cid, mdl, method):
    model = loaded[cid]
    varied = _varied_constant(model)
    assert varied is not None
    name, values = varied
    ens = model.simulate({name: values}, method=method)
    assert ens.n_members == 5
    singles = [model.simulate({name: float(x)}, method=method) for x in values]
    # a member that goes non-finite is reported as that run alone is (member, time, variable)
    assert sorted((f.member, f.time, f.variable) for f in ens.failures) == \
        sorted((m, f.time, f.variable) for m, s in enumerate(singles) for f in s.failures)
    for var in ens.variables:
        assert ens[var].shape == (len(ens.times), 5)
        stacked = np.column_stack([s[var] for s in singles])
        np.testing.assert_allclose(ens[var], stacked, rtol=1e-12, atol=0, equal_nan=True, err_msg=var)
