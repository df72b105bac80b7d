"""The apps' column loads: interactions inserted once per key from numpy columns, and the
training snapshot read back as columns of numbers. PostgreSQL moves them in binary (``COPY``'s
binary format, ``int8send``/``float8send``), with no Python object per value; SQLite through
``bulk_create`` and the cursor's tuples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
from django.db import connection, models
from django.db.models import QuerySet

from writebehind.bulk.vendor import is_postgresql

__all__ = ["insert_new_columns", "read_number_columns"]


def insert_new_columns(
    model: type[models.Model],
    columns: Mapping[str, np.ndarray],
    *,
    key: Sequence[str],
    codes: Mapping[str, Sequence[str]],
    chunk_rows: int,
    batch_size: int,
) -> int:
    """Insert rows given as parallel numpy columns (named by field attname), skipping those
    whose unique ``key`` (attnames, in the index's order) is stored; return how many were new.
    A column named in ``codes`` holds small-integer indices into its names; a
    ``DateTimeField``'s column holds unix seconds. The caller holds a transaction.

    PostgreSQL: the columns travel as one numpy record array in ``COPY``'s binary format (no
    per-row Python) into a temporary table, then one ``INSERT ... SELECT ... ON CONFLICT DO
    NOTHING`` sorted by the key (the index is filled in order, not at random). SQLite:
    ``bulk_create(ignore_conflicts=True)`` in chunks of ``chunk_rows``.
    """
    if is_postgresql():
        return _insert_new_columns_postgresql(model, columns, key, codes, chunk_rows)
    return _insert_new_columns_bulk_create(model, columns, codes, chunk_rows, batch_size)


# PostgreSQL's binary COPY format: a signature, flags and header-extension length; each row
# a field count then (length, big-endian value) per field; -1 as the trailer.
PG_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
PG_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
PG_BINARY_TYPES = {"i8": "bigint", "i2": "smallint", "f8": "double precision"}


def _insert_new_columns_postgresql(
    model: type[models.Model],
    columns: Mapping[str, np.ndarray],
    key: Sequence[str],
    codes: Mapping[str, Sequence[str]],
    chunk_rows: int,
) -> int:
    meta, quote = model._meta, connection.ops.quote_name
    names = list(columns)
    kinds = [np.asarray(columns[name]).dtype.str[1:] for name in names]
    record = np.dtype(
        [("n_fields", ">i2")]
        + [
            item
            for j, kind in enumerate(kinds)
            for item in ((f"l{j}", ">i4"), (f"c{j}", ">" + kind))
        ]
    )
    staging = ", ".join(f"c{j} {PG_BINARY_TYPES[kind]}" for j, kind in enumerate(kinds))
    selected = []
    for j, name in enumerate(names):
        field = meta.get_field(name)
        if name in codes:  # fixed choices, not user input
            listed = ", ".join(f"'{value}'" for value in codes[name])
            selected.append(f"(ARRAY[{listed}])[c{j} + 1]")
        elif isinstance(field, models.DateTimeField):
            selected.append(f"to_timestamp(c{j})")
        else:
            selected.append(f"c{j}")
    target = ", ".join(quote(meta.get_field(name).column) for name in names)
    conflict = ", ".join(quote(meta.get_field(name).column) for name in key)
    order = ", ".join(f"c{names.index(name)}" for name in key)
    n_rows = len(columns[names[0]])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE bulk_staging ({staging}) ON COMMIT DROP")
        with cursor.cursor.copy("COPY bulk_staging FROM STDIN (FORMAT BINARY)") as copy:
            for lo in range(0, n_rows, chunk_rows):
                hi = lo + chunk_rows
                rows = np.empty(len(columns[names[0]][lo:hi]), record)
                rows["n_fields"] = len(names)
                for j, name in enumerate(names):
                    rows[f"l{j}"] = record[f"c{j}"].itemsize
                    rows[f"c{j}"] = columns[name][lo:hi]
                copy.write(
                    (PG_COPY_SIGNATURE if lo == 0 else b"")
                    + rows.tobytes()
                    + (PG_COPY_TRAILER if hi >= n_rows else b"")
                )
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({target}) SELECT {', '.join(selected)} "
            f"FROM bulk_staging ORDER BY {order} ON CONFLICT ({conflict}) DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE bulk_staging")
    return inserted


def _insert_new_columns_bulk_create(
    model: type[models.Model],
    columns: Mapping[str, np.ndarray],
    codes: Mapping[str, Sequence[str]],
    chunk_rows: int,
    batch_size: int,
) -> int:
    meta, names = model._meta, list(columns)
    times = {name for name in names if isinstance(meta.get_field(name), models.DateTimeField)}
    manager = model._default_manager
    before = manager.count()
    for lo in range(0, len(columns[names[0]]), chunk_rows):
        hi = lo + chunk_rows
        values = []
        for name in names:
            column = columns[name][lo:hi].tolist()
            if name in codes:
                column = [codes[name][code] for code in column]
            elif name in times:
                column = [datetime.fromtimestamp(ts, UTC) for ts in column]
            values.append(column)
        objects = [model(**dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]
        manager.bulk_create(objects, batch_size=batch_size, ignore_conflicts=True)
    return manager.count() - before


# A column's values as one bytea of big-endian numbers (int8send/float8send, concatenated by
# string_agg): no Python object per value.
PG_SEND = {"int": ("int8send", ">i8"), "float": ("float8send", ">f8")}


def read_number_columns(values: QuerySet, kinds: Sequence[str]) -> np.ndarray:
    """The rows of a ``values_list`` queryset of numbers as an n x len(kinds) float64 array;
    ``kinds``: "int" or "float" per column. PostgreSQL aggregates each column into one binary
    string; SQLite reads the cursor's tuples."""
    width = len(kinds)
    if not is_postgresql():
        return np.array(list(values), dtype=np.float64).reshape(-1, width)
    sql, params = values.query.sql_with_params()
    sends = [PG_SEND[kind] for kind in kinds]
    aggregates = ", ".join(
        f"string_agg({send}(t.c{j}), ''::bytea)" for j, (send, _) in enumerate(sends)
    )
    aliases = ", ".join(f"c{j}" for j in range(width))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {aggregates} FROM ({sql}) AS t({aliases})", params)
        found = cursor.fetchone()
    if found[0] is None:  # no rows
        return np.zeros((0, width))
    return np.column_stack(
        [
            np.frombuffer(bytes(column), dtype=dtype).astype(np.float64)
            for column, (_, dtype) in zip(found, sends, strict=True)
        ]
    )
