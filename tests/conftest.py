"""Test-suite settings shared by every layer."""
from hypothesis import settings

# Property-based tests explore the same examples on every run, so CI is reproducible;
# set HYPOTHESIS_PROFILE=explore locally to search afresh.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "ci"))
