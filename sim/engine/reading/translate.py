"""Read a Vensim model through PySD's translator and check it is in our subset.

PySD parses the ``.mdl`` text into its *abstract model* (a tree of
dataclasses, :mod:`pysd.translators.structures.abstract_expressions`). We do
not parse Vensim ourselves; this module only walks that tree, records each
element's metadata and refuses, at load, anything the compiler does not
implement, naming the file, the variable and the construct.
"""
from __future__ import annotations

import codecs
import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from parsimonious.exceptions import ParseError, VisitationError
from pysd.builders.python.python_functions import functionspace as _pysd_functions
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.vensim import vensim_utils
from pysd.translators.vensim.vensim_element import (
    Component,
    EquationVisitor,
    Lookup,
    SubscriptRange,
)
from pysd.translators.vensim.vensim_file import FileSectionsVisitor, VensimFile
from pysd.translators.vensim.vensim_section import SectionElementsVisitor
from pysd.translators.vensim.vensim_structures import parsing_ops

from sim.engine.functions import FUNCTIONS, supported_names, vensim_name
from sim.engine.reading.external import ExternalReader
from sim.engine.reading.literals import NegatedNumberPowers
from sim.engine.reading.macros import expand_macros
from sim.engine.reading.special import SPECIAL_CALLS, SUPPORTED_EXTRA, rewrite
from sim.engine.reading.subscripts import FlatVariable, flatten
from sim.engine.reading.xmile import is_xmile, parse_xmile
from sim.errors import ModelError

CONTROL_NAMES = ("initial_time", "final_time", "time_step", "saveper")

#: Vensim functions the compiler implements, by PySD's reference name
#: (the registry :data:`sim.engine.functions.FUNCTIONS`).
SUPPORTED_CALLS = frozenset(FUNCTIONS)

