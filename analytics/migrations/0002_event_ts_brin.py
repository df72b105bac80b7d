"""Time indexes of ``analytics_event``: BRIN in PostgreSQL, B-tree elsewhere.

Events arrive roughly in time order and are never updated, so block-range indexes answer the
rollups' time-window scans (``ts`` for days, ``received_at`` for what arrived since the last
run) at a tiny fraction of a B-tree's size and insert cost. SQLite has no BRIN; there a plain
index on ``received_at`` serves the same query at the embedded default's volumes.
"""

from django.db import migrations

POSTGRESQL = [
    "CREATE INDEX IF NOT EXISTS analytics_event_ts_brin ON analytics_event USING brin (ts)",
    "CREATE INDEX IF NOT EXISTS analytics_event_received_brin "
    "ON analytics_event USING brin (received_at)",
]
OTHER = [
    "CREATE INDEX IF NOT EXISTS analytics_event_received ON analytics_event (received_at)",
]
DROP = [
    "DROP INDEX IF EXISTS analytics_event_ts_brin",
    "DROP INDEX IF EXISTS analytics_event_received_brin",
    "DROP INDEX IF EXISTS analytics_event_received",
]


def create_indexes(apps, schema_editor) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    for sql in POSTGRESQL if postgresql else OTHER:
        schema_editor.execute(sql)


def drop_indexes(apps, schema_editor) -> None:
    for sql in DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
