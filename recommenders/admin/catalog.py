"""Admin for the catalogue and interactions."""