#: Structures PySD knows that we refuse, with the Vensim construct they come from.
_UNSUPPORTED_STRUCTURES = {
    "GetConstantsStructure": "GET XLS/DIRECT CONSTANTS",
    "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS",
    "GetDataStructure": "GET XLS/DIRECT DATA",
    "DataStructure": "data variable",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
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


def _read_model_text(path: Path) -> tuple[str, str]:
    """Return the text of a model file and its encoding, as PySD reads it.

    The encoding is the one the first line declares (``{UTF-8}``), else UTF-8.

    Raises
    ------
    ModelError
        The file holds a NUL byte, declares an encoding Python does not know,
        or is not valid text in its encoding (naming the byte).
    """
    data = Path(path).read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ModelError(str(path), f"not a text file (byte {nul} is NUL); expected a Vensim "
                         ".mdl text file")
    declared = re.search(r"(?<={)(.*)(?=})", data.split(b"\n", 1)[0].decode("latin-1"))
    encoding = declared.group().strip() if declared else "UTF-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ModelError(str(path), f"the first line declares the encoding {{{encoding}}}, which "
                         "is not a known text encoding (a Vensim model starts with {UTF-8})"
                         ) from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        how = f"declared as {encoding}" if declared else "read as UTF-8 (no encoding declared)"
        raise ModelError(str(path), f"not a text file: byte {exc.start} (0x{data[exc.start]:02x}) "
                         f"is not valid {encoding}, {how}; expected a Vensim .mdl text "
                         "file") from None
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def parse_abstract(path: Path):
    """Run PySD's Vensim translator on ``path`` and return its abstract model.

    An XMILE file (``.xmile``, ``.stmx``, ``.xml``) goes to PySD's XMILE
    translator instead (:func:`sim.engine.reading.xmile.parse_xmile`).

    Raises
    ------
    ModelError
        If the file does not exist, is not text, or PySD cannot parse it (a
        syntax error names the variable, the line and the column).
    """
    path = Path(path)
    if is_xmile(path):
        return parse_xmile(path)
    if not path.is_file():
        raise ModelError(str(path), "no such model file (expected a Vensim .mdl text file)")
    text, encoding = _read_model_text(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vf = VensimFile(path, encoding=encoding)
            try:
                vf.parse()
            except Exception as exc:
                try:
                    located = _locate_parse_error(vf.model_text, text)
                except Exception:  # locating is best effort: PySD's own error stands
                    located = None
                if located is None:
                    raise
                raise located from exc
            _reparse_powers(vf)
            return vf.get_abstract_model()
    except _Located as loc:
        err = ModelError(str(path), f"cannot be parsed as a Vensim model: {loc}")
        err.variable = loc.variable
        raise err from loc.__cause__
    except Exception as exc:  # PySD raises bare exceptions of several kinds
        raise ModelError(str(path), f"cannot be parsed as a Vensim model: {type(exc).__name__}: {exc}") from exc


class _PowerVisitor(NegatedNumberPowers, EquationVisitor):
    """PySD's Vensim equation visitor, keeping a minus before a number out of a power's base.

    See :mod:`sim.engine.reading.literals`.
    """



def _reparse_powers(vf: VensimFile) -> None:
    """Parse again, with :class:`_PowerVisitor`, every equation that raises to a power.

    Only equations holding ``^`` can differ from PySD's reading; the others keep
    PySD's tree untouched.
    """
    for section in vf.sections:
        for component in getattr(section, "components", []):
            if isinstance(component, Lookup) or not isinstance(component, Component) \
                    or "^" not in (component.expression or ""):
                continue
            tree = vensim_utils.Grammar.get("components", parsing_ops).parse(component.expression)
            component.ast = _PowerVisitor(tree).translation


class _Located(Exception):
    """Where PySD's parser stopped: line and column of the file, and the variable."""

    def __init__(self, variable: str | None, line: int | None, column: int | None,
                 problem: str) -> None:
        self.variable = variable
        where = ", ".join(x for x in (
            f"line {line}" if line else "", f"column {column}" if column else "",
            f"variable '{variable}'" if variable else "") if x)
        super().__init__(f"{where}: {problem}" if where else problem)


_BLANKS = re.compile(r"(?:\\\n\t|\s)+")  # what PySD's VensimFile._clean folds into one space


def _locate_parse_error(cleaned: str, text: str) -> _Located | None:
    """Parse ``cleaned`` (PySD's model text) element by element to find where it fails.

    ``text`` is the file's text; positions in ``cleaned`` map back to its lines.
    None when every element parses (the failure was elsewhere).
    """
    raw = text.split("\\\\\\---///", 1)[0]
    offsets: list[int] = []  # cleaned position -> raw position
    pos = 0
    for m in _BLANKS.finditer(raw):
        offsets.extend(range(pos, m.start()))
        offsets.append(m.start())
        pos = m.end()
    offsets.extend(range(pos, len(raw) + 1))
    if _BLANKS.sub(" ", raw) != cleaned:
        offsets = []  # not the text PySD parsed: name the variable only

    def located(variable: str | None, at: int | None, exc: Exception) -> _Located:
        line = column = None
        if at is not None and 0 <= at < len(offsets):
            line = raw.count("\n", 0, offsets[at]) + 1
            column = offsets[at] - (raw.rfind("\n", 0, offsets[at]) + 1) + 1
        return _Located(variable, line, column, _problem(exc))

    def error_at(start: int, exc: Exception, whole: bool = False) -> int | None:
        """Position in ``cleaned``: the parser's own, else the element's start."""
        if start < 0:
            return None
        if isinstance(exc, ParseError):
            return start + exc.pos
        return None if whole else start

    try:
        sections = FileSectionsVisitor(
            vensim_utils.Grammar.get("file_sections").parse(cleaned)).entries
    except Exception as exc:
        return located(None, error_at(0, exc, whole=True), exc)
    cursor = 0
    for section in sections:
        content_at = cleaned.find(section.content)
        try:
            elements = _Elements(
                vensim_utils.Grammar.get("section_elements").parse(section.content)).entries
        except _BadEntry as bad:
            return located(_name_of(bad.equation), content_at + bad.start if content_at >= 0
                           else None, bad.error)
        except Exception as exc:
            return located(None, error_at(content_at, exc, whole=True), exc)
        for element in elements:
            start = cleaned.find(element.equation, cursor)
            cursor = max(cursor, start + len(element.equation))
            guess = _name_of(element.equation)
            try:
                component = element.parse()
            except Exception as exc:
                return located(guess, error_at(start, exc), exc)
            if isinstance(component, SubscriptRange):
                continue
            try:
                component.parse()
            except Exception as exc:
                expr = getattr(component, "expression", "") or ""
                at = element.equation.rfind(expr) if expr else -1
                return located(getattr(component, "name", guess),
                               error_at(start + at if start >= 0 and at >= 0 else start, exc),
                               exc)
    return None


class _BadEntry(Exception):
    """An entry of a section whose units or limits cannot be read, where it starts."""

    def __init__(self, start: int, equation: str, error: Exception) -> None:
        super().__init__(str(error))
        self.start, self.equation, self.error = start, equation, error


class _Elements(SectionElementsVisitor):
    """PySD's section visitor, reporting which entry fails (not only the section)."""

    unwrapped_exceptions = (_BadEntry,)

    def visit_entry(self, n, vc):
        try:
            super().visit_entry(n, vc)
        except Exception as exc:
            equation = str(vc[0])
            start = n.start + len(equation) - len(equation.lstrip())  # after the blank
            raise _BadEntry(start, equation.strip(), exc) from exc


def _name_of(equation: str) -> str | None:
    """Return the variable an equation defines (the text before ``=``, ``(``, ``[`` or ``:``)."""
    m = re.match(r"\s*([^=(\[:]*[^=(\[:\s])\s*[=(\[:]", equation)
    return m.group(1) if m else None


def _problem(exc: Exception) -> str:
    """Return a short description of a parser failure."""
    if isinstance(exc, ParseError):
        near = exc.text[exc.pos:exc.pos + 20].strip()
        return f"syntax error near '{near}'" if near else "syntax error: the equation ends early"
    first = " ".join(str(exc).split("Parse tree:", 1)[0].split())
    # parsimonious wraps a visitor's exception: its text starts with that exception's class
    return first if isinstance(exc, VisitationError) else f"{type(exc).__name__}: {first}"


def read_abstract(path: Path, sources: dict[Path, str] | None = None,
                  data_files=()) -> list[RawElement]:
    """Translate ``path`` with PySD and return its elements, checked.

    GET XLS/DIRECT calls are read here (:mod:`sim.engine.reading.external`),
    and data variables with no equation from ``data_files``; the files read,
    with their sha256, are added to ``sources`` when given.

    Raises
    ------
    ModelError
        If the file is missing, cannot be parsed, misuses a macro, or uses a construct
        outside the supported subset (subscripted variables are split into
        their elements: :mod:`sim.engine.reading.subscripts`).
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() != ".mdl" and not is_xmile(path):
        raise ModelError(str(path), f"unsupported file type '{path.suffix}'; expected a Vensim "
                         ".mdl text file or an XMILE .xmile/.stmx file")
    am = parse_abstract(path)
    section = am.sections[0]
    reader = ExternalReader(path, data_files=data_files)
    flat = flatten(path, section, reader)
    if len(am.sections) > 1:  # macros: copied once per call (sim.engine.reading.macros)
        flat = expand_macros(path, section, am.sections[1:], flat)
    out = [_element(path, fv) for fv in flat]
    if sources is not None:
        sources.update(reader.sources)
    if not out:
        raise ModelError(str(path), "the file defines no variables")
    return out


def _element(path: Path, fv: FlatVariable) -> RawElement:
    el, name, ast = fv.element, fv.name, fv.ast
    if fv.kind not in ("AbstractComponent", "AbstractLookup", "AbstractUnchangeableConstant",
                       "AbstractData"):  # a data variable given by an equation
        raise ModelError(str(path), f"{fv.kind} definitions are not supported", variable=name,
                         construct=fv.kind)
    if ast is None:
        raise ModelError(str(path), "the variable has no equation (data or unchangeable definition "
                         "without a value)", variable=name, construct="data")
    ast = rewrite(str(path), name, ast)  # GAME, GET TIME VALUE
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
    if cls in _UNSUPPORTED_STRUCTURES:
        raise ModelError(str(path), f"{_UNSUPPORTED_STRUCTURES[cls]} is not supported",
                         variable=name, construct=_UNSUPPORTED_STRUCTURES[cls])
    if isinstance(node, ae.ReferenceStructure):
        if node.subscripts is not None:
            raise ModelError(str(path), f"subscripted reference '{node.reference}"
                             f"[{', '.join(node.subscripts.subscripts)}]' is not supported yet",
                             variable=name, construct="subscripts")
        return
    if isinstance(node, ae.CallStructure):
        fn = node.function.reference
        # calls to a lookup by name are resolved by the compiler
        if fn not in SUPPORTED_CALLS and fn not in SPECIAL_CALLS \
                and vensim_name(fn) in KNOWN_VENSIM_FUNCTIONS:
            raise ModelError(str(path), f"function {vensim_name(fn)} is not supported; "
                             f"supported: {', '.join(sorted(supported_names() + list(SUPPORTED_EXTRA)))}, "
                             "INTEG, INITIAL, SMOOTH(I/3/3I/N), DELAY1(I), DELAY3(I), DELAY N, TREND, "
                             "lookups",
                             variable=name, construct=vensim_name(fn))
        for arg in node.arguments:
            _check(path, name, arg)
        return
    if isinstance(node, ae.LogicStructure) and {":AND:", ":OR:"} <= set(node.operators):
        raise ModelError(str(path), ":AND: and :OR: are mixed without parentheses; write the "
                         "grouping with parentheses, e.g. (a :AND: b) :OR: c (PySD's translator "
                         "groups such a chain from the right, a :AND: (b :OR: c), which need not "
                         "be Vensim's reading)", variable=name, construct=":AND: :OR:")
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


#: Vensim built-ins we know of (ours, and every function PySD's builder knows):
#: a call to one that is not in :data:`SUPPORTED_CALLS` is refused by name. Any
#: other unknown call is checked against the model's lookups.
KNOWN_VENSIM_FUNCTIONS = frozenset({
    "ACTIVE INITIAL", "ALLOCATE AVAILABLE", "ALLOCATE BY PRIORITY", "COSH", "DELAY FIXED", "DELAY N", "ELMCOUNT", "FORECAST", "GAME",
    "GAMMA LN", "GET DATA AT TIME", "GET DATA BETWEEN TIMES", "GET TIME VALUE",
    "INVERT MATRIX", "LOOKUP AREA", "LOOKUP BACKWARD", "LOOKUP EXTRAPOLATE",
    "LOOKUP FORWARD", "LOOKUP INVERT", "NPV", "PI", "PROD", "QUANTUM",
    "RANDOM NORMAL", "RANDOM UNIFORM", "RANDOM 0 1", "RANDOM POISSON", "SAMPLE IF TRUE",
    "SINH", "SUM", "TANH", "TIME BASE", "VECTOR ELM MAP", "VECTOR SELECT",
    "VECTOR SORT ORDER", "VMAX", "VMIN", "XPULSE", "XPULSE TRAIN", "XRAMP",
    "INVERT", "SHIFT IF TRUE", "DELAY CONVEYOR", "GET VDF DATA", "MESSAGE",
}) | {vensim_name(f) for f in _pysd_functions if not f.startswith("X")
     and not f.endswith("_xmile")}
