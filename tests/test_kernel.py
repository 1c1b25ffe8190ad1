"""The compiled tape interpreter against the closures it was traced from.

* Each instruction of :mod:`sim.engine.tape.kernel` equals the numpy primitive of
  :class:`sim.engine.compiling.backends.VectorBackend` it stands for, on arbitrary floats
  including 0, +-inf and nan (property-based).
* Whole models: on every conformance model and on the kitchen-sink model, a
  run with ``kernel="jit"`` equals the same run with ``kernel="python"``,
  for Euler, RK4 and SciPy, one member and ensembles.
* Tapes are well formed: every register an instruction reads has been written
  before (or is a slot, the time or a constant).
"""
from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import pytest
from conformance import models_dir, supported_cases
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import sim
from sim.engine.compiling.backends import VECTOR
from sim.engine.running.evaluator import Evaluator
from sim.engine.tape import kernel
from sim.engine.tape.backend import Emitter, Sym, TapeBackend
from sim.errors import ParameterError

PLAIN = [pytest.param(mdl, id=cid) for cid, mdl, _ in supported_cases(models_dir())]
KITCHEN = Path(__file__).parent / "models" / "kitchen.mdl"


def run_traced(node_of, columns: list[np.ndarray]) -> np.ndarray:
    """Trace ``node_of(TapeBackend, *slot symbols)`` and run it in the kernel over ``columns``.

    Each column is run through the one-member interpreter too, which must agree bit for bit.
    """
    tb = TapeBackend()
    syms = [Sym("slot", (i,)) for i in range(len(columns))]
    node = node_of(tb, *syms)
    em = Emitter(frozenset(range(len(columns))))  # every input differs between members
    code: list = []
    em.assign(node, ("o", 0), code)
    base = em.layout(len(columns), 1)
    arr = em.assemble(code, base)
    n = len(columns[0])
    reg = np.full((base["t"] + em.n_temps, n), np.nan)
    for i, col in enumerate(columns):
        reg[i] = col
    reg[base["c"]:base["t"]] = np.asarray(em.const_values)[:, None]
    toff = np.zeros(len(tb.tables) + 1, dtype=np.int64)
    for i, (xs, _) in enumerate(tb.tables):
        toff[i + 1] = toff[i] + len(xs)
    tx = np.concatenate([xs for xs, _ in tb.tables]) if tb.tables else np.zeros(1)
    ty = np.concatenate([ys for _, ys in tb.tables]) if tb.tables else np.zeros(1)
    singles = [reg[:, j].copy() for j in range(n)]
    kernel.execute(arr, reg, tx, ty, toff, 0)
    for j, r in enumerate(singles):
        kernel.execute1(arr, r, tx, ty, toff)
        np.testing.assert_array_equal(r[base["o"]], reg[base["o"], j])
    return reg[base["o"]].copy()


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-7, -1e-7, 1e300, np.inf, -np.inf, np.nan]
floats = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(-10, 10))
columns = st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(floats, min_size=n, max_size=n),
                                                       min_size=7, max_size=7))

UNARY = ["abs", "sqrt", "exp", "ln", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "integer",
         "logical_not"]
BINARY = ["power", "minimum", "maximum", "log", "modulo", "zidz", "logical_and", "logical_or"]
CMP = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


def assert_same(got, want):
    np.testing.assert_allclose(got, np.broadcast_to(np.asarray(want, float), got.shape),
                               rtol=1e-13, atol=0, equal_nan=True)


@pytest.mark.parametrize("op", UNARY)
@settings(max_examples=60)
@given(cols=columns)
def test_unary_instruction_equals_numpy(op, cols):
    x = np.array(cols[0])
    with np.errstate(all="ignore"):
        want = getattr(VECTOR, op)(x) * 1.0
        got = run_traced(lambda tb, a, *_: getattr(tb, op)(a), [x])
    assert_same(got, want)


@pytest.mark.parametrize("op", BINARY)
@settings(max_examples=60)
@given(cols=columns)
def test_binary_instruction_equals_numpy(op, cols):
    a, b = np.array(cols[0]), np.array(cols[1])
    with np.errstate(all="ignore"):
        want = getattr(VECTOR, op)(a, b) * 1.0
        got = run_traced(lambda tb, x, y, *_: getattr(tb, op)(x, y), [a, b])
    assert_same(got, want)


@pytest.mark.parametrize("cmp", CMP, ids=lambda f: f.__name__)
@settings(max_examples=40)
@given(cols=columns)
def test_comparison_instruction_equals_numpy(cmp, cols):
    a, b = np.array(cols[0]), np.array(cols[1])
    with np.errstate(all="ignore"):
        got = run_traced(lambda tb, x, y, *_: tb.cmp(cmp, x, y), [a, b])
    assert_same(got, VECTOR.cmp(cmp, a, b))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@settings(max_examples=40)
