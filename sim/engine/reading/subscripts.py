"""Subscripts, flattened: every element of a subscripted variable becomes a variable of its own.

A Vensim variable ``stock[Region]`` over ``Region: north, south`` is read as
the two variables ``stock[north]`` and ``stock[south]``, each with its own
equation, in which every subscripted reference names one element:
``growth[Region] * stock[Region]`` becomes ``growth[north] * stock[north]``
in the equation of ``stock[north]``. ``SUM``, ``PROD``, ``VMIN`` and ``VMAX``
over ``x[Region!]`` become the sum, product, minimum or maximum of the
elements. The compiler then sees scalars only; names are Vensim's output
columns (``stock[north]``, ``mat[north,ict]``).

This module walks PySD's abstract model (its subscript ranges and the
components of each element) and writes new abstract trees; it parses no
text, except the mappings written with an explicit order, which PySD's
reading garbles (:func:`_explicit_mappings`). Supported: ranges listed by
element (and ranges made of other ranges), copies (``DimB <-> DimA``),
subranges, definitions over ranges or single elements, ``:EXCEPT:``,
constant lists and tables (``x[Region] = 1, 2, 3``, ``TABBED ARRAY``),
subscripted lookups, references by range, by element, by a subrange of the
equation's range, and by a range mapped onto it (``DimA: a1, a2 -> DimB``
lets ``y[DimB]`` read ``x[DimA]``, element by element in order; also onto
several ranges, onto a range sharing elements, and in an explicit order
``-> (DimB: b2, b1)``). A range used as a value (``IF THEN ELSE(Dim = Sub,
1, 0)``) is the 1-based position of the equation's element in its family
(the parent range), an element name used as a value likewise.
``ELMCOUNT(Range)`` is the range's size (:mod:`sim.engine.reading.arrays`);
``VECTOR SELECT`` (over its ``Range!`` subscripts), ``VECTOR RANK``,
``VECTOR SORT ORDER`` and ``VECTOR REORDER`` (over the last subscript) are
written out over the elements by :mod:`sim.engine.reading.vectors`. Refused,
with the construct named: other mappings, a reference that leaves out a
subscripted variable's subscripts, a ``Range!`` outside the functions above,
the vector functions' refusals (:mod:`sim.engine.reading.vectors`), and an
element defined twice or never.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures.abstract_model import AbstractElement

from sim.engine.reading import arrays, vectors
from sim.engine.reading.external import ExternalReader, is_external
from sim.engine.reading.literals import map_children
from sim.engine.reading.names import reference_form
from sim.errors import ModelError

#: Vensim functions over a subscript range (``x[Range!]``), and how their terms combine
_REDUCERS = {"sum": "+", "prod": "*", "vmin": "min", "vmax": "max"}


@dataclass(frozen=True)
class FlatVariable:
    """One element of a (possibly) subscripted variable, as a scalar variable.

    Attributes
    ----------
    name : str
        Vensim's name of the element, e.g. ``stock[north]`` (the variable's own
        name when it has no subscripts).
    element : AbstractElement
        PySD's abstract element it comes from (units, limits, documentation).
    ast : object
        Its equation, with every subscripted reference resolved to one element.
    kind : str
        The class name of PySD's component (``AbstractComponent``, ``AbstractLookup``, ...).
    """

    name: str
    element: AbstractElement
    ast: object
    kind: str


class _Ranges:
    """The model's subscript ranges: range name -> its elements (Vensim's spelling)."""

    def __init__(self, path: str, ranges, reader: ExternalReader | None = None) -> None:
        self.path = path
        self.reader = reader if reader is not None else ExternalReader(Path(path))
        raw = {reference_form(r.name): r for r in ranges}
        mappings = {key: _mapping(r) for key, r in raw.items()}
        explicit = {key: _explicit_mappings(path, r) for key, r in raw.items()
                    if any(isinstance(t, str) for t in mappings[key])}
        self.elements: dict[str, tuple[str, ...]] = {}
        for key in raw:
            self.elements[key] = self._expand(key, raw, (), explicit)
        self.spelling = {reference_form(e): e for els in self.elements.values() for e in els}
        self.position = self._positions()
        # range -> {range it maps onto: that range's elements in the order they pair with ours}
        self.maps: dict[str, dict[str, tuple[str, ...]]] = {}
        for key, r in raw.items():
            for target in mappings[key]:
                self._map(key, r.name, target, raw, explicit.get(key, {}))

    def _positions(self) -> dict[str, int]:
        """Return each element's value as a number: its 1-based position in its family.

        The family of an element is the first declared range holding it that is
        not a strict part of another range (a subrange takes its parent's
        numbering, as in Vensim: with ``Dim: a, b, c`` and ``Sub: b, a``,
        ``b`` is 2 wherever it is used as a value).
        """
        sets = {k: {reference_form(e) for e in els} for k, els in self.elements.items()}
        position: dict[str, int] = {}
        for key, els in self.elements.items():
            if any(sets[key] < other for other in sets.values()):
                continue
            for i, e in enumerate(els):
                position.setdefault(reference_form(e), i + 1)
        return position

    def _map(self, key: str, name: str, target, raw: dict, explicit: dict) -> None:
        """Record ``name: ... -> target``, pairing elements by position.

        ``target`` is a range (its elements in order), or given with an explicit
        order, ``-> (Target: t3, t1, t2)`` (read from the file's text:
        :func:`_explicit_mappings`).
        """
        tkey = reference_form(str(target)) if isinstance(target, str) else None
        if tkey is None or tkey not in raw or tkey in self.maps.get(key, {}):
            raise ModelError(self.path, f"subscript mapping {name} -> {target}: only a mapping "
                             "onto a subscript range (in its order, or in an order listed as "
                             "(Range: e2, e1)) is supported", variable=name,
                             construct="subscript mapping")
        order = explicit.get(tkey)
        if order is None:
            order = tuple(reference_form(e) for e in self.elements[tkey])
        else:
            order = tuple(e for item in order for e in self.members(item, name))
            order = tuple(reference_form(e) for e in order)
            unknown = set(order) - {reference_form(e) for e in self.elements[tkey]}
            if unknown:
                raise ModelError(self.path, f"subscript mapping {name} -> {target}: "
                                 f"{', '.join(sorted(unknown))} not in {target}", variable=name,
                                 construct="subscript mapping")
        if len(self.elements[key]) != len(order):
            raise ModelError(self.path, f"subscript mapping {name} -> {target}: {name} has "
                             f"{len(self.elements[key])} elements, {target} "
                             f"{len(order)}", variable=name,
                             construct="subscript mapping")
        self.maps.setdefault(key, {})[tkey] = order

    def mapped(self, key: str, onto: str, element: str) -> str | None:
        """Return the element of range ``key`` that ``element`` of range ``onto`` maps from.

        None unless ``key`` is mapped onto ``onto`` (normalised names) and
        ``element`` is one of the mapping's.
        """
        order = self.maps.get(key, {}).get(onto)
        if order is None or element not in order:
            return None
        return reference_form(self.elements[key][order.index(element)])

    def _expand(self, key: str, raw: dict, seen: tuple, explicit: dict) -> tuple[str, ...]:
        """Return the elements of range ``key``, its ranges expanded.

        A copy ``DimB <-> DimA`` (PySD gives the name ``DimA`` instead of a
        list) has DimA's elements. The elements PySD appends to a range that
        maps with an explicit order (``-> (DimB: b2, b1)``) are dropped.
        """
        if key in seen:
            raise ModelError(self.path, f"subscript range {raw[key].name} is defined through itself",
                             variable=raw[key].name, construct="subscripts")
        items = raw[key].subscripts
        if isinstance(items, dict):  # GET XLS/DIRECT SUBSCRIPT, as PySD reads it
            items = self.reader.subscript(raw[key].name, items)
        if isinstance(items, str):  # a copy of another range
            items = [items]
        items = list(items)
        extra = [e for order in explicit.get(key, {}).values() for e in order]
        if extra:
            if [reference_form(str(e)) for e in items[-len(extra):]] != extra:
                raise ModelError(self.path, f"subscript range {raw[key].name}: cannot read its "
                                 "mapping with an explicit order", variable=raw[key].name,
                                 construct="subscript mapping")
            items = items[:-len(extra)]
        out: list[str] = []
        for item in items:
            sub = reference_form(str(item))
            members = self._expand(sub, raw, seen + (key,), explicit) \
                if sub in raw and sub != key else (item,)
            out += [m for m in members if m not in out]
        return tuple(out)

    def is_range(self, name: str) -> bool:
        return reference_form(name) in self.elements

    def members(self, name: str, variable: str) -> tuple[str, ...]:
        """Elements named by ``name``: a range's elements, or the one element."""
        key = reference_form(name)
        if key in self.elements:
            return self.elements[key]
        if key in self.spelling:
            return (self.spelling[key],)
        raise ModelError(self.path, f"unknown subscript '{name}' (not a range or an element of one)",
                         variable=variable, construct="subscripts")


