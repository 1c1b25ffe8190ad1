"""Running a program.

``methods`` (the integration methods, defined once) -> ``orders`` (evaluation
orders) -> ``cache`` (what runs derive from a program, shared by threads) ->
``evaluator`` (one run's values and derivatives) -> ``integrators`` (fixed
step, SciPy piecewise) -> ``switches`` (where the horizon is split) ->
``failures`` (members that go non-finite or stop the solver).
"""
