"""Compile PySD's abstract model into closure programs over value slots.

Every model quantity (constant, auxiliary, stock, and the hidden stocks of
SMOOTH/DELAY/TREND) owns one *slot* in a list ``v``. An expression compiles to
either a Python float (constant-folded) or a closure ``f(v, t)`` that reads
slots and the time ``t``. The closures are built once per back end
(:mod:`sim.engine.compiling.backends`): with the vector back end every slot may hold an array
of N ensemble members, so one pass over the program evaluates the whole
ensemble. The tape back end (:mod:`sim.engine.tape.backend`) records instead of computing;
its closures are traced once into a register program for :mod:`sim.engine.tape.kernel`.
There is no code generation and no ``eval``: the tree is walked once and
turned into nested closures.
"""
from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from sim.engine.compiled.program import BackendProgram, Program, Slot, SlotKind
from sim.engine.compiling import special
from sim.engine.compiling.backends import SCALAR, VECTOR, BackendKind, ScalarBackend, VectorBackend
from sim.engine.compiling.closures import add, call, div, is_num, lift, mul, read_slot, sub
from sim.engine.functions import FUNCTIONS, VENSIM_NA, Form, VensimFunction
from sim.engine.reading.names import NameTable, reference_form
from sim.engine.reading.special import SPECIAL_CALLS, SPECIAL_STRUCTURES
from sim.engine.reading.translate import CONTROL_NAMES, RawElement
from sim.engine.tape.backend import TapeBackend
from sim.errors import ModelError
from sim.suggest import did_you_mean

#: A back end's primitives: numpy, Python floats, or the tape recorder.
Primitives = VectorBackend | ScalarBackend | TapeBackend

_CMP = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


