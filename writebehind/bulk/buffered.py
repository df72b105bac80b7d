"""The write-behind buffers' two idempotent shapes.

* :func:`upsert_earliest`: insert rows, or, for a key already stored, keep the earliest
  time (``first_exposed_at = LEAST(stored, new)``). A row whose time moved earlier takes a new
  id from the table's sequence, so that readers which follow the table by id (the rollup's
  exposure watermark) see it again, as they see a new row. Re-applying a row changes nothing,
  so a journal replayed twice writes each row once.
* :func:`add_to_counters`: ``value = value + delta`` per name, creating missing names.

PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT ... DO UPDATE`` per
table, arrays bound in binary (client-side binding would quote thousands of elements into the
SQL text in Python). SQLite: ``executemany`` (a ``DELETE`` of the later rows, then
``INSERT OR IGNORE``, which gives the moved row a new ``AUTOINCREMENT`` id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

from writebehind.bulk.vendor import is_postgresql

__all__ = ["Table", "add_to_counters", "upsert_earliest"]


@dataclass(frozen=True)
class Table:
    """A table written by :func:`upsert_earliest`: its columns (PostgreSQL array types
    beside them), the unique key, and the time column kept at its minimum (the last column)."""

    name: str
    columns: tuple[str, ...]
    pg_types: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def time_column(self) -> str:
        return self.columns[-1]


def upsert_earliest(table: Table, rows: Sequence[tuple]) -> None:
    """Store ``rows`` (values in ``table.columns`` order, the last an aware datetime) so
    that each key keeps its earliest time; the caller holds a transaction. Rows must be
    unique by key (PostgreSQL refuses to update one row twice in a statement)."""
    if not rows:
        return
    if is_postgresql():
        _upsert_earliest_postgresql(table, rows)
    else:
        _upsert_earliest_sqlite(table, rows)


def _upsert_earliest_postgresql(table: Table, rows: Sequence[tuple]) -> None:
    import psycopg

    columns = ", ".join(table.columns)
    aliases = [f"c{i}" for i in range(len(table.columns))]
    arrays = ", ".join(f"%b::{kind}[]" for kind in table.pg_types)
    moved = ", ".join(
        f"{column} = excluded.{column}" for column in table.columns if column not in table.key
    )
    time = table.time_column
    sql = (
        f"INSERT INTO {table.name} ({columns}) SELECT {', '.join(aliases)} "
        f"FROM unnest({arrays}) AS r({', '.join(aliases)}) "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {moved}, "
        f"id = nextval(pg_get_serial_sequence('{table.name}', 'id')) "
        f"WHERE excluded.{time} < {table.name}.{time}"
    )
    connection.ensure_connection()
    # wrap_database_errors: psycopg's errors become Django's (IntegrityError, ...).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        # Foreign keys checked at each statement, not at commit, so a row of a parent
        # deleted meanwhile fails here, inside the caller's savepoint.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
        # Back to Django's default (its foreign keys are INITIALLY DEFERRED).
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _upsert_earliest_sqlite(table: Table, rows: Sequence[tuple]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    stamped = [(*row[:-1], adapt(row[-1])) for row in rows]
    index = [table.columns.index(column) for column in table.key]
    key_match = " AND ".join(f"{column} = %s" for column in table.key)
    marks = ", ".join("%s" for _ in table.columns)
    with connection.cursor() as cursor:
        # SQLite keeps times as ISO text, whose order is the time order.
        cursor.executemany(
            f"DELETE FROM {table.name} WHERE {key_match} AND {table.time_column} > %s",
            [(*(row[i] for i in index), row[-1]) for row in stamped],
        )
        cursor.executemany(
            f"INSERT OR IGNORE INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})",
            stamped,
        )


def add_to_counters(table: str, deltas: Mapping[str, int], now: datetime | None = None) -> None:
    """``value = value + delta`` for each name (created at ``delta`` when missing), in name
    order so that two processes lock the rows in the same order. Same SQL on both vendors
    (SQLite >= 3.24 has ``ON CONFLICT DO UPDATE``)."""
    if not deltas:
        return
    now = now or datetime.now(tz=UTC)
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (name, value, updated_at) VALUES (%s, %s, %s) "
            f"ON CONFLICT (name) DO UPDATE SET value = {table}.value + excluded.value, "
            "updated_at = excluded.updated_at",
            [(name, int(delta), stamp) for name, delta in sorted(deltas.items())],
        )
