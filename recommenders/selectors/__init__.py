"""Reads of the recommenders app, one module per area."""