class Compiler:
    """Turn checked :class:`~sim.engine.reading.translate.RawElement` objects into a :class:`Program`.

    Parameters
    ----------
    path : str
        Model file (for error messages).
    elements : list of RawElement
        The model's elements, from :func:`sim.engine.reading.translate.read_abstract`.
    """

    def __init__(self, path: str, elements: list[RawElement]) -> None:
        self.path = path
        self.elements = elements
        self.names = NameTable([e.name for e in elements])
        self.by_ref: dict[str, RawElement] = {}
        for e in elements:
            for key in (e.ref, reference_form(e.name), reference_form(e.name.strip('"')),
                        e.name.strip().lower()):
                self.by_ref.setdefault(key, e)
        self.slots: list[Slot] = []
        self.slot_of: dict[str, int] = {}
        self.lookups: dict[str, tuple] = {}
        self.lookup_uses: dict[int, set[int]] = {}  # slot -> lookup slots its equation calls
        self.init_deps: dict[int, frozenset] = {}
        self.run_deps: dict[int, frozenset] = {}
        self.rate_deps: dict[int, frozenset] = {}
        self.uses_time: set[int] = set()
        self.defaults: dict[int, float] = {}
        self.stock_slots: list[int] = []
        self.breakpoint_deps: list[frozenset] = []
        self.breakpoint_gates: list[list] = []  # per switch: deps of the values that cancel it at 0
        self._evaluating = False  # compiling an expression only to evaluate it (_static_value)
        self.pipelines: list[tuple[int, list[int]]] = []
        self.stock_flows: dict[str, tuple[tuple, tuple]] = {}
        self._hidden_counter: dict[str, int] = {}
        self._pass = 0
        self.discrete: list = []  # Discrete records (compiling.special)
        self.python_only: list[str] = []  # functions without a tape (compiling.special)

    # ------------------------------------------------------------------ slots
    def _new_slot(self, key: str, slot: Slot) -> int:
        if key in self.slot_of:
            return self.slot_of[key]
        self.slot_of[key] = len(self.slots)
        self.slots.append(slot)
        return self.slot_of[key]

    def _element_for(self, ref: str, current: str) -> RawElement:
        el = self.by_ref.get(ref) or self.by_ref.get(ref.strip('"'))
        if el is None:
            hint = did_you_mean(ref.replace("_", " "), self.names.py)
            raise ModelError(self.path, f"refers to an undefined variable '{ref}'{hint}",
                             variable=current, construct="reference")
        return el

    # ---------------------------------------------------------------- compile
    def compile(self) -> Program:
        """Build the program: three passes, one per back end, sharing slots."""
        self._tol = self._new_slot("__tol", Slot("__tol", "__tol", "internal", visible=False))
        self._dt = self._new_slot("__dt", Slot("__dt", "__dt", "internal", visible=False))
        # visible slots first, in model order
        for e in self.elements:
            py = self.names.py[e.name]
            if e.is_lookup:
                ast = cast(ae.LookupsStructure, e.ast)
                self.lookups[py] = (np.asarray(ast.x, float), np.asarray(ast.y, float))
                self._new_slot(py, Slot(e.name, py, "lookup", e.units, e.doc, e.limits))
                continue
            kind: SlotKind = "stock" if isinstance(e.ast, ae.IntegStructure) else (
                "constant" if is_num(e.ast) else "auxiliary")
            self._new_slot(py, Slot(e.name, py, kind, e.units, e.doc, e.limits))
        for name in CONTROL_NAMES:
            if name not in self.slot_of:
                raise ModelError(self.path, f"the control variable {name.upper().replace('_', ' ')} "
                                 "is missing (every Vensim model defines INITIAL TIME, FINAL TIME, "
                                 "TIME STEP and SAVEPER)", construct="control")
        backends: dict[str, BackendProgram] = {}
        self._flows: set[str] = set()
        tape = TapeBackend()
        backend: Primitives
        for backend in (VECTOR, SCALAR, tape):
            self._pass += 1
            self._hidden_counter = {}
            self.B = backend
            self.prog = BackendProgram()
            for e in self.elements:
                if not e.is_lookup:
                    self._compile_element(e)
            if backend is tape:
                self.prog.tables = tape.tables
            backends[backend.name.value] = self.prog
        for py in self._flows:
            s = self.slots[self.slot_of[py]]
            if s.kind == "auxiliary":
                s.kind = "flow"
        self.stock_slots = [i for i, s in enumerate(self.slots) if s.kind in ("stock", "hidden_stock")]
        return Program(path=self.path, slots=self.slots, slot_of=self.slot_of, lookups=self.lookups,
                       default_constants=self.defaults, init_deps=self.init_deps,
                       run_deps=self.run_deps, rate_deps=self.rate_deps, uses_time=self.uses_time,
                       stock_slots=self.stock_slots, backends=backends,
                       breakpoint_deps=self.breakpoint_deps,
                       breakpoint_gates=self.breakpoint_gates, tol_slot=self._tol, dt_slot=self._dt,
                       pipelines=self.pipelines, stock_flows=self.stock_flows,
                       lookup_uses={k: frozenset(v) for k, v in self.lookup_uses.items()},
                       discrete=self.discrete, python_only=tuple(self.python_only))

    def _compile_element(self, e: RawElement) -> None:
        py = self.names.py[e.name]
        slot = self.slot_of[py]
        self._current = e.name
        self._owner = py
        ast = e.ast
        if isinstance(ast, ae.IntegStructure):
            rate, rdeps, rtime = self.expr(ast.flow)
            init, ideps, _ = self.expr(ast.initial)
            self.prog.rate_fn[slot] = lift(rate)
            self.prog.init_fn[slot] = init
            self.rate_deps[slot] = frozenset(rdeps)
            self.init_deps[slot] = frozenset(ideps)
            ins: list[str] = []
            outs: list[str] = []
            for d, sign in _signed_refs(ast.flow):
                el = self.by_ref.get(d)
                if el is not None:
                    self._flows.add(self.names.py[el.name])
                    (ins if sign > 0 else outs).append(self.names.py[el.name])
            self.stock_flows[self.names.py[e.name]] = (tuple(ins), tuple(outs))
            return
        if isinstance(ast, ae.InitialStructure):
            init, ideps, _ = self.expr(ast.initial)
            self.prog.init_fn[slot] = init
            self.init_deps[slot] = frozenset(ideps)
            self.slots[slot].kind = "auxiliary"
            return
        node, deps, utime = self.expr(ast)
        if not callable(node) and not deps and self.slots[slot].kind == "constant":
            self.defaults[slot] = float(node)
            return
        if not callable(node) and not deps:
            # a constant expression such as 2*3: still a constant
            self.slots[slot].kind = "constant"
            self.defaults[slot] = float(node)
            return
        self.prog.run_fn[slot] = node
        self.prog.init_fn[slot] = node
        self.run_deps[slot] = frozenset(deps)
        self.init_deps[slot] = frozenset(deps)
        if utime:
            self.uses_time.add(slot)

    # ------------------------------------------------------------ expressions
    def expr(self, node):
        """Compile an expression; return (node, slot dependencies, uses time)."""
        if is_num(node):
            return _number(node), set(), False
        if isinstance(node, ae.ReferenceStructure):
            ref = node.reference
            if ref == "time":
                return (lambda v, t: t), set(), True
            el = self._element_for(ref, self._current)
            py = self.names.py[el.name]
            if el.is_lookup:
                raise ModelError(self.path, f"lookup '{el.name}' is used as a value; call it with an "
                                 f"argument, e.g. {el.name}(Time)", variable=self._current,
                                 construct="lookup")
            i = self.slot_of[py]
            return read_slot(i), {i}, False
        if isinstance(node, ae.ArithmeticStructure):
            return self._arith(node)
        if isinstance(node, ae.LogicStructure):
            return self._logic(node)
        if isinstance(node, ae.CallStructure):
            return self._callnode(node)
        if isinstance(node, ae.InlineLookupsStructure):
            arg, deps, ut = self.expr(node.argument)
            xs, ys = _table(node.lookups)
            if not callable(arg):
                return float(np.interp(arg, xs, ys)), deps, ut
            self._lookup_breakpoints(node.argument, xs)
            return self._lookup_closure(arg, xs, ys), deps, ut
        if isinstance(node, ae.InitialStructure):
            key = self._hidden_key("initial")
            i = self._new_slot(key, Slot(key, key, "initial", visible=False))
            init, ideps, _ = self.expr(node.initial)
            self.prog.init_fn[i] = init
            self.init_deps[i] = frozenset(ideps)
            return read_slot(i), {i}, False
        if isinstance(node, ae.SmoothStructure):
            return self._smooth(node.input, node.smooth_time, node.initial, int(node.order), "smooth")
        if isinstance(node, ae.SmoothNStructure):
            return self._smooth(node.input, node.smooth_time, node.initial, self._order(node.order),
                                "smooth")
        if isinstance(node, ae.DelayStructure):
            return self._smooth(node.input, node.delay_time, node.initial, int(node.order), "delay")
        if isinstance(node, ae.DelayNStructure):
            return self._smooth(node.input, node.delay_time, node.initial, self._order(node.order),
                                "delay", pipeline=True)
        if isinstance(node, ae.TrendStructure):
            return self._trend(node)
        if type(node).__name__ in SPECIAL_STRUCTURES:  # DELAY FIXED, SAMPLE IF TRUE, FORECAST
            return special.compile_structure(self, node)
        raise ModelError(self.path, f"unsupported construct {type(node).__name__}",
                         variable=self._current, construct=type(node).__name__)

    def _hidden_key(self, kind: str) -> str:
        n = self._hidden_counter.get(kind, 0)
        self._hidden_counter[kind] = n + 1
        return f"_{kind}_{self._owner}_{n}"

    def _arith(self, node):
        ops = list(node.operators)
        args = list(node.arguments)
        if ops == ["negative"]:
            a, d, ut = self.expr(args[0])
            return (mul(-1.0, a) if callable(a) else -a), d, ut
        if ops == ["positive"]:
            return self.expr(args[0])
        marks, compiled = [], []
        for a in args:
            first = len(self.prog.breakpoints)
            compiled.append(self.expr(a))
            marks.append(range(first, len(self.prog.breakpoints)))
        if all(op in ("*", "/") for op in ops):
            self._gate_products(compiled, ops, marks)
        deps = set().union(*(c[1] for c in compiled))
        ut = any(c[2] for c in compiled)
        power = self._primitive("power")
        if ops and all(op == "^" for op in ops):  # a ^ b ^ c is a ^ (b ^ c), as in Vensim
            acc = compiled[-1][0]
            for arg, _, _ in reversed(compiled[:-1]):
                acc = call(power, [arg, acc])
            return acc, deps, ut
        acc = compiled[0][0]
        for op, (arg, _, _) in zip(ops, compiled[1:], strict=True):
            if op == "+":
                acc = add(acc, arg)
            elif op == "-":
                acc = sub(acc, arg)
            elif op == "*":
                acc = mul(acc, arg)
            elif op == "/":
                acc = div(acc, arg)  # vector scalars are numpy floats: x / 0 is inf
            elif op == "^":
                acc = call(power, [acc, arg])
            else:
                raise ModelError(self.path, f"unsupported operator '{op}'", variable=self._current,
                                 construct=op)
        return acc, deps, ut

    def _gate_products(self, compiled, ops, marks) -> None:
        """Switch times inside one factor of a product are cancelled when another factor is 0.

        ``a * PULSE(...)``, ``STEP(...) * b / c``: a factor multiplied (not a
        divisor) that is 0 makes the whole product 0, whatever the switch does
        (a shock of size 0 in a scenario).
        """
        if self.B.name == BackendKind.TAPE or self._evaluating:
            return
        factors = [0] + [i + 1 for i, op in enumerate(ops) if op == "*"]
        for j, added in enumerate(marks):
            others = [compiled[i] for i in factors if i != j]
            if not added or not others:
                continue
            value = others[0][0]
            for other in others[1:]:
                value = mul(value, other[0])
            for k in added:
                self.prog.gates[k].append(value)
                if self.B.name == BackendKind.VECTOR:
                    self.breakpoint_gates[k].append(frozenset().union(*(o[1] for o in others)))

    def _logic(self, node):
        B = self.B
        ops = list(node.operators)
        args = [self.expr(a) for a in node.arguments]
        deps = set().union(*(a[1] for a in args))
        ut = any(a[2] for a in args)
        if ops == [":NOT:"]:
            return call(B.logical_not, [args[0][0]]), deps, ut
        acc = args[0][0]
        for op, (arg, _, _) in zip(ops, args[1:], strict=True):
            if op == ":AND:":
                acc = call(B.logical_and, [acc, arg])
            elif op == ":OR:":
                acc = call(B.logical_or, [acc, arg])
            elif op in _CMP:
                cmpop = _CMP[op]
                cmp = B.cmp
                acc = call(lambda a, b, cmpop=cmpop, cmp=cmp: cmp(cmpop, a, b), [acc, arg])
            else:
                raise ModelError(self.path, f"unsupported operator '{op}'", variable=self._current,
                                 construct=op)
        # a comparison of TIME with a static value is a switch time
        if len(ops) == 1 and ops[0] in _CMP:
            for mine, other in ((node.arguments[0], node.arguments[1]),
                                (node.arguments[1], node.arguments[0])):
                if isinstance(mine, ae.ReferenceStructure) and mine.reference == "time":
                    o, odeps, outime = self.expr(other)
                    if not outime:
                        self._add_breakpoint("at", [o], odeps)
        return acc, deps, ut

    def _callnode(self, node):
        fname = node.function.reference
        args = list(node.arguments)
        fn = FUNCTIONS.get(fname)
        if fn is None and fname in SPECIAL_CALLS:  # ACTIVE INITIAL, RANDOM ..., ALLOCATE ...
            return special.compile_call(self, fname, args)
        if fn is None:
            return self._lookup_call(fname, args)
        compiled = [self.expr(a) for a in args]
        if len(compiled) not in fn.arity:
            raise self._arity(fn.vensim, fn.arity[0])
        deps = set().union(*(c[1] for c in compiled)) if compiled else set()
        ut = any(c[2] for c in compiled)
        vals = [c[0] for c in compiled]
        if fn.form == "plain":
            return call(self._primitive(fn.ref), vals), deps, ut
        return self.builders()[fn.form](fn, vals, compiled, deps, ut)

    def builders(self) -> dict[Form, Callable[..., Any]]:
        """Return the closure builder of each non-plain :data:`~sim.engine.functions.Form`."""
        return {"if_then_else": self._if_then_else, "step": self._step, "ramp": self._ramp,
                "pulse": self._pulse, "pulse_train": self._pulse_train}

    def _primitive(self, ref: str) -> Callable[..., Any]:
        """Return the current back end's primitive of the registered function ``ref``."""
        return getattr(self.B, FUNCTIONS[ref].primitive)

    def _lookup_call(self, fname: str, args: list):
        """Compile ``fname(x)``, a call of a lookup defined in the model."""
        el = self.by_ref.get(fname)
        if el is not None and el.is_lookup:
            if len(args) != 1:
                raise ModelError(self.path, f"lookup '{el.name}' takes one argument, got {len(args)}",
                                 variable=self._current, construct="lookup")
            xs, ys = self.lookups[self.names.py[el.name]]
            # a lookup is read, not evaluated: no run-order dependency, but a use of it
            self.lookup_uses.setdefault(self.slot_of[self._owner], set()).add(
                self.slot_of[self.names.py[el.name]])
            arg, deps, ut = self.expr(args[0])
            if not callable(arg):
                return float(np.interp(arg, xs, ys)), deps, ut
            self._lookup_breakpoints(args[0], xs)
            return self._lookup_closure(arg, xs, ys), deps, ut
        raise ModelError(self.path, f"unknown function '{fname.upper()}' (neither a supported "
                         "Vensim function nor a lookup defined in the model)",
                         variable=self._current, construct=fname.upper())

    def _if_then_else(self, fn: VensimFunction, vals, compiled, deps, ut):
        c, a, b = vals
        if not callable(c):
            return (a if c else b), deps, ut
        return self._ite(c, a, b), deps, ut

    def _step(self, fn: VensimFunction, vals, compiled, deps, ut):
        tol = self._tol
        # a switch at vals[1] unless the height is 0 (a lever left at its default)
        self._add_breakpoint(fn.switch, [vals[1]], compiled[1][1], gate=(vals[0], compiled[0][1]))
        step = self._primitive(fn.ref)
        if not callable(vals[0]) and not callable(vals[1]):
            hc, tsc = float(vals[0]), float(vals[1])
            return (lambda v, t: step(t, v[tol], hc, tsc)), deps | {tol}, True
        h, ts = (lift(x) for x in vals)
        return (lambda v, t: step(t, v[tol], h(v, t), ts(v, t))), deps | {tol}, True

    def _ramp(self, fn: VensimFunction, vals, compiled, deps, ut):
        tol = self._tol
        fs = [lift(x) for x in vals]
        self._add_breakpoint(fn.switch, vals[1:], set().union(*(c[1] for c in compiled[1:])))
        ramp = self._primitive(fn.ref)
        if len(fs) == 2:
            s, st = fs
            return (lambda v, t: ramp(t, v[tol], s(v, t), st(v, t))), deps | {tol}, True
        s, st, en = fs
        return (lambda v, t: ramp(t, v[tol], s(v, t), st(v, t), en(v, t))), deps | {tol}, True

    def _pulse(self, fn: VensimFunction, vals, compiled, deps, ut):
        tol, dt = self._tol, self._dt
        st, w = (lift(x) for x in vals)
        self._add_breakpoint(fn.switch, vals, deps)
        pulse = self._primitive(fn.ref)
        return (lambda v, t: pulse(t, v[tol], v[dt], st(v, t), w(v, t))), deps | {dt, tol}, True

    def _pulse_train(self, fn: VensimFunction, vals, compiled, deps, ut):
        tol, dt = self._tol, self._dt
        # PySD orders the arguments (start, interval, width, end)
        st, itv, w, en = (lift(x) for x in vals)
        self._add_breakpoint(fn.switch, vals, deps)
        ptrain = self._primitive(fn.ref)
        return (lambda v, t: ptrain(t, v[tol], v[dt], st(v, t), itv(v, t), w(v, t), en(v, t))), \
            deps | {dt, tol}, True

    def _arity(self, fname, n):
        return ModelError(self.path, f"{fname} takes {n} arguments", variable=self._current,
                          construct=fname)

    def _ite(self, c, a, b):
        B = self.B
        if B.name == BackendKind.SCALAR:
            fa, fb = lift(a), lift(b)
            return lambda v, t: fa(v, t) if c(v, t) else fb(v, t)
        where = B.where
        return call(lambda c_, a_, b_: where(c_, a_, b_), [c, a, b])

    def _lookup_closure(self, arg, xs, ys):
        lk = self.B.lookup
        if self.B.name == BackendKind.SCALAR:
            xs, ys = [float(x) for x in xs], [float(y) for y in ys]
        return lambda v, t: lk(arg(v, t), xs, ys)

    def _lookup_breakpoints(self, argnode, xs):
        if isinstance(argnode, ae.ReferenceStructure) and argnode.reference == "time":
            self._add_breakpoint("at", [float(x) for x in xs], set())

    def _add_breakpoint(self, kind, vals, deps, gate=None):
        """Record a switch time: ``vals`` evaluated where ``deps`` are static.

        ``gate``: (value, its dependencies), a value that cancels the switch
        when it is static and 0 (a STEP's height); products add more gates.
        """
        if self.B.name == BackendKind.TAPE or self._evaluating:
            return
        self.prog.breakpoints.append((kind, list(vals)))
        self.prog.gates.append([] if gate is None else [gate[0]])
        if self.B.name == BackendKind.VECTOR:
            self.breakpoint_deps.append(frozenset(deps))
            self.breakpoint_gates.append([] if gate is None else [frozenset(gate[1])])

    def _order(self, order_node) -> int:
        value = self._static_value(order_node)
        n = int(round(value))
        if n < 1 or abs(n - value) > 1e-9:
            raise ModelError(self.path, f"the order of DELAY N / SMOOTH N must be a whole number >= 1, "
                             f"got {value}", variable=self._current, construct="DELAY N")
        return n

    def _static_value(self, node, depth=0) -> float:
        """Evaluate a constant expression at INITIAL TIME (for DELAY N order)."""
        if depth > 50:
            raise ModelError(self.path, "cannot evaluate the order of DELAY N / SMOOTH N (circular)",
                             variable=self._current, construct="DELAY N")
        if is_num(node):
            return _number(node)
        if isinstance(node, ae.ReferenceStructure):
            if node.reference == "time":
                return self._static_value(self.by_ref["initial_time"].ast, depth + 1)
            return self._static_value(self._element_for(node.reference, self._current).ast, depth + 1)
        saved = self.B, self._evaluating
        try:
            self.B, self._evaluating = SCALAR, True  # no switch times recorded from here
            compiled, deps, _ = self.expr(node)
        finally:
            self.B, self._evaluating = saved
        if not callable(compiled):
            return float(compiled)
        # evaluate referenced slots recursively with a sparse value list
        v = [0.0] * (len(self.slots) + 64)
        for i in deps:
            el = self.by_ref.get(reference_form(self.slots[i].name))
            if el is not None:
                v[i] = self._static_value(el.ast, depth + 1)
        v[self._tol] = 0.5 * self._static_value(self.by_ref["time_step"].ast, depth + 1)
        t0 = self._static_value(self.by_ref["initial_time"].ast, depth + 1)
        return float(compiled(v, t0))

    def _hidden_aux(self, slot: int, node) -> None:
        """Compile ``node`` as the equation of a hidden auxiliary ``slot``."""
        f, deps, uses_time = self.expr(node)
        fn = lift(f)
        self.prog.run_fn[slot] = fn
        self.prog.init_fn[slot] = fn
        self.run_deps[slot] = frozenset(deps)
        self.init_deps[slot] = frozenset(deps)
        if uses_time:
            self.uses_time.add(slot)

    def _smooth(self, inp, time_node, init_node, order: int, kind: str, pipeline: bool = False):
        """Expand SMOOTH/DELAY of any order into hidden stocks (Vensim's material delay).

        With ``pipeline`` (DELAY N), stage k drains with the delay time that was
        current k time steps ago, as Vensim and PySD do: the hidden slots
        ``_pipe`` hold those past delay times and the fixed-step integrators
        shift them once per step. Continuous (SciPy) runs use the current delay
        time in every stage.
        """
        key = self._hidden_key(kind)
        i_in = self._new_slot(key + "_input", Slot(key + "_input", key + "_input", "hidden_aux",
                                                   visible=False))
        i_t = self._new_slot(key + "_time", Slot(key + "_time", key + "_time", "hidden_aux",
                                                 visible=False))
        self._hidden_aux(i_in, inp)
        self._hidden_aux(i_t, time_node)
        fini, dini, _ = self.expr(init_node)
        stocks = [self._new_slot(f"{key}_stock{k}", Slot(f"{key}_stock{k}", f"{key}_stock{k}",
                                                         "hidden_stock", visible=False))
                  for k in range(order)]
        times = [i_t] * order
        t_out = i_t
        if pipeline:
            # pipes[k-1] holds the delay time of k steps ago; the output uses last step's
            pipes = [self._new_slot(f"{key}_pipe{k}", Slot(f"{key}_pipe{k}", f"{key}_pipe{k}",
                                                           "pipeline", visible=False))
                     for k in range(1, max(order, 2))]
            times = [i_t] + pipes[:order - 1]
            t_out = pipes[0]
            for p_ in pipes:
                self.prog.init_fn[p_] = (lambda v, t: v[i_t])
                self.init_deps[p_] = frozenset({i_t})
            if self.B.name == BackendKind.VECTOR:
                self.pipelines.append((i_t, pipes))
        n = float(order)
        finit = lift(fini)
        for k, s in enumerate(stocks):
            prev = i_in if k == 0 else stocks[k - 1]
            if kind == "smooth":
                self.prog.rate_fn[s] = (lambda v, t, s=s, prev=prev: (v[prev] - v[s]) / (v[i_t] / n))
                self.prog.init_fn[s] = finit
                self.init_deps[s] = frozenset(dini)
            else:
                tk = times[k]
                if k == 0:
                    self.prog.rate_fn[s] = (lambda v, t, s=s: v[i_in] - v[s] / (v[i_t] / n))
                else:
                    tp = times[k - 1]
                    self.prog.rate_fn[s] = (lambda v, t, s=s, prev=prev, tk=tk, tp=tp:
                                            v[prev] / (v[tp] / n) - v[s] / (v[tk] / n))
                self.prog.init_fn[s] = (lambda v, t: finit(v, t) * v[i_t] / n)
                self.init_deps[s] = frozenset(dini | {i_t})
            self.rate_deps[s] = frozenset({prev, s, i_in} | set(times))
        out = self._new_slot(key + "_output", Slot(key + "_output", key + "_output", "hidden_aux",
                                                   visible=False))
        last = stocks[-1]
        if kind == "smooth":
            fout = (lambda v, t: v[last])
        else:
            fout = (lambda v, t: v[last] / (v[t_out] / n))
        self.prog.run_fn[out] = fout
        self.prog.init_fn[out] = fout
        self.run_deps[out] = frozenset({last, i_t, t_out})
        self.init_deps[out] = frozenset({last, i_t, t_out})
        return read_slot(out), {out}, False

    def _trend(self, node):
        key = self._hidden_key("trend")
        mk = lambda suffix, kind: self._new_slot(key + suffix, Slot(key + suffix, key + suffix, kind,
                                                                     visible=False))
        i_in, i_t, i_tr = mk("_input", "hidden_aux"), mk("_time", "hidden_aux"), mk("_init", "initial")
        s = mk("_stock0", "hidden_stock")
        self._hidden_aux(i_in, node.input)
        self._hidden_aux(i_t, node.average_time)
        ftr, dtr, _ = self.expr(node.initial_trend)
        self.prog.init_fn[i_tr] = lift(ftr)
        self.init_deps[i_tr] = frozenset(dtr)
        self.prog.init_fn[s] = lambda v, t: v[i_in] / (1.0 + v[i_tr] * v[i_t])
        self.init_deps[s] = frozenset({i_in, i_tr, i_t})
        self.prog.rate_fn[s] = lambda v, t: (v[i_in] - v[s]) / v[i_t]
        self.rate_deps[s] = frozenset({i_in, s, i_t})
        out = mk("_output", "hidden_aux")
        zidz = self._primitive("zidz")
        absf = self._primitive("abs")
        fout = lambda v, t: zidz(v[i_in] - v[s], v[i_t] * absf(v[s]))
        self.prog.run_fn[out] = fout
        self.prog.init_fn[out] = fout
        self.run_deps[out] = frozenset({i_in, s, i_t})
        self.init_deps[out] = frozenset({i_in, s, i_t})
        return read_slot(out), {out}, False


def _number(node) -> float:
    """Return a literal's value; PySD reads ``:NA:`` as NaN, Vensim's value is :data:`VENSIM_NA`."""
    value = float(node)
    return VENSIM_NA if value != value else value


def _table(lk) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(lk.x, float)
    ys = np.asarray(lk.y, float)
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def _signed_refs(node, sign: int = 1) -> list[tuple[str, int]]:
    """Top-level references of a flow expression with their sign (``a - b`` -> [(a, 1), (b, -1)])."""
    if isinstance(node, ae.ReferenceStructure):
        return [(node.reference, sign)]
    if isinstance(node, ae.ArithmeticStructure):
        ops = list(node.operators)
        if ops == ["negative"]:
            return _signed_refs(node.arguments[0], -sign)
        if set(ops) <= {"+", "-"}:
            out = _signed_refs(node.arguments[0], sign)
            for op, arg in zip(ops, node.arguments[1:], strict=True):
                out += _signed_refs(arg, sign if op == "+" else -sign)
            return out
    return []