def _flat_name(name: str, elements: tuple[str, ...]) -> str:
    """Vensim's name of one element of a variable: ``name[e1,e2]``."""
    return f"{name}[{','.join(elements)}]" if elements else name


def flatten(path: Path, section, reader: ExternalReader | None = None) -> list[FlatVariable]:
    """Return the variables of a PySD model section, every subscripted one split into its elements.

    A component defined by a GET XLS/DIRECT call (or an empty data definition)
    is read by ``reader`` (a new :class:`ExternalReader` when None), element
    by element.

    Raises
    ------
    ModelError
        A construct this module refuses (see the module docstring), naming
        the file, the variable and the construct.
    """
    where = str(path)
    reader = reader if reader is not None else ExternalReader(path)
    ranges = _Ranges(where, section.subscripts, reader)
    # every element of every variable: (ref, normalised elements) -> (flat name, element, comp, combo)
    defined: dict[tuple, tuple] = {}
    dims: dict[str, int] = {}
    for el in section.elements:
        ref = reference_form(el.name)
        for comp in el.components:
            subs, excepts = comp.subscripts if comp.subscripts else ([], [])
            if dims.setdefault(ref, len(subs)) != len(subs):
                raise ModelError(where, "the variable is defined with different numbers of "
                                 "subscripts", variable=el.name, construct="subscripts")
            combos = list(itertools.product(*(ranges.members(s, el.name) for s in subs)))
            for ex in excepts or []:
                gone = set(itertools.product(*(ranges.members(s, el.name) for s in ex)))
                combos = [c for c in combos if c not in gone]
            for combo in combos:
                key = (ref, tuple(reference_form(e) for e in combo))
                if key in defined:
                    raise ModelError(where, f"{_flat_name(el.name, combo)} is defined twice",
                                     variable=el.name, construct="subscripts")
                defined[key] = (_flat_name(el.name, combo), el, comp, combo)
    names = {key: entry[0] for key, entry in defined.items()}
    for param in getattr(section, "params", None) or []:  # a macro's: a value, never a subscript
        dims.setdefault(reference_form(param), 0)
    for el in section.elements:  # a quoted name is referred to without its quotes too
        ref, bare = reference_form(el.name), reference_form(el.name.strip('"'))
        if bare != ref and bare not in dims:
            dims[bare] = dims[ref]
            names.update({(bare, k[1]): v for k, v in list(names.items()) if k[0] == ref})
    out = []
    try:
        for name, el, comp, combo in defined.values():
            out.append(_flat(where, name, el, comp, combo, ranges, names, dims, reader))
    finally:
        reader.close()
    return out


