"""What a lesson's answers are computed from: measures of the live model the student has selected.

core.py holds the Reading a measure computes on, the registry and the grading; each other module
offers the measures of one part of the model (import them here so that they register).
"""

from . import attention, blocks, embeddings, output  # noqa: F401  (each registers its measures)
from .core import MEASURES, Computed, Reading, Verdict, check_measure, check_options, compute, grade

__all__ = ["MEASURES", "Computed", "Reading", "Verdict", "check_measure", "check_options", "compute", "grade"]
