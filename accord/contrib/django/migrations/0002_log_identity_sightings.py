"""The decision log's identity and purge horizon, sightings, and an index for the purge.

``source`` is nullable so that a coordinator of the previous version, still
running during a rolling upgrade, can keep inserting its commit rows.

On PostgreSQL, Django gives a ``CharField`` primary key a second index for
``LIKE`` searches (``varchar_pattern_ops``); the log never searches by prefix,
and that index costs every commit decision an index insert: it is dropped.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def drop_like_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'accord_tpc_decision' AND indexdef LIKE '%%varchar_pattern_ops%%'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    # Django reads these class attributes; they are never mutated.
    dependencies = [("accord", "0001_initial")]  # noqa: RUF012

    operations = [  # noqa: RUF012
        migrations.AlterField(
            model_name="decision",
            name="created",
            field=models.FloatField(db_index=True),
        ),
        migrations.RunPython(drop_like_index, migrations.RunPython.noop),
        migrations.AddField(
            model_name="decision",
            name="source",
            field=models.CharField(blank=True, max_length=16, null=True),
        ),
        migrations.CreateModel(
            name="DecisionLogState",
            fields=[
                ("id", models.IntegerField(primary_key=True, serialize=False)),
                ("identity", models.CharField(max_length=16)),
                ("purged_before", models.FloatField(default=0.0)),
            ],
            options={
                "db_table": "accord_tpc_log",
                "verbose_name": "two-phase commit decision log",
            },
        ),
        migrations.CreateModel(
            name="Sighting",
            fields=[
                ("xid", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("seen", models.FloatField()),
            ],
            options={
                "db_table": "accord_tpc_sighting",
                "verbose_name": "two-phase commit sighting",
            },
        ),
    ]
