"""Ledger entries live in the "ledger" database; everything else in "default"."""

from __future__ import annotations

from typing import Any


class LedgerRouter:
    LEDGER_MODELS = frozenset({"ledgerentry"})

    def _db(self, model: Any) -> str:
        is_ledger = model._meta.app_label == "shop" and model._meta.model_name in self.LEDGER_MODELS
        return "ledger" if is_ledger else "default"

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self._db(model)

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return self._db(model)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        if app_label == "shop" and model_name is not None:
            return db == ("ledger" if model_name in self.LEDGER_MODELS else "default")
        # accord's decision log goes where DECISION_LOG points: "default".
        return db == "default"
