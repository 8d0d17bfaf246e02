"""The claims map: each claim of the paper under every reading of its open choices."""

from .config import CELLS, CLAIMS, TITLE, ClaimsConfig, Reading, check, quick_claims, readings
from .run import csv_rows, run, section, spec
from .task import SWEEP_SETTINGS, sweep_config, sweep_task

__all__ = ["CELLS", "CLAIMS", "SWEEP_SETTINGS", "TITLE", "ClaimsConfig", "Reading", "check", "csv_rows", "quick_claims",
           "readings", "run", "section", "spec", "sweep_config", "sweep_task"]
