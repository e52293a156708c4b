"""The job store on SQLite: one file, WAL journal, every call on a worker thread, one at a time.

A row holds a job's id, kind, status and times in columns (for the queries) and the whole
``Job`` as msgspec JSON in ``body`` (so a new field of ``Job`` needs no migration).

sqlite3 calls block, so they run through ``anyio.to_thread.run_sync``; a ``CapacityLimiter``
of one token serialises them, because a sqlite3 connection must never be used by two threads at
once (``check_same_thread=False`` only lifts the check, not the rule). The calls are never
abandoned on cancellation: a cancelled caller waits for its statement to finish, so a write is
either done or not started, never torn.

Writes (``add``, ``put``, ``delete``) are group-committed (``service.jobs.store.group_commit``):
those that arrive while a batch is being committed are committed together next, in one
transaction, and each caller returns once its own write is committed. An insert takes about
50 µs, but a trip to the store's thread and back takes as long as the busy event loop makes it
wait (a millisecond under load): a batch pays that trip once for all its writes. Reads use the
same connection, so they see every write whose caller has returned. A batch that fails with
a constraint error is replayed one write at a time, so only the write at fault is refused;
any other error (a locked database, a full disk) fails every write of the batch.

Another process holding the file's write lock (a backup, a ``sqlite3`` shell) makes a write wait
up to ``busy_timeout_s``; past it the write fails with ``StoreBusy`` (HTTP 503 with
Retry-After), since trying again later will do, and opening the store fails the same way.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Final, TypeVar, final

import anyio
import msgspec

from service.errors import FanoutError, StoreBusy
from service.jobs.model import Job, JobState
from service.jobs.store.group_commit import GroupCommit
from service.jobs.store.protocol import SWEEP_BATCH

__all__ = ["SqliteJobStore"]

T = TypeVar("T")

_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    body BLOB NOT NULL
);
DROP INDEX IF EXISTS jobs_status;
-- No query searches created_at (it is read from the body): an index on it slowed every write.
DROP INDEX IF EXISTS jobs_created;
CREATE INDEX IF NOT EXISTS jobs_status_id ON jobs (status, id);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
"""
_UPSERT: Final = (
    "INSERT INTO jobs (id, kind, status, created_at, finished_at, body) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, status = excluded.status,"
    " created_at = excluded.created_at, finished_at = excluded.finished_at, body = excluded.body"
)
_INSERT: Final = "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)"
_DELETE: Final = "DELETE FROM jobs WHERE id = ?"
_MAX_PENDING: Final = 1024
"""The most writes queued or being committed at once; past it writers wait for room."""
_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Job)
_Row = tuple[str, str, str, float, float | None, bytes]
_Write = tuple[str, Sequence[object]]


