"""Feedback loops and their dominance over time (Loops That Matter), for any model.

``graph``: the variable graph of a compiled model and its feedback loops (all
elementary cycles, or an independent loop set for large models); ``scores``: link
scores, loop scores and relative loop scores from a run (Schoenberg, Davidsen &
Eberlein 2020, "Understanding model behavior using the Loops that Matter
method", System Dynamics Review 36(2)); ``names``: the names a model card gives
its loops (``NAME.loops.yaml`` beside the model).
"""
