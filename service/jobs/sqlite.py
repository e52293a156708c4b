"""The job store on SQLite: one file, WAL journal, every call on a worker thread, one at a time.

A row holds a job's id, kind, status and times in columns (for the queries) and the whole
``Job`` as msgspec JSON in ``body`` (so a new field of ``Job`` needs no migration).

sqlite3 calls block, so they run through ``anyio.to_thread.run_sync``; a ``CapacityLimiter``
of one token serialises them, because a sqlite3 connection must never be used by two threads at
once (``check_same_thread=False`` only lifts the check, not the rule). The calls are never
abandoned on cancellation: a cancelled caller waits for its statement to finish, so a write is
either done or not started, never torn.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar, final

import anyio
import msgspec

from service.errors import FanoutError
from service.jobs.model import Job, JobState
from service.jobs.store import SWEEP_BATCH

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
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
"""
_UPSERT: Final = (
    "INSERT INTO jobs (id, kind, status, created_at, finished_at, body) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, status = excluded.status,"
    " created_at = excluded.created_at, finished_at = excluded.finished_at, body = excluded.body"
)
_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Job)
_Row = tuple[str, str, str, float, float | None, bytes]


@final
class SqliteJobStore:
    """A ``JobStore`` in one SQLite file; open it with ``await SqliteJobStore.open(path)``."""

    __slots__ = ("_connection", "_limiter", "_path")

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._limiter = anyio.CapacityLimiter(1)
        self._path = path

    def __repr__(self) -> str:
        return f"<SqliteJobStore {str(self._path)!r}>"

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_s: float = 5.0) -> SqliteJobStore:
        """Open (creating if need be) the store at ``path``, its directory and its schema.

        Raises FanoutError naming the path and the reason when it cannot be opened: a directory
        where the file should be, a file that is not a database, a database still locked by
        another process after ``busy_timeout_s``.
        """
        where = Path(path)
        connection = await anyio.to_thread.run_sync(_connect, where, busy_timeout_s)
        return cls(connection, where)

    @property
    def path(self) -> Path:
        return self._path

    async def add(self, job: Job) -> None:
        row = _row(job)
        await self._call(lambda db: db.execute(f"INSERT INTO jobs VALUES ({_marks(6)})", row))

    async def put(self, job: Job) -> None:
        row = _row(job)
        await self._call(lambda db: db.execute(_UPSERT, row))

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
        await self._call(lambda db: db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)))

    async def check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check``: ``"ok"``, or the problems it found."""
        rows = await self._call(lambda db: db.execute("PRAGMA integrity_check").fetchall())
        return "; ".join(str(row[0]) for row in rows)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await anyio.to_thread.run_sync(connection.close, limiter=self._limiter)

    async def _select(self, query: str, values: Sequence[object]) -> builtins.list[Job]:
        rows = await self._call(lambda db: db.execute(query, values).fetchall())
        return [self._decode(row[0]) for row in rows]

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._connection
        if connection is None:
            raise FanoutError(f"the job store {self._path} is closed")
        try:
            return await anyio.to_thread.run_sync(work, connection, limiter=self._limiter)
        except sqlite3.Error as exc:
            raise FanoutError(f"the job store {self._path} failed: {exc}") from exc

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


def _reason(path: Path, exc: BaseException) -> str:
    if path.is_dir():
        return "it is a directory, not a database file"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _row(job: Job) -> _Row:
    body = _ENCODER.encode(job)
    return (job.id, job.kind, job.status.value, job.created_at, job.finished_at, body)


def _marks(count: int) -> str:
    return ", ".join("?" * count)
