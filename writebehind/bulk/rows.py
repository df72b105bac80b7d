"""The apps' row loads: rows inserted once per key (events), rows upserted by a unique key
(catalogue items and user profiles). PostgreSQL: ``COPY`` (psycopg 3 ``cursor.copy``), into
the table or a temporary one; SQLite: ``executemany`` or ``bulk_create``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from writebehind.bulk.vendor import is_postgresql

__all__ = ["insert_new_rows", "upsert_by_key"]


def insert_new_rows(table: str, columns: Sequence[str], rows: Sequence[tuple], *, key: str) -> int:
    """Insert ``rows`` (values in ``columns`` order: aware datetimes, JSON as its text) whose
    ``key`` is not stored yet; return how many were new. The caller holds a transaction.

    PostgreSQL: one probe for the keys already stored, then ``COPY`` of the new rows straight
    into the table; if a concurrent transaction stored one of them in between, the copy fails
    on the unique index, its savepoint is rolled back and the rows go the safe way: ``COPY``
    into a per-connection temporary table and ``INSERT ... ON CONFLICT DO NOTHING``.
    SQLite: ``INSERT OR IGNORE`` through ``executemany``.
    """
    if not rows:
        return 0
    if is_postgresql():
        return _insert_new_rows_postgresql(table, columns, rows, key)
    return _insert_new_rows_sqlite(table, columns, rows)


def _insert_new_rows_postgresql(
    table: str, columns: Sequence[str], rows: Sequence[tuple], key: str
) -> int:
    from psycopg.errors import UniqueViolation

    listed, at, stage = ", ".join(columns), columns.index(key), f"{table}_stage"
    with connection.cursor() as cursor:
        known = _known_keys(cursor, table, key, [row[at] for row in rows])
        fresh = [row for row in rows if row[at] not in known] if known else rows
        if not fresh:
            return 0
        try:
            with transaction.atomic():
                _copy_rows(cursor, table, listed, fresh)
            return len(fresh)
        except UniqueViolation:
            pass
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
            f"SELECT {listed} FROM {table} WITH NO DATA"
        )
        _copy_rows(cursor, stage, listed, fresh)
        cursor.execute(
            f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {stage} "
            f"ON CONFLICT ({key}) DO NOTHING"
        )
        stored = cursor.rowcount
        cursor.execute(f"TRUNCATE {stage}")
        return stored


def _known_keys(cursor: Any, table: str, key: str, values: list) -> set:
    """The values among ``values`` already stored in ``table.key`` (PostgreSQL)."""
    cursor.execute(f"SELECT {key} FROM {table} WHERE {key} = ANY(%s)", [values])
    return {found for (found,) in cursor.fetchall()}


def _copy_rows(cursor: Any, table: str, listed: str, rows: Sequence[tuple]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({listed}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_new_rows_sqlite(table: str, columns: Sequence[str], rows: Sequence[tuple]) -> int:
    adapt = connection.ops.adapt_datetimefield_value  # aware -> naive UTC text, as Django does
    params = [
        tuple(adapt(value) if isinstance(value, datetime) else value for value in row)
        for row in rows
    ]
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({marks})", params
        )
        return max(cursor.rowcount, 0)


def upsert_by_key(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    fields: Sequence[str],
    batch_size: int,
    created: str = "created_at",
) -> None:
    """Insert or update ``model`` rows by the unique ``key``, in ``rows`` order (new rows take
    their primary keys in that order). Each row maps ``key``, every name in ``fields`` and
    ``created`` (a time, or None: now for a new row, unchanged for a stored one) to its value;
    ``fields`` are overwritten on stored rows, other columns of a new row take their model
    defaults. Keys must be unique; the caller holds a transaction.

    PostgreSQL: ``COPY`` into a temporary table, then one ``UPDATE ... FROM`` and one
    ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. SQLite: ``bulk_create`` with
    ``update_conflicts``, then the given creation times of rows that were already stored.
    """
    if not rows:
        return
    if is_postgresql():
        _upsert_by_key_postgresql(model, rows, key, fields, created)
    else:
        _upsert_by_key_bulk_create(model, rows, key, fields, created, batch_size)


def _upsert_by_key_bulk_create(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    key: str,
    fields: Sequence[str],
    created: str,
    batch_size: int,
) -> None:
    now = timezone.now()
    objects = [
        model(
            **{name: row[name] for name in fields}, **{key: row[key], created: row[created] or now}
        )
        for row in rows
    ]
    model._default_manager.bulk_create(
        objects,
        batch_size=batch_size,
        update_conflicts=True,
        unique_fields=[key],
        update_fields=list(fields),
    )
    timed = [model(**{key: row[key], created: row[created]}) for row in rows if row[created]]
    if timed:
        model._default_manager.bulk_create(
            timed,
            batch_size=batch_size,
            update_conflicts=True,
            unique_fields=[key],
            update_fields=[created],
        )


def _upsert_by_key_postgresql(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    key: str,
    fields: Sequence[str],
    created: str,
) -> None:
    from psycopg.types.json import Jsonb

    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    loaded = [meta.get_field(name) for name in (key, *fields, created)]
    names = [field.column for field in loaded]
    staging = ", ".join(
        ["ordinal bigserial", *(f"{f.column} {f.db_type(connection)}" for f in loaded)]
    )
    json_fields = {f.name for f in loaded if isinstance(f, models.JSONField)}
    updated = [f.column for f in loaded[1:-1]]
    assignments = "".join(f"{name} = s.{name}, " for name in updated)
    # Columns a new row needs beyond the loaded ones: Django sets no database defaults.
    others = [f for f in meta.concrete_fields if not f.primary_key and f.column not in set(names)]
    inserted_columns = ", ".join([*names, *(f.column for f in others)])
    selected = ", ".join([*names[:-1], f"COALESCE({names[-1]}, now())", *("%s" for _ in others)])
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in others]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE bulk_staging ({staging}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY bulk_staging ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [Jsonb(row[f.name]) if f.name in json_fields else row[f.name] for f in loaded]
                )
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments}"
            f"{names[-1]} = COALESCE(s.{names[-1]}, t.{names[-1]}) "
            f"FROM bulk_staging AS s WHERE t.{names[0]} = s.{names[0]}"
        )
        cursor.execute(
            f"INSERT INTO {table} ({inserted_columns}) SELECT {selected} "
            f"FROM bulk_staging ORDER BY ordinal ON CONFLICT ({names[0]}) DO NOTHING",
            defaults or None,
        )
        cursor.execute("DROP TABLE bulk_staging")
