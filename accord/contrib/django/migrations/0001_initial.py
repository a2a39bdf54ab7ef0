"""The two-phase-commit decision log table."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    # Django reads these class attributes; they are never mutated.
    dependencies = []  # noqa: RUF012

    operations = [  # noqa: RUF012
        migrations.CreateModel(
            name="Decision",
            fields=[
                ("xid", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("decision", models.CharField(max_length=8)),
                ("participants", models.CharField(blank=True, max_length=1000)),
                ("created", models.FloatField()),
            ],
            options={
                "db_table": "accord_tpc_decision",
                "verbose_name": "two-phase commit decision",
            },
        ),
    ]
