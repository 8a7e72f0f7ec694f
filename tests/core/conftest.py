"""Hypothesis runs derandomized: the same examples on every run, so CI is deterministic.

Set HYPOTHESIS_PROFILE=explore (and GDS_EXACTNESS_EXAMPLES) for a long randomized search.
"""

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=3000, database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
