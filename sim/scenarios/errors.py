"""The error raised for an invalid scenario file or scenario."""
from __future__ import annotations

from sim.errors import SimError


class ScenarioError(SimError):
    """A scenario file or scenario is invalid, or cannot be run on the model."""
