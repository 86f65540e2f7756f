"""The one place that opens database sessions: engines, transactions, retries, error translation."""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bo_loop.exceptions import BoLoopError, SchemaVersionError, StorageError
from bo_loop.storage import schema

DEFAULT_STORAGE = "sqlite:///campaigns.db"
STORAGE_ENV = "BO_LOOP_STORAGE"

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: How often a transaction that lost a lock race is tried again, and the longest pause between tries.
MAX_ATTEMPTS = 12
MAX_BACKOFF_S = 2.0

#: PostgreSQL server-side TCP keepalive of each session (seconds): idle, interval, probes.
KEEPALIVE = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}


def resolve_url(storage: str | os.PathLike[str] | None) -> str:
    """Turn what a user passes as ``storage`` into a SQLAlchemy URL.

    ``None`` means ``$BO_LOOP_STORAGE`` or else ``sqlite:///campaigns.db``; a plain path means a
    SQLite file; ``postgresql://`` uses the psycopg (v3) driver that bo_loop installs.
    """
    if storage is None:
        storage = os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    text = os.fspath(storage) if isinstance(storage, str | os.PathLike) else storage
    if not isinstance(text, str) or not text.strip():
        raise StorageError(f"storage must be a SQLAlchemy URL or a file path, but got {storage!r}.")
    if "://" not in text:
        text = f"sqlite:///{Path(text).expanduser()}"
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise StorageError(
            "storage must be a SQLAlchemy URL such as sqlite:///campaigns.db or "
            f"postgresql://user@host/db, but got {text!r}."
        ) from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StorageError(
            f"storage must be a SQLite or PostgreSQL URL, but got backend {url.get_backend_name()!r} "
            f"in {text!r}."
        )
    return url.render_as_string(hide_password=False)


def _is_transient(error: BaseException | None) -> bool:
    """A lock or serialization conflict that a retry resolves (never a broken rule or a bad URL)."""
    if error is None:
        return False
    orig = getattr(error, "orig", error)
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    # 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available
    return sqlstate in {"40001", "40P01", "55P03"}


#: SQLite: how long one attempt waits for the write lock, and the pause between tries.
SQLITE_LOCK_WAIT_S = 60.0
SQLITE_POLL_S = (0.001, 0.004)
#: SQLite's own busy timeout, for the short waits of readers and commits (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _begin_immediate(raw: sqlite3.Connection) -> None:
    """Take SQLite's write lock, trying every few milliseconds until SQLITE_LOCK_WAIT_S passes.

    SQLite's own busy handler sleeps up to 100 ms between tries, while a writer that holds the
    lock frees it for only a few milliseconds between its transactions and then takes it again.
    With 8 processes asking and telling, that starved writers: after two minutes one had done 44
    rounds and another 3. Trying every 1-4 ms gives every waiting writer a fair chance.
    """
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if not _is_transient(e) or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(*SQLITE_POLL_S))
    finally:
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _is_create_race(error: SQLAlchemyError) -> bool:
    """PostgreSQL: another process created the same table or type a moment before us."""
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    # 42P07 duplicate_table, 23505 unique_violation (pg_type), 42710 duplicate_object
    return sqlstate in {"42P07", "23505", "42710"}


def _describe(error: SQLAlchemyError, url: str) -> str:
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip().splitlines()[0]
    if "readonly database" in text or "read-only" in text:
        return f"The database at {url} is read-only ({text}); bo_loop needs to write to it."
    if "file is not a database" in text:
        return f"The file at {url} is not a SQLite database ({text}): check the storage path."
    if "unable to open database file" in text:
        return (
            f"The database file at {url} cannot be opened ({text}): check that its folder exists."
        )
    return f"Database error on {url}: {text}"


#: One engine (and connection pool) per URL per process, its schema checked once.
_ENGINES: dict[str, Engine] = {}


def _forget_engines_in_child() -> None:
    # A forked child must not share the parent's pooled connections.
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()


os.register_at_fork(after_in_child=_forget_engines_in_child)


def dispose(storage: str | os.PathLike[str] | None = None) -> None:
    """Close the pooled connections of one storage URL, or of all when ``storage`` is None."""
    urls = list(_ENGINES) if storage is None else [resolve_url(storage)]
    for url in urls:
        engine = _ENGINES.pop(url, None)
        if engine is not None:
            engine.dispose()


def sqlite_path(storage: str | os.PathLike[str] | None) -> str | None:
    """The file of a SQLite storage; None for PostgreSQL or an in-memory SQLite database."""
    url = make_url(resolve_url(storage))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") in ("true", "1") and url.database.startswith("file:"):
        # sqlite:///file:/path/x.db?mode=ro&uri=true: SQLite's own URI filename.
        if url.query.get("mode") == "memory":
            return None
        path = urllib.parse.urlparse(url.database).path
        return path if path not in ("", ":memory:") else None
    return url.database


def is_in_memory(storage: str | os.PathLike[str] | None) -> bool:
    """Whether ``storage`` is an in-memory SQLite database (``sqlite://``): gone at exit."""
    url = make_url(resolve_url(storage))
    return url.get_backend_name() == "sqlite" and sqlite_path(storage) is None


