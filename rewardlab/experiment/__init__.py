"""Runs: configuration, the run directory, training with callbacks, evaluation."""
