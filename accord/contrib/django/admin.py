"""accord's operations pages in the Django admin: cache nodes, locks, 2PC, singleton tasks.

They appear under *accord > Operations* for staff users with the permission
``accord.operate`` (being staff is not enough; superusers have it). Pages:

* **Cache**: each RingCache alias, its nodes with state, share of the ring,
  counters and recent ejections and readmissions (as this web process saw
  them); a dry run of adding or removing a node, with the live keys (from a
  bounded scan) that would move;
* **Locks** and **Singleton tasks**: the holders on each URL of
  ``ACCORD["ADMIN_LOCK_URLS"]`` (a bounded listing:
  :mod:`accord.core.lock.listing`);
* **Two-phase commit**: the in-doubt report; *resolve* shows recovery's dry
  run, then runs recovery; a transaction can be committed or rolled back by
  hand behind a confirmation page.

Every action is recorded in Django's admin log (``LogEntry``, on the
Operations content type). No page shows a password: URLs and error messages
go through :func:`accord.core.urls.redact`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path

from accord.contrib.django import operations
from accord.contrib.django.models import Operations

__all__ = ["OperationsAdmin"]


@admin.register(Operations)
class OperationsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The Operations entry of the admin: its URLs are the operations pages."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return operations.allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operations.allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        pages = [
            ("", operations.index, "accord_operations_changelist"),
            ("cache/", operations.cache, "accord_operations_cache"),
            ("locks/", operations.locks, "accord_operations_locks"),
            ("tpc/", operations.tpc, "accord_operations_tpc"),
            ("tpc/decide/", operations.tpc_decide, "accord_operations_tpc_decide"),
            ("singletons/", operations.singletons, "accord_operations_singletons"),
        ]
        return [
            path(route, wrap(operations.page(self.admin_site, view)), name=name)
            for route, view, name in pages
        ]
