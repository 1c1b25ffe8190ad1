"""Expand Vensim macros (``:MACRO: NAME(a, b) ... :END OF MACRO:``) into plain variables.

PySD's translator reads each macro into a section of its abstract model (the
macro's name, its parameters and its variables). The engine has no notion of a
macro at run time: every call ``NAME(x, y)`` in an equation is replaced by a
reference to a fresh copy of the macro's output variable, and every variable
of the macro (stocks included) is copied once per call site, so two calls of a
macro holding a stock give two independent stocks, as in Vensim.

Names of the copies
    Each copy of a macro variable ``v`` made for the call in the equation of
    ``site`` is named ``v.site`` (Vensim shows macro variables the same way);
    a second call of a macro in the same equation gets ``v.site.2``, and a
    name already taken gets the next free number. Brackets of a subscripted
    site ``x[a,b]`` become parentheses, ``v.x(a,b)``, so that the copy is not
    read as an element of a subscripted variable.
Arguments
    A parameter is bound to the call's argument: a number or a plain reference
    replaces the parameter where it is used; any other expression becomes one
    more copied variable ``parameter.site`` holding the argument, so that it is
    evaluated once per step, whatever the number of uses.
Calls inside a macro
    A macro may call another macro; the copies of the inner call are named
    after the copy of the calling variable. A macro that calls itself, directly
    or through others, is refused (:class:`~sim.errors.ModelError`, construct
    ``:MACRO:``), as are a call with the wrong number of arguments and a macro
    with extra outputs (``:MACRO: NAME(in : out)``), which the engine does not
    implement.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from sim.engine.reading.literals import map_children
from sim.engine.reading.names import reference_form
from sim.engine.reading.subscripts import FlatVariable, flatten
from sim.errors import ModelError

#: Most macro calls expanded in one model (a bound on the expansion's work).
MAX_INSTANCES = 10_000


@dataclass(frozen=True)
class _Macro:
    """One macro: its Vensim name, parameters (reference form) and flattened variables."""

    name: str
    params: tuple[str, ...]
    variables: tuple[FlatVariable, ...]


def expand_macros(path: Path, main_section, macro_sections, main: list[FlatVariable]
                  ) -> list[FlatVariable]:
    """Return the model's variables with every macro call expanded.

    Parameters
    ----------
    path : Path
        Model file (for error messages).
    main_section : object
        PySD's main section (its subscript ranges are the macros' too).
    macro_sections : list
        PySD's sections of type macro.
    main : list of FlatVariable
        The main section's variables, from :func:`sim.engine.reading.subscripts.flatten`.

    Returns
    -------
    list of FlatVariable
        ``main`` with each macro call replaced by a reference to a copy of the
        macro's output, each followed by the copies its calls made.

    Raises
    ------
    ModelError
        A recursive macro, a call with the wrong number of arguments, a macro
        without an output variable, or with extra outputs (construct ``:MACRO:``).
    """
    macros: dict[str, _Macro] = {}
    for section in macro_sections:
        key = reference_form(section.name)
        # PySD's section name is in lower case; the output variable has the macro's spelling
        name = next((el.name for el in section.elements if reference_form(el.name) == key),
                    section.name)
        if section.returns:
            raise ModelError(str(path), f"macro {name} has extra outputs "
                             f"({', '.join(map(str, section.returns))}); macros with outputs after "
                             "':' are not supported", variable=name, construct=":MACRO:")
        merged = dataclasses.replace(section, subscripts=list(main_section.subscripts)
                                     + list(section.subscripts or []))
        variables = tuple(flatten(path, merged))
        if key not in {reference_form(v.name) for v in variables}:
            raise ModelError(str(path), f"macro {name} does not define a variable named "
                             f"{name} (its output)", variable=name, construct=":MACRO:")
        macros[key] = _Macro(name, tuple(reference_form(p) for p in section.params), variables)
    expander = _Expander(str(path), macros, {reference_form(v.name) for v in main})
    out: list[FlatVariable] = []
    for fv in main:
        made: list[FlatVariable] = []
        ast = expander.expand(fv.ast, fv.name, {}, (), made)
        out.append(dataclasses.replace(fv, ast=ast) if made else fv)
        out += made
    return out


class _Expander:
    """Copies macro variables per call site, with unique names."""

    def __init__(self, where: str, macros: dict[str, _Macro], taken: set[str]) -> None:
        self.where, self.macros, self.taken = where, macros, set(taken)
        self.instances = 0

    def error(self, message: str, variable: str) -> ModelError:
        return ModelError(self.where, message, variable=variable, construct=":MACRO:")

    def fresh(self, base: str) -> str:
        """Return ``base`` (or ``base.2``, ``base.3`` ...) not used by any variable yet."""
        name = base
        for k in range(2, MAX_INSTANCES + 2):
            if reference_form(name) not in self.taken:
                self.taken.add(reference_form(name))
                return name
            name = f"{base}.{k}"
        raise self.error(f"no free name for a copy of {base}", base)

    def expand(self, node, site: str, renames: dict, stack: tuple, made: list):
        """Return ``node`` with references renamed (``renames``) and macro calls expanded.

        ``site`` is the variable whose equation this is (names the copies);
        ``renames`` maps a reference (reference form) to the node replacing it;
        ``stack`` holds the macros being expanded (to refuse recursion);
        the copies made are appended to ``made``.
        """
        if isinstance(node, ae.ReferenceStructure):
            return renames.get(node.reference, node) if node.subscripts is None else node
        if isinstance(node, ae.CallStructure) and isinstance(node.function, ae.ReferenceStructure):
            args = tuple(self.expand(a, site, renames, stack, made) for a in node.arguments)
            fn = node.function.reference
            if fn in self.macros:
                return self.instantiate(self.macros[fn], args, site, stack, made)
            if fn in renames:  # a lookup of the macro, called by name
                return dataclasses.replace(node, function=renames[fn], arguments=args)
            return dataclasses.replace(node, arguments=args)
        return map_children(node, lambda c: self.expand(c, site, renames, stack, made))

    def instantiate(self, macro: _Macro, args: tuple, site: str, stack: tuple,
                    made: list) -> ae.ReferenceStructure:
        """Copy ``macro``'s variables for one call; return a reference to its output's copy."""
        key = reference_form(macro.name)
        if key in stack:
            chain = " -> ".join([self.macros[m].name for m in stack] + [macro.name])
            raise self.error(f"macro {macro.name} calls itself ({chain}); recursive macros are "
                             "not supported", site)
        if len(args) != len(macro.params):
            raise self.error(f"macro {macro.name} takes {len(macro.params)} argument(s) "
                             f"({', '.join(macro.params)}), the call gives {len(args)}", site)
        self.instances += 1
        if self.instances > MAX_INSTANCES:
            raise self.error(f"more than {MAX_INSTANCES} macro calls to expand", site)
        label = site.replace("[", "(").replace("]", ")")
        names = {reference_form(v.name): self.fresh(f"{v.name}.{label}") for v in macro.variables}
        renames: dict[str, object] = {
            ref: ae.ReferenceStructure(reference=reference_form(new), subscripts=None)
            for ref, new in names.items()}
        copies: list[FlatVariable] = []
        for param, arg in zip(macro.params, args, strict=True):
            if _is_plain(arg):
                renames[param] = arg
                continue
            holder = self.fresh(f"{param}.{label}")
            renames[param] = ae.ReferenceStructure(reference=reference_form(holder), subscripts=None)
            output = next(v for v in macro.variables if reference_form(v.name) == key)
            copies.append(FlatVariable(holder, dataclasses.replace(
                output.element, name=holder, units="", documentation=f"argument {param} of "
                f"the call of {macro.name} in {site}"), arg, "AbstractComponent"))
        for v in macro.variables:
            new = names[reference_form(v.name)]
            ast = self.expand(v.ast, new, renames, stack + (key,), copies)
            copies.append(dataclasses.replace(v, name=new, ast=ast))
        made += copies
        return ae.ReferenceStructure(reference=reference_form(names[key]), subscripts=None)


def _is_plain(node) -> bool:
    """Return True for a number or an unsubscripted reference (bound in place of a parameter)."""
    if isinstance(node, (int, float, np.integer, np.floating)) and not isinstance(node, bool):
        return True
    return isinstance(node, ae.ReferenceStructure) and node.subscripts is None
