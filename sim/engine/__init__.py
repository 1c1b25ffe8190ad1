"""The engine: model text to trajectories.

Its folders read as the pipeline (see ``docs/architecture.md``): ``reading``
(PySD's translator, subscripts, names, units) -> ``compiled`` (the program) ->
``compiling`` (compiler, closures, back ends) -> ``tape`` (opcodes, kernel) ->
``running`` (evaluator, integrators) -> the public ``model``, ``inputs`` and
``results``. Nothing here imports the layers above it.
"""
