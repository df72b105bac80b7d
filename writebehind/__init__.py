"""Write-behind records, shared by the apps: buffered, journaled, written in bulk.

* :mod:`writebehind.buffer`: one buffer class (batching by size and age, a flusher thread,
  retry after a database error, flush at exit) used by exposures, served lists and serving
  counters;
* :mod:`writebehind.journal`: the per-process append-only journal that makes a buffered
  record durable before the response that reports it, and its replay after a crash;
* :mod:`writebehind.bulk`: the vendor-specific bulk writes of the buffers and of the apps'
  loads (events, catalogue, interactions) and the training snapshot's bulk read (PostgreSQL
  arrays and ``COPY``, SQLite ``executemany`` and ``bulk_create``), the one place that asks
  which database it talks to.

A low-level package: it imports Django, never an app, so every app may use it.
"""
