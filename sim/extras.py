"""Optional extras: a clear error, before any work, when one a command needs is missing.

The engine installs without Streamlit and matplotlib; ``[report]`` adds matplotlib
and SALib (charts, reports, sensitivity), ``[app]`` Streamlit, ``[ema]`` the EMA
Workbench.
"""
from __future__ import annotations

import importlib.util

from sim.errors import SimError

EXTRA_OF = {"matplotlib": "report", "SALib": "report", "streamlit": "app",
            "ema_workbench": "ema"}


class MissingExtra(SimError):
    """A command needs an optional package that is not installed."""


def require(module: str, what: str) -> None:
    """Raise :class:`MissingExtra` unless ``module`` can be imported.

    Parameters
    ----------
    module : str
        Top-level package name, e.g. ``matplotlib``.
    what : str
        What needs it, for the message (e.g. ``"sim run's charts"``).
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or broken
        found = False
    if not found:
        extra = EXTRA_OF.get(module, module)
        raise MissingExtra(f"{what} needs {module}, which is not installed: "
                           f"pip install -e '.[{extra}]' (or pip install 'dds-sim[{extra}]')")