@final
class SqliteJobStore:
    """A ``JobStore`` in one SQLite file; open it with ``await SqliteJobStore.open(path)``."""

    __slots__ = ("_busy_timeout_s", "_closing", "_connection", "_limiter", "_path", "_writes")

    def __init__(
        self, connection: sqlite3.Connection, path: Path, *, busy_timeout_s: float = 5.0
    ) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._limiter = anyio.CapacityLimiter(1)
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._writes = GroupCommit[_Write](self._commit, max_pending=_MAX_PENDING)
        self._closing = False

    def __repr__(self) -> str:
        return f"<SqliteJobStore {str(self._path)!r}>"

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_s: float = 5.0) -> SqliteJobStore:
        """Open (creating if need be) the store at ``path``, its directory and its schema.

        Raises FanoutError naming the path and the reason when it cannot be opened: a directory
        where the file should be, a file that is not a database; StoreBusy for a database still
        locked by another process after ``busy_timeout_s``.
        """
        where = Path(path)
        connection = await anyio.to_thread.run_sync(_connect, where, busy_timeout_s)
        return cls(connection, where, busy_timeout_s=busy_timeout_s)

    @property
    def path(self) -> Path:
        return self._path

    async def add(self, job: Job) -> None:
        await self._write(_INSERT, _row(job))

    async def put(self, job: Job) -> None:
        await self._write(_UPSERT, _row(job))

    async def put_many(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        writes = [(_UPSERT, _row(job)) for job in jobs]
        await self._writes.flush()
        await self._call(lambda db: _transaction(db, writes))

    async def get(self, job_id: str) -> Job | None:
        rows = await self._select("SELECT body FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    async def list(
        self, *, status: JobState | None, kind: str | None, limit: int, after: str | None
    ) -> builtins.list[Job]:
        terms = {"status = ?": status and status.value, "kind = ?": kind, "id < ?": after}
        chosen = {term: value for term, value in terms.items() if value is not None}
        where = " AND ".join(chosen) or "1"
        query = f"SELECT body FROM jobs WHERE {where} ORDER BY id DESC LIMIT ?"
        return await self._select(query, (*chosen.values(), limit))

    async def with_status(self, *statuses: JobState) -> builtins.list[Job]:
        query = f"SELECT body FROM jobs WHERE status IN ({_marks(len(statuses))}) ORDER BY id"
        return await self._select(query, [status.value for status in statuses])

    async def finished_before(
        self, cutoff: float, *, limit: int = SWEEP_BATCH
    ) -> builtins.list[Job]:
        # Only finished jobs have a finished_at; NULL < cutoff is never true.
        query = "SELECT body FROM jobs WHERE finished_at < ? ORDER BY finished_at LIMIT ?"
        return await self._select(query, (cutoff, limit))

    async def delete(self, job_id: str) -> None:
        await self._write(_DELETE, (job_id,))

    async def check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check``: ``"ok"``, or the problems it found."""
        rows = await self._call(lambda db: db.execute("PRAGMA integrity_check").fetchall())
        return "; ".join(str(row[0]) for row in rows)

    async def aclose(self) -> None:
        """Refuse new calls, commit the writes already queued, then close the file."""
        self._closing = True
        with anyio.CancelScope(shield=True):
            await self._writes.flush()
            connection, self._connection = self._connection, None
            if connection is not None:
                await anyio.to_thread.run_sync(connection.close, limiter=self._limiter)

    async def _select(self, query: str, values: Sequence[object]) -> builtins.list[Job]:
        rows = await self._call(lambda db: db.execute(query, values).fetchall())
        return [self._decode(row[0]) for row in rows]

    async def _write(self, statement: str, values: Sequence[object]) -> None:
        self._opened()
        await self._writes.write((statement, values))

    async def _commit(self, writes: builtins.list[_Write]) -> builtins.list[FanoutError | None]:
        connection = self._opened(closing=False)  # aclose waits for the writes it finds
        return await anyio.to_thread.run_sync(
            self._apply, connection, writes, limiter=self._limiter
        )

    def _apply(
        self, db: sqlite3.Connection, writes: builtins.list[_Write]
    ) -> builtins.list[FanoutError | None]:
        """On the store's thread: the writes in one transaction, or alone if one is at fault."""
        try:
            _transaction(db, writes)
        except sqlite3.IntegrityError as exc:
            if len(writes) == 1:
                return [self._failed(exc)]
            return [self._apply(db, [write])[0] for write in writes]
        except sqlite3.Error as exc:
            return [self._failed(exc) for _ in writes]
        return [None] * len(writes)

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._opened()
        try:
            return await anyio.to_thread.run_sync(work, connection, limiter=self._limiter)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def _opened(self, *, closing: bool = True) -> sqlite3.Connection:
        """The connection; FanoutError once the store is closed (or, if ``closing``, closing)."""
        connection = self._connection
        if connection is None or (closing and self._closing):
            raise FanoutError(f"the job store {self._path} is closed")
        return connection

    def _failed(self, exc: sqlite3.Error) -> FanoutError:
        error = (
            StoreBusy(f"the job store {self._path} is busy: {_locked(exc, self._busy_timeout_s)}")
            if _is_busy(exc)
            else FanoutError(f"the job store {self._path} failed: {exc}")
        )
        error.__cause__ = exc
        return error

    def _decode(self, body: bytes) -> Job:
        try:
            return _DECODER.decode(body)
        except msgspec.DecodeError as exc:
            raise FanoutError(f"the job store {self._path} holds a damaged job: {exc}") from exc


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise FanoutError(f"cannot open the job store {path}: {_reason(path, exc)}") from exc
    try:
        _prepare(connection, busy_timeout_s)
    except (sqlite3.Error, FanoutError) as exc:
        connection.close()
        if _is_busy(exc):
            locked = _locked(exc, busy_timeout_s)
            raise StoreBusy(f"cannot open the job store {path}: {locked}") from exc
        raise FanoutError(f"cannot open the job store {path}: {_reason(path, exc)}") from exc
    return connection


def _prepare(connection: sqlite3.Connection, busy_timeout_s: float) -> None:
    connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    # WAL lets the API read while a job writes; NORMAL syncs at checkpoints, which in WAL mode
    # can lose the last commits on power loss but never corrupts the file.
    connection.execute("PRAGMA journal_mode = WAL").fetchall()
    connection.execute("PRAGMA synchronous = NORMAL")
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version > _SCHEMA_VERSION:
        raise FanoutError(
            f"its schema version is {version}, written by a newer fanout-service; "
            f"this one reads version {_SCHEMA_VERSION}"
        )
    connection.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {_SCHEMA_VERSION}; COMMIT;")


def _is_busy(exc: BaseException) -> bool:
    """Whether SQLite gave up waiting for another connection's lock (SQLITE_BUSY and kin)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
    )


def _locked(exc: BaseException, busy_timeout_s: float) -> str:
    return f"{exc} by another process, still after {busy_timeout_s:g} s; try again later"


def _reason(path: Path, exc: BaseException) -> str:
    if path.is_dir():
        return "it is a directory, not a database file"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _transaction(db: sqlite3.Connection, writes: Iterable[_Write]) -> None:
    """The writes in order, in one transaction; rolled back whole if one fails."""
    db.execute("BEGIN IMMEDIATE")
    try:
        # executemany per run of one statement: a batch is mostly inserts, then upserts.
        for statement, run in groupby(writes, key=itemgetter(0)):
            db.executemany(statement, [values for _, values in run])
        db.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise


def _row(job: Job) -> _Row:
    body = _ENCODER.encode(job)
    return (job.id, job.kind, job.status.value, job.created_at, job.finished_at, body)


def _marks(count: int) -> str:
    return ", ".join("?" * count)
