"""Read a Vensim model through PySD's translator and check it is in our subset.

PySD parses the ``.mdl`` text into its *abstract model* (a tree of
dataclasses, :mod:`pysd.translators.structures.abstract_expressions`). We do
not parse Vensim ourselves; this module only walks that tree, records each
element's metadata and refuses, at load, anything the compiler does not
implement, naming the file, the variable and the construct.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.vensim.vensim_file import VensimFile

from .errors import ModelError
from .subscripts import FlatVariable, flatten

CONTROL_NAMES = ("initial_time", "final_time", "time_step", "saveper")

#: Vensim functions the compiler implements, by PySD's reference name.
SUPPORTED_CALLS = frozenset({
    "abs", "min", "max", "sqrt", "exp", "ln", "log", "sin", "cos", "tan",
    "arcsin", "arccos", "arctan", "integer", "modulo", "xidz", "zidz",
    "power", "if_then_else", "step", "ramp", "pulse", "pulse_train",
})

#: Structures PySD knows that we refuse, with the Vensim construct they come from.
UNSUPPORTED_STRUCTURES = {
    "GetConstantsStructure": "GET XLS/DIRECT CONSTANTS",
    "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS",
    "GetDataStructure": "GET XLS/DIRECT DATA",
    "DataStructure": "data variable",
    "DelayFixedStructure": "DELAY FIXED",
    "ForecastStructure": "FORECAST",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "GameStructure": "GAME",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "SubscriptsReferenceStructure": "subscripts",
}


@dataclass(frozen=True)
class RawElement:
    """One model variable as PySD's translator read it.

    Attributes
    ----------
    name : str
        Vensim name as written.
    ref : str
        The form PySD uses when other equations refer to it.
    units : str
        Units string ('' when the model gives none).
    doc : str
        Comment text.
    limits : tuple
        (min, max) from the units field, None where open.
    ast : object
        Expression tree (a number, an abstract structure, or a
        ``LookupsStructure`` for a lookup definition).
    is_lookup : bool
        True for a lookup (table) definition.
    """

    name: str
    ref: str
    units: str
    doc: str
    limits: tuple
    ast: object
    is_lookup: bool


def file_hash(path: Path) -> str:
    """Return the sha256 of a file's bytes, as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def parse_abstract(path: Path):
    """Run PySD's Vensim translator on ``path`` and return its abstract model.

    Raises
    ------
    ModelError
        If the file does not exist or PySD cannot parse it.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(str(path), "no such model file (expected a Vensim .mdl text file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vf = VensimFile(path)
            vf.parse()
            return vf.get_abstract_model()
    except Exception as exc:  # PySD raises bare exceptions of several kinds
        raise ModelError(str(path), f"cannot be parsed as a Vensim model: {type(exc).__name__}: {exc}") from exc


def read_abstract(path: Path) -> list[RawElement]:
    """Translate ``path`` with PySD and return its elements, checked.

    Raises
    ------
    ModelError
        If the file is missing, cannot be parsed, uses macros, or a construct
        outside the supported subset (subscripted variables are split into
        their elements: :mod:`sim.subscripts`).
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() != ".mdl":
        raise ModelError(str(path), f"unsupported file type '{path.suffix}'; expected a Vensim .mdl text file")
    am = parse_abstract(path)
    if len(am.sections) > 1:
        macros = ", ".join(s.name for s in am.sections[1:])
        raise ModelError(str(path), f"macros are not supported (found: {macros})", construct=":MACRO:")
    section = am.sections[0]
    out = [_element(path, fv) for fv in flatten(path, section)]
    if not out:
        raise ModelError(str(path), "the file defines no variables")
    return out


def _element(path: Path, fv: FlatVariable) -> RawElement:
    el, name, ast = fv.element, fv.name, fv.ast
    if fv.kind not in ("AbstractComponent", "AbstractLookup", "AbstractUnchangeableConstant"):
        raise ModelError(str(path), f"{fv.kind} definitions are not supported", variable=name,
                         construct=fv.kind)
    if ast is None:
        raise ModelError(str(path), "the variable has no equation (data or unchangeable definition "
                         "without a value)", variable=name, construct="data")
    _check(path, name, ast, top=True)
    limits = tuple(None if (x is None or (isinstance(x, float) and np.isnan(x))) else float(x)
                   for x in (el.limits or (None, None)))
    return RawElement(name=name, ref=name.strip().lower().replace(" ", "_"),
                      units=(el.units or "").strip(), doc=(el.documentation or "").strip(),
                      limits=limits, ast=ast, is_lookup=isinstance(ast, ae.LookupsStructure))


