"""Dimensional consistency check of a Vensim model.

Reads the model with PySD's translator, infers the unit of every equation by
walking its expression tree with :mod:`pint` doing the dimensional algebra, and
reports each equation whose inferred unit differs from the declared one
(Sterman 2000, *Business Dynamics*, ch. 21: dimensional consistency is the
first validity test).

Conventions (Vensim's):

- Unit strings are products and quotients of unit names, e.g.
  ``10k FTE/(100M USD*Year)``. A name may carry a numeric scale
  (``100M USD`` = 1e8 USD, ``10k FTE`` = 1e4 FTE); any other name is a new
  base unit. ``Dmnl`` (or ``1``) is dimensionless. Equivalent names come
  from the ``22:`` lines of the settings block (``22:Year,Years``) plus a
  few built-ins.
- A number in an equation is a wildcard: in sums, comparisons, MIN/MAX and
  IF THEN ELSE branches it adopts the unit of the other operand; in products
  and quotients it is dimensionless.
- ``INTEG(flow, init)``: ``flow`` has the stock's unit per time unit,
  ``init`` the stock's unit. SMOOTH/DELAY times are in the time unit and keep
  their input's unit. ``STEP``/``RAMP``/``PULSE`` times are in the time unit.
- A lookup returns its declared unit. A lookup declared ``Dmnl`` (or with
  no unit) must be called with a dimensionless argument; a lookup with
  another declared unit (e.g. a table of ``Time``) accepts any argument.
- ``x ^ y``: ``y`` must be dimensionless; ``x`` may have a unit only if ``y``
  is a number.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pint
from pysd.translators.structures import abstract_expressions as ae

from sim.engine.functions import FUNCTIONS, VensimFunction
from sim.engine.reading.translate import parse_abstract
from sim.engine.reading.xmile import is_xmile
from sim.errors import ModelError

__all__ = ["UNIT_RULES", "UnitIssue", "check_units", "parse_units"]

#: names that mean "dimensionless"
_DIMENSIONLESS_NAMES = frozenset({"dmnl", "dimensionless", "1", "unitless", "fraction"})

#: built-in equivalent names (canonical first), extended by the model's ``22:`` lines
_BUILTIN_EQUIVALENTS = (
    ("Year", "Years", "year", "years", "yr"),
    ("Month", "Months", "month", "months"),
    ("Week", "Weeks", "week", "weeks"),
    ("Day", "Days", "day", "days"),
    ("Hour", "Hours", "hour", "hours"),
    ("Person", "People", "Persons", "person", "people", "persons"),
    ("Dollar", "Dollars", "$", "dollar", "dollars"),
)

#: scale words and letters allowed in front of a unit name
_SCALE_WORDS = {"k": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "B": 1e9, "G": 1e9,
               "billion": 1e9}

_SCALED = re.compile(r"^(?P<num>\d+(?:\.\d+)?)?\s*(?P<mult>k|M|B|G|thousand|million|billion)?"
                     r"\s+(?P<base>\S.*)$")


@dataclass(frozen=True)
class UnitIssue:
    """One dimensional inconsistency.

    Attributes
    ----------
    variable : str
        Vensim name of the variable whose equation is inconsistent.
    declared : str
        Unit written in the model ('' if none).
    inferred : str
        Unit the equation produces ('' if it could not be inferred).
    message : str
        What is inconsistent.
    """

    variable: str
    declared: str
    inferred: str
    message: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message} (declared '{self.declared}', inferred '{self.inferred}')"


class _UnitSystem:
    """A fresh pint registry plus the name tables of one model (no global state)."""

    def __init__(self, equivalents: list[tuple[str, ...]]) -> None:
        self.ureg: pint.UnitRegistry = pint.UnitRegistry(None)
        self.alias: dict[str, str] = {}      # written name -> pint symbol
        self.display: dict[str, str] = {}    # pint symbol -> written name
        for group in list(_BUILTIN_EQUIVALENTS) + equivalents:
            group = tuple(g.strip() for g in group if g.strip())
            if not group:
                continue
            known = next((self.alias[g] for g in group if g in self.alias), None)
            if known is None:
                known = self._new_base(group[0])
            for g in group:
                self.alias.setdefault(g, known)

    @staticmethod
    def _symbol(name: str) -> str:
        return "u_" + re.sub(r"\W", "_", name)

    def _new_base(self, name: str) -> str:
        sym = self._symbol(name)
        if sym not in self.display:
            self.ureg.define(f"{sym} = [{sym}]")
            self.display[sym] = name
        return sym

    def atom(self, name: str) -> pint.Quantity:
        """Quantity (magnitude 1) of one unit name such as ``100M USD``."""
        name = " ".join(name.split())
        if name.lower() in _DIMENSIONLESS_NAMES:
            return self.ureg.Quantity(1.0, "dimensionless")
        if name in self.alias:
            return self.ureg.Quantity(1.0, self.alias[name])
        m = _SCALED.match(name)
        if m and (m.group("num") or m.group("mult")):
            factor = float(m.group("num") or 1) * _SCALE_WORDS.get(m.group("mult") or "", 1.0)
            base = self.atom(m.group("base"))
            sym = self._symbol(name)
            self.ureg.define(f"{sym} = {factor!r} * {format(base.units, 'D').replace(' ', '')}")
            self.display[sym] = name
            self.alias[name] = sym
            return self.ureg.Quantity(1.0, sym)
        self.alias[name] = self._new_base(name)
        return self.ureg.Quantity(1.0, self.alias[name])

    def parse(self, text: str) -> pint.Quantity:
        """Parse a Vensim unit string into a quantity of magnitude 1."""
        tokens = [t for t in re.split(r"([*/()^])", text) if t.strip()]
        pos = 0

        def peek():
            return tokens[pos].strip() if pos < len(tokens) else None

        def expr():
            nonlocal pos
            q = term()
            while peek() in ("*", "/"):
                op = peek()
                pos += 1
                rhs = term()
                q = q * rhs if op == "*" else q / rhs
            return q

        def term():
            nonlocal pos
            q = factor()
            if peek() == "^":
                pos += 1
                tok = peek()
                try:
                    power = float(tok)
                except (TypeError, ValueError):
                    raise ValueError(f"unit '{text}': exponent must be a number, got '{tok}'") from None
                pos += 1
                q = q ** power
            return q

        def factor():
            nonlocal pos
            tok = peek()
            if tok is None:
                raise ValueError(f"unit '{text}': unexpected end")
            if tok == "(":
                pos += 1
                q = expr()
                if peek() != ")":
                    raise ValueError(f"unit '{text}': missing ')'")
                pos += 1
                return q
            if tok in ("*", "/", ")", "^"):
                raise ValueError(f"unit '{text}': unexpected '{tok}'")
            pos += 1
            return self.atom(tok)

        q = expr()
        if pos != len(tokens):
            raise ValueError(f"unit '{text}': unexpected '{tokens[pos]}'")
        return q

    def show(self, q: pint.Quantity | None) -> str:
        """Return a quantity written back in Vensim style."""
        if q is None:
            return ""
        units: dict[str, Any] = dict(q.units._units)  # unit name -> exponent
        num = [(self.display.get(k, k), e) for k, e in units.items() if e > 0]
        den = [(self.display.get(k, k), -e) for k, e in units.items() if e < 0]

        def part(items):
            return "*".join(n if e == 1 else f"{n}^{e:g}" for n, e in items)

        text = part(num) or "1"
        if den:
            text += "/" + (part(den) if len(den) == 1 else f"({part(den)})")
        if text == "1":
            text = "Dmnl"
        mag = float(q.magnitude)
        return text if math.isclose(mag, 1.0) else f"{mag:g} {text}"

    @staticmethod
    def same(a: pint.Quantity, b: pint.Quantity) -> bool:
        ratio = (a / b).to_base_units()
        return ratio.dimensionless and math.isclose(float(ratio.magnitude), 1.0, rel_tol=1e-9)


@dataclass(frozen=True)
class _U:
    """Inferred unit: ``q`` None = unknown; ``flex`` = a bare number (wildcard)."""

    q: pint.Quantity | None
    flex: bool = False


class _Inconsistent(Exception):
    """A sub-expression is dimensionally inconsistent (message says where)."""


def parse_units(text: str, equivalents: list[tuple[str, ...]] | None = None) -> pint.Quantity:
    """Parse a Vensim unit string, e.g. ``'10k FTE/(100M USD*Year)'``.

    Returns a :class:`pint.Quantity` of magnitude 1 in a registry private to
    the call. Raises ``ValueError`` for a malformed string.
    """
    return _UnitSystem(equivalents or []).parse(text)


def _equivalents(text: str) -> list[tuple[str, ...]]:
    """Equivalent unit names from the settings block (lines ``22:A,B,C``)."""
    _, _, settings = text.partition(":L<%^E!@")
    return [tuple(line[3:].split(",")) for line in settings.splitlines() if line.startswith("22:")]


class _Checker:
    def __init__(self, path: Path, elements) -> None:
        self.path = path
        text = path.read_text(encoding="utf-8", errors="replace")
        self.us = _UnitSystem(_equivalents(text))
        self.issues: list[UnitIssue] = []
        self.elements: dict[str, Any] = {}
        self.declared: dict[str, pint.Quantity | None] = {}
        self.is_lookup: dict[str, bool] = {}
        self.bad_units: dict[str, str] = {}
        for el in elements:
            ref = re.sub(r"\s+", "_", el.name.strip().lower())
            self.elements[ref] = el
            units = (el.units or "").strip()
            comp = el.components[0]
            self.is_lookup[ref] = isinstance(comp.ast, ae.LookupsStructure)
            if not units:
                self.declared[ref] = None
                continue
            try:
                self.declared[ref] = self.us.parse(units)
            except ValueError as exc:
                self.declared[ref] = None
                self.bad_units[ref] = str(exc)
        time_q = self.declared.get("time_step") or self.declared.get("initial_time")
        self.time = time_q if time_q is not None else self.us.atom("Year")
        self.dmnl = self.us.ureg.Quantity(1.0, "dimensionless")

    # --------------------------------------------------------------- helpers
    def show(self, u: _U) -> str:
        return self.us.show(u.q)

    def unify(self, a: _U, b: _U, what: str) -> _U:
        if a.q is None or b.q is None:
            return _U(None)
        if a.flex:
            return b
        if b.flex:
            return a
        if not self.us.same(a.q, b.q):
            raise _Inconsistent(f"{what} mixes '{self.show(a)}' and '{self.show(b)}'")
        return a

    def expect(self, u: _U, q, what: str) -> None:
        if u.q is None or u.flex:
            return
        if not self.us.same(u.q, q):
            raise _Inconsistent(f"{what} is '{self.show(u)}', expected '{self.us.show(q)}'")

    def dimensionless(self, u: _U, what: str) -> None:
        self.expect(u, self.dmnl, what)

    # --------------------------------------------------------------- walking
    def infer(self, node) -> _U:
        if isinstance(node, bool):
            return _U(self.dmnl, flex=True)
        if isinstance(node, (int, float)) or type(node).__module__ == "numpy":
            return _U(self.dmnl, flex=True)
        if isinstance(node, ae.ReferenceStructure):
            return self.reference(node.reference)
        if isinstance(node, ae.ArithmeticStructure):
            return self.arithmetic(node)
        if isinstance(node, ae.LogicStructure):
            return self.logic(node)
        if isinstance(node, ae.CallStructure):
            return self.call(node)
        if isinstance(node, ae.InitialStructure):
            return self.infer(node.initial)
        if isinstance(node, (ae.SmoothStructure, ae.SmoothNStructure)):
            return self.lagged(node.input, node.smooth_time, node.initial, "SMOOTH")
        if isinstance(node, (ae.DelayStructure, ae.DelayNStructure, ae.DelayFixedStructure)):
            return self.lagged(node.input, node.delay_time, node.initial, "DELAY")
        if isinstance(node, ae.TrendStructure):
            self.expect(self.infer(node.average_time), self.time, "TREND average time")
            return _U(self.dmnl / self.time)
        if isinstance(node, ae.InlineLookupsStructure):
            return self.lookup_call(None, node.argument)
        if isinstance(node, ae.IntegStructure):
            raise _Inconsistent("INTEG inside an expression")
        return _U(None)

    def reference(self, ref: str) -> _U:
        if ref == "time":
            return _U(self.time)
        q = self.declared.get(ref)
        return _U(q)

    def arithmetic(self, node) -> _U:
        ops, args = node.operators, node.arguments
        if len(args) == 1:  # unary
            return self.infer(args[0])
        acc = self.infer(args[0])
        for op, arg_node in zip(ops, args[1:], strict=True):
            if op in ("+", "-"):
                acc = self.unify(acc, self.infer(arg_node), f"'{op}'")
            elif op in ("*", "/"):
                rhs = self.infer(arg_node)
                if acc.q is None or rhs.q is None:
                    acc = _U(None)
                else:
                    acc = _U(acc.q * rhs.q if op == "*" else acc.q / rhs.q, acc.flex and rhs.flex)
            elif op == "^":
                acc = self.power(acc, arg_node)
            else:
                acc = _U(None)
        return acc

    def power(self, base: _U, exponent_node) -> _U:
        if isinstance(exponent_node, (int, float)) or type(exponent_node).__module__ == "numpy":
            if base.q is None:
                return _U(None)
            return _U(base.q ** float(exponent_node), base.flex)
        expo = self.infer(exponent_node)
        self.dimensionless(expo, "exponent")
        self.dimensionless(base, "base of a power with a non-numeric exponent")
        return _U(self.dmnl, base.flex)

    def logic(self, node) -> _U:
        ops, args = node.operators, node.arguments
        if ops and ops[0] in (":NOT:",) and len(args) == 1:
            self.infer(args[0])
            return _U(self.dmnl, flex=True)
        if all(op in (":AND:", ":OR:") for op in ops):
            for a in args:
                self.infer(a)
            return _U(self.dmnl, flex=True)
        acc = self.infer(args[0])
        for op, a in zip(ops, args[1:], strict=True):
            acc = self.unify(acc, self.infer(a), f"comparison '{op}'")
        return _U(self.dmnl, flex=True)

    def lagged(self, inp, time_node, init, name) -> _U:
        u = self.infer(inp)
        self.expect(self.infer(time_node), self.time, f"{name} time")
        return self.unify(u, self.infer(init), f"{name} input and initial value")

    def lookup_call(self, ref: str | None, arg_node) -> _U:
        arg = self.infer(arg_node)
        out = self.declared.get(ref) if ref is not None else None
        if out is None or self.us.same(out, self.dmnl):
            self.dimensionless(arg, "argument of a dimensionless lookup")
            return _U(self.dmnl)
        return _U(out)

    def call(self, node) -> _U:
        fn = node.function.reference
        args = node.arguments
        if self.is_lookup.get(fn):
            return self.lookup_call(fn, args[0])
        entry = FUNCTIONS.get(fn)
        if entry is None:
            for a in args:
                self.infer(a)
            return _U(None)
        return self.RULES[entry.units](self, entry, args)

    # one method per unit rule of the registry (sim.engine.functions.UnitRule)
    def _same(self, fn: VensimFunction, args) -> _U:
        acc = self.infer(args[0])
        for a in args[1:]:
            acc = self.unify(acc, self.infer(a), fn.ref.upper())
        return acc

    def _branches(self, fn: VensimFunction, args) -> _U:
        self.infer(args[0])
        return self.unify(self.infer(args[1]), self.infer(args[2]), "IF THEN ELSE branches")

    def _sqrt(self, fn: VensimFunction, args) -> _U:
        u = self.infer(args[0])
        return _U(None) if u.q is None else _U(u.q ** 0.5, u.flex)

    def _dimensionless(self, fn: VensimFunction, args) -> _U:
        for a in args:
            self.dimensionless(self.infer(a), f"argument of {fn.ref.upper()}")
        return _U(self.dmnl)

    def _power(self, fn: VensimFunction, args) -> _U:
        return self.power(self.infer(args[0]), args[1])

    def _ratio(self, fn: VensimFunction, args) -> _U:
        a, b = self.infer(args[0]), self.infer(args[1])
        return _U(None) if a.q is None or b.q is None else _U(a.q / b.q, a.flex and b.flex)

    def _ratio_or_fallback(self, fn: VensimFunction, args) -> _U:
        return self.unify(self._ratio(fn, args), self.infer(args[2]),
                          f"{fn.vensim} result and fallback")

    def _step(self, fn: VensimFunction, args) -> _U:
        self.expect(self.infer(args[1]), self.time, f"{fn.vensim} time")
        return self.infer(args[0])

    def _ramp(self, fn: VensimFunction, args) -> _U:
        for a in args[1:]:
            self.expect(self.infer(a), self.time, f"{fn.vensim} start/end time")
        slope = self.infer(args[0])
        return _U(None) if slope.q is None else _U(slope.q * self.time)

    def _pulse(self, fn: VensimFunction, args) -> _U:
        for a in args:
            self.expect(self.infer(a), self.time, f"{fn.vensim} time")
        return _U(self.dmnl)

    #: The method of each unit rule.
    RULES: dict[str, Callable[[_Checker, VensimFunction, Any], _U]] = {
        "same": _same, "branches": _branches, "sqrt": _sqrt, "dimensionless": _dimensionless,
        "power": _power, "ratio": _ratio, "ratio_or_fallback": _ratio_or_fallback,
        "step": _step, "ramp": _ramp, "pulse": _pulse,
    }

    # --------------------------------------------------------------- elements
    def check_element(self, el) -> None:
        ref = re.sub(r"\s+", "_", el.name.strip().lower())
        declared_text = (el.units or "").strip()
        if ref in self.bad_units:
            self.issues.append(UnitIssue(el.name, declared_text, "", self.bad_units[ref]))
            return
        declared = self.declared[ref]
        comp = el.components[0]
        ast = comp.ast
        if declared is None:
            self.issues.append(UnitIssue(el.name, "", "", "no units declared"))
            return
        if isinstance(ast, ae.LookupsStructure) or ast is None:
            return
        try:
            if isinstance(ast, ae.IntegStructure):
                flow = self.infer(ast.flow)
                if flow.q is not None and not flow.flex and not self.us.same(flow.q * self.time, declared):
                    self.issues.append(UnitIssue(
                        el.name, declared_text, self.us.show(flow.q * self.time),
                        f"net flow is '{self.show(flow)}', expected '{self.us.show(declared / self.time)}'"
                        f" (stock unit per {self.us.show(self.time)})"))
                    return
                init = self.infer(ast.initial)
                if init.q is not None and not init.flex and not self.us.same(init.q, declared):
                    self.issues.append(UnitIssue(el.name, declared_text, self.show(init),
                                                 f"initial value is '{self.show(init)}'"))
                return
            u = self.infer(ast)
        except _Inconsistent as exc:
            self.issues.append(UnitIssue(el.name, declared_text, "", str(exc)))
            return
        if u.q is not None and not u.flex and not self.us.same(u.q, declared):
            self.issues.append(UnitIssue(el.name, declared_text, self.show(u),
                                         "the equation's unit differs from the declared unit"))


#: The unit rules the checker implements (each registered function names one).
UNIT_RULES: frozenset[str] = frozenset(_Checker.RULES)


def check_units(mdl_path: str | Path) -> list[UnitIssue]:
    """Check the dimensional consistency of a Vensim model.

    Parameters
    ----------
    mdl_path : str or Path
        Vensim ``.mdl`` text file.

    Returns
    -------
    list of UnitIssue
        One entry per inconsistent equation (or undeclared/unparsable unit),
        in model order; empty if the model is consistent.

    Raises
    ------
    ModelError
        If the file does not exist or PySD cannot parse it, or it is an XMILE
        model (``construct="XMILE units"``): XMILE unit strings and their
        ``<model_units>`` aliases are not read, so XMILE units are not checked.
    """
    path = Path(mdl_path)
    if is_xmile(path):
        raise ModelError(str(path), "units are not checked for XMILE models (the checker reads "
                         "Vensim unit strings; XMILE units and <model_units> aliases are not "
                         "read)", construct="XMILE units")
    am = parse_abstract(path)
    elements = [el for section in am.sections for el in section.elements]
    checker = _Checker(path, elements)
    for el in elements:
        checker.check_element(el)
    return checker.issues
