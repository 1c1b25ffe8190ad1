"""Read an XMILE model (``.xmile``, ``.stmx``, ``.xml``) through PySD's XMILE translator.

PySD's XMILE translator (:mod:`pysd.translators.xmile`) produces the same
*abstract model* as its Vensim translator, so an XMILE model goes through the
same checks (:mod:`sim.engine.reading.translate`), subscripts and compiler as
a ``.mdl`` one. This module owns what differs:

- **Reading the file.** The XML is parsed without resolving entities or
  fetching anything. PySD's own reader recovers silently from broken XML
  (which can drop variables); here only undeclared namespace prefixes of
  vendor extensions (Stella's ``isee:``) are let through, any other XML error
  is a :class:`ModelError` naming the line and column (``construct="XML"``).
  A file that is not XMILE (no ``<xmile>`` root in a default namespace, no
  ``<sim_specs>`` with start, stop and dt) is refused, naming what is missing.
  The pre-1.0 draft Stella 10 wrote (variables directly in ``<model>``) is
  read as XMILE 1.0.
- **Equations** are parsed with PySD's XMILE grammar and a subclass of its
  visitor that reads numbers without ``eval`` and keeps a minus before a
  number out of a power's base (``-30^2`` is -900, ``(-30)^2`` is 900). An
  equation the grammar cannot parse is a ModelError naming the variable and
  the equation (``construct="equation"``).
- **Constructs PySD's XMILE translator does not read** are refused by name
  before it runs: macros (``<macro>``, ``construct="macro"``) and modules
  (``<module>``, several ``<model>``; ``construct="module"``).
- **XMILE meanings, rewritten into the engine's Vensim terms** (the abstract
  model the compiler gets is a Vensim one):

  - ``DT``, ``STARTTIME``, ``STOPTIME`` are ``TIME STEP``, ``INITIAL TIME``,
    ``FINAL TIME``; ``PI()`` is pi; ``LOOKUP(table, x)`` is ``table(x)``
    (in the visitor), also when ``table`` is an auxiliary with a graphical
    function of its own (Stella's form); ``RAMP(slope, start)`` is Vensim's
    ``RAMP`` without an end; ``PULSE`` is refused (``construct="PULSE"``).
  - A non-negative stock (``<non_negative/>``, or the model's
    ``<behavior>``) limits its net flow to ``-stock / TIME STEP``: with
    Euler, PySD's and Stella's cut at zero (:func:`_non_negative`).
    Non-negative flows are ``MAX(flow, 0)`` (PySD's own reading).
  - One-argument ``MIN``/``MAX`` of an array is Vensim's ``VMIN``/``VMAX``
    over all its dimensions.
  - Apply-to-all: an array named without subscripts in an equation over its
    dimensions is this equation's element (``<inflow>Births</inflow>`` of an
    arrayed stock).
  - In an XMILE name an underscore is a space: ``room_temperature`` is
    the variable (and output column) ``room temperature``.

  Everything else (functions outside the registry, DELAY FIXED, ...) is
  refused by the common checks of :mod:`sim.engine.reading.translate`, by name.

Units: XMILE unit strings are kept as written, but the units checker
(:mod:`sim.engine.reading.units`) does not check XMILE models: it raises a
ModelError saying so (``construct="XMILE units"``) and ``sim check`` reports
"units not checked (XMILE model)" as a passing check, so a valid XMILE model
is never refused for its units.
"""
from __future__ import annotations

import dataclasses
import math
import re
import warnings
from pathlib import Path

from lxml import etree
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures.abstract_model import AbstractModel
from pysd.translators.xmile import xmile_utils
from pysd.translators.xmile.xmile_element import EquationVisitor
from pysd.translators.xmile.xmile_file import XmileFile
from pysd.translators.xmile.xmile_structures import parsing_ops

from sim.engine.reading.literals import NegatedNumberPowers
from sim.engine.reading.names import reference_form
from sim.errors import ModelError

