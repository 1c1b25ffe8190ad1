"""Simulator for China's digitally deliverable services trade.

The engine compiles a Vensim model (read by PySD's translator) into one
vectorised derivative function and integrates it with Vensim-equivalent
fixed steps or SciPy's ``solve_ivp``.

The public names below are imported on first use (PEP 562), so ``import sim``
and the ``sim`` command start without loading numpy, pandas or PySD: a
Ctrl-C while they load is the command's to handle (``interrupted``, exit 130).
"""
from __future__ import annotations

import importlib

_PUBLIC = {
    "load_model": ".engine.model", "Model": ".engine.model", "VariableInfo": ".engine.model",
    "Controls": ".engine.model",
    "SimulationResult": ".engine.results", "Failure": ".engine.results",
    "FailureKind": ".engine.results",
    "Step": ".engine.inputs", "Ramp": ".engine.inputs", "Table": ".engine.inputs",
    "ModelError": ".errors", "ParameterError": ".errors", "SimError": ".errors",
    "DataError": ".data.observed",
}

__all__ = ["load_model", "Model", "VariableInfo", "Controls", "SimulationResult", "Failure",
           "FailureKind", "Step", "Ramp", "Table", "ModelError", "ParameterError", "SimError", "DataError"]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
