"""Experiments: running scenarios — every arm and replicate (``run``), in shards or worker
processes, sweeps, calibration, validation and sensitivity analysis."""