def _flat(where: str, name: str, el, comp, combo, ranges: _Ranges, names: dict, dims: dict,
          reader: ExternalReader) -> FlatVariable:
    """Return one element of a variable, its equation rewritten (or its data read)."""
    subs = comp.subscripts[0] if comp.subscripts else []
    if is_external(comp.ast) or isinstance(comp.ast, ae.DataStructure):
        coords = [ranges.members(s, el.name) for s in subs]
        ast, kind = reader.element(name, el.name, comp, coords, combo)
        return FlatVariable(name, el, ast, kind)
    rw = _Rewriter(where, name, ranges, names, dims,
                   [(reference_form(s), reference_form(e))
                    for s, e in zip(subs, combo, strict=False)])
    ast = _constant_of(comp.ast, subs, combo, ranges, where, name) \
        if isinstance(comp.ast, np.ndarray) else rw.rewrite(comp.ast)
    return FlatVariable(name, el, ast, type(comp).__name__)


def _constant_of(values: np.ndarray, subs, combo, ranges: _Ranges, where: str, name: str) -> float:
    """Return the entry of a constant list or table (``x[Region, Sector] = 1, 2; 3, 4``) for ``combo``."""
    axes = [(s, e) for s, e in zip(subs, combo, strict=False) if ranges.is_range(s)]
    shape = tuple(len(ranges.members(s, name)) for s, _ in axes)
    if values.ndim == 1 and len(shape) > 1 and values.size == int(np.prod(shape)):
        values = values.reshape(shape)  # TABBED ARRAY: PySD gives the rows one after another
    if values.shape != shape:
        raise ModelError(where, f"a list of values shaped {values.shape} does not match the "
                         f"subscripts [{', '.join(subs)}] {shape}", variable=name,
                         construct="subscripts")
    return float(values[tuple(ranges.members(s, name).index(e) for s, e in axes)])