class Database:
    """A storage URL's engine, its schema checked (or created when empty) on first opening.

    ``create=False`` (for reading: load, list) refuses a SQLite file that does not exist rather
    than creating an empty database at a misspelt path.
    """

    def __init__(
        self,
        storage: str | os.PathLike[str] | None = None,
        *,
        check_schema: bool = True,
        create: bool = True,
    ):
        self.url = resolve_url(storage)
        url = make_url(self.url)
        self.display_url = url.render_as_string(hide_password=True)
        self.is_sqlite = url.get_backend_name() == "sqlite"
        path = sqlite_path(self.url)
        if not create and path is not None and not Path(path).exists():
            raise StorageError(
                f"No SQLite database at {path}: the file does not exist (storage "
                f"{self.display_url}). Check the path; `bo-loop init` or bl.Campaign.create "
                "makes a new database."
            )
        cached = _ENGINES.get(self.url)
        if cached is not None:
            self.engine = cached
        else:
            try:
                if self.is_sqlite:
                    self.engine = self._sqlite_engine(self.url)
                else:
                    self.engine = self._postgresql_engine(self.url)
            except (ArgumentError, NoSuchModuleError) as e:
                raise StorageError(f"Cannot open storage {self.display_url}: {e}") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if cached is None and check_schema:
            try:
                self._check_schema()
            except BaseException:
                self.engine.dispose()
                raise
            _ENGINES[self.url] = self.engine

    @staticmethod
    def _postgresql_engine(url: str) -> Engine:
        engine = create_engine(url, pool_pre_ping=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # A laptop that dies mid-ask leaves a half-open connection whose transaction holds the
            # campaign lock; by default the server notices only after two hours of TCP silence.
            # Server-side keepalives end such a session (and free the lock) within about a minute.
            with dbapi_connection.cursor() as cursor:
                for name, seconds in KEEPALIVE.items():
                    cursor.execute(f"SET {name} = {int(seconds)}")
            dbapi_connection.commit()

        return engine

    @staticmethod
    def _sqlite_engine(url: str) -> Engine:
        # Wait for a writer rather than failing at once; the retry loop below covers the rest.
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # A writer takes the write lock up front: two asks can never read the same trial count.
            write = connection.get_execution_options().get("bo_loop_write", False)
            if not write:
                connection.exec_driver_sql("BEGIN")
                return
            try:
                _begin_immediate(connection.connection.driver_connection)
            except sqlite3.Error as e:
                # Raised as SQLAlchemy raises driver errors, so callers see one kind of error.
                raise OperationalError("BEGIN IMMEDIATE", None, e) from e

        return engine

    def _check_schema(self) -> None:
        for attempt in range(3):
            try:
                # Read first: a read-only database (an archived campaign) can still be loaded
                # and read; only an empty one needs the write lock, to create the tables.
                if schema.check(self.engine, self.display_url):
                    schema.create(
                        self.engine.execution_options(bo_loop_write=True), self.display_url
                    )
                return
            except SchemaVersionError:
                raise
            except SQLAlchemyError as e:
                # Two processes creating the same new database at once: one wins, the other re-checks.
                if attempt == 2 or not (_is_transient(e) or _is_create_race(e)):
                    raise StorageError(_describe(e, self.display_url)) from e
                time.sleep(0.2 * (attempt + 1))

    def upgrade(self, revision: str = "head") -> tuple[str | None, str]:
        """Upgrade the schema to ``revision`` (default: this bo_loop's); returns (before, after)."""
        try:
            return schema.upgrade(self.engine.execution_options(bo_loop_write=True), revision)
        except SQLAlchemyError as e:
            raise StorageError(_describe(e, self.display_url)) from e

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that commits on success, rolls back on any error, and always closes.

        Driver errors become StorageError; bo_loop's own errors pass through unchanged.
        """
        bind = self.engine.execution_options(bo_loop_write=write)
        session = self._sessions(bind=bind)
        try:
            yield session
            session.commit()
        except BoLoopError:
            session.rollback()
            raise
        except SQLAlchemyError as e:
            session.rollback()
            raise StorageError(_describe(e, self.display_url)) from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        """Run ``work`` in one transaction, retried with bounded back-off on lock conflicts.

        ``work`` may run more than once, so it must only read and write through its session.
        A conflict is SQLite's "database is locked" (after a writer waited SQLITE_LOCK_WAIT_S) or a
        PostgreSQL serialization failure, deadlock or lock timeout; each retry is logged on the
        ``bo_loop.storage.database`` logger. Anything else is raised at once.
        """
        started = time.monotonic()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self.session(write=write) as session:
                    return work(session)
            except StorageError as e:
                if not _is_transient(e.__cause__):
                    raise
                if attempt == MAX_ATTEMPTS:
                    raise StorageError(
                        f"{e} (gave up after {MAX_ATTEMPTS} attempts in "
                        f"{time.monotonic() - started:.0f} s: another process keeps the database "
                        "locked)"
                    ) from e.__cause__
                pause = min(MAX_BACKOFF_S, 0.05 * 2 ** (attempt - 1)) * (0.5 + random.random())
                logger.info(
                    "Transient conflict on %s (attempt %d of %d), retrying in %.2f s: %s",
                    self.display_url, attempt, MAX_ATTEMPTS, pause, e,
                )  # fmt: skip
                time.sleep(pause)
        raise AssertionError("unreachable")


__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "Database",
    "dispose",
    "is_in_memory",
    "resolve_url",
    "sqlite_path",
]
