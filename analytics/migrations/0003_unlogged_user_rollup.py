"""PostgreSQL: the user-day rollup is derived data; keep it out of the write-ahead log.

Every rollup rewrites millions of these rows; skipping the WAL roughly halves that cost. After
a crash PostgreSQL empties unlogged tables, and the next rollup notices the empty table with
exposures present and rebuilds in full (see ``analytics.services.rollups``). Replicas do not
see unlogged tables; reports read the per-arm statistics, which stay logged.
"""

from django.db import migrations


def set_unlogged(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE analytics_userdailyrollup SET UNLOGGED")


def set_logged(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE analytics_userdailyrollup SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_event_ts_brin")]

    operations = [migrations.RunPython(set_unlogged, set_logged)]
