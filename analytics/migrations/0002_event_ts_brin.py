"""A BRIN index on ``analytics_event.ts`` where the database has BRIN (PostgreSQL).

Events arrive roughly in time order and are never updated, so a block-range index answers
the rollups' time-window scans at a tiny fraction of a B-tree's size and insert cost. SQLite
has no BRIN; there the migration does nothing (time scans use the ``received_at`` index and
full scans, which the embedded default's volumes allow).
"""

from django.db import migrations

CREATE_SQL = "CREATE INDEX IF NOT EXISTS analytics_event_ts_brin ON analytics_event USING brin (ts)"
DROP_SQL = "DROP INDEX IF EXISTS analytics_event_ts_brin"


def create_brin(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_SQL)


def drop_brin(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]

    operations = [migrations.RunPython(create_brin, drop_brin)]
