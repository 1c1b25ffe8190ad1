"""Project error types.

Every error a user can cause names the file (or argument), the variable or
field, and what would be accepted.
"""
from __future__ import annotations


class SimError(ValueError):
    """Base class of the errors raised by :mod:`sim` for bad input."""


class ModelError(SimError):
    """A model file cannot be read or compiled.

    Parameters
    ----------
    path : str
        The model file.
    message : str
        What is wrong and what would be accepted.
    variable : str, optional
        The Vensim name of the offending variable.
    construct : str, optional
        The Vensim construct (function, keyword) that is not supported.
    """

    def __init__(self, path: str, message: str, variable: str | None = None,
                 construct: str | None = None) -> None:
        self.path = str(path)
        self.variable = variable
        self.construct = construct
        where = self.path
        if variable is not None:
            where += f", variable '{variable}'"
        super().__init__(f"{where}: {message}")


class ParameterError(SimError):
    """A parameter override or simulation option is invalid."""
