"""The views of accord's admin operations pages (registered by :mod:`.admin`).

Failure behaviour: a user without ``accord.operate`` gets 403 (the admin
itself sends non-staff users to its login page). A server that cannot be
reached is shown on the page, with the error's type and its message
redacted, never as a traceback. Listings are bounded (see
:mod:`accord.core.lock.listing`); the cache's dry run scans at most
:data:`DRY_RUN_SCAN` live keys. Every action (recovery, a decision by hand)
is recorded in Django's admin log.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accord.contrib.django.cache import RingCache
from accord.contrib.django.models import Operations
from accord.core.lock.listing import list_holders
from accord.core.urls import redact

PERMISSION = "accord.operate"
#: Live keys the cache's dry run looks at, at most (SCAN, spread over the nodes).
DRY_RUN_SCAN = 2000
#: Holders listed per lock URL, at most.
HOLDER_LIMIT = 100
#: Moved keys shown by the dry run, at most.
SHOWN_KEYS = 50
_SINGLETON_PREFIX = "celery:"

View = Callable[..., HttpResponse]


def allowed(request: HttpRequest) -> bool:
    """Whether the user may see and use the pages: active staff with ``accord.operate``."""
    user: Any = request.user
    return bool(user.is_active and user.is_staff and user.has_perm(PERMISSION))


def page(site: Any, view: View) -> View:
    """*view* behind the permission, with the admin's context (site header, theme)."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not allowed(request):
            raise PermissionDenied(f"the accord operations pages need the {PERMISSION} permission")
        context = {
            **site.each_context(request),
            "opts": Operations._meta,
            "app_label": "accord",
            "has_view_permission": True,
        }
        return view(request, context, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _log(request: HttpRequest, object_id: str, message: str) -> None:
    """One entry in Django's admin log, on the Operations content type."""
    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type_id=ContentType.objects.get_for_model(Operations, for_concrete_model=False).pk,
        object_id=object_id,
        object_repr=object_id[:200],
        action_flag=CHANGE,
        change_message=message,
    )


def _when(stamp: float | None) -> str:
    if not stamp:
        return ""
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {redact(str(exc))}"


def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> TemplateResponse:
    return TemplateResponse(request, f"admin/accord/{template}", context)


# --------------------------------------------------------------------------- index


