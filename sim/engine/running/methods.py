"""The integration methods, defined once for the engine and every command line.

A leaf module (standard library only): the command-line parsers import it
without loading numpy or SciPy.
"""
from __future__ import annotations

from typing import Literal, get_args

Method = Literal["scipy", "euler", "rk4"]
"""How :meth:`sim.Model.simulate` integrates: SciPy's adaptive solvers, or Vensim's
fixed-step Euler or fourth-order Runge-Kutta at TIME STEP."""

ScipyMethod = Literal["RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA", "DOPRI5"]
"""The solver of ``method="scipy"``: a :func:`scipy.integrate.solve_ivp` class, or
DOPRI5, SciPy's compiled Dormand-Prince 5(4) (``scipy.integrate.ode("dopri5")``)."""

#: every :data:`Method`, in the order the command lines list them
METHODS: tuple[Method, ...] = get_args(Method)
#: every :data:`ScipyMethod`, in the order the command lines list them
SCIPY_METHODS: tuple[ScipyMethod, ...] = get_args(ScipyMethod)
#: the default SciPy solver
DEFAULT_SCIPY_METHOD: ScipyMethod = "RK45"
