"""Environment variables that point accord's test helpers at services."""

from __future__ import annotations

import os

REQUIRE_SERVICES = "ACCORD_REQUIRE_SERVICES"
POSTGRES_URL = "ACCORD_TEST_POSTGRES_URL"
MYSQL_URL = "ACCORD_TEST_MYSQL_URL"
AMQP_URL = "ACCORD_TEST_AMQP_URL"

DEFAULTS = {
    POSTGRES_URL: "postgresql://postgres@127.0.0.1:5432/postgres",
    MYSQL_URL: "mysql://root@127.0.0.1:3306/",
    AMQP_URL: "amqp://guest:guest@127.0.0.1:5672//",
}


def services_required() -> bool:
    """True when ``ACCORD_REQUIRE_SERVICES`` is set to 1/true/yes (missing services then fail)."""
    return os.environ.get(REQUIRE_SERVICES, "").strip().lower() in {"1", "true", "yes", "on"}


def url_from_env(name: str) -> str:
    """The URL in environment variable ``name``, else its documented default."""
    return os.environ.get(name) or DEFAULTS[name]
