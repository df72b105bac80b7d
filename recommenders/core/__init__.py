"""Pure recommender core: data, models, ANN, pipeline and evaluation (no Django)."""
