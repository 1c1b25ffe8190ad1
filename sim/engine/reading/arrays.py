"""Vensim functions over whole subscript ranges, spread over the flattened elements.

:mod:`sim.engine.reading.subscripts` turns each element of a subscripted variable
into a scalar variable. The functions here read a whole range at once, so the
flattener hands them to :func:`rewrite_call` with the element being written:

``ELMCOUNT(Range)``
    The number of elements of the range, a number.
``INVERT MATRIX(m[..., Row, Col], n)``
    Element (r, c) of the inverse of the n x n matrix spanned by the last two
    subscripts of the equation: ``cofactor(c, r) / det``, written out as
    arithmetic of the matrix's elements (Laplace expansion), so every back end,
    the compiled tape included, computes it. Matrices up to
    :data:`MAX_MATRIX` wide; a larger one is refused by name.
``ALLOCATE BY PRIORITY(request[..., Dim], priority[..., Dim], size, width, supply)``
    The call of the internal function ``allocate_by_priority(k, requests...,
    priorities..., width, supply)`` for element k of the last subscript ``Dim``,
    compiled by :mod:`sim.engine.compiling.special`.
"""
from __future__ import annotations

import copy
from typing import Any

from pysd.translators.structures import abstract_expressions as ae

from sim.engine.reading.names import reference_form

#: Widest matrix INVERT MATRIX inverts [elements]: its Laplace expansion has n! terms.
MAX_MATRIX = 5

#: The functions :func:`rewrite_call` handles, by PySD's name.
ARRAY_CALLS = frozenset({"elmcount", "invert_matrix"})


def handles(node) -> bool:
    """Return True when ``node`` is a call :func:`rewrite_call` rewrites."""
    if isinstance(node, ae.AllocateByPriorityStructure):
        return True
    return isinstance(node, ae.CallStructure) and isinstance(node.function, ae.ReferenceStructure) \
        and node.function.subscripts is None and node.function.reference in ARRAY_CALLS


def rewrite_call(rw: Any, node):
    """Return the scalar form of an array function for the element ``rw`` writes.

    Parameters
    ----------
    rw : sim.engine.reading.subscripts._Rewriter
        The flattener's rewriter of the current element (its ranges, its
        left-hand side ``lhs`` as (declared range, element) pairs).
    node : CallStructure or AllocateByPriorityStructure
        A call for which :func:`handles` is true.
    """
    if isinstance(node, ae.AllocateByPriorityStructure):
        return _allocate(rw, node)
    fname = node.function.reference
    if fname == "elmcount":
        return _elmcount(rw, node.arguments)
    return _invert(rw, node.arguments)


def _elmcount(rw: Any, args) -> float:
    if len(args) != 1 or not isinstance(args[0], ae.ReferenceStructure) \
            or not rw.ranges.is_range(args[0].reference):
        raise rw.error("ELMCOUNT takes one argument, the name of a subscript range",
                       construct="ELMCOUNT")
    return float(len(rw.ranges.elements[reference_form(args[0].reference)]))


def _bound(rw: Any, changes: dict[int, str]) -> Any:
    """Return a copy of ``rw`` whose left-hand side has element ``e`` at position ``i``."""
    other = copy.copy(rw)
    other.lhs = [(decl, reference_form(changes[i])) if i in changes else (decl, el)
                 for i, (decl, el) in enumerate(rw.lhs)]
    return other


def _axis(rw: Any, position: int, construct: str) -> tuple[list[str], int]:
    """Return the elements of the left-hand side's subscript at ``position``, and our index."""
    if len(rw.lhs) < -position:
        raise rw.error(f"{construct} needs an equation subscripted over the range(s) it works on",
                       construct=construct)
    decl, element = rw.lhs[position]
    members = list(rw.ranges.members(decl, rw.name))
    keys = [reference_form(m) for m in members]
    return members, keys.index(element)


def _invert(rw: Any, args):
    if len(args) != 2:
        raise rw.error("INVERT MATRIX takes 2 arguments (matrix, size)", construct="INVERT MATRIX")
    rows, r = _axis(rw, -2, "INVERT MATRIX")
    cols, c = _axis(rw, -1, "INVERT MATRIX")
    n = len(rows)
    size = args[1]
    if len(cols) != n or not isinstance(size, (int, float)) or int(size) != n:
        raise rw.error(f"INVERT MATRIX: the last two subscripts span {n} x {len(cols)} "
                       f"elements; the size given is {size!r} (a square matrix of that size "
                       "is required)", construct="INVERT MATRIX")
    if n > MAX_MATRIX:
        raise rw.error(f"INVERT MATRIX of a {n} x {n} matrix: at most {MAX_MATRIX} x "
                       f"{MAX_MATRIX} is supported", construct="INVERT MATRIX")
    m = [[_bound(rw, {len(rw.lhs) - 2: rows[i], len(rw.lhs) - 1: cols[j]}).rewrite(args[0])
          for j in range(n)] for i in range(n)]
    det = _det(m)
    # (A^-1)[r][c] = (-1)^(r+c) * det(A without row c and column r) / det(A)
    minor = [[m[i][j] for j in range(n) if j != r] for i in range(n) if i != c]
    cof = _det(minor) if minor else 1.0
    if (r + c) % 2:
        cof = ae.ArithmeticStructure(operators=["negative"], arguments=(cof,))
    return ae.ArithmeticStructure(operators=["/"], arguments=(cof, det))


def _det(m: list[list]) -> Any:
    """Return the determinant of a square matrix of expressions (Laplace, first row)."""
    n = len(m)
    if n == 1:
        return m[0][0]
    terms, ops = [], []
    for j in range(n):
        sub = [row[:j] + row[j + 1:] for row in m[1:]]
        terms.append(ae.ArithmeticStructure(operators=["*"], arguments=(m[0][j], _det(sub))))
        ops.append("+" if j % 2 == 0 else "-")
    return ae.ArithmeticStructure(operators=ops[1:], arguments=tuple(terms))


def _allocate(rw: Any, node):
    members, k = _axis(rw, -1, "ALLOCATE BY PRIORITY")
    last = len(rw.lhs) - 1
    requests, priorities = [], []
    for element in members:
        other = _bound(rw, {last: element})
        requests.append(other.rewrite(node.request))
        priorities.append(other.rewrite(node.priority))
    size = rw.rewrite(node.size)
    if isinstance(size, (int, float)) and int(size) != len(members):
        raise rw.error(f"ALLOCATE BY PRIORITY: size is {size}, the last subscript has "
                       f"{len(members)} elements", construct="ALLOCATE BY PRIORITY")
    args = (float(k), *requests, *priorities, rw.rewrite(node.width), rw.rewrite(node.supply))
    return ae.CallStructure(function=ae.ReferenceStructure(reference="allocate_by_priority",
                                                           subscripts=None), arguments=args)


