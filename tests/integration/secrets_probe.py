"""What the secrets test shares with the Django process it runs: the password, its forms,
a plugin that records every observer hook, and (run as a script) a Django project whose
settings hold passwords, driven through its checks, commands, cache and admin pages.

``python secrets_probe.py`` reads ``ACCORD_SECRETS_PROBE`` (JSON: ``caches``, RingCache
``LOCATION`` and ``OPTIONS`` by alias; ``tpc``, the ``ACCORD["TPC"]`` settings;
``lock_urls``; ``databases``, more Django ``DATABASES``; ``steps``, the names of the
steps to run) and prints everything that comes out: check messages, command output,
exception texts, reprs, hook arguments, log records (``accord`` loggers at DEBUG). The
test then looks for the password in that output.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: Every password of the test holds this mark, in every piece between separators, so that
#: any piece of one that leaks is found.
MARK = "pw0SECRET"
PASSWORD = f"{MARK}1"


def password_forms(scheme: str, hostport: str, path: str) -> dict[str, str]:
    """One URL per way a password can be written, for *scheme* at *hostport* + *path*.

    The path is e.g. ``/0`` (Redis), ``/mymaster/0`` (Sentinel) or ``/app`` (ZooKeeper).
    The query form is left out for ZooKeeper, which takes no query.
    """
    forms = {
        "userinfo": f"{scheme}://:{PASSWORD}@{hostport}{path}",
        "user-and-password": f"{scheme}://alice:{PASSWORD}@{hostport}{path}",
        "unescaped-slash": f"{scheme}://alice:{MARK}a/{MARK}b@{hostport}{path}",
        "unescaped-hash": f"{scheme}://alice:{MARK}a#{MARK}b@{hostport}{path}",
        "unescaped-at": f"{scheme}://alice:{MARK}a@{MARK}b@{hostport}{path}",
        "unescaped-question": f"{scheme}://alice:{MARK}a?{MARK}b@{hostport}{path}",
        "url-encoded": f"{scheme}://alice:{quote(f'{MARK}a/#@?{MARK}b', safe='')}@{hostport}{path}",
        "query": f"{scheme}://{hostport}{path}?password={PASSWORD}",
        "query-unescaped-hash": f"{scheme}://{hostport}{path}?password={MARK}a#{MARK}b",
    }
    if scheme.endswith("+sentinel"):
        forms["sentinel-password"] = f"{scheme}://{hostport}{path}?sentinel_password={PASSWORD}"
    if scheme == "zookeeper":
        forms = {k: v for k, v in forms.items() if not k.startswith("query")}
    return forms


def leaks(text: str) -> bool:
    """True when *text* holds any piece of a test password."""
    return MARK.lower() in text.lower()


def shown(exc: BaseException) -> str:
    """Everything an exception shows: str, repr and traceback of it and of its causes."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), *(repr(a) for a in current.args)]
        parts.append("".join(traceback.format_exception_only(type(current), current)))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


