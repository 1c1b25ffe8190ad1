"""Vensim functions that are not plain calls of the registry, as the reader sees them.

:data:`sim.engine.functions.FUNCTIONS` holds the functions that become one
primitive on every back end. The functions here need more than a primitive:

- rewritten away at load (:func:`rewrite`): ``GAME(x)`` is ``x`` (a run is never
  gamed), ``GET TIME VALUE(relative to, offset, 0)`` is ``Time`` or ``INITIAL
  TIME`` plus the offset;
- compiled by their own builders (:mod:`sim.engine.compiling.special`), the calls
  of :data:`SPECIAL_CALLS` (ACTIVE INITIAL, the RANDOM functions, ALLOCATE BY
  PRIORITY once :mod:`sim.engine.reading.arrays` has spread it over its
  subscripts) and the structures of :data:`SPECIAL_STRUCTURES` (DELAY FIXED,
  SAMPLE IF TRUE, FORECAST).

What stays unsupported is refused by name, as before.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pysd.translators.structures import abstract_expressions as ae

from sim.errors import ModelError


@dataclass(frozen=True)
class SpecialCall:
    """A Vensim function compiled by a builder of its own.

    Attributes
    ----------
    ref : str
        PySD's name (``random_uniform``).
    vensim : str
        Vensim's spelling (``RANDOM UNIFORM``).
    arity : tuple of int
        Accepted numbers of arguments; empty for any number (an internal form).
    """

    ref: str
    vensim: str
    arity: tuple[int, ...]


#: Calls compiled by :mod:`sim.engine.compiling.special`, by PySD's name.
SPECIAL_CALLS: dict[str, SpecialCall] = {c.ref: c for c in (
    SpecialCall("active_initial", "ACTIVE INITIAL", (2,)),
    SpecialCall("random_0_1", "RANDOM 0 1", (0,)),
    SpecialCall("random_uniform", "RANDOM UNIFORM", (3,)),
    SpecialCall("random_normal", "RANDOM NORMAL", (5,)),
    SpecialCall("random_exponential", "RANDOM EXPONENTIAL", (5,)),
    SpecialCall("random_poisson", "RANDOM POISSON", (6,)),
    # (element index, requests..., priorities..., width, supply), made by reading.arrays
    SpecialCall("allocate_by_priority", "ALLOCATE BY PRIORITY", ()),
)}

#: PySD structures compiled by :mod:`sim.engine.compiling.special`, and their Vensim names.
SPECIAL_STRUCTURES = {
    "DelayFixedStructure": "DELAY FIXED",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "ForecastStructure": "FORECAST",
}

#: Names listed as supported in the translator's refusal of an unknown function.
SUPPORTED_EXTRA = ("ACTIVE INITIAL", "ALLOCATE BY PRIORITY", "DELAY FIXED", "ELMCOUNT",
                   "FORECAST", "GAME", "GET TIME VALUE", "INVERT MATRIX", "RANDOM 0 1",
                   "RANDOM EXPONENTIAL", "RANDOM NORMAL", "RANDOM POISSON", "RANDOM UNIFORM",
                   "SAMPLE IF TRUE", "VECTOR RANK", "VECTOR REORDER", "VECTOR SELECT",
                   "VECTOR SORT ORDER")

#: GET TIME VALUE's ``relative to``: the time the offset is added to.
#: (2, the computer's clock, is refused: a run must not depend on when it runs)
_RELATIVE_TO = {0: "time", 1: "initial_time"}


def _number(node) -> float | None:
    """Return the value of a number literal (a negated one included), else None."""
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    if isinstance(node, ae.ArithmeticStructure) and list(node.operators) == ["negative"]:
        inner = _number(node.arguments[0])
        return None if inner is None else -inner
    return None


def rewrite(path: str, name: str, node):
    """Return ``node`` with GAME and GET TIME VALUE replaced by what they compute.

    Raises
    ------
    ModelError
        GET TIME VALUE asked for a calendar measure (``measure`` other than 0)
        or with a ``relative to`` that is not the literal 0 or 1.
    """
    if isinstance(node, ae.GameStructure):
        return rewrite(path, name, node.expression)
    if isinstance(node, ae.CallStructure) and isinstance(node.function, ae.ReferenceStructure) \
            and node.function.reference == "get_time_value":
        return _time_value(path, name, [rewrite(path, name, a) for a in node.arguments])
    if not isinstance(node, ae.AbstractSyntax):
        return node
    changes = {}
    for field in node.__dataclass_fields__:
        child = getattr(node, field)
        if isinstance(child, ae.AbstractSyntax):
            new = rewrite(path, name, child)
        elif isinstance(child, tuple) and any(isinstance(c, ae.AbstractSyntax) for c in child):
            new = tuple(rewrite(path, name, c) for c in child)
        else:
            continue
        if new is not child:
            changes[field] = new
    if not changes:
        return node
    return dataclasses.replace(node, **changes)


def _time_value(path: str, name: str, args: list):
    if len(args) != 3:
        raise ModelError(path, f"GET TIME VALUE takes 3 arguments (relative to, offset, "
                         f"measure), got {len(args)}", variable=name, construct="GET TIME VALUE")
    relative, offset, measure = args
    rel, meas = _number(relative), _number(measure)
    if meas != 0:
        raise ModelError(path, "GET TIME VALUE: only measure 0 (the model's time unit) is "
                         "supported; calendar measures (1-10) need the computer's calendar",
                         variable=name, construct="GET TIME VALUE")
    if rel not in _RELATIVE_TO:
        raise ModelError(path, "GET TIME VALUE: 'relative to' must be the number 0 (the "
                         "current time) or 1 (INITIAL TIME); 2 (the computer's clock) is not "
                         "supported", variable=name,
                         construct="GET TIME VALUE")
    base = ae.ReferenceStructure(reference=_RELATIVE_TO[int(rel)], subscripts=None)
    return ae.ArithmeticStructure(operators=["+"], arguments=(base, offset))
