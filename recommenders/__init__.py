"""Recommenders: catalogue, interactions, models, training pipeline and serving."""