def index(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """The list of pages."""
    return _render(request, "index.html", {**context, "title": "accord operations"})


# --------------------------------------------------------------------------- cache


def _ring_caches() -> dict[str, RingCache]:
    found = {}
    for alias, entry in settings.CACHES.items():
        if str(entry.get("BACKEND", "")).endswith(".RingCache"):
            cache = caches[alias]
            if isinstance(cache, RingCache):
                found[alias] = cache
    return found


def _nodes(cache: RingCache) -> list[dict[str, Any]]:
    topology = cache.topology()
    shares = topology.ring.distribution() if topology.ring is not None else {}
    health = topology.health()
    rows = []
    for node in topology.nodes:
        stats = dict(health[node.name])
        rows.append(
            {
                "name": redact(node.name),
                "kind": node.kind,
                "weight": node.weight,
                "share": shares.get(node.name),
                "state": stats["state"],
                "out_since": _when(stats.get("out_since")),  # type: ignore[arg-type]
                "errors": stats["errors"],
                "ejections": stats["ejections"],
                "last_error": stats["last_error"],
                "events": [
                    {"when": _when(at), "what": what, "detail": detail}
                    for at, what, detail in reversed(stats["events"])  # type: ignore[call-overload]
                ],
            }
        )
    return rows


def _dry_run(cache: RingCache, add: str, remove: str) -> dict[str, Any]:
    """What adding *add* or removing *remove* would move: sampled share, and live keys."""
    topology = cache.topology()
    if topology.ring is None:
        return {"error": "a Redis Cluster places keys by slot, not by a ring: nothing to dry-run"}
    try:
        changed = topology.with_node(redact(add)) if add else topology.without_node(remove)
    except (ValueError, TypeError) as exc:
        return {"error": redact(str(exc))}
    ring = topology.ring
    rng = random.Random(0)
    sample = [f"sample:{rng.getrandbits(64):x}" for _ in range(20_000)]
    share = sum(ring.get_node(k) != changed.get_node(k) for k in sample) / len(sample)
    scanned, moved = 0, []
    try:
        for key in cache._cache.iter_keys("*", count=500):
            scanned += 1
            before, after = ring.get_node(key), changed.get_node(key)
            if before != after:
                moved.append({"key": key, "from": redact(before), "to": redact(after)})
            if scanned >= DRY_RUN_SCAN:
                break
    except Exception as exc:  # a node down: show what was found
        return {"error": _error(exc), "share": share}
    return {
        "change": f"add {redact(add)}" if add else f"remove {redact(remove)}",
        "share": share,
        "scanned": scanned,
        "moved_count": len(moved),
        "moved": moved[:SHOWN_KEYS],
        "bounded": scanned >= DRY_RUN_SCAN,
    }


def cache(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """Each RingCache's nodes; with ``?alias=&add=`` or ``&remove=``, a dry run."""
    found = _ring_caches()
    aliases = []
    for alias, ring_cache in found.items():
        try:
            aliases.append({"alias": alias, "nodes": _nodes(ring_cache)})
        except Exception as exc:  # shown, never a traceback
            aliases.append({"alias": alias, "nodes": [], "error": _error(exc)})
    dry_run = None
    alias = request.GET.get("alias", "")
    add, remove = request.GET.get("add", "").strip(), request.GET.get("remove", "").strip()
    if alias in found and (add or remove):
        dry_run = {"alias": alias, **_dry_run(found[alias], add, remove)}
    return _render(
        request,
        "cache.html",
        {**context, "title": "accord: cache nodes", "caches": aliases, "dry_run": dry_run},
    )


# --------------------------------------------------------------------------- locks


def _lock_urls() -> list[str]:
    accord = getattr(settings, "ACCORD", None)
    urls = accord.get("ADMIN_LOCK_URLS", []) if isinstance(accord, dict) else []
    return [u for u in urls if isinstance(u, str)]


def _listings(prefix: str, keep: Callable[[str], bool]) -> list[dict[str, Any]]:
    listings = []
    for url in _lock_urls():
        entry: dict[str, Any] = {"url": redact(url)}
        try:
            found = list_holders(url, prefix=prefix, limit=HOLDER_LIMIT)
        except Exception as exc:
            entry["error"] = _error(exc)
        else:
            entry["holders"] = [h for h in found.holders if keep(h.name)]
            entry["complete"] = found.complete
            entry["scanned"] = found.scanned
        listings.append(entry)
    return listings


def locks(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """The lock holders on each ``ACCORD["ADMIN_LOCK_URLS"]`` URL (singleton leases aside)."""
    listings = _listings("", lambda name: not name.startswith(_SINGLETON_PREFIX))
    return _render(
        request,
        "locks.html",
        {**context, "title": "accord: locks", "listings": listings, "limit": HOLDER_LIMIT},
    )


def singletons(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """The singleton task keys held now, with the holding task id and the lease left."""
    listings = _listings(_SINGLETON_PREFIX, lambda name: True)
    for entry in listings:
        for holder in entry.get("holders", []):
            holder_task = holder.name[len(_SINGLETON_PREFIX) :].rsplit(":", 1)
            entry.setdefault("rows", []).append(
                {"task": holder_task[0], "digest": holder_task[-1], "holder": holder}
            )
    return _render(
        request,
        "singletons.html",
        {**context, "title": "accord: singleton tasks", "listings": listings},
    )


# --------------------------------------------------------------------------- 2PC


def _in_doubt() -> dict[str, Any]:
    from accord.contrib.django import tpc as tpc_api

    try:
        report = tpc_api.in_doubt()
    except Exception as exc:
        return {"error": _error(exc)}
    return {
        "transactions": report.transactions,
        "unreachable": {alias: redact(why) for alias, why in report.unreachable.items()},
    }


def tpc(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """The in-doubt report; POST ``dry_run`` shows what recovery would do, ``resolve`` runs it."""
    from accord.contrib.django import tpc as tpc_api

    plan = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "dry_run":
            try:
                plan = tpc_api.recover(dry_run=True).resolutions
            except Exception as exc:
                messages.error(request, f"recovery's dry run failed: {_error(exc)}")
        elif action == "resolve":
            try:
                report = tpc_api.recover()
            except Exception as exc:
                messages.error(request, f"recovery failed: {_error(exc)}")
            else:
                done = [f"{r.action}: {r.gid} on {r.alias!r}" for r in report.resolutions]
                summary = "; ".join(done) or "nothing to resolve"
                _log(request, "recovery", f"ran 2PC recovery: {summary}")
                messages.success(request, f"recovery ran: {summary}")
            return HttpResponseRedirect(reverse("admin:accord_operations_tpc"))
    return _render(
        request,
        "tpc.html",
        {**context, "title": "accord: two-phase commit", "plan": plan, **_in_doubt()},
    )


def tpc_decide(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """Commit or roll back one transaction by hand: a confirmation page, then the decision."""
    from accord.contrib.django import tpc as tpc_api

    source = request.POST if request.method == "POST" else request.GET
    xid, decision = source.get("xid", ""), source.get("decision", "")
    if decision not in ("commit", "abort") or not xid:
        messages.error(request, f"decision {decision!r} for {xid!r}: expected commit or abort")
        return HttpResponseRedirect(reverse("admin:accord_operations_tpc"))
    if request.method == "POST" and source.get("confirm") == "yes":
        force = source.get("force") == "yes"
        try:
            report = tpc_api.decide(xid, decision, force=force)  # type: ignore[arg-type]
        except Exception as exc:
            messages.error(request, f"{decision} of {xid} refused: {_error(exc)}")
        else:
            done = "; ".join(f"{r.action} on {r.alias!r}" for r in report.resolutions)
            _log(request, xid, f"decided {decision} by hand{' (forced)' if force else ''}: {done}")
            messages.success(request, f"{xid}: {decision} recorded; {done or 'no branch left'}")
        return HttpResponseRedirect(reverse("admin:accord_operations_tpc"))
    found = [t for t in _in_doubt().get("transactions", []) if t.xid == xid]
    return _render(
        request,
        "tpc_decide.html",
        {
            **context,
            "title": f"accord: {decision} {xid} by hand?",
            "xid": xid,
            "decision": decision,
            "transaction": found[0] if found else None,
            "needs_force": decision == "commit" and (not found or found[0].decision is None),
        },
    )