#: File suffixes read as XMILE (PySD's list: ``.xmile``, ``.xml``, ``.stmx``), lower case.
XMILE_SUFFIXES = tuple(s.lower() for s in xmile_utils.supported_extensions)

#: XMILE built-in references and the control variable each one is (PySD's reference form).
_BUILTIN_REFERENCES = {"dt": "time_step", "starttime": "initial_time",
                       "stoptime": "final_time"}


_XMILE_ROOT = '<xmile xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">'


def is_xmile(path: str | Path) -> bool:
    """Return True when ``path`` has an XMILE suffix (any case)."""
    return Path(path).suffix.lower() in XMILE_SUFFIXES


def _strict_root(path: Path) -> etree._Element:
    """Parse ``path`` as XML, strictly and safely, and return its root element.

    Raises
    ------
    ModelError
        The file is not well-formed XML (naming the line and column), or its
        root is not an ``<xmile>`` element in a default namespace.
    """
    # recover=True only to accept undeclared namespace prefixes of vendor extensions
    # (Stella's ``isee:`` elements often lack their declaration); any other XML error
    # is refused below, since recovering from it can drop variables
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True, recover=True)
    try:
        tree = etree.parse(str(path), parser=parser)
    except etree.XMLSyntaxError as exc:  # even recovery failed (e.g. an empty file)
        raise ModelError(str(path), f"not a well-formed XML file: {exc.msg}; expected an "
                         f"XMILE model ({_XMILE_ROOT})", construct="XML") from None
    except OSError as exc:
        raise ModelError(str(path), f"cannot be read: {exc}") from None
    fatal = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR
             and e.domain != etree.ErrorDomains.NAMESPACE]
    root = tree.getroot()
    if fatal or root is None:
        where = f" at line {fatal[0].line}, column {fatal[0].column}: {fatal[0].message}" \
            if fatal else ""
        raise ModelError(str(path), f"not a well-formed XML file{where}; expected an XMILE "
                         f"model ({_XMILE_ROOT})", construct="XML")
    tag = etree.QName(root).localname if isinstance(root.tag, str) else str(root.tag)
    if tag != "xmile" or root.nsmap.get(None) is None:
        got = f"<{tag}>" + ("" if root.nsmap.get(None) else " without a default namespace")
        raise ModelError(str(path), f"not an XMILE model: the root element is {got}; expected "
                         f"{_XMILE_ROOT}", construct="XMILE")
    _wrap_draft_variables(root)
    return root


def _wrap_draft_variables(root: etree._Element) -> None:
    """Put the variables of a pre-1.0 XMILE ``<model>`` into a ``<variables>`` element.

    Stella 10 wrote a draft of XMILE (namespace ``http://www.systemdynamics.org/XMILE``)
    whose ``<model>`` holds its ``<stock>``, ``<flow>``, ``<aux>`` and ``<gf>``
    directly; XMILE 1.0 (and PySD, which would read no variable) wants them in
    ``<model><variables>``. Nothing else is changed.
    """
    ns = root.nsmap[None]
    for model in root.findall(f"{{{ns}}}model"):
        if model.find(f"{{{ns}}}variables") is not None:
            continue
        kinds = {f"{{{ns}}}{k}" for k in ("stock", "flow", "aux", "gf", "module")}
        found = [child for child in model if child.tag in kinds]
        if not found:
            continue
        variables = etree.Element(f"{{{ns}}}variables")
        model.insert(0, variables)
        for child in found:
            variables.append(child)  # moves it


def _number(text: str) -> int | float:
    """Return the number a literal of PySD's XMILE grammar (``raw_number``) stands for.

    Raises
    ------
    ValueError
        ``text`` is not a number (PySD's visitor would ``eval`` it; we never do).
    """
    text = text.strip()
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)


