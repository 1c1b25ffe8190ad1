"""Simulator for China's digitally deliverable services trade.

The engine compiles a Vensim model (read by PySD's translator) into one
vectorised derivative function and integrates it with Vensim-equivalent
fixed steps or SciPy's ``solve_ivp``.
"""
from .data import DataError
from .errors import ModelError, ParameterError, SimError
from .inputs import Ramp, Step, Table
from .model import Controls, Model, VariableInfo, load_model
from .results import Failure, SimulationResult

__all__ = ["load_model", "Model", "VariableInfo", "Controls", "SimulationResult", "Failure",
           "Step", "Ramp", "Table", "ModelError", "ParameterError", "SimError", "DataError"]