class Recorder:
    """An accord plugin with every observer hook, recording the arguments it receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def text(self) -> str:
        """Every recorded call with its arguments (exceptions shown whole)."""
        lines = []
        for name, kwargs in self.calls:
            values = {k: shown(v) if isinstance(v, BaseException) else v for k, v in kwargs.items()}
            lines.append(f"{name}({values!r})")
        return "\n".join(lines)


def recording_plugin() -> Recorder:
    """A :class:`Recorder` whose methods implement every observer hook of accord."""
    from accord import hookimpl
    from accord.core import hookspecs

    recorder = Recorder()
    for name, spec in vars(hookspecs).items():
        if not name.startswith("accord_") or not callable(spec):
            continue
        if getattr(spec, "accord_spec", {}).get("firstresult"):
            continue
        params = list(inspect.signature(spec).parameters)
        namespace: dict[str, Any] = {}
        exec(  # a function with the spec's own argument names, as pluggy requires
            f"def {name}({', '.join(params)}):\n"
            f"    calls.append(({name!r}, dict({', '.join(f'{p}={p}' for p in params)})))\n",
            {"calls": recorder.calls},
            namespace,
        )
        setattr(recorder, name, hookimpl(namespace[name]))
    return recorder


@contextlib.contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every record of the ``accord`` loggers (DEBUG and up), formatted with its traceback."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("accord")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# ---------------------------------------------------------------------- the Django project


def _configure(config: dict[str, Any]) -> None:
    import django
    from django.conf import settings

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here / "tpc"), str(here)]
    from admin_project import ADMIN_APPS, admin_settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="accord-secrets-tests",
        ALLOWED_HOSTS=["testserver"],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            **config.get("databases", {}),
        },
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            **{
                alias: {"BACKEND": "accord.contrib.django.cache.RingCache", **entry}
                for alias, entry in config.get("caches", {}).items()
            },
        },
        INSTALLED_APPS=[
            *ADMIN_APPS,
            "accord.contrib.django",
        ],
        **admin_settings(csrf=False),
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        ACCORD={"TPC": config.get("tpc", {}), "ADMIN_LOCK_URLS": config.get("lock_urls", [])},
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.contrib import admin
    from django.urls import path

    global urlpatterns
    urlpatterns = [path("admin/", admin.site.urls)]


urlpatterns: list[object] = []


def _step_checks() -> None:
    from django.core import checks

    for message in checks.run_checks(include_deployment_checks=True):
        print("CHECK", message.id, message.msg, message.hint)


def _step_command(*args: str, per_cache: bool = False) -> Callable[[], None]:
    """Run a management command (once per RingCache alias if *per_cache*), printing its output."""

    def run() -> None:
        from django.core.management import call_command

        aliases = list(json.loads(os.environ["ACCORD_SECRETS_PROBE"]).get("caches", {}))
        for alias in aliases if per_cache else [""]:
            full = [args[0], *([alias] if alias else []), *args[1:]]
            out, err = io.StringIO(), io.StringIO()
            try:
                call_command(*full, stdout=out, stderr=err)
            except BaseException as exc:
                print("COMMAND ERROR", shown(exc))
            # The arguments are the probe's own: shown without the password they may hold.
            print("COMMAND", [a.replace(PROBE_ADD, "<added>") for a in full])
            print(out.getvalue(), err.getvalue())

    return run


def _use_cache(alias: str) -> None:
    from django.core.cache import caches

    cache = caches[alias]
    print("CACHE", repr(cache), repr(cache._cache.config))
    calls: list[Callable[[], object]] = [
        lambda: cache.set("k", "v"),
        lambda: cache.get("k"),
        lambda: cache.get_many(["a", "b", "c"]),
        lambda: cache.get_client("k"),
    ]
    for call in calls:
        try:
            print("RESULT", repr(call()))
        except Exception as exc:
            print("ERROR", shown(exc))
    print("STATS", cache.node_stats())
    topology = cache.topology()
    print("TOPOLOGY", repr(topology), [repr(n) for n in topology.nodes])


def _step_cache_calls() -> None:
    for alias in json.loads(os.environ["ACCORD_SECRETS_PROBE"]).get("caches", {}):
        try:
            _use_cache(alias)
        except Exception as exc:
            print("CACHE ERROR", alias, shown(exc))


def _step_admin_pages() -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    for page in ("", "cache/", "locks/", "singletons/", "tpc/"):
        try:
            reply = client.get(f"/admin/accord/operations/{page}")
            print("PAGE", page, reply.status_code, reply.content.decode())
        except Exception as exc:
            print("PAGE ERROR", page, shown(exc))
    for alias in json.loads(os.environ["ACCORD_SECRETS_PROBE"]).get("caches", {}):
        reply = client.get(f"/admin/accord/operations/cache/?alias={alias}&add={PROBE_ADD}")
        print("PAGE dry run", reply.status_code, reply.content.decode())


#: A node URL with a password that the dry runs add (the command and the admin page).
PROBE_ADD = f"redis://:{PASSWORD}@127.0.0.1:1/5"

STEPS: dict[str, Callable[[], None]] = {
    "checks": _step_checks,
    "accord_ring": _step_command("accord_ring", per_cache=True),
    "accord_ring_add": _step_command("accord_ring", "--add", PROBE_ADD, per_cache=True),
    "accord_ring_remove": _step_command(
        "accord_ring", "--remove", "redis://127.0.0.1:1/0", per_cache=True
    ),
    "accord_recover": _step_command("accord_recover", "--list"),
    "accord_recover_run": _step_command("accord_recover"),
    "cache_calls": _step_cache_calls,
    "admin_pages": _step_admin_pages,
}


def main() -> None:
    config = json.loads(os.environ["ACCORD_SECRETS_PROBE"])
    recorder = recording_plugin()
    with captured_logs() as logs:
        try:
            _configure(config)
        except Exception as exc:
            print("SETUP ERROR", shown(exc))
            return
        from accord.testing.plugins import registered

        with registered(recorder, "secrets-recorder"):
            for step in config["steps"]:
                print("STEP", step)
                try:
                    STEPS[step]()
                except BaseException as exc:  # SystemExit of a command too
                    print("STEP ERROR", step, shown(exc))
                print("DONE", step)
    print("LOGS", logs.getvalue())
    print("HOOKS", recorder.text())


if __name__ == "__main__":
    main()
