"""The one registry of the Vensim functions the engine implements.

Every layer that knows about a Vensim function reads it from here:

- the translator's allow-list (:mod:`sim.engine.reading.translate`): a call to a
  known Vensim/PySD function that is not in :data:`FUNCTIONS` is refused at load,
  by name;
- the compiler's dispatch (:mod:`sim.engine.compiling.compiler`): arity, and
  ``form`` (how the call becomes a closure: a plain call of the back end's
  ``primitive``, or one of the time functions and IF THEN ELSE, which read the
  time, the tolerance or the time step, or branch);
- the closure back ends (:mod:`sim.engine.compiling.backends`): ``primitive`` is
  the method name on ``SCALAR`` and ``VECTOR``;
- the tape back end (:mod:`sim.engine.tape.backend`): its recording primitives
  are built from ``primitive`` and ``emits``;
- the opcode numbering (:mod:`sim.engine.tape.opcodes`), built from
  :data:`INSTRUCTIONS`;
- the units checker (:mod:`sim.engine.reading.units`): ``units`` names its rule;
- the switch times of the integrators: ``switch`` is the kind of breakpoint a
  call records (a STEP's time, a PULSE's edges...).

How to add a function
---------------------
1. Write its primitive as a method of both ``VectorBackend`` (numpy, the
   reference) and ``ScalarBackend`` (Python floats) in
   :mod:`sim.engine.compiling.backends`.
2. Add an :class:`Instruction` to :data:`INSTRUCTIONS` (its opcode name and
   how many operands the kernel reads) and a :class:`VensimFunction` to
   :data:`FUNCTIONS` (PySD's name, arity, primitive, instructions, unit rule).
3. Add the kernel branch for the new opcode in :mod:`sim.engine.tape.kernel`
   (``_unary``/``_binary`` for one or two operands, else ``execute`` and
   ``execute1``), and bump ``OPCODES_FINGERPRINT`` there to the new
   :data:`sim.engine.tape.opcodes.FINGERPRINT` (the kernel's disk cache is
   only used while they agree).
4. Run ``tests/test_registry.py``: it fails while any back end (scalar,
   vector, tape recorder, kernel, units checker) lacks the function, and
   checks the kernel's result against ``VectorBackend`` for every
   instruction.

Nothing else changes: the translator, the compiler and the units checker
read this table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    Instruction("logical_not", "NOT", "unary", 1),
    Instruction("power", "POW", "binary", 2),
    Instruction("minimum", "MIN", "binary", 2),
    Instruction("maximum", "MAX", "binary", 2),
    Instruction("log", "LOG", "binary", 2),
    Instruction("modulo", "MOD", "binary", 2),
    Instruction("zidz", "ZIDZ", "binary", 2),
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
        Method of the back ends (``SCALAR``, ``VECTOR``, the tape recorder)
        that computes it; for IF THEN ELSE, ``where``.
    emits : tuple of str
        Kernel instructions (:data:`INSTRUCTIONS` ``op``) it is traced into.
    units : str
        Rule of the units checker (:data:`UnitRule`).
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
    form: Form = "plain"
    switch: SwitchKind | None = None

    @property
    def vensim(self) -> str:
        """Return the name as Vensim writes it, e.g. ``PULSE TRAIN``."""
        return vensim_name(self.ref)


def vensim_name(ref: str) -> str:
    """Return the Vensim spelling of a PySD function name (``pulse_train`` -> ``PULSE TRAIN``)."""
    return ref.upper().replace("_", " ")


def _plain(ref: str, arity: int, primitive: str, units: UnitRule) -> VensimFunction:
    return VensimFunction(ref, (arity,), primitive, (primitive,), units)


#: The supported Vensim functions, by PySD's name.
FUNCTIONS: dict[str, VensimFunction] = {f.ref: f for f in (
    _plain("abs", 1, "abs", "same"),
    _plain("min", 2, "minimum", "same"),
    _plain("max", 2, "maximum", "same"),
    _plain("sqrt", 1, "sqrt", "sqrt"),
    _plain("exp", 1, "exp", "dimensionless"),
    _plain("ln", 1, "ln", "dimensionless"),
    _plain("log", 2, "log", "dimensionless"),
    _plain("sin", 1, "sin", "dimensionless"),
    _plain("cos", 1, "cos", "dimensionless"),
    _plain("tan", 1, "tan", "dimensionless"),
    _plain("arcsin", 1, "arcsin", "dimensionless"),
    _plain("arccos", 1, "arccos", "dimensionless"),
    _plain("arctan", 1, "arctan", "dimensionless"),
    _plain("integer", 1, "integer", "same"),
    _plain("modulo", 2, "modulo", "same"),
    _plain("xidz", 3, "xidz", "ratio_or_fallback"),
    _plain("zidz", 2, "zidz", "ratio"),
    _plain("power", 2, "power", "power"),
    VensimFunction("if_then_else", (3,), "where", ("where",), "branches", form="if_then_else"),
    VensimFunction("step", (2,), "step", ("step",), "step", form="step", switch="at"),
    VensimFunction("ramp", (3, 2), "ramp", ("ramp", "ramp_end"), "ramp", form="ramp",
                   switch="at"),
    VensimFunction("pulse", (2,), "pulse", ("pulse",), "pulse", form="pulse", switch="pulse"),
    # PySD orders PULSE TRAIN's arguments (start, interval, width, end)
    VensimFunction("pulse_train", (4,), "pulse_train", ("pulse_train",), "pulse",
                   form="pulse_train", switch="pulse_train"),
)}


def supported_names() -> list[str]:
    """Return the Vensim names of :data:`FUNCTIONS`, sorted (for error messages)."""
    return sorted(f.vensim for f in FUNCTIONS.values())
