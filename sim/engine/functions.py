"""The one registry of the Vensim functions the engine implements.

Every layer that knows about a Vensim function reads it from here:

- the translator's allow-list (:mod:`sim.engine.reading.translate`): a call to a
  known Vensim/PySD function that is not in :data:`FUNCTIONS` is refused at load,
  by name;
- the compiler's dispatch (:mod:`sim.engine.compiling.compiler`): arity, and
  ``form`` (how the call becomes a closure: a plain call of the back end's
  ``primitive``, or one of the time functions and IF THEN ELSE, which read the
  time, the tolerance or the time step, or branch);
- the closure back ends (:mod:`sim.engine.compiling.backends`): ``SCALAR`` and
  ``VECTOR`` get a primitive named ``primitive``, the entry's ``scalar`` and
  ``vector`` implementation;
- the tape back end (:mod:`sim.engine.tape.backend`): its recording primitives
  are built from ``primitive`` and ``emits``;
- the opcode numbering (:mod:`sim.engine.tape.opcodes`), built from
  :data:`INSTRUCTIONS`;
- the units checker (:mod:`sim.engine.reading.units`): ``units`` names its rule;
- the switch times of the integrators: ``switch`` is the kind of breakpoint a
  call records (a STEP's time, a PULSE's edges...).

How to add a function
---------------------
1. Add a :class:`VensimFunction` to :data:`FUNCTIONS`: PySD's name, arity,
   the primitive's name, the kernel instruction(s) it is traced into, its
   unit rule, and two implementations, ``vector`` (numpy, the reference)
   and ``scalar`` (Python floats). The back ends ``VECTOR`` and ``SCALAR``
   and the tape recorder take their primitive from here.
2. Add an :class:`Instruction` to :data:`INSTRUCTIONS` (its opcode name,
   its operand group and how many operands the kernel reads).
3. The kernel branch, which Numba needs as static code: name the opcode in
   :mod:`sim.engine.tape.opcodes` (``NEW = OPCODES["NEW"]``, so Numba sees a
   literal), add its branch in :mod:`sim.engine.tape.kernel` (``_unary`` /
   ``_binary`` for one or two operands, else in both ``execute`` and
   ``execute1``), and set ``OPCODES_FINGERPRINT`` there to the new
   :data:`sim.engine.tape.opcodes.FINGERPRINT` (the kernel's disk cache is
   only used while they agree).
4. Run ``tests/test_registry.py``: it fails while any back end (scalar,
   vector, tape recorder, kernel, units checker, the compiler's builders)
   lacks the function, runs every kernel instruction against its numpy
   meaning, and checks the scalar implementation against the numpy one.

Nothing else changes: the translator, the compiler, the back ends and the
units checker read this table. Only a function that fits no existing
``form`` (a new kind of time function) or ``units`` rule needs a new builder
in the compiler or a new rule in the units checker; the tests name it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

SMALL_VENSIM = 1e-6  # what Vensim calls zero in XIDZ/ZIDZ (Vensim help; PySD)

#: Vensim's value of ``:NA:`` (-2^109, about -6.49e32; Vensim's output prints it
#: blank). A number, not NaN, as in Vensim: ``x = :NA:`` is true when x is
#: :NA:, and a run that holds it has not failed (PySD uses NaN).
VENSIM_NA = -(2.0 ** 109)

#: How the compiler turns a call into a closure.
#: ``plain``: ``primitive(*args)``; the others read the time (and the tolerance,
#: or the time step) or branch, and have their own builder in the compiler.
Form = Literal["plain", "if_then_else", "step", "ramp", "pulse", "pulse_train"]

#: Unit rules of :mod:`sim.engine.reading.units` (one method each there).
UnitRule = Literal["same", "branches", "sqrt", "dimensionless", "power", "ratio",
                   "ratio_or_fallback", "step", "ramp", "pulse"]

#: Kinds of switch time a call records for the integrators (None: no switch).
SwitchKind = Literal["at", "pulse", "pulse_train"]

#: Operand groups of the kernel: the interpreter tests ranges of opcodes, so
#: instructions are numbered group by group in this order.
Group = Literal["core", "unary", "binary", "wide"]
GROUPS: tuple[Group, ...] = ("core", "unary", "binary", "wide")


@dataclass(frozen=True)
class Instruction:
    """One instruction of the tape kernel.

    Attributes
    ----------
    op : str
        The name the tape recorder gives it (``Sym.op``), e.g. ``"minimum"``.
    opcode : str
        Its constant in :mod:`sim.engine.tape.opcodes`, e.g. ``"MIN"``.
    group : {'core', 'unary', 'binary', 'wide'}
        ``unary``/``binary``: computed by the kernel's ``_unary``/``_binary``
        (one/two operands); ``core`` and ``wide`` have their own branch.
    operands : int
        Registers the instruction reads (a lookup also reads a table id).
    """

    op: str
    opcode: str
    group: Group
    operands: int


#: Every kernel instruction, numbered in this order within each group.
INSTRUCTIONS: tuple[Instruction, ...] = (
    Instruction("copy", "COPY", "core", 1),
    Instruction("add", "ADD", "core", 2),
    Instruction("sub", "SUB", "core", 2),
    Instruction("mul", "MUL", "core", 2),
    Instruction("div", "DIV", "core", 2),
    Instruction("abs", "ABS", "unary", 1),
    Instruction("sqrt", "SQRT", "unary", 1),
    Instruction("exp", "EXP", "unary", 1),
    Instruction("ln", "LN", "unary", 1),
    Instruction("sin", "SIN", "unary", 1),
    Instruction("cos", "COS", "unary", 1),
    Instruction("tan", "TAN", "unary", 1),
    Instruction("arcsin", "ASIN", "unary", 1),
    Instruction("arccos", "ACOS", "unary", 1),
    Instruction("arctan", "ATAN", "unary", 1),
    Instruction("integer", "TRUNC", "unary", 1),
    Instruction("sinh", "SINH", "unary", 1),
    Instruction("cosh", "COSH", "unary", 1),
    Instruction("tanh", "TANH", "unary", 1),
    Instruction("logical_not", "NOT", "unary", 1),
    Instruction("vector_select_start", "VSEL_START", "unary", 1),  # (action)
    Instruction("power", "POW", "binary", 2),
    Instruction("minimum", "MIN", "binary", 2),
    Instruction("maximum", "MAX", "binary", 2),
    Instruction("log", "LOG", "binary", 2),
    Instruction("modulo", "MOD", "binary", 2),
    Instruction("zidz", "ZIDZ", "binary", 2),
    Instruction("quantum", "QUANTUM", "binary", 2),
    Instruction("eq", "EQ", "binary", 2),
    Instruction("ne", "NE", "binary", 2),
    Instruction("lt", "LT", "binary", 2),
    Instruction("le", "LE", "binary", 2),
    Instruction("gt", "GT", "binary", 2),
    Instruction("ge", "GE", "binary", 2),
    Instruction("logical_and", "AND", "binary", 2),
    Instruction("logical_or", "OR", "binary", 2),
    Instruction("xidz", "XIDZ", "wide", 3),
    Instruction("where", "WHERE", "wide", 3),
    Instruction("step", "STEP", "wide", 4),          # (t, tol, height, start)
    Instruction("ramp", "RAMP", "wide", 4),          # (t, tol, slope, start)
    Instruction("ramp_end", "RAMP_END", "wide", 5),  # (t, tol, slope, start, end)
    Instruction("pulse", "PULSE", "wide", 5),        # (t, tol, dt, start, width)
    Instruction("pulse_train", "PULSE_TRAIN", "wide", 7),  # (t, tol, dt, start, interval, width, end)
    Instruction("lookup", "LOOKUP", "wide", 1),      # (x) and a table id
    Instruction("vector_select_step", "VSEL", "wide", 4),  # (acc, sel, x, action)
)

#: Instructions by their recorded name.
INSTRUCTION_OF: dict[str, Instruction] = {i.op: i for i in INSTRUCTIONS}

#: Back-end primitives the compiler uses for operators (not Vensim functions):
#: ``:AND:``, ``:OR:``, ``:NOT:``, IF THEN ELSE's ``where`` and lookups.
OPERATOR_PRIMITIVES: tuple[str, ...] = ("logical_and", "logical_or", "logical_not", "where",
                                        "lookup")


@dataclass(frozen=True)
class VensimFunction:
    """One supported Vensim function.

    Attributes
    ----------
    ref : str
        PySD's name for it in the abstract model (lower case, ``_`` for
        blanks), e.g. ``"pulse_train"``.
    arity : tuple of int
        Numbers of arguments accepted (the first is quoted in errors).
    primitive : str
        Name of its primitive on the back ends (``SCALAR``, ``VECTOR``, the
        tape recorder); for IF THEN ELSE, ``where``.
    emits : tuple of str
        Kernel instructions (:data:`INSTRUCTIONS` ``op``) it is traced into.
    units : str
        Rule of the units checker (:data:`UnitRule`).
    vector : callable or None
        The numpy implementation (arguments floats or arrays of shape (N,)),
        the reference the scalar one and the kernel must agree with; None
        for IF THEN ELSE (the back ends' ``where``).
    scalar : callable or None
        The same on Python floats (a single run's fast path); it may raise
        ``ZeroDivisionError``/``ValueError`` where numpy gives inf or nan
        (the caller then re-evaluates with the vector back end).
    form : str, default 'plain'
        How the compiler builds its closure (:data:`Form`).
    switch : str or None
        Kind of switch time it records (:data:`SwitchKind`); None if none.
    """

    ref: str
    arity: tuple[int, ...]
    primitive: str
    emits: tuple[str, ...]
    units: UnitRule
    vector: Callable[..., Any] | None
    scalar: Callable[..., Any] | None
    form: Form = "plain"
    switch: SwitchKind | None = None

    @property
    def vensim(self) -> str:
        """Return the name as Vensim writes it, e.g. ``PULSE TRAIN``."""
        return vensim_name(self.ref)


def vensim_name(ref: str) -> str:
    """Return the Vensim spelling of a PySD function name (``pulse_train`` -> ``PULSE TRAIN``)."""
    return ref.upper().replace("_", " ")


# ---------------------------------------------------------------- implementations
# The semantics follow Vensim's documentation and PySD's implementation
# (``pysd.py_backend.functions``). ``tol`` is half a time step in fixed-step
# runs and a few ulps of the time in continuous runs, where the integrator
# splits the horizon at every switch (so PULSE and RAMP use
# ``min(SMALL_VENSIM, tol)``: Vensim's tolerance in fixed steps, none in
# continuous time).

def _log_v(x, base):
    return np.log(x) / np.log(base)


def _log_s(x, base):
    return math.log(x) / math.log(base)


def _integer_s(x):
    return float(math.trunc(x))


def _modulo_v(x, m):
    return x - np.where(m < SMALL_VENSIM, x, m * np.trunc(np.true_divide(x, m)))


def _modulo_s(x, m):
    return x - (x if m < SMALL_VENSIM else m * math.trunc(x / m))


def _xidz_v(a, b, x):
    return np.where(np.abs(b) < SMALL_VENSIM, x, np.true_divide(a, b))


def _xidz_s(a, b, x):
    return x if abs(b) < SMALL_VENSIM else a / b


def _zidz_v(a, b):
    return np.where(np.abs(b) < SMALL_VENSIM, 0.0, np.true_divide(a, b))


def _zidz_s(a, b):
    return 0.0 if abs(b) < SMALL_VENSIM else a / b


def _quantum_v(x, q):
    # Vensim's QUANTUM: q * INTEGER(x / q), and x itself when q is not positive (PySD)
    return np.where(q < SMALL_VENSIM, x, q * np.trunc(np.true_divide(x, q)))


def _quantum_s(x, q):
    return x if q < SMALL_VENSIM else q * math.trunc(x / q)


def _step_v(t, tol, height, tstep):
    return height * (t + tol > tstep)


def _step_s(t, tol, height, tstep):
    return height if t + tol > tstep else 0.0


def _ramp_v(t, tol, slope, start, end=None):
    final = t if end is None else np.minimum(end, t)
    return (t + min(SMALL_VENSIM, tol) > start) * slope * (final - start)


def _ramp_s(t, tol, slope, start, end=None):
    if t + min(SMALL_VENSIM, tol) <= start:
        return 0.0
    final = t if end is None else min(end, t)
    return slope * (final - start)


def _pulse_v(t, tol, dt, start, width):
    width = np.where(width == 0, dt, width)
    return 1.0 * ((start - min(SMALL_VENSIM, tol) <= t) & (t < start + width))


def _pulse_s(t, tol, dt, start, width):
    if width == 0:
        width = dt
    return 1.0 if start - min(SMALL_VENSIM, tol) <= t < start + width else 0.0


def _pulse_train_v(t, tol, dt, start, interval, width, end):
    # an interval of 0 is one pulse, whatever the end (Vensim; PySD)
    width = np.where(width == 0, dt, width)
    on = (start <= t) & (t < end)
    with np.errstate(invalid="ignore", divide="ignore"):
        train = on & (np.mod(t - start + min(SMALL_VENSIM, tol), interval) < width)
    single = (start - min(SMALL_VENSIM, tol) <= t) & (t < start + width)
    return 1.0 * np.where(interval == 0, single, train)


def _pulse_train_s(t, tol, dt, start, interval, width, end):
    if width == 0:
        width = dt
    if interval == 0:
        return 1.0 if start - min(SMALL_VENSIM, tol) <= t < start + width else 0.0
    if start <= t < end:
        return 1.0 if math.fmod(t - start + min(SMALL_VENSIM, tol), interval) < width else 0.0
    return 0.0


#: VECTOR SELECT's numerical actions by how they fold the selected terms.
_VSEL_SUM, _VSEL_PROD, _VSEL_MIN, _VSEL_MAX = (0, 4, 6, 10), (1, 5, 7), (2, 8), (3, 9)


def _vector_select_start_v(action):
    """Return the start of VECTOR SELECT's fold for numerical ``action`` (as INTEGER(action)).

    0 for the sums and means (actions 0, 4, 6, 10), 1 for the products (1, 5,
    7), +inf for the minima (2, 8), -inf for the maxima (3, 9); NaN for an
    action outside 0 to 10 (or NaN).
    """
    a = np.trunc(np.asarray(action, dtype=float))
    return np.select([np.isin(a, _VSEL_SUM), np.isin(a, _VSEL_PROD), np.isin(a, _VSEL_MIN),
                      np.isin(a, _VSEL_MAX)], [0.0, 1.0, np.inf, -np.inf], np.nan)


def _vector_select_start_s(action):
    a = math.trunc(action) if math.isfinite(action) else -1
    if a in _VSEL_SUM:
        return 0.0
    if a in _VSEL_PROD:
        return 1.0
    if a in _VSEL_MIN:
        return math.inf
    return -math.inf if a in _VSEL_MAX else math.nan


def _vector_select_step_v(acc, sel, x, action):
    """One term of VECTOR SELECT: ``acc`` combined with term ``(sel, x)`` by numerical ``action``.

    The action is taken as INTEGER(action). ``acc`` is unchanged when ``sel``
    is 0 (the term is not selected) or the action is outside 0 to 10. The
    term's value is ``sel * x`` for actions 0 to 4, ``x ^ sel`` for 5, ``x``
    for 6 to 10; it is added (0, 4, 6, 10), multiplied (1, 5, 7), or taken
    as the minimum (2, 8) or maximum (3, 9) with ``acc``.
    (:mod:`sim.engine.reading.vectors` writes the rest: the fold starts at
    ``vector_select_start(action)``, the means divide by the count of
    selected terms, no term selected gives the missing value.)
    """
    a = np.trunc(np.asarray(action, dtype=float))
    if a.ndim == 0 and float(a) in range(11):  # one action (the usual case): one fold
        k = int(a)
        with np.errstate(all="ignore"):
            v = sel * x if k < 5 else np.power(x, sel) if k == 5 else x
            out = acc + v if k in _VSEL_SUM else acc * v if k in _VSEL_PROD else \
                np.minimum(acc, v) if k in _VSEL_MIN else np.maximum(acc, v)
    else:
        with np.errstate(all="ignore"):
            v = np.where(a < 5, sel * x, np.where(a == 5, np.power(x, sel), x))
            out = np.select([np.isin(a, _VSEL_SUM), np.isin(a, _VSEL_PROD),
                             np.isin(a, _VSEL_MIN), np.isin(a, _VSEL_MAX)],
                            [acc + v, acc * v, np.minimum(acc, v), np.maximum(acc, v)], acc)
    return np.where(np.asarray(sel) == 0, acc, out)


def _vector_select_step_s(acc, sel, x, action):
    a = math.trunc(action) if math.isfinite(action) else -1
    if sel == 0 or a not in range(11):
        return acc
    v = sel * x if a < 5 else math.pow(x, sel) if a == 5 else x
    if a in _VSEL_SUM:
        return acc + v
    if a in _VSEL_PROD:
        return acc * v
    if math.isnan(acc) or math.isnan(v):
        return math.nan
    return min(acc, v) if a in _VSEL_MIN else max(acc, v)


def _plain(ref: str, arity: int, primitive: str, units: UnitRule,
           vector: Callable[..., Any], scalar: Callable[..., Any]) -> VensimFunction:
    return VensimFunction(ref, (arity,), primitive, (primitive,), units, vector, scalar)


#: The supported Vensim functions, by PySD's name.
FUNCTIONS: dict[str, VensimFunction] = {f.ref: f for f in (
    _plain("abs", 1, "abs", "same", np.abs, abs),
    _plain("min", 2, "minimum", "same", np.minimum, min),
    _plain("max", 2, "maximum", "same", np.maximum, max),
    _plain("sqrt", 1, "sqrt", "sqrt", np.sqrt, math.sqrt),
    _plain("exp", 1, "exp", "dimensionless", np.exp, math.exp),
    _plain("ln", 1, "ln", "dimensionless", np.log, math.log),
    _plain("log", 2, "log", "dimensionless", _log_v, _log_s),
    _plain("sin", 1, "sin", "dimensionless", np.sin, math.sin),
    _plain("cos", 1, "cos", "dimensionless", np.cos, math.cos),
    _plain("tan", 1, "tan", "dimensionless", np.tan, math.tan),
    _plain("arcsin", 1, "arcsin", "dimensionless", np.arcsin, math.asin),
    _plain("arccos", 1, "arccos", "dimensionless", np.arccos, math.acos),
    _plain("arctan", 1, "arctan", "dimensionless", np.arctan, math.atan),
    _plain("integer", 1, "integer", "same", np.trunc, _integer_s),
    _plain("sinh", 1, "sinh", "dimensionless", np.sinh, math.sinh),
    _plain("cosh", 1, "cosh", "dimensionless", np.cosh, math.cosh),
    _plain("tanh", 1, "tanh", "dimensionless", np.tanh, math.tanh),
    _plain("quantum", 2, "quantum", "same", _quantum_v, _quantum_s),
    _plain("modulo", 2, "modulo", "same", _modulo_v, _modulo_s),
    _plain("xidz", 3, "xidz", "ratio_or_fallback", _xidz_v, _xidz_s),
    _plain("zidz", 2, "zidz", "ratio", _zidz_v, _zidz_s),
    _plain("power", 2, "power", "power", np.power, math.pow),
    # written by the flattener only (VECTOR SELECT whose action changes during the run)
    _plain("vector_select_start", 1, "vector_select_start", "same", _vector_select_start_v,
           _vector_select_start_s),
    _plain("vector_select_step", 4, "vector_select_step", "same", _vector_select_step_v,
           _vector_select_step_s),
    VensimFunction("if_then_else", (3,), "where", ("where",), "branches", None, None,
                   form="if_then_else"),
    VensimFunction("step", (2,), "step", ("step",), "step", _step_v, _step_s, form="step",
                   switch="at"),
    VensimFunction("ramp", (3, 2), "ramp", ("ramp", "ramp_end"), "ramp", _ramp_v, _ramp_s,
                   form="ramp", switch="at"),
    VensimFunction("pulse", (2,), "pulse", ("pulse",), "pulse", _pulse_v, _pulse_s,
                   form="pulse", switch="pulse"),
    # PySD orders PULSE TRAIN's arguments (start, interval, width, end)
    VensimFunction("pulse_train", (4,), "pulse_train", ("pulse_train",), "pulse",
                   _pulse_train_v, _pulse_train_s, form="pulse_train", switch="pulse_train"),
)}


def supported_names() -> list[str]:
    """Return the Vensim names of :data:`FUNCTIONS`, sorted (for error messages)."""
    return sorted(f.vensim for f in FUNCTIONS.values())