def _check(path: Path, name: str, node, top: bool = False) -> None:
    """Refuse constructs outside the subset, anywhere in the tree."""
    if isinstance(node, (int, float, np.integer, np.floating)):
        return
    if isinstance(node, (str, np.ndarray, list)):
        raise ModelError(str(path), f"unsupported literal {node!r} (numbers only)", variable=name,
                         construct="literal")
    cls = type(node).__name__
    if cls in UNSUPPORTED_STRUCTURES:
        raise ModelError(str(path), f"{UNSUPPORTED_STRUCTURES[cls]} is not supported",
                         variable=name, construct=UNSUPPORTED_STRUCTURES[cls])
    if isinstance(node, ae.ReferenceStructure):
        if node.subscripts is not None:
            raise ModelError(str(path), f"subscripted reference '{node.reference}"
                             f"[{', '.join(node.subscripts.subscripts)}]' is not supported yet",
                             variable=name, construct="subscripts")
        return
    if isinstance(node, ae.CallStructure):
        fn = node.function.reference
        # calls to a lookup by name are resolved by the compiler
        if fn not in SUPPORTED_CALLS and fn.upper().replace("_", " ") in _KNOWN_VENSIM_FUNCTIONS:
            raise ModelError(str(path), f"function {fn.upper().replace('_', ' ')} is not supported; "
                             f"supported: {', '.join(sorted(f.upper().replace('_', ' ') for f in SUPPORTED_CALLS))}, "
                             "INTEG, INITIAL, SMOOTH(I/3/3I/N), DELAY1(I), DELAY3(I), DELAY N, TREND, "
                             "lookups",
                             variable=name, construct=fn.upper().replace("_", " "))
        for arg in node.arguments:
            _check(path, name, arg)
        return
    if isinstance(node, ae.IntegStructure) and not top:
        raise ModelError(str(path), "INTEG must be the whole equation of a stock", variable=name,
                         construct="INTEG")
    if isinstance(node, ae.LookupsStructure):
        if node.type not in ("interpolate", "hardcoded", None):
            raise ModelError(str(path), f"lookup type '{node.type}' is not supported", variable=name,
                             construct="lookup")
        return
    if not isinstance(node, ae.AbstractSyntax):
        raise ModelError(str(path), f"unsupported element {cls}", variable=name, construct=cls)
    for field in node.__dataclass_fields__:
        if field in ("order",) and isinstance(getattr(node, field), (int, float)):
            continue
        child = getattr(node, field)
        if isinstance(child, (list, tuple)):
            if field in ("operators",):
                continue
            for c in child:
                _check(path, name, c)
        elif isinstance(child, (ae.AbstractSyntax, int, float, np.integer, np.floating)):
            _check(path, name, child)


# Vensim built-ins we know of but do not implement: calls to them are refused
# by name. Any other unknown call is checked against the model's lookups.
_KNOWN_VENSIM_FUNCTIONS = frozenset({
    "ACTIVE INITIAL", "ALLOCATE AVAILABLE", "ALLOCATE BY PRIORITY", "ARCCOS", "ARCSIN",
    "ARCTAN", "COSH", "DELAY FIXED", "DELAY N", "ELMCOUNT", "FORECAST", "GAME",
    "GAMMA LN", "GET DATA AT TIME", "GET DATA BETWEEN TIMES", "GET TIME VALUE",
    "INVERT MATRIX", "LOOKUP AREA", "LOOKUP BACKWARD", "LOOKUP EXTRAPOLATE",
    "LOOKUP FORWARD", "LOOKUP INVERT", "NPV", "PI", "PROD", "QUANTUM",
    "RANDOM NORMAL", "RANDOM UNIFORM", "RANDOM 0 1", "RANDOM POISSON", "SAMPLE IF TRUE",
    "SINH", "SUM", "TANH", "TIME BASE", "VECTOR ELM MAP", "VECTOR SELECT",
    "VECTOR SORT ORDER", "VMAX", "VMIN", "XPULSE", "XPULSE TRAIN", "XRAMP",
    "INVERT", "SHIFT IF TRUE", "DELAY CONVEYOR", "GET VDF DATA", "MESSAGE",
})
