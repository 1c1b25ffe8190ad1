""""Did you mean" suggestions: the one rule every error message uses.

A leaf module (standard library only), so the engine and every layer above it
can import it.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Similarity (``difflib`` ratio, 0..1) a candidate needs to be suggested.
CUTOFF = 0.5


def close_matches(name: str, pool: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names of ``pool`` close to ``name``, best first.

    Parameters
    ----------
    name : str
        The name the user wrote.
    pool : iterable of str
        The names that would be accepted (duplicates are ignored).
    n : int, default 3
        Most suggestions to return.

    Returns
    -------
    list of str
        Candidates as spelled in ``pool``. Matching ignores case, and an exact
        case-sensitive match ranks like any other close one.
    """
    pool = [str(p) for p in dict.fromkeys(pool)]
    lowered: dict[str, str] = {}
    for p in pool:
        lowered.setdefault(p.lower(), p)
    hits = difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=CUTOFF)
    return [lowered[h] for h in hits]


def did_you_mean(name: str, pool: Iterable[str], n: int = 3) -> str:
    """Return ``"; did you mean 'a', 'b'?"`` for ``name`` among ``pool``, or ``""``.

    The clause is written to follow an error message directly.
    """
    close = close_matches(name, pool, n=n)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