class _Rewriter:
    """Rewrite one element's equation so that every reference names one scalar variable."""

    def __init__(self, where: str, name: str, ranges: _Ranges, names: dict, dims: dict,
                 lhs: list[tuple[str, str]]) -> None:
        self.where, self.name, self.ranges, self.names, self.dims = where, name, ranges, names, dims
        self.lhs = lhs          # per subscript of the left-hand side: (as declared, element)
        self.bound: dict[str, str] = {}   # Range! -> element, inside SUM/PROD/VMIN/VMAX

    def error(self, message: str, construct: str = "subscripts") -> ModelError:
        return ModelError(self.where, message, variable=self.name, construct=construct)

    def rewrite(self, node):
        if arrays.handles(node):  # ELMCOUNT, INVERT MATRIX, ALLOCATE BY PRIORITY
            return arrays.rewrite_call(self, node)
        if vectors.handles(node) and node.function.reference not in self.dims:
            return vectors.rewrite_call(self, node)  # VECTOR SORT ORDER, RANK, REORDER
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is None and node.reference not in self.dims \
                    and (node.reference in self.ranges.position
                         or node.reference in self.ranges.elements):
                return self._as_value(node.reference)
            return self._reference(node)
        if isinstance(node, ae.CallStructure):
            fn = node.function
            if isinstance(fn, ae.ReferenceStructure) and fn.subscripts is None \
                    and fn.reference in _REDUCERS:
                return self._reduce(fn.reference, node.arguments)
            if isinstance(fn, ae.ReferenceStructure) and fn.reference == "vector_select" \
                    and fn.reference not in self.dims:
                return self._vector_select(node.arguments)
            return dataclasses.replace(node, function=self._reference(fn) if isinstance(
                fn, ae.ReferenceStructure) else fn, arguments=tuple(self.rewrite(a) for a in node.arguments))
        return map_children(node, self.rewrite)

    def _reference(self, node: ae.ReferenceStructure) -> ae.ReferenceStructure:
        ref = node.reference
        n_dims = self.dims.get(ref, 0)
        subs = node.subscripts.subscripts if node.subscripts is not None else []
        if not subs:
            if n_dims:
                raise self.error(f"'{ref}' has {n_dims} subscript(s): refer to it as {ref}[...]")
            return node
        if ref not in self.dims:
            raise self.error(f"'{ref}[{', '.join(subs)}]': unknown subscripted variable "
                             "(or a function name used with subscripts)")
        if n_dims != len(subs):
            raise self.error(f"'{ref}[{', '.join(subs)}]' gives {len(subs)} subscript(s); the "
                             f"variable has {n_dims}")
        combo = tuple(self._element(s, ref) for s in subs)
        target = self.names.get((ref, combo))
        if target is None:
            raise self.error(f"'{ref}[{','.join(combo)}]' is not defined")
        return ae.ReferenceStructure(reference=reference_form(target), subscripts=None)

    def _vector_select(self, args) -> object:
        """``VECTOR SELECT(...)``: :func:`sim.engine.reading.vectors.vector_select`."""
        return vectors.vector_select(self, args)

    def _as_value(self, sub: str) -> int:
        """Return the value of a range or an element used as a number: a position in its family.

        A range stands for the element the equation is computing in it
        (``x[Dim] = Dim * 2``), as in a subscript.
        """
        if not self.ranges.is_range(sub):
            return self.ranges.position[sub]
        try:
            return self.ranges.position[self._element(sub, sub)]
        except ModelError:
            raise self.error(f"the range '{sub}' is used as a value, but the equation has no "
                             f"subscript in range {sub}") from None

    def _element(self, sub: str, ref: str) -> str:
        """Return the element ``sub`` stands for here (normalised)."""
        if sub.endswith("!"):
            key = reference_form(sub[:-1])
            if key not in self.bound:
                raise self.error(f"'{ref}[{sub}]': a range with '!' is only allowed inside "
                                 f"{', '.join(f.upper() for f in _REDUCERS)}")
            return self.bound[key]
        key = reference_form(sub)
        if not self.ranges.is_range(key):
            self.ranges.members(sub, self.name)  # an element: check it exists
            return key
        for declared, element in self.lhs:   # the equation's own range ...
            if declared == key:
                return element
        for declared, element in self.lhs:    # ... or one it is mapped onto (Range -> Other)
            mapped = self.ranges.mapped(key, declared, element)
            if mapped is not None:
                return mapped
        members = {reference_form(e) for e in self.ranges.elements[key]}
        for _, element in self.lhs:           # ... or one its element belongs to (a subrange)
            if element in members:
                return element
        raise self.error(f"'{ref}[{sub}]': the equation has no subscript in range {sub}")

    def _reduce(self, fname: str, args) -> object:
        """SUM/PROD/VMIN/VMAX of one expression over its ``Range!`` subscripts."""
        if len(args) != 1:
            raise self.error(f"{fname.upper()} takes one argument", construct=fname.upper())
        bangs: list[str] = []
        vectors.collect_bangs(args[0], bangs)
        if not bangs:
            raise self.error(f"{fname.upper()} needs a range marked with '!' (e.g. x[Range!])",
                             construct=fname.upper())
        for b in bangs:
            if b not in self.ranges.elements:
                raise self.error(f"'{b}!' in {fname.upper()}: not a subscript range")
        saved = dict(self.bound)
        terms = []
        for combo in itertools.product(*(self.ranges.elements[b] for b in bangs)):
            self.bound.update({b: reference_form(e) for b, e in zip(bangs, combo, strict=True)})
            terms.append(self.rewrite(args[0]))
        self.bound = saved
        op = _REDUCERS[fname]
        if len(terms) == 1:
            return terms[0]
        if op in ("+", "*"):
            return ae.ArithmeticStructure(operators=[op] * (len(terms) - 1), arguments=tuple(terms))
        acc = terms[0]
        for term in terms[1:]:
            acc = ae.CallStructure(function=ae.ReferenceStructure(reference=op, subscripts=None),
                                   arguments=(acc, term))
        return acc


