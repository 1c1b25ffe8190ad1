"""Tapes: the compiled closures traced once into straight-line register programs.

The compiler builds a third set of closures whose primitives (:data:`TAPE`)
do not compute but record: called with symbolic slot values, a closure returns
the expression tree of its equation. :func:`build_tapes` walks those trees and
lays them out as instructions of :mod:`sim.engine.tape.kernel` over one register file:

==========================  ====================================================
rows                        hold
==========================  ====================================================
``0 .. S-1``                the model's slots (same numbering as the program)
``S``                       the time
``S+1 .. S+n_stocks``       the stocks' derivatives (outputs of a rates tape)
next ``n_consts`` rows      the literal constants of the equations
the rest                    temporaries, reused between equations
==========================  ====================================================

Tracing replaces interpretation of closures by a loop over integers: no source
text is generated and nothing is ``eval``-ed or ``exec``-ed.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.compiled.program import Program
from sim.engine.compiling.backends import VECTOR, BackendKind
from sim.engine.functions import FUNCTIONS, INSTRUCTION_OF, OPERATOR_PRIMITIVES
from sim.engine.tape.opcodes import COPY, OPCODE_OF


class Sym:
    """A symbolic value: a slot, the time, or an operation on other values."""

    __slots__ = ("op", "args", "table")
    __array_ufunc__ = None  # numpy scalars defer to our reflected operators

    def __init__(self, op: str, args: tuple, table: int = -1) -> None:
        self.op = op
        self.args = args
        self.table = table

    def __add__(self, o):
        return Sym("add", (self, o))

    def __radd__(self, o):
        return Sym("add", (o, self))

    def __sub__(self, o):
        return Sym("sub", (self, o))

    def __rsub__(self, o):
        return Sym("sub", (o, self))

    def __mul__(self, o):
        return Sym("mul", (self, o))

    def __rmul__(self, o):
        return Sym("mul", (o, self))

    def __truediv__(self, o):
        return Sym("div", (self, o))

    def __rtruediv__(self, o):
        return Sym("div", (o, self))

    def __neg__(self):
        return Sym("mul", (-1.0, self))

    def __bool__(self):
        raise TypeError("a traced value has no truth value (a closure branched on data)")


def _any_sym(args) -> bool:
    return any(isinstance(a, Sym) for a in args)


def _prim(op: str, numeric: Callable[..., Any]) -> Callable[..., Any]:
    """Return a primitive that records ``op`` on symbolic arguments and computes on numbers."""
    def f(*args):
        if _any_sym(args):
            return Sym(op, args)
        return float(numeric(*args))
    f.__name__ = op
    return f


_CMP_NAMES = {operator.eq: "eq", operator.ne: "ne", operator.lt: "lt", operator.le: "le",
              operator.gt: "gt", operator.ge: "ge"}


_RAMP: Callable[..., Any] = VECTOR.ramp  # type: ignore[attr-defined]  # set from the registry


class TapeBackend:
    """Recording primitives with the names (and meaning) of :class:`sim.engine.compiling.backends.VectorBackend`.

    One recorder per primitive of :data:`sim.engine.functions.FUNCTIONS` and
    :data:`sim.engine.functions.OPERATOR_PRIMITIVES`, made from the registry;
    comparisons, RAMP (two instructions) and lookups (a table) are written out.
    """

    name = BackendKind.TAPE

    def __init__(self) -> None:
        self.tables: list[tuple[np.ndarray, np.ndarray]] = []
        self._table_ids: dict[tuple[bytes, bytes], int] = {}
        self._recorders: dict[str, Callable[..., Any]] = {}
        for fn in FUNCTIONS.values():
            if len(fn.emits) == 1 and fn.vector is not None:  # one instruction, its own name
                self._recorders[fn.primitive] = _prim(fn.emits[0], fn.vector)
        for op in OPERATOR_PRIMITIVES:
            if op in INSTRUCTION_OF and not hasattr(TapeBackend, op):
                self._recorders[op] = _prim(op, getattr(VECTOR, op))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """Return the recorder of the primitive ``name`` (built from the registry)."""
        recorders = self.__dict__.get("_recorders", {})
        if name in recorders:
            return recorders[name]
        raise AttributeError(f"the tape back end has no primitive {name!r}")

    def cmp(self, op, a, b):
        if _any_sym((a, b)):
            return Sym(_CMP_NAMES[op], (a, b))
        return float(VECTOR.cmp(op, a, b))

    def ramp(self, t, tol, slope, start, end=None):
        args = (t, tol, slope, start) if end is None else (t, tol, slope, start, end)
        if _any_sym(args):
            return Sym("ramp" if end is None else "ramp_end", args)
        return float(_RAMP(*args))

    def lookup(self, x, xs, ys):
        if not isinstance(x, Sym):
            return float(VECTOR.lookup(x, xs, ys))
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        key = (xs.tobytes(), ys.tobytes())
        if key not in self._table_ids:
            self._table_ids[key] = len(self.tables)
            self.tables.append((xs, ys))
        return Sym("lookup", (x,), self._table_ids[key])


_WIDTH = 10  # opcode, destination, up to 7 operands (PULSE TRAIN), uniform flag
UNIFORM = 9  # column: 1 when the result is the same for every member (computed once, then copied)


@dataclass(frozen=True)
class Tapes:
    """Instruction arrays over one register layout.

    Attributes
    ----------
    init : ndarray
        The initial values, in the order given (time-series overrides excluded:
        they are inputs).
    full, rates : dict[bool, ndarray]
        Keyed by ``continuous``: all dynamic auxiliaries then the derivatives
        (``full``), or only what the derivatives need (``rates``). Continuous
        tapes copy the current delay time into the DELAY N pipeline slots where
        the continuous run order places them; fixed-step tapes leave them to
        the integrator's shift.
    n_rows : int
        Registers needed.
    time_row : int
    stock_rows, out_rows : ndarray of int64
        Where the stocks are read from and their derivatives written to.
    const_rows : ndarray of int64
    const_values : ndarray of float
    tx, ty : ndarray of float
        All lookup tables, concatenated; table ``i`` spans ``toff[i]:toff[i+1]``.
    toff : ndarray of int64
    packed : dict[tuple[bool, bool], ndarray]
        Keyed by ``(full, continuous)``: the tape with its row numbers in one
        array, as :func:`sim.engine.tape.kernel.rates1` takes it (see :func:`pack`).
    txy : ndarray (2, L)
        ``tx`` and ``ty`` stacked.
    """

    init: np.ndarray
    full: dict
    rates: dict
    n_rows: int
    time_row: int
    stock_rows: np.ndarray
    out_rows: np.ndarray
    const_rows: np.ndarray
    const_values: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    toff: np.ndarray
    packed: dict
    txy: np.ndarray


def pack(code: np.ndarray, time_row: int, stock_rows: np.ndarray, out_rows: np.ndarray,
         toff: np.ndarray) -> np.ndarray:
    """One int64 array for :func:`sim.engine.tape.kernel.rates1`: a header then the arrays, in this order.

    ``[time_row, n_stocks, n_out, len(toff), code rows, code width, stock_rows...,
    out_rows..., toff..., code (row-major)...]``.
    """
    head = [time_row, stock_rows.size, out_rows.size, toff.size, code.shape[0], code.shape[1]]
    return np.concatenate([np.asarray(head, dtype=np.int64), stock_rows, out_rows, toff,
                           code.ravel()]).astype(np.int64)


class Emitter:
    """Lay expression trees out as instructions with tagged operands.

    Operands are tagged while emitting, ``("r", slot)``, ``("o", k)``,
    ``("c", k)``, ``("t", k)`` or ``("time",)``, and given row numbers once the
    sizes of all regions are known. Each instruction is flagged *uniform* when
    none of its operands differs between ensemble members (``varying``: the
    slots that may differ), so the kernel computes it once.
    """

    def __init__(self, varying: frozenset = frozenset()) -> None:
        self.consts: dict[bytes, int] = {}
        self.const_values: list[float] = []
        self.free: list[int] = []
        self.n_temps = 0
        self.varying = varying
        self.temp_varying: dict[int, bool] = {}

    def _varies(self, tag) -> bool:
        if tag[0] == "r":
            return tag[1] in self.varying
        if tag[0] == "t":
            return self.temp_varying.get(tag[1], True)
        return False  # constants, time, table ids

    def const(self, x: float):
        key = np.float64(x).tobytes()
        if key not in self.consts:
            self.consts[key] = len(self.const_values)
            self.const_values.append(float(x))
        return ("c", self.consts[key])

    def _temp(self):
        if self.free:
            return ("t", self.free.pop())
        self.n_temps += 1
        return ("t", self.n_temps - 1)

    def _release(self, tags) -> None:
        for tag in tags:
            if tag[0] == "t":
                self.free.append(tag[1])

    def operand(self, node, code: list):
        if isinstance(node, Sym):
            if node.op == "slot":
                return ("r", node.args[0])
            if node.op == "time":
                return ("time",)
            dst = self._emit_op(node, None, code)
            return dst
        return self.const(float(node))

    def _emit_op(self, node: Sym, dst, code: list):
        ops = [self.operand(a, code) for a in node.args]
        varies = any(self._varies(tag) for tag in ops)
        self._release(ops)
        dst = dst if dst is not None else self._temp()
        if dst[0] == "t":
            self.temp_varying[dst[1]] = varies
        if node.op == "lookup":
            ops = ops + [("table", node.table)]
        code.append((OPCODE_OF[node.op], dst, ops, not varies))
        return dst

    def copy(self, dst, src, code: list) -> None:
        """Emit ``dst = src`` for two tagged operands."""
        code.append((COPY, dst, [src], not self._varies(src)))

    def layout(self, n_slots: int, n_out: int) -> dict[str, int]:
        """First row of each region, once every equation has been emitted."""
        n_const = len(self.const_values)
        return {"r": 0, "time": n_slots, "o": n_slots + 1, "c": n_slots + 1 + n_out,
                "t": n_slots + 1 + n_out + n_const}

    @staticmethod
    def assemble(code: list, base: dict[str, int]) -> np.ndarray:
        """Instruction array of ``code``, tagged operands replaced by row numbers."""
        def row(tag) -> int:
            if tag[0] == "table":
                return tag[1]
            return base[tag[0]] + (tag[1] if len(tag) > 1 else 0)

        arr = np.zeros((len(code), _WIDTH), dtype=np.int64)
        for k, (op, dst, ops, uniform) in enumerate(code):
            arr[k, 0] = op
            arr[k, 1] = row(dst)
            for m, tag in enumerate(ops):
                arr[k, 2 + m] = row(tag)
            arr[k, UNIFORM] = int(uniform)
        return arr

    def assign(self, node, dst, code: list) -> None:
        """Emit ``dst = node``."""
        if isinstance(node, Sym) and node.op not in ("slot", "time"):
            self._emit_op(node, dst, code)
        else:
            src = self.operand(node, code)
            self._release([src])
            self.copy(dst, src, code)


def build_tapes(program: Program, run_order: list[int], rate_order: list[int],
                stocks: list[int], pipelines: list, varying: frozenset = frozenset(),
                init_order: Sequence[int] = ()) -> Tapes:
    """Trace the tape closures of ``program`` for the given evaluation orders.

    ``varying``: the slots whose values may differ between ensemble members
    (see :func:`varying_slots`); every other instruction is flagged uniform.
    """
    bp = program.backends["tape"]
    S = len(program.slots)
    vs = [Sym("slot", (i,)) for i in range(S)]
    ts = Sym("time", ())
    em = Emitter(varying)
    source = {p_: it for it, pipes in pipelines for p_ in pipes}
    traced = {s: _trace(bp.run_fn[s], vs, ts) for s in run_order if s not in source}
    derivs = [_trace(bp.rate_fn[s], vs, ts) for s in stocks]

    def program_for(order, continuous):
        code: list = []
        for s in order:
            if s not in source:
                em.assign(traced[s], ("r", s), code)
            elif continuous:  # a DELAY N pipeline in continuous time: the current delay time
                em.copy(("r", s), ("r", source[s]), code)
        for k, d in enumerate(derivs):
            em.assign(d, ("o", k), code)
        return code

    raw = {(full, cont): program_for(run_order if full else rate_order, cont)
           for full in (True, False) for cont in (False, True)}
    init_code: list = []
    for s in init_order:
        em.assign(_trace(bp.init_fn[s], vs, ts), ("r", s), init_code)
    n_out = len(stocks)
    base = em.layout(S, n_out)
    tables = bp.tables
    toff = np.zeros(len(tables) + 1, dtype=np.int64)
    for i, (xs, _) in enumerate(tables):
        toff[i + 1] = toff[i] + len(xs)
    tx = np.concatenate([xs for xs, _ in tables]) if tables else np.zeros(1)
    ty = np.concatenate([ys for _, ys in tables]) if tables else np.zeros(1)
    full = {c: em.assemble(raw[(True, c)], base) for c in (False, True)}
    rates = {c: em.assemble(raw[(False, c)], base) for c in (False, True)}
    stock_rows = np.asarray(stocks, dtype=np.int64)
    out_rows = np.arange(S + 1, S + 1 + n_out, dtype=np.int64)
    packed = {(f, c): pack((full if f else rates)[c], S, stock_rows, out_rows, toff)
              for f in (True, False) for c in (False, True)}
    return Tapes(
        init=em.assemble(init_code, base), full=full, rates=rates, n_rows=base["t"] + em.n_temps, time_row=S,
        stock_rows=stock_rows, out_rows=out_rows,
        const_rows=np.arange(base["c"], base["c"] + len(em.const_values), dtype=np.int64),
        const_values=np.asarray(em.const_values, dtype=float),
        tx=tx, ty=ty, toff=toff, packed=packed, txy=np.vstack([tx, ty]))


def _trace(node: object, vs: list[Sym], ts: Sym) -> object:
    """Return the expression tree of a compiled node: its closure called on symbols, or the number."""
    return node(vs, ts) if callable(node) else node


def varying_slots(program: Program, seeds) -> frozenset:
    """Return the slots that may differ between members when the slots ``seeds`` do.

    Everything that depends on a seed, through equations, initial values and
    (for stocks) rates, to a fixed point. The rest is the same for every member:
    the same inputs, the same floating-point operations.
    """
    users: dict[int, set] = {}
    for table in (program.run_deps, program.init_deps, program.rate_deps):
        for slot, deps in table.items():
            for d in deps:
                users.setdefault(d, set()).add(slot)
    out, todo = set(seeds), list(seeds)
    while todo:
        for u in users.get(todo.pop(), ()):
            if u not in out:
                out.add(u)
                todo.append(u)
    return frozenset(out)