class _Visitor(NegatedNumberPowers, EquationVisitor):
    """PySD's XMILE equation visitor, with three changes.

    - Numbers are read with :func:`_number`, never with ``eval``.
    - A minus before a number stays out of a power's base, as for a variable:
      PySD folds ``-30`` into the literal -30 at once, so ``-30^x`` would be
      ``(-30)^x``; in XMILE (as in Vensim) the exponent binds tighter than a
      unary minus, ``-30^x`` is ``-(30^x)``, and ``(-30)^x`` keeps its
      parentheses. (PySD's own run gets it right only because Python reads
      the ``-30**x`` it writes the same way.)
    - ``LOOKUP(table, x)`` (XMILE's call of a graphical function) is ``table(x)``.
    """

    def visit_expr(self, n, vc):
        if vc[0] not in self.elements:
            return self.add_element(_number(vc[0]))
        return vc[0]

    def visit_array(self, n, vc):
        if ";" in n.text or "," in n.text:
            return super().visit_array(n, vc)  # numpy parses the numbers (dtype=float)
        return self.add_element(_number(n.text))

    def visit_arguments(self, n, vc):
        arglist = tuple(x.strip(",") for x in vc)
        return self.add_element(tuple(self.elements[a] if a in self.elements else _number(a)
                                      for a in arglist))

    def visit_call(self, n, vc):
        func, args = self.elements[vc[0]], self.elements[vc[4]]
        if func.reference == "lookup" and len(args) == 2 \
                and isinstance(args[0], ae.ReferenceStructure):
            # XMILE's LOOKUP(table, x) is the call table(x) (PySD's visitor fails on it)
            return self.add_element(ae.CallStructure(args[0], (args[1],)))
        return super().visit_call(n, vc)



def _smile_parser(expression: str):
    """Parse one XMILE expression with PySD's grammar and :class:`_Visitor`."""
    tree = xmile_utils.Grammar.get("equations", parsing_ops).parse(expression.strip())
    return _Visitor(tree).translation


class _StrictXmileFile(XmileFile):
    """PySD's :class:`XmileFile`, reading the XML with :func:`_strict_root`."""

    def _get_root(self) -> etree._Element:
        return _strict_root(self.xmile_path)


def _refuse_unsupported_structure(path: Path, root: etree._Element) -> None:
    """Refuse, by construct, what PySD's XMILE translator does not read."""
    ns = {"ns": root.nsmap[None]}
    if not root.xpath("ns:sim_specs", namespaces=ns):
        raise ModelError(str(path), "the XMILE model has no <sim_specs> (start, stop and dt "
                         "are needed to simulate it)", construct="sim_specs")
    for spec in ("start", "stop", "dt"):
        if not root.xpath(f"ns:sim_specs/ns:{spec}", namespaces=ns):
            raise ModelError(str(path), f"<sim_specs> has no <{spec}> (start, stop and dt are "
                             "needed to simulate it)", construct="sim_specs")
    macros = root.xpath("ns:macro/@name", namespaces=ns)
    if macros or root.xpath("ns:macro", namespaces=ns):
        raise ModelError(str(path), "XMILE macros are not supported (found: "
                         f"{', '.join(macros) or '<macro>'})", construct="macro")
    models = root.xpath("ns:model", namespaces=ns)
    modules = root.xpath("ns:model/ns:variables/ns:module/@name", namespaces=ns)
    if len(models) > 1 or modules:
        found = ", ".join(modules) or f"{len(models)} <model> elements"
        raise ModelError(str(path), f"XMILE modules are not supported (found: {found})",
                         construct="module")
    if not models:
        raise ModelError(str(path), "the XMILE file has no <model>", construct="model")


