"""Bulk writes (and the one bulk read) that differ by database vendor, in one place: no app
module asks which database it talks to (:func:`is_postgresql`, in ``vendor``, is asked here
and by the rollups' SQL dialect).

* ``buffered``: the write-behind buffers' idempotent shapes, :func:`upsert_earliest`
  (exposures) and :func:`add_to_counters` (serving counters);
* ``rows``: :func:`insert_new_rows` (events, once per id) and :func:`upsert_by_key`
  (catalogue items and user profiles by external id);
* ``columns``: :func:`insert_new_columns` (interactions, once per key, from numpy columns) and
  :func:`read_number_columns` (the training snapshot as columns of numbers).
"""

from writebehind.bulk.buffered import Table, add_to_counters, upsert_earliest
from writebehind.bulk.columns import insert_new_columns, read_number_columns
from writebehind.bulk.rows import insert_new_rows, upsert_by_key
from writebehind.bulk.vendor import is_postgresql

__all__ = [
    "Table",
    "add_to_counters",
    "insert_new_columns",
    "insert_new_rows",
    "is_postgresql",
    "read_number_columns",
    "upsert_by_key",
    "upsert_earliest",
]
