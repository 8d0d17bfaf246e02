"""Experiments: ``run(config) -> Result`` functions whose results serialise to JSON."""