def parse_xmile(path: str | Path) -> AbstractModel:
    """Run PySD's XMILE translator on ``path`` and return its abstract model.

    The abstract model is rewritten where XMILE differs from Vensim (see the
    module docstring), so :func:`sim.engine.reading.translate.read_abstract`
    checks and flattens it as it does a Vensim one.

    Parameters
    ----------
    path : str or Path
        An XMILE model file (``.xmile``, ``.stmx`` or ``.xml``).

    Returns
    -------
    AbstractModel
        PySD's abstract model, one section.

    Raises
    ------
    ModelError
        The file does not exist, is not XMILE, uses a construct PySD's XMILE
        translator does not read (macros, modules: named), or an equation
        PySD cannot parse (naming the variable and the equation).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(str(path), "no such model file (expected an XMILE .xmile/.stmx file or "
                         "a Vensim .mdl file)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xf = _StrictXmileFile(path)
        _refuse_unsupported_structure(path, xf.xmile_root)
        try:
            xf.parse(parse_all=False)
            section = xf.sections[0]
            section.parse(parse_all=False)
        except ModelError:
            raise
        except Exception as exc:  # PySD raises bare exceptions of several kinds
            raise ModelError(str(path), "cannot be read as an XMILE model: "
                             f"{_short(exc)}") from exc
        for component in section.components:
            # this instance parses with our visitor (PySD's module stays untouched)
            component._smile_parser = _smile_parser
            try:
                component.parse(section.behaviors)
            except Exception as exc:
                raise ModelError(str(path), "cannot be parsed as an XMILE equation"
                                 f"{_equation_of(component)}: {_short(exc)}",
                                 variable=component.name, construct="equation") from exc
        try:
            am = xf.get_abstract_model()
        except Exception as exc:
            raise ModelError(str(path), "cannot be read as an XMILE model: "
                             f"{_short(exc)}") from exc
    return _to_engine(path, am)


def _equation_of(component) -> str:
    """Return `` 'eqn'`` for the (first) equation text of a PySD element, or ''."""
    node = getattr(component, "node", None)
    if node is None:
        eqn = getattr(component, "eqn", None)
        return f" '{eqn}'" if eqn else ""
    texts = [" ".join((e.text or "").split()) for e in node.iter()
             if isinstance(e.tag, str) and etree.QName(e).localname in ("eqn", "inflow", "outflow")]
    texts = [t for t in texts if t]
    return f" '{texts[0][:120]}'" if texts else ""


def _short(exc: BaseException) -> str:
    """Return a one-line description of a PySD/parsimonious failure."""
    first = " ".join(str(exc).split("Parse tree:", 1)[0].split())
    return f"{type(exc).__name__}: {first}"[:300]


def _to_engine(path: Path, am: AbstractModel) -> AbstractModel:
    """Rewrite the XMILE-only parts of PySD's abstract model into the engine's Vensim terms."""
    section = am.sections[0]
    defined = {reference_form(el.name) for el in section.elements}
    ranges = {reference_form(r.name): tuple(reference_form(e) for e in r.subscripts)
              for r in section.subscripts}
    dims: dict[str, tuple[str, ...]] = {}  # arrayed variable -> its dimensions
    for el in section.elements:
        subs = el.components[0].subscripts[0] if el.components and el.components[0].subscripts \
            else []
        if subs:
            dims[reference_form(el.name)] = tuple(_dimension_of(s, ranges) for s in subs)
    # an auxiliary with a graphical function of its own (gf(eqn)): LOOKUP(aux, x) is gf(x)
    gfs = {reference_form(el.name): el.components[0].ast.lookups for el in section.elements
           if len(el.components) == 1 and isinstance(el.components[0].ast,
                                                     ae.InlineLookupsStructure)}
    elements = []
    for el in section.elements:
        components = []
        for comp in el.components:
            subs = list(comp.subscripts[0]) if comp.subscripts else []
            own = {_dimension_of(s, ranges): s for s in subs}
            rw = _Rewriter(path, el.name, defined, ranges, own, dims, gfs)
            ast = rw.rewrite(comp.ast)
            if isinstance(ast, ae.IntegStructure) and ast.non_negative:
                ast = _non_negative(reference_form(el.name), subs, ast)
            components.append(dataclasses.replace(comp, ast=ast))
        # in XMILE an underscore in a name is a space (XMILE 1.0, 3.2.2): name the
        # outputs as Stella and Vensim do, "Room Temperature" for Room_Temperature
        elements.append(dataclasses.replace(el, name=el.name.replace("_", " "),
                                            components=components))
    section = dataclasses.replace(section, elements=elements)
    return dataclasses.replace(am, sections=(section,) + tuple(am.sections[1:]))


def _non_negative(ref: str, subs: list[str], integ: ae.IntegStructure) -> ae.IntegStructure:
    """Return a non-negative stock as a Vensim stock: its net flow kept >= -stock / TIME STEP.

    The net flow becomes ``flow + MAX(0, -stock/TIME STEP - flow)``, that is
    ``MAX(flow, -stock/TIME STEP)`` with the flows still the top-level terms (so
    the stock's inflows and outflows are still known). With Euler,
    ``stock + dt * MAX(flow, -stock/dt)`` is ``MAX(stock + dt * flow, 0)``: PySD's
    and Stella's non-negative stock (the level is cut at zero after each step).
    With RK4 or an adaptive method the same limit applies to every evaluation
    of the net flow.
    """
    stock = ae.ReferenceStructure(ref, ae.SubscriptsReferenceStructure(tuple(subs)) if subs else None)
    floor = ae.ArithmeticStructure(["/"], (ae.ArithmeticStructure(["negative"], (stock,)),
                                           ae.ReferenceStructure("time_step")))
    excess = ae.CallStructure(ae.ReferenceStructure("max"),
                              (0, ae.ArithmeticStructure(["-"], (floor, integ.flow))))
    return ae.IntegStructure(ae.ArithmeticStructure(["+"], (integ.flow, excess)),
                             integ.initial, False)


def _dimension_of(sub: str, ranges: dict[str, tuple[str, ...]]) -> str:
    """Return the dimension (reference form) ``sub`` is, or the first one it is an element of."""
    key = reference_form(sub)
    if key in ranges:
        return key
    return next((r for r, elements in ranges.items() if key in elements), key)


class _Rewriter:
    """Rewrite one equation's XMILE built-ins into the engine's Vensim functions.

    Parameters
    ----------
    path : Path
        The model file (for errors).
    name : str
        The variable (for errors).
    defined : set of str
        Reference forms of the model's variables (a variable named ``dt`` is not DT).
    ranges : dict
        The model's dimensions (reference form) and their elements (reference form).
    own : dict
        The equation's own dimensions (reference form) and the subscript it
        has in each (the dimension itself, or one element of it).
    dims : dict
        Every arrayed variable (reference form) and its dimensions.
    gfs : dict
        Every auxiliary with a graphical function of its own (reference form)
        and that function (a ``LookupsStructure``).
    """

    def __init__(self, path: Path, name: str, defined: set[str],
                 ranges: dict[str, tuple[str, ...]], own: dict[str, str],
                 dims: dict[str, tuple[str, ...]], gfs: dict[str, object]) -> None:
        self.path, self.name, self.ranges, self.own, self.dims = path, name, ranges, own, dims
        self.gfs = gfs
        self.builtins = {k: v for k, v in _BUILTIN_REFERENCES.items() if k not in defined}

    def error(self, message: str, construct: str) -> ModelError:
        return ModelError(str(self.path), message, variable=self.name, construct=construct)

    def rewrite(self, node):
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is None and node.reference in self.builtins:
                return ae.ReferenceStructure(self.builtins[node.reference])
            var_dims = self.dims.get(node.reference, ())
            if node.subscripts is None and var_dims and all(d in self.own for d in var_dims):
                # apply-to-all: an array named without subscripts in an equation over
                # its dimensions is the element of this equation (XMILE 1.0, 3.7.1)
                return ae.ReferenceStructure(node.reference, ae.SubscriptsReferenceStructure(
                    tuple(self.own[d] for d in var_dims)))
            return node
        if isinstance(node, ae.CallStructure) and isinstance(node.function, ae.ReferenceStructure):
            fn, args = node.function.reference, node.arguments
            if fn == "pi" and not args:
                return math.pi
            if fn == "Xramp":
                return ae.CallStructure(ae.ReferenceStructure("ramp"), self._all(args))
            if fn in ("Xpulse", "Xpulse_train"):
                raise self.error("the XMILE PULSE function is not supported", "PULSE")
            if fn in self.gfs and len(args) == 1 and node.function.subscripts is None:
                # the graphical function of an auxiliary, applied to another input
                return ae.InlineLookupsStructure(self.rewrite(args[0]), self.gfs[fn])
            if fn in ("vmax_xmile", "vmin_xmile"):
                return self._reduce("vmax" if fn == "vmax_xmile" else "vmin", args[0])
        if not dataclasses.is_dataclass(node) or isinstance(node, type):
            return node
        changes: dict[str, object] = {}
        for field in dataclasses.fields(node):
            child = getattr(node, field.name)
            if field.name == "operators":
                continue
            if isinstance(child, tuple):
                changes[field.name] = self._all(child)
            elif isinstance(child, list):
                changes[field.name] = list(self._all(child))
            elif dataclasses.is_dataclass(child):
                changes[field.name] = self.rewrite(child)
        return dataclasses.replace(node, **changes) if changes else node

    def _all(self, nodes) -> tuple:
        return tuple(self.rewrite(n) for n in nodes)

    def _reduce(self, fname: str, arg):
        """XMILE's one-argument MIN/MAX: the least/greatest element of an array expression.

        Every dimension named in the argument's references is reduced (as
        ``VMIN(x[dim!])``); an argument with no dimension is its own extreme.
        """
        arg = self.rewrite(arg)
        marked = _mark_ranges(arg, self.ranges, self.dims)
        clash = sorted(set(self.own) & marked.found)
        if clash:
            raise self.error(f"one-argument {fname[1:].upper()} over the equation's own "
                             f"dimension {clash[0]} is ambiguous (the whole array or this "
                             "element?); name the array with another dimension",
                             fname[1:].upper())
        if not marked.found:
            return arg
        return ae.CallStructure(ae.ReferenceStructure(fname), (marked.node,))


@dataclasses.dataclass
class _Marked:
    node: object
    found: set[str]


def _mark_ranges(node, ranges: dict[str, tuple[str, ...]],
                 dims: dict[str, tuple[str, ...]]) -> _Marked:
    """Return ``node`` with every dimension subscript marked ``dim!``, and the dimensions.

    An arrayed variable named without subscripts stands for all its elements.
    """
    found: set[str] = set()

    def walk(n):
        if isinstance(n, ae.ReferenceStructure):
            if n.subscripts is None and n.reference in dims:
                n = ae.ReferenceStructure(n.reference,
                                          ae.SubscriptsReferenceStructure(dims[n.reference]))
            if n.subscripts is None:
                return n
            subs = []
            for s in n.subscripts.subscripts:
                if reference_form(s) in ranges:
                    found.add(reference_form(s))
                    subs.append(f"{s}!")
                else:
                    subs.append(s)
            return ae.ReferenceStructure(n.reference, ae.SubscriptsReferenceStructure(tuple(subs)))
        if not dataclasses.is_dataclass(n) or isinstance(n, type):
            return n
        changes = {}
        for field in dataclasses.fields(n):
            child = getattr(n, field.name)
            if field.name == "operators":
                continue
            if isinstance(child, (tuple, list)):
                changes[field.name] = type(child)(walk(c) for c in child)
            elif dataclasses.is_dataclass(child):
                changes[field.name] = walk(child)
        return dataclasses.replace(n, **changes) if changes else n

    return _Marked(walk(node), found)
