"""Deterministic assignment of users to variants, exposure logging and its API."""
