"""Name helpers shared by the scenario modules: normalising and slugs."""
from __future__ import annotations

import re


def normalise_name(name: str) -> str:
    """Return ``name`` in lower case, underscores as spaces, runs of spaces as one."""
    return " ".join(str(name).replace("_", " ").lower().split())


def slugify(name: str) -> str:
    """Folder-safe version of a scenario name: lower case, runs of other characters -> '-'."""
    return re.sub(r"[^\w]+", "-", name.strip().lower(), flags=re.UNICODE).strip("-_")
