"""Name helpers shared by the scenario modules: normalising, close-match hints, slugs."""
from __future__ import annotations

import difflib
import re


def _norm(name: str) -> str:
    return " ".join(str(name).replace("_", " ").lower().split())


def _closest(name: str, pool, n: int = 3) -> str:
    pool = list(dict.fromkeys(pool))
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    if not close:
        lowered = {p.lower(): p for p in pool}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered),
                                                                 n=n, cutoff=0.4)]
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def slugify(name: str) -> str:
    """Folder-safe version of a scenario name: lower case, runs of other characters -> '-'."""
    return re.sub(r"[^\w]+", "-", name.strip().lower(), flags=re.UNICODE).strip("-_")
