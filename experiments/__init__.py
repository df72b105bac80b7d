"""Experiments: definitions, variants, layers, the holdout, metrics and their lifecycle."""
