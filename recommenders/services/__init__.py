"""Writes of the recommenders app (each in ``transaction.atomic``), one module per area."""
