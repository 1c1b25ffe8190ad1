"""Vensim names and their Python-safe forms."""
from __future__ import annotations

import keyword
import re

from sim.suggest import close_matches


def reference_form(name: str) -> str:
    """Return the form PySD's translator uses for references to ``name``.

    Parameters
    ----------
    name : str
        A Vensim variable name as written in the model.

    Returns
    -------
    str
        Lower case, surrounding whitespace removed, inner whitespace runs
        folded to one underscore.
    """
    return re.sub(r"\s+", "_", name.strip().lower())


#: one element of a subscripted variable: base name (maybe quoted) and its subscripts
_ELEMENT = re.compile(r'^\s*("[^"]*"|[^"\[\]]+?)\s*\[([^\[\]"]+)\]\s*$')


def _python_identifier(name: str) -> str:
    """Return a Python identifier for a Vensim name.

    Like PySD's rule (lower case, whitespace to ``_``, other punctuation
    dropped, a prefix before a leading digit, ``_1`` after a keyword) but
    keeping non-ASCII letters, so Chinese names stay readable:
    ``"数字 贸易"`` becomes ``数字_贸易``; an element of a subscripted variable
    ``stock[north, ict]`` becomes ``stock_north_ict``.
    """
    element = _ELEMENT.match(name)
    if element:  # stock[north,ict] -> stock_north_ict
        base, subs = element.groups()
        name = "_".join([base.strip('"')] + [x.strip() for x in subs.split(",")])
    s = name.strip().strip('"').strip().lower()
    s = re.sub(r"[\s_]+", "_", s)
    s = re.sub(r"[^\w]", "", s)
    if not s:
        s = "var"
    if not (s[0].isalpha() or s[0] == "_"):
        s = "nvs_" + s
    if keyword.iskeyword(s):
        s += "_1"
    return s


class NameTable:
    """Python-safe names for a model's variables, made the way PySD makes them.

    Parameters
    ----------
    names : list of str
        The Vensim names, in model order.
    """

    def __init__(self, names: list[str]) -> None:
        self.py: dict[str, str] = {}
        taken: set[str] = set()
        for name in names:
            base = _python_identifier(name)
            ident, k = base, 0
            while ident in taken:
                k += 1
                ident = f"{base}_{k}"
            taken.add(ident)
            self.py[name] = ident
        self.vensim = {py: name for name, py in self.py.items()}
        self._lookup: dict[str, str] = {}
        for name, py in self.py.items():
            for key in (name, py, reference_form(name), name.strip().lower(),
                        reference_form(name.strip('"'))):
                self._lookup.setdefault(key, py)

    def resolve(self, name: str) -> str | None:
        """Return the Python-safe name of ``name`` (Vensim or Python form), or None."""
        for key in (name, name.strip(), reference_form(name), name.strip().lower()):
            if key in self._lookup:
                return self._lookup[key]
        return None

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Return up to ``n`` Vensim names close to ``name`` (:func:`sim.suggest.close_matches`)."""
        return close_matches(name, self.py, n=n)