@given(cols=columns)
def test_arithmetic_instruction_equals_numpy(op, cols):
    a, b = np.array(cols[0]), np.array(cols[1])
    fn = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}[op]
    with np.errstate(all="ignore"):
        got = run_traced(lambda tb, x, y, *_: fn(x, y), [a, b])
        want = fn(a, b)
    assert_same(got, want)


TIME_FUNCTIONS = {
    "where": (lambda tb, c, a, b, *_: tb.where(c, a, b), lambda c, a, b, *_: VECTOR.where(c, a, b)),
    "xidz": (lambda tb, a, b, x, *_: tb.xidz(a, b, x), lambda a, b, x, *_: VECTOR.xidz(a, b, x)),
    "step": (lambda tb, t, tol, h, s, *_: tb.step(t, tol, h, s),
             lambda t, tol, h, s, *_: VECTOR.step(t, tol, h, s)),
    "ramp": (lambda tb, t, tol, sl, s, *_: tb.ramp(t, tol, sl, s),
             lambda t, tol, sl, s, *_: VECTOR.ramp(t, tol, sl, s)),
    "ramp_end": (lambda tb, t, tol, sl, s, e, *_: tb.ramp(t, tol, sl, s, e),
                 lambda t, tol, sl, s, e, *_: VECTOR.ramp(t, tol, sl, s, e)),
    "pulse": (lambda tb, t, tol, dt, s, w, *_: tb.pulse(t, tol, dt, s, w),
              lambda t, tol, dt, s, w, *_: VECTOR.pulse(t, tol, dt, s, w)),
    "pulse_train": (lambda tb, t, tol, dt, s, i, w, e: tb.pulse_train(t, tol, dt, s, i, w, e),
                    lambda t, tol, dt, s, i, w, e: VECTOR.pulse_train(t, tol, dt, s, i, w, e)),
}


@pytest.mark.parametrize("name", list(TIME_FUNCTIONS))
@settings(max_examples=60)
@given(cols=columns)
def test_time_function_instruction_equals_numpy(name, cols):
    traced, direct = TIME_FUNCTIONS[name]
    arrays = [np.array(c) for c in cols]
    # the tolerance is one scalar per run in the engine (Vensim's dt/2, or ~0 in continuous time)
    tol = arrays[1][0] if np.isfinite(arrays[1][0]) else 0.5
    arrays[1] = np.full_like(arrays[1], tol)
    with np.errstate(all="ignore"):
        want = direct(arrays[0], tol, *arrays[2:])
        got = run_traced(traced, arrays)
    assert_same(got, want)


@settings(max_examples=60)
@given(x=st.lists(floats, min_size=1, max_size=8),
       table=st.lists(st.tuples(st.floats(-5, 5), st.floats(-100, 100)), min_size=1, max_size=6,
                      unique_by=lambda p: p[0]))
def test_lookup_instruction_equals_np_interp(x, table):
    xs = np.array(sorted(p[0] for p in table))
    ys = np.array([dict(table)[v] for v in xs])
    arr = np.array(x)
    got = run_traced(lambda tb, a, *_: tb.lookup(a, xs, ys), [arr])
    assert_same(got, np.interp(arr, xs, ys))


def test_traced_value_refuses_a_branch():
    with pytest.raises(TypeError, match="no truth value"):
        bool(Sym("slot", (0,)) + 1.0)


def test_constant_arguments_fold_to_numbers():
    tb = TapeBackend()
    assert tb.minimum(2.0, 3.0) == 2.0
    assert tb.step(5.0, 0.5, 2.0, 4.0) == 2.0
    assert tb.cmp(operator.lt, 1.0, 2.0) == 1.0


# ------------------------------------------------------------ whole models
def _same_results(a: sim.SimulationResult, b: sim.SimulationResult) -> None:
    assert a.variables == b.variables
    np.testing.assert_array_equal(a.times, b.times)
    assert [(f.member, f.time, f.variable) for f in a.failures] == \
        [(f.member, f.time, f.variable) for f in b.failures]
    for var in a.variables:
        np.testing.assert_allclose(a[var], b[var], rtol=1e-11, atol=1e-300, equal_nan=True,
                                   err_msg=var)


@pytest.mark.parametrize("method", ["euler", "rk4", "scipy"])
@pytest.mark.parametrize("mdl", PLAIN)
def test_jit_equals_closures_on_conformance_models(mdl, method):
    model = sim.load_model(mdl)
    try:
        python = model.simulate(method=method, kernel="python")
    except ParameterError as exc:  # e.g. time-varying TIME STEP: Euler only, either kernel
        with pytest.raises(ParameterError, match=str(exc).split(":")[-1].strip()[:30]):
            model.simulate(method=method, kernel="jit")
        return
    _same_results(model.simulate(method=method, kernel="jit"), python)


