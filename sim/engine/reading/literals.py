"""Number literals of PySD's abstract model, a minus before one under a power, a tree map.

Shared by the Vensim and XMILE readers (:mod:`sim.engine.reading.translate`,
:mod:`sim.engine.reading.xmile`): both use PySD's equation visitors, which fold
``-30`` into the literal -30 as soon as they read it, so ``-30^2`` would be
``(-30)^2``. In Vensim and XMILE the exponent binds tighter than a unary minus
to its left (``-30^2`` is -900, ``-Time^2`` is ``-(Time^2)``, as PySD already
reads it for a variable), and ``(-30)^2`` is 900.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from pysd.translators.structures import abstract_expressions as ae


def is_number(node: Any) -> bool:
    """Return True for a number literal of PySD's abstract model (not a bool)."""
    return isinstance(node, (int, float, np.integer, np.floating)) and not isinstance(node, bool)


class NegatedNumberPowers:
    """Mixin for a PySD equation visitor: a minus before a number stays out of a power's base.

    A negated number is treated as PySD treats a negated variable (a
    ``negative`` around the whole power to its right); a negated number that is
    not the base of a power is then folded back into a literal, so every other
    equation gets PySD's own tree. Put it before PySD's visitor in the bases.
    """

    elements: dict
    negatives: set

    def visit_neg_expr(self, n, vc):
        id_ = vc[2]
        if vc[0] == "-" and is_number(self.elements[id_]):
            self.negatives.add(id_)
            return id_
        return super().visit_neg_expr(n, vc)  # type: ignore[misc]

    def visit_exp_expr(self, n, vc):
        id_ = super().visit_exp_expr(n, vc)  # type: ignore[misc]
        node = self.elements.get(id_)
        if isinstance(node, ae.ArithmeticStructure) and list(node.operators) == ["negative"] \
                and is_number(node.arguments[0]):
            self.elements[id_] = -node.arguments[0]
        return id_


def map_children(node: Any, fn: Callable[[Any], Any]) -> Any:
    """Return ``node`` with ``fn`` applied to each child expression (itself if none changes).

    A child is a field of an abstract-syntax dataclass holding an expression, or
    a tuple or list of them (kept a tuple or a list). Anything else (a number, a
    name, a class) is returned as it is.
    """
    if not isinstance(node, ae.AbstractSyntax) or not dataclasses.is_dataclass(node) \
            or isinstance(node, type):
        return node
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(node):
        child = getattr(node, field.name)
        if isinstance(child, ae.AbstractSyntax):
            changes[field.name] = fn(child)
        elif isinstance(child, (tuple, list)) and any(isinstance(c, ae.AbstractSyntax)
                                                      for c in child):
            new = [fn(c) for c in child]
            changes[field.name] = tuple(new) if isinstance(child, tuple) else new
    return dataclasses.replace(node, **changes) if changes else node
