"""Policy scenarios: the YAML schema, its strict loader, and resolution against a model.

A scenario file holds one scenario at top level, or several under a top-level
``scenarios:`` list where an entry may say ``extends: <name of an earlier or
later entry in the same file>``; any scenario may say ``extends: other.yaml``
(a file holding one scenario) or ``extends: other.yaml#name``, relative to its
own file (not in uploaded text). It gives only what changes (deep merge: nested
mappings merge, lists and numbers replace, ``null`` removes an inherited key;
``name`` and ``description`` are never inherited). Every mapping is closed:
an unknown key is an error, as is a wrong type or a value out of range, and
the message names the file, the line, the scenario and the field path.

Nothing is evaluated: the file is read with :class:`yaml.SafeLoader` and
validated by pydantic models. :func:`resolve` then checks the names against a
compiled :class:`sim.Model` (with the closest valid names on a miss), the
values against the model's ``[min, max]`` ranges, refuses an ensemble too
large for memory before allocating it, draws the seeded sample and returns the
concrete ``params`` for :meth:`sim.Model.simulate`.

Example
-------
.. code-block:: yaml

    scenarios:
      - name: baseline
        description: Calibrated model, no policy change.
        members: 500
        seed: 20250101
        calibration_uncertainty: identified
      - name: talent first
        extends: baseline
        description: ...
        levers:
          talent: {value: 1.3, start: 2026}
          infrastructure: {ramp: {value: 1.2, start: 2026, end: 2030}}

The package, one concern per module:

- ``errors``: :class:`ScenarioError`.
- ``names``: name normalising, close-match hints, :func:`slugify`.
- ``levers``: :data:`LEVERS`, :data:`MAIN_OUTPUTS`, :data:`SUMMARY_OUTPUTS`.
- ``schema``: the pydantic models (:class:`Scenario`, lever and distribution forms).
- ``parse``: safe YAML parsing with a line index (:data:`MAX_TEXT_BYTES`).
- ``messages``: validation errors naming file, line, scenario and field.
- ``merge``: ``extends`` chains and the deep merge.
- ``loader``: :func:`read_scenario_text`, :func:`read_scenario_file`,
  :func:`load_scenarios`, :func:`load_scenarios_text`.
- ``serialize``: :func:`scenario_to_yaml`.
- ``calibrated``: :func:`load_calibrated`; distributions from calibration intervals.
- ``namer``: scenario names matched against a model; range checks.
- ``memory``: :func:`estimate_bytes`, :data:`DEFAULT_MEMORY_LIMIT`.
- ``resolved``: :class:`ResolvedScenario`.
- ``resolution``: :func:`resolve`.
"""
from sim.calibration.results import Calibrated, CalibratedParameter
from sim.ensembles.sampling import (
                     sample as sample,  # the name resolve() samples with (was a module global)
)
from sim.scenarios.calibrated import load_calibrated
from sim.scenarios.errors import ScenarioError
from sim.scenarios.levers import LEVERS, MAIN_OUTPUTS
from sim.scenarios.levers import SUMMARY_OUTPUTS as SUMMARY_OUTPUTS
from sim.scenarios.levers import Lever as Lever
from sim.scenarios.levers import lever_key as lever_key
from sim.scenarios.loader import (
                     ScenarioFile,
                     load_scenarios,
                     load_scenarios_text,
                     read_scenario_file,
                     read_scenario_text,
)
from sim.scenarios.memory import DEFAULT_MEMORY_LIMIT
from sim.scenarios.memory import estimate_bytes as estimate_bytes
from sim.scenarios.names import slugify
from sim.scenarios.parse import MAX_TEXT_BYTES as MAX_TEXT_BYTES
from sim.scenarios.resolution import resolve
from sim.scenarios.resolved import ResolvedScenario
from sim.scenarios.schema import DISTRIBUTIONS_TEXT as DISTRIBUTIONS_TEXT
from sim.scenarios.schema import LEVER_FORMS_TEXT as LEVER_FORMS_TEXT
from sim.scenarios.schema import ConstantLever as ConstantLever
from sim.scenarios.schema import FromCalibration as FromCalibration
from sim.scenarios.schema import LeverSetting as LeverSetting
from sim.scenarios.schema import RampLever as RampLever
from sim.scenarios.schema import RampSpec as RampSpec
from sim.scenarios.schema import Scenario
from sim.scenarios.schema import StepLever as StepLever
from sim.scenarios.schema import StepSpec as StepSpec
from sim.scenarios.schema import TableLever as TableLever
from sim.scenarios.schema import UncertaintySpec as UncertaintySpec
from sim.scenarios.serialize import scenario_to_yaml

__all__ = ["ScenarioError", "Scenario", "ResolvedScenario", "Calibrated", "CalibratedParameter",
           "LEVERS", "MAIN_OUTPUTS", "load_scenarios", "load_scenarios_text", "read_scenario_file",
           "read_scenario_text", "scenario_to_yaml", "resolve", "load_calibrated", "slugify",
           "DEFAULT_MEMORY_LIMIT", "ScenarioFile"]