@pytest.mark.parametrize("method", ["euler", "scipy"])
@pytest.mark.parametrize("k", [-2.5, 0.0, 0.5, 1.7])
def test_jit_equals_closures_on_every_construct(method, k):
    model = sim.load_model(KITCHEN)
    _same_results(model.simulate({"k": k}, method=method, kernel="jit"),
                  model.simulate({"k": k}, method=method, kernel="python"))


@pytest.mark.parametrize("method", ["euler", "scipy"])
def test_jit_ensemble_equals_closure_ensemble(method):
    model = sim.load_model(KITCHEN)
    ks = np.array([-2.5, 0.0, 0.5, 1.0, 1.7])
    _same_results(model.simulate({"k": ks}, method=method, kernel="jit"),
                  model.simulate({"k": ks}, method=method, kernel="python"))


def test_jit_equals_closures_with_time_series_overrides():
    model = sim.load_model(Path(__file__).parents[1] / "model" / "digital_trade.mdl")
    params = {"Talent Training Lever": sim.Ramp(1.4, 2024, 2030),
              "Reform Pace Lever": sim.Table({2015: 1.0, 2025: 1.2, 2035: 1.5})}
    for method in ("euler", "scipy"):
        _same_results(model.simulate(params, method=method, kernel="jit"),
                      model.simulate(params, method=method, kernel="python"))


DIGITAL_TRADE = Path(__file__).parents[1] / "model" / "digital_trade.mdl"


@pytest.mark.parametrize("mdl", PLAIN + [pytest.param(KITCHEN, id="kitchen"),
                                         pytest.param(DIGITAL_TRADE, id="digital_trade")])
def test_initial_values_by_tape_equal_closures(mdl):
    # one member with the kernel initialises by the tape: every slot as the closures give it
    model = sim.load_model(mdl)
    p, c = model.program, model.controls
    got, want = (Evaluator(p, "scalar", {}, {}, 1, kernel=k) for k in ("jit", "python"))
    y_got = got.initialize(c.initial_time, 0.0, c.time_step)
    y_want = want.initialize(c.initial_time, 0.0, c.time_step)
    np.testing.assert_allclose(y_got, np.asarray(y_want, dtype=float), rtol=1e-13, equal_nan=True)
    np.testing.assert_allclose(np.asarray(got.v, dtype=float), np.asarray(want.v, dtype=float),
                               rtol=1e-13, equal_nan=True)
    assert got.reg[p.stock_slots, 0].tolist() == y_got.tolist()


def test_initial_values_by_tape_read_time_series_overrides():
    # an override's value at INITIAL TIME feeds the initial values computed from it
    model = sim.load_model(DIGITAL_TRADE)
    p, c = model.program, model.controls
    slot = p.slot_of[model.py_name("Infrastructure Investment Lever")]
    series = {slot: lambda t: 1.0 + 0.05 * (t - 2000.0)}
    got, want = (Evaluator(p, "scalar", {}, series, 1, kernel=k) for k in ("jit", "python"))
    got.initialize(c.initial_time, 0.0, c.time_step)
    want.initialize(c.initial_time, 0.0, c.time_step)
    assert got.v[slot] == want.v[slot] == 1.75
    np.testing.assert_allclose(np.asarray(got.v, dtype=float), np.asarray(want.v, dtype=float),
                               rtol=1e-13, equal_nan=True)


def test_unknown_kernel_is_refused():
    model = sim.load_model(KITCHEN)
    with pytest.raises(ParameterError, match="kernel .fast. is not one of auto, jit, python"):
        model.simulate(kernel="fast")


@pytest.mark.parametrize("mdl", PLAIN)
def test_tapes_read_only_written_registers(mdl):
    model = sim.load_model(mdl)
    ev = Evaluator(model.program, "vector", {}, {}, 1, kernel="jit")
    tp = ev.tapes
    S = len(model.program.slots)
    first_temp = int(tp.const_rows[-1]) + 1 if tp.const_rows.size else int(tp.out_rows[-1]) + 1 \
        if tp.out_rows.size else S + 1
    arity = {kernel.LOOKUP: 1, kernel.WHERE: 3, kernel.XIDZ: 3, kernel.STEP: 4, kernel.RAMP: 4,
             kernel.RAMP_END: 5, kernel.PULSE: 5, kernel.PULSE_TRAIN: 7, kernel.COPY: 1}
    for code in [tp.init] + list(tp.full.values()) + list(tp.rates.values()):
        written: set[int] = set()
        for row in code:
            op = int(row[0])
            n_in = arity.get(op, 1 if kernel.ABS <= op <= kernel.NOT else 2)
            for r in row[2:2 + n_in]:
                assert r < first_temp or int(r) in written, f"temporary {r} read before written"
            written.add(int(row[1]))


