"""The catalogue and what users did with it."""

__all__: list[str] = []
