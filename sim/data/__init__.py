"""Observed data: the project's sourced series (``observed``) and how they are built (``build``)."""
