"""Figures drawn from saved result files (matplotlib is imported lazily, with the Agg backend)."""