def _mapping(rng) -> list:
    """Return the ranges ``rng`` maps onto (PySD's ``mapping``); none for a copy.

    PySD makes a copy (``DimB <-> DimA``) with its constructor's default
    ``mapping`` list, one list shared by every copy of the process, which
    PySD's own builder appends to: its content is not this model's.
    """
    return [] if isinstance(rng.subscripts, str) else list(rng.mapping or [])


_RANGE_TEXT = re.compile(r"(?:^|[|}])\s*(\"[^\"]*\"|[^:~|{}]+?)\s*:(?!=)([^~|]*?)->([^~|]*)~")


def _explicit_mappings(path: str, rng) -> dict[str, tuple[str, ...]]:
    """Return the mappings of range ``rng`` written with an explicit order, from the file's text.

    ``DimA: a1, a2 -> (DimB: b2, b1), DimC`` gives ``{"dimb": ("b2", "b1")}``
    (normalised names): PySD's reading keeps only the target's name and
    appends ``b2, b1`` to DimA's elements. Empty when the file cannot be read
    or the range maps in order only.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return {}
    text = re.sub(r"\\\s*\n", " ", text.split("\\\\\\---///", 1)[0])
    out: dict[str, tuple[str, ...]] = {}
    for m in _RANGE_TEXT.finditer(text):
        if reference_form(m.group(1).strip('"')) != reference_form(rng.name.strip('"')):
            continue
        for target, items in re.findall(r"\(\s*([^:()]+?)\s*:([^()]*)\)", m.group(3)):
            out[reference_form(target)] = tuple(reference_form(e) for e in items.split(",")
                                                if e.strip())
        break
    return out
