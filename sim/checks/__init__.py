"""Model checks, for any model the engine runs (``sim check MODEL.mdl``).

- ``structure``: every stock has a flow, no input that nothing uses, no constant
  without a unit;
- ``units``: dimensional consistency (:func:`sim.engine.reading.units.check_units`);
- ``step``: the integration-step error (Euler at TIME STEP against TIME STEP / 2);
- ``expectations``: Reality-Check-style behaviour tests from a YAML file beside
  the model ("if this input is set so, that variable behaves so").

Each check returns :class:`~sim.checks.outcome.CheckOutcome` records; the command
prints them and exits 1 if any failed.
"""
