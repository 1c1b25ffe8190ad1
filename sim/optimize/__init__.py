"""Decision support: which lever mix reaches a target most cheaply and most robustly.

``spec`` (the YAML), ``evaluate`` (candidates x members as one ensemble),
``search`` (differential evolution, Pareto front), ``output`` (the best mix as a
scenario file, history, front, summary). The command is ``sim optimize SPEC.yaml``.
"""
