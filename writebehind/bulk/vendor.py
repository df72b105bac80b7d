"""Which database the default connection talks to: the one question this package asks."""

from __future__ import annotations

from django.db import connection

__all__ = ["is_postgresql"]


def is_postgresql() -> bool:
    """True when the default database is PostgreSQL (else SQLite, the embedded default)."""
    return connection.vendor == "postgresql"
