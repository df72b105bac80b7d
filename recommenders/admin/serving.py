"""Admin for recommender configurations and model versions."""
