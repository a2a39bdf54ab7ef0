"""The permission of the admin operations pages (a model with no table)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accord", "0002_log_identity_sightings")]  # noqa: RUF012

    operations = [  # noqa: RUF012
        migrations.CreateModel(
            name="Operations",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "operations",
                "verbose_name_plural": "operations",
                "permissions": (("operate", "Can see and operate accord's operations pages"),),
                "managed": False,
                "db_table": "accord_operations",
                "default_permissions": (),
            },
        ),
    ]
