"""A Django site with the admin and accord's operations pages, for the browser tests.

``python admin_site.py`` with the JSON configuration in ``ACCORD_ADMIN_TEST``
(``databases``, ``caches`` (RingCache LOCATIONs by alias), ``lock_urls``,
``tpc``, ``port``). It migrates, creates the users ``operator`` (staff, with
``accord.operate``) and ``viewer`` (staff, without), both with the password
``pw``, prints ``READY`` and serves until killed. ``/touch/<alias>/?n=N``
reads (``&set=1``: writes) N keys through the cache, as the site's traffic.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tpc"), str(HERE.parent), str(HERE.parents[2])]

import django  # noqa: E402
from admin_project import ADMIN_APPS, admin_settings  # noqa: E402
from django.conf import settings  # noqa: E402

CONFIG = json.loads(os.environ["ACCORD_ADMIN_TEST"])
FAST = {"failover": "eject", "failure_threshold": 1, "retry_after": 600, "socket_timeout": 0.5}


def touch(request, alias):  # type: ignore[no-untyped-def]
    from django.core.cache import caches
    from django.http import JsonResponse

    cache = caches[alias]
    keys = [f"item:{i}" for i in range(int(request.GET.get("n", "100")))]
    if request.GET.get("set"):
        cache.set_many(dict.fromkeys(keys, "x"))
        return JsonResponse({"stored": len(keys)})
    return JsonResponse({"found": len(cache.get_many(keys))})


def configure() -> None:
    from django.urls import path

    settings.configure(
        DEBUG=True,
        SECRET_KEY="accord-admin-tests",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        DATABASES=CONFIG["databases"],
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            **{
                alias: {
                    "BACKEND": "accord.contrib.django.cache.RingCache",
                    "LOCATION": locations,
                    "OPTIONS": FAST,
                }
                for alias, locations in CONFIG["caches"].items()
            },
        },
        INSTALLED_APPS=[
            *ADMIN_APPS,
            "django.contrib.staticfiles",
            "accord.contrib.django",
            "tpc_testapp",
        ],
        **admin_settings(csrf=True),
        ROOT_URLCONF=__name__,
        STATIC_URL="/static/",
        USE_TZ=True,
        ACCORD={"TPC": CONFIG["tpc"], "ADMIN_LOCK_URLS": CONFIG["lock_urls"]},
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.contrib import admin

    global urlpatterns
    urlpatterns = [path("admin/", admin.site.urls), path("touch/<str:alias>/", touch)]


urlpatterns: list[object] = []


def prepare() -> None:
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    perm = Permission.objects.get(codename="operate", content_type__app_label="accord")
    for name, allowed in (("operator", True), ("viewer", False)):
        user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True})
        user.set_password("pw")
        user.save()
        if allowed:
            user.user_permissions.add(perm)


def serve(port: int) -> None:
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", port), Quiet, ipv6=False)
    server.set_app(StaticFilesHandler(WSGIHandler()))
    print("READY", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    configure()
    prepare()
    serve(int(CONFIG["port"]))
