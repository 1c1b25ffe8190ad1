"""Vensim's vector functions, written out over the flattened elements.

:mod:`sim.engine.reading.subscripts` turns each element of a subscripted
variable into a scalar variable. The functions here read a whole vector (the
elements of one subscript range) at once, so the flattener hands them to
:func:`rewrite_call` (or :func:`vector_select`) with the element being written,
and they return ordinary expressions (comparisons, sums, IF THEN ELSE) over the
vector's elements: every back end, the compiled tape included, runs them, and
they follow values that change during the run.

``VECTOR RANK(x[..., R], direction)``
    The 1-based rank of the element being written among the elements of the
    last subscript ``R`` of the argument: direction > 0 ranks from the smallest
    up, else from the largest down. Equal values: in ascending order the one
    earlier in ``R`` comes first; the descending order is the ascending one
    reversed (so the later one comes first), as PySD's ``vector_rank`` with a
    stable sort. Written as ``1 + sum over k < j of [x_k <= x_j] + sum over
    k > j of [x_k < x_j]`` (ascending), n - 1 comparisons.
``VECTOR SORT ORDER(x[..., R], direction)``
    The 0-based position in ``R`` of the element that comes m-th in that
    order, for the m-th element being written (Vensim's and PySD's
    ``argsort``): ``IF rank_0 = m + 1 THEN 0 ELSE IF rank_1 = m + 1 ...``,
    n ranks of n - 1 comparisons each, so vectors up to
    :data:`MAX_SORTED` elements.
``VECTOR REORDER(x[..., R], order)``
    ``x`` at the 0-based position ``order`` (evaluated at the element being
    written) along ``R``: ``IF order = 0 THEN x_0 ELSE IF order = 1 ...``; a
    position outside ``R`` (or not a whole number) gives ``:NA:``.
``VECTOR SELECT(sel[R!], x[R!], missing, action, error action)``
    The selection over the ``Range!`` subscripts of both arrays, folded term
    by term by the registry's primitive ``vector_select_step`` (see
    :func:`vector_select`), the action constant or changing during the run.

A direction that changes during the run is an IF THEN ELSE between the two
orders. Refused, with the construct named: wrong arguments, an argument whose
last subscript is not a range, an equation with no element in that range (or
one mapped onto it), a VECTOR SELECT with error action other than 0, a
constant action that is not a whole number from 0 to 10, or more than
:data:`MAX_SELECTED` terms.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

from pysd.translators.structures import abstract_expressions as ae

from sim.engine.reading.literals import is_number
from sim.engine.reading.names import reference_form
from sim.errors import ModelError

#: Longest vector VECTOR SORT ORDER sorts [elements]: each of its elements is
#: written with n^2 comparisons, so a vector costs n^3 (24: about 5 s to load
#: and run one vector; 40: 20 s).
MAX_SORTED = 24

#: The functions :func:`rewrite_call` handles: PySD's name -> Vensim's.
VECTOR_CALLS = {"vector_sort_order": "VECTOR SORT ORDER", "vector_rank": "VECTOR RANK",
                "vector_reorder": "VECTOR REORDER"}

#: VECTOR SELECT's numerical actions (Vensim's numbering).
ACTIONS = range(11)

#: Most terms of a VECTOR SELECT: its fold is a chain as deep as the terms are
#: many (and the compiler's recursion is bounded).
MAX_SELECTED = 200


def handles(node) -> bool:
    """Return True when ``node`` is a call :func:`rewrite_call` rewrites."""
    return isinstance(node, ae.CallStructure) and isinstance(node.function, ae.ReferenceStructure) \
        and node.function.subscripts is None and node.function.reference in VECTOR_CALLS


def rewrite_call(rw: Any, node):
    """Return the scalar form of VECTOR RANK, SORT ORDER or REORDER for the element ``rw`` writes.

    Parameters
    ----------
    rw : sim.engine.reading.subscripts._Rewriter
        The flattener's rewriter of the current element.
    node : CallStructure
        A call for which :func:`handles` is true.

    Raises
    ------
    ModelError
        Wrong arguments, or a vector the element cannot be placed in; the
        construct is the function's Vensim name.
    """
    fname = node.function.reference
    construct = VECTOR_CALLS[fname]
    args = node.arguments
    if len(args) != 2:
        second = "order" if fname == "vector_reorder" else "direction"
        raise rw.error(f"{construct} takes 2 arguments (vector, {second})", construct=construct)
    values, mine = _spread(rw, args[0], construct)
    if fname == "vector_reorder":
        return _pick(rw.rewrite(args[1]), values)
    n = len(values)
    if fname == "vector_sort_order" and n > MAX_SORTED:
        raise rw.error(f"VECTOR SORT ORDER of a vector of {n} elements: at most {MAX_SORTED} "
                       "are supported", construct=construct)
    build = _rank if fname == "vector_rank" else _sort_order
    direction = rw.rewrite(args[1])
    if is_number(direction):
        return build(values, mine, float(direction) > 0)
    return _ite(_logic(">", direction, 0), build(values, mine, True), build(values, mine, False))


# ------------------------------------------------------------------ the vector
def _spread(rw: Any, node, construct: str) -> tuple[list, int]:
    """Return ``node`` at every element of its last subscript, and the position of ours there.

    The last subscript is the last one of the first subscripted reference in
    ``node``; every reference that names the same range is read at each of its
    elements, the other subscripts as usual (by the equation's elements).
    """
    last = _last_subscript(node)
    if last is None or last.endswith("!") or not rw.ranges.is_range(last):
        raise rw.error(f"{construct}: the argument must be a subscripted variable whose last "
                       f"subscript is a subscript range (got {_text(node)})", construct=construct)
    key = reference_form(last)
    elements = [reference_form(e) for e in rw.ranges.elements[key]]
    try:
        mine = elements.index(rw._element(last, _text(node)))
    except ModelError as exc:
        raise rw.error(f"{construct} over {last}: the equation has no subscript in {last} (or a "
                       f"range mapped onto it) to place its elements: {exc.args[0]}",
                       construct=construct) from None
    marked = _mark(node, key)
    saved = dict(rw.bound)
    values = []
    try:
        for element in elements:
            rw.bound[key] = element
            values.append(rw.rewrite(marked))
    finally:
        rw.bound = saved
    return values, mine


def _last_subscript(node) -> str | None:
    """Return the last subscript of the first subscripted reference in ``node``, else None."""
    if isinstance(node, ae.ReferenceStructure):
        subs = node.subscripts.subscripts if node.subscripts is not None else []
        return subs[-1] if subs else None
    children: list = []
    if isinstance(node, (tuple, list)):
        children = list(node)
    elif isinstance(node, ae.AbstractSyntax):
        children = [getattr(node, f) for f in node.__dataclass_fields__]
    for child in children:
        found = _last_subscript(child)
        if found is not None:
            return found
    return None


def _mark(node, key: str):
    """Return ``node`` with every subscript naming range ``key`` marked ``key!`` (bound by the caller)."""
    if isinstance(node, ae.ReferenceStructure):
        if node.subscripts is None:
            return node
        subs = [f"{s}!" if reference_form(s) == key else s for s in node.subscripts.subscripts]
        return dataclasses.replace(node, subscripts=dataclasses.replace(
            node.subscripts, subscripts=tuple(subs)))
    if isinstance(node, tuple):
        return tuple(_mark(c, key) for c in node)
    if isinstance(node, list):
        return [_mark(c, key) for c in node]
    if isinstance(node, ae.AbstractSyntax):
        changes = {f.name: _mark(getattr(node, f.name), key) for f in dataclasses.fields(node)
                   if f.init}
        return dataclasses.replace(node, **changes)
    return node


# ------------------------------------------------------------------- orders
def _rank(values: list, j: int, ascending: bool):
    """Return the 1-based rank of ``values[j]`` (ties: earlier first ascending, later descending)."""
    terms: list = [1]
    for k, x in enumerate(values):
        if k == j:
            continue
        if ascending:
            op = "<=" if k < j else "<"
        else:
            op = ">" if k < j else ">="
        terms.append(_logic(op, x, values[j]))
    return _arith("+", terms)


def _sort_order(values: list, m: int, ascending: bool):
    """Return the 0-based position of the element ranked ``m + 1`` (IF THEN ELSE over them)."""
    n = len(values)
    acc: Any = float(n - 1)
    for j in range(n - 2, -1, -1):
        acc = _ite(_logic("=", _rank(values, j, ascending), m + 1), float(j), acc)
    return acc


def _pick(index, values: list):
    """``values[index]`` for a 0-based ``index`` known at run time; ``:NA:`` outside."""
    acc: Any = math.nan  # PySD's reading of :NA: (Vensim's -2^109, as the compiler reads it)
    for j in range(len(values) - 1, -1, -1):
        acc = _ite(_logic("=", index, j), values[j], acc)
    return acc


# ------------------------------------------------------------ VECTOR SELECT
def vector_select(rw: Any, args) -> object:
    """``VECTOR SELECT(sel[R!], x[R!], missing, action, error action)``, over the elements.

    The terms are the elements of the ``Range!`` subscripts of both arrays
    (all their combinations); a term is selected where ``sel`` is not 0.
    Actions (Vensim's): 0 sum, 1 product, 2 min, 3 max, 4 mean of ``sel *
    x``; 5 product of ``x ^ sel``; 6 to 10 sum, product, min, max, mean of
    ``x``. No term selected gives ``missing``. Error action 0 (no error)
    only. A constant action must be a whole number from 0 to 10; one that
    changes during the run is taken as INTEGER(action), and gives NaN outside
    0 to 10. The terms are folded one by one by the registry's primitive
    ``vector_select_step`` (:func:`_folded`): a few nodes per term, whatever
    the action, so a large selection compiles quickly.

    Parameters
    ----------
    rw : sim.engine.reading.subscripts._Rewriter
        The flattener's rewriter of the current element.
    args : tuple
        The call's arguments, as PySD reads them.
    """
    construct = "VECTOR SELECT"
    if len(args) != 5:
        raise rw.error("VECTOR SELECT takes 5 arguments (selection, expression, missing "
                       "value, numerical action, error action)", construct=construct)
    err = rw.rewrite(args[4])
    if not is_number(err) or float(err) != 0:
        raise rw.error("VECTOR SELECT: only error action 0 (no error) is supported",
                       construct=construct)
    bangs: list[str] = []
    collect_bangs(args[0], bangs)
    collect_bangs(args[1], bangs)
    if not bangs:
        raise rw.error("VECTOR SELECT needs ranges marked with '!' (e.g. sel[Range!])",
                       construct=construct)
    for b in bangs:
        if b not in rw.ranges.elements:
            raise rw.error(f"'{b}!' in VECTOR SELECT: not a subscript range")
    saved = dict(rw.bound)
    pairs = []
    try:
        for combo in itertools.product(*(rw.ranges.elements[b] for b in bangs)):
            rw.bound.update({b: reference_form(e) for b, e in zip(bangs, combo, strict=True)})
            pairs.append((rw.rewrite(args[0]), rw.rewrite(args[1])))
    finally:
        rw.bound = saved
    missing, action = rw.rewrite(args[2]), rw.rewrite(args[3])
    if is_number(action) and float(action) not in ACTIONS:
        raise rw.error(f"VECTOR SELECT: the numerical action must be a whole number from 0 "
                       f"to 10 (got {action:g})", construct=construct)
    if len(pairs) > MAX_SELECTED:
        raise rw.error(f"VECTOR SELECT over {len(pairs)} terms: at most {MAX_SELECTED} are "
                       "supported", construct=construct)
    count = _arith("+", [_logic("<>", sel, 0) for sel, _ in pairs])
    return _ite(_logic("=", count, 0), missing, _folded(action, pairs, count))


def _neutral(k: int) -> float:
    """Return the start of action ``k``'s fold: 0 (sums), 1 (products), +-inf (min, max)."""
    return 0.0 if k in (0, 4, 6, 10) else 1.0 if k in (1, 5, 7) else \
        math.inf if k in (2, 8) else -math.inf


def _folded(action, pairs: list, count) -> object:
    """Return the result of numerical ``action`` over the selected terms (some term selected).

    A chain of ``vector_select_step(acc, sel, x, action)`` (a primitive of
    the registry: one kernel instruction per term) from the neutral value of
    the action's fold, divided by the count of selected terms for the means
    (4, 10). An action known only at run time is taken as INTEGER(action);
    the fold starts from ``vector_select_start(action)`` (NaN for an action
    outside 0 to 10, so the result is NaN), and divides by ``IF action = 4
    :OR: action = 10 THEN count ELSE 1``.
    """
    if is_number(action):
        k = int(action)
        acc: Any = _neutral(k)
        divisor: Any = count if k in (4, 10) else None
    else:
        acc = _call("vector_select_start", action)
        mean = ae.LogicStructure(operators=[":OR:"], arguments=(_logic("=", action, 4),
                                                                _logic("=", action, 10)))
        divisor = _ite(mean, count, 1)
    for sel, x in pairs:
        acc = _call("vector_select_step", acc, sel, x, action)
    return acc if divisor is None else _call("zidz", acc, divisor)


def collect_bangs(node, out: list[str]) -> None:
    """Append the range names marked with '!' in ``node`` to ``out``, in order of appearance.

    The ranges of an inner SUM, PROD, VMIN or VMAX are its own (not collected).
    """
    if isinstance(node, ae.ReferenceStructure):
        for s in (node.subscripts.subscripts if node.subscripts is not None else []):
            key = reference_form(s[:-1])
            if s.endswith("!") and key not in out:
                out.append(key)
        return
    if isinstance(node, ae.CallStructure) and isinstance(node.function, ae.ReferenceStructure) \
            and node.function.reference in ("sum", "prod", "vmin", "vmax"):
        return  # an inner SUM binds its own ranges
    if isinstance(node, (tuple, list)):
        for c in node:
            collect_bangs(c, out)
    elif isinstance(node, ae.AbstractSyntax):
        for field in node.__dataclass_fields__:
            collect_bangs(getattr(node, field), out)


# ------------------------------------------------------------------ helpers
def _text(node) -> str:
    """Return a short description of an expression, for an error message."""
    if isinstance(node, ae.ReferenceStructure):
        subs = node.subscripts.subscripts if node.subscripts is not None else []
        return f"{node.reference}[{', '.join(subs)}]" if subs else node.reference
    return "an expression" if isinstance(node, ae.AbstractSyntax) else repr(node)




def _call(fn: str, *args) -> ae.CallStructure:
    return ae.CallStructure(function=ae.ReferenceStructure(reference=fn, subscripts=None),
                            arguments=tuple(args))


def _ite(cond, a, b) -> ae.CallStructure:
    return _call("if_then_else", cond, a, b)


def _logic(op: str, a, b) -> ae.LogicStructure:
    return ae.LogicStructure(operators=[op], arguments=(a, b))


def _arith(op: str, terms: list) -> object:
    if len(terms) == 1:
        return terms[0]
    return ae.ArithmeticStructure(operators=[op] * (len(terms) - 1), arguments=tuple(terms))


def _fold(fn: str, terms: list) -> object:
    """``fn`` (min or max, of two arguments) of all ``terms``, as a balanced tree."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return _call(fn, _fold(fn, terms[:half]), _fold(fn, terms[half:]))
