"""Writing a scenario back out as YAML (:func:`scenario_to_yaml`)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml

from sim.scenarios.schema import FIELD_ORDER, Scenario


def _safe_dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=100)


def scenario_to_yaml(scenario: Scenario, provenance: Mapping | None = None) -> str:
    """Write a scenario as YAML that :func:`load_scenarios_text` reads back equal.

    Parameters
    ----------
    scenario : Scenario
    provenance : mapping, optional
        Informational metadata (hashes, seed, command line, ...). When given,
        the text is ``{scenarios: [scenario], provenance: ...}``; the loader
        accepts and ignores ``provenance``.

    Returns
    -------
    str
        Every field written explicitly (no reliance on defaults).
    """
    data = scenario.model_dump(mode="python")
    data = {k: data[k] for k in FIELD_ORDER}
    if provenance is None:
        return _safe_dump(data)
    return _safe_dump({"scenarios": [data], "provenance": _plain(provenance)})


def _plain(obj: Any) -> Any:
    """YAML-safe copy: numpy scalars to Python numbers, tuples to lists."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj
