"""Global sensitivity over time for any model: ``sim sensitivity MODEL.mdl``.

Sobol indices (first-order and total, Saltelli sampling) or Morris elementary
effects, from SALib, for chosen outputs at every saved time; the factors and
their ranges come from a YAML file or from the ranges the model declares
(``[min, max]`` in a constant's units field). All samples run as one vectorised
ensemble.
"""
