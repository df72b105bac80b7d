"""The classic recommenders, one module each; see ``recommenders.core.registry``."""
