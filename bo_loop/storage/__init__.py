"""Persistence: SQLAlchemy models, sessions, schema migrations. ORM rows never leave this package."""

from __future__ import annotations

from bo_loop.storage.database import DEFAULT_STORAGE, STORAGE_ENV, Database, dispose, resolve_url

__all__ = ["DEFAULT_STORAGE", "STORAGE_ENV", "Database", "dispose", "resolve_url"]