# ----------------------------------------------------- continuous time: f(t, y) only
@pytest.mark.parametrize("kern", ["jit", "python"])
@pytest.mark.parametrize("mdl", PLAIN + [pytest.param(KITCHEN, id="kitchen")])
def test_continuous_evaluation_depends_on_time_and_stocks_only(mdl, kern):
    # SciPy evaluates the right-hand side at any (t, y), in any order, and the
    # saved values are evaluated after the run: what one evaluation gives may
    # not depend on the ones before it (DELAY N's pipelines once did: their
    # output read the delay time of the previous evaluation)
    model = sim.load_model(mdl)
    p = model.program
    c = model.controls
    if any(p.slot_of[n] in p.uses_time for n in ("time_step", "saveper", "final_time")
           if n in p.slot_of):
        pytest.skip("time-varying control variables: Euler only")
    slots = [i for i in range(len(p.slots)) if p.slots[i].kind != "lookup"]

    def fresh():
        ev = Evaluator(p, "scalar", {}, {}, 1, kernel=kern, continuous=True)
        return ev, np.asarray(ev.initialize(c.initial_time, 0.0, c.time_step), dtype=float)

    ev, y0 = fresh()
    t_late = c.initial_time + 0.9 * (c.final_time - c.initial_time)
    ev.rates(t_late, y0 * 1.5 + 1.0, True)  # another point first
    ev.rates(c.initial_time, y0, True)
    ref, y0_ = fresh()
    ref.rates(c.initial_time, y0_, True)
    np.testing.assert_array_equal(np.asarray(ev.values(slots), dtype=float),
                                  np.asarray(ref.values(slots), dtype=float))
    if kern == "jit":  # and the batch evaluation of saved points gives the same
        pts = ev.points(np.array([t_late, c.initial_time]),
                        np.column_stack([y0 * 1.5 + 1.0, y0]), slots)
        np.testing.assert_array_equal(pts[1], np.asarray(ref.values(slots), dtype=float))


# ----------------------------------------------------- member-independent instructions
def test_uniform_instructions_read_no_varying_register():
    from sim.engine.tape.backend import UNIFORM, varying_slots

    model = sim.load_model(Path(__file__).parents[1] / "model" / "digital_trade.mdl")
    p = model.program
    seeds = [p.slot_of[model.py_name("Share Elasticity to Capability")]]
    ev = Evaluator(p, "vector", {seeds[0]: np.array([1.5, 1.7])}, {}, 2, kernel="jit")
    varying = varying_slots(p, seeds)
    S = len(p.slots)
    for code in list(ev.tapes.full.values()) + list(ev.tapes.rates.values()):
        assert 0 < int(code[:, UNIFORM].sum()) < len(code)  # some of each, on this model
        varying_rows = set(varying)
        for row in code:
            reads = [int(r) for r in row[2:9]]
            if row[0] == kernel.LOOKUP:
                reads = reads[:1]  # the second operand is a table id
            if row[UNIFORM]:
                assert not varying_rows & set(reads), row
                varying_rows.discard(int(row[1]))
            else:
                varying_rows.add(int(row[1]))
        assert all(s in varying or s >= S for s in varying_rows)


@pytest.mark.parametrize("method", ["euler", "scipy"])
def test_calibration_band_ensemble_jit_equals_closures(method):
    # the app's band: the three calibrated parameters vary, much of the model does not
    model = sim.load_model(Path(__file__).parents[1] / "model" / "digital_trade.mdl")
    rng = np.random.default_rng(7)
    params = {"Share Elasticity to Capability": rng.uniform(1.3, 2.2, 40),
              "Trade Adjustment Time": rng.uniform(0.3, 0.8, 40),
              "Import Elasticity to Digital Economy": rng.uniform(0.6, 0.7, 40)}
    _same_results(model.simulate(params, method=method, kernel="jit"),
                  model.simulate(params, method=method, kernel="python"))


def test_kernel_compiles_without_a_writable_cache(monkeypatch):
    # Numba raises at decoration when it finds nowhere to write its cache: compile per process
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])

    def plus_one(x):
        return x + 1.0

    with pytest.raises(RuntimeError, match="no locator available"):
        njit(cache=True)(plus_one)
    assert kernel.cached_jit(plus_one)(1.0) == 2.0
