"""``openssl enc`` chained into ``openssl dgst``: three ways to wire them, one way to end them.

- digest only (the book's chain): enc's stdout is an OS pipe straight into dgst's stdin, so
  the ciphertext never passes through Python;
- encrypt: Python reads enc's output a chunk at a time and writes each chunk to the sink and
  to dgst's stdin before it reads the next, so memory holds a chunk, not the payload;
- decrypt: the ciphertext goes to ``enc -d`` and to dgst alike (its digest must equal the one
  encryption reported), and the plaintext to the sink.

Every child is stopped the same way whatever happens - success, an error, a timeout or
cancellation: SIGTERM, a grace period, SIGKILL, reaped, pipes closed (``children.stop``).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, final

import anyio
from anyio import CancelScope, create_task_group
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from adapters._openssl.catalog import Algorithm
from adapters._openssl.children import PIPE, Child, ChildGone, Spawner, stop
from adapters._openssl.errors import ChainTimeout, ChildFailed, StartFailed
from adapters._openssl.password import Password
from adapters._openssl.pipes import close_fds, sized_pipe
from adapters._openssl.stderr import summarise

__all__ = ["ChainResult", "InputFile", "Limits", "Recipe", "Sink", "run_chain"]

Sink = Callable[[bytes], Awaitable[object]]
"""Where output goes, a chunk at a time; it applies backpressure by taking its time."""

# openssl's stderr is a few lines; past this much, the rest is read and dropped.
_STDERR_KEEP: Final = 16 * 1024
_HEX: Final = re.compile(r"[0-9a-f]+")


@final
@dataclass(frozen=True, slots=True)
class Recipe:
    """What to run: the binary, the algorithms and the key derivation."""

    openssl: str
    cipher: Algorithm
    digest: Algorithm
    iterations: int
    providers: tuple[str, ...] = ()

    def enc_argv(self, password_fd: int, *, decrypt: bool) -> list[str]:
        # -md sha256 is enc's default since 1.1.0; said outright, so a ciphertext stays
        # readable by `openssl enc -d -pbkdf2 -iter N` whatever a later default becomes.
        return [
            self.openssl,
            "enc",
            f"-{self.cipher.name}",
            "-d" if decrypt else "-e",
            "-pbkdf2",
            "-iter",
            str(self.iterations),
            "-md",
            "sha256",
            "-pass",
            f"fd:{password_fd}",
            *self.providers,
        ]

    def dgst_argv(self) -> list[str]:
        return [self.openssl, "dgst", f"-{self.digest.name}", "-r", *self.providers]


@final
@dataclass(frozen=True, slots=True)
class Limits:
    """How a chain reads, how long it may run, and how long a child gets to end on SIGTERM."""

    chunk_bytes: int = 1024 * 1024
    timeout_s: float = 300.0
    grace_s: float = 2.0


@final
@dataclass(frozen=True, slots=True)
class ChainResult:
    """The digest (hex) and the bytes that went in and out (None: never seen by Python)."""

    digest: str
    bytes_in: int
    bytes_out: int | None


@final
@dataclass(frozen=True, slots=True)
class InputFile:
    """A regular file as the source: enc (and, decrypting, dgst) read it themselves.

    No byte of it passes through this process: each child gets its own descriptor of the file
    as stdin, as ``openssl enc -in FILE`` would read it.
    """

    path: str


@final
@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything one run of the chain was asked to do."""

    recipe: Recipe
    spawner: Spawner
    password: Password
    source: AsyncIterable[bytes] | InputFile
    sink: Sink | None
    decrypt: bool
    limits: Limits


@dataclass(slots=True)
class _Run:
    """One chain's children and what it has seen of their streams."""

    children: list[Child] = field(default_factory=list)
    stderr: dict[str, bytes] = field(default_factory=dict)
    digest_out: bytes = b""
    bytes_in: int = 0
    bytes_out: int = 0


async def run_chain(
    recipe: Recipe,
    spawner: Spawner,
    password: Password,
    source: AsyncIterable[bytes] | InputFile,
    sink: Sink | None,
    *,
    decrypt: bool = False,
    limits: Limits = Limits(),
) -> ChainResult:
    """Run enc and dgst over ``source``; ``sink`` None: digest only (encryption only)."""
    if decrypt and sink is None:
        raise ValueError("decryption needs a sink for the plaintext")
    run = _Run()
    try:
        with anyio.move_on_after(limits.timeout_s):
            await _wire(_Plan(recipe, spawner, password, source, sink, decrypt, limits), run)
            return _finish(run, sink is None)
        raise ChainTimeout(
            f"openssl ran past its time limit of {limits.timeout_s:g} s (crypto.timeout_s) "
            "and was stopped"
        )
    finally:
        with CancelScope(shield=True):
            async with create_task_group() as group:
                for child in run.children:
                    group.start_soon(_stop, child, limits.grace_s)


async def _stop(child: Child, grace_s: float) -> None:
    await stop(child, grace_s=grace_s)


async def _wire(plan: _Plan, run: _Run) -> None:
    chunk, source, sink, decrypt = plan.limits.chunk_bytes, plan.source, plan.sink, plan.decrypt
    try:
        enc, dgst = await _start(plan, run)
    except OSError as exc:
        hint = " (too many open files: run fewer jobs at once or raise `ulimit -n`)"
        raise StartFailed(
            f"cannot start openssl: {exc.strerror or exc}"
            + (hint if exc.errno == errno.EMFILE else "")
        ) from exc

    async def feed() -> None:
        if isinstance(source, InputFile):
            return  # the children read it themselves
        # decrypt: the ciphertext to enc -d and to dgst; encrypt: the plaintext to enc.
        consumers: list[Sink] = [enc.write, dgst.write] if decrypt else [enc.write]
        async with _closing(source) as pieces, _Fanout(consumers) as fanout:
            async for piece in pieces:
                run.bytes_in += len(piece)
                await fanout.send(piece)
        await enc.close_stdin()
        if decrypt:
            await dgst.close_stdin()

    async def pump() -> None:
        # encrypt: enc's output to the sink and to dgst; decrypt: to the sink only.
        assert sink is not None
        consumers: list[Sink] = [sink] if decrypt else [sink, dgst.write]
        async with _Fanout(consumers) as fanout:
            while piece := await enc.read(chunk):
                run.bytes_out += len(piece)
                await fanout.send(piece)
        if not decrypt:
            await dgst.close_stdin()

    async def collect_digest() -> None:
        while piece := await dgst.read(chunk):
            run.digest_out += piece[: _STDERR_KEEP - len(run.digest_out)]

    try:
        async with create_task_group() as group:
            group.start_soon(feed)
            if sink is not None:
                group.start_soon(pump)
            group.start_soon(collect_digest)
            for child in (enc, dgst):
                group.start_soon(_supervise, child, run.stderr, group.cancel_scope)
    except BaseExceptionGroup as failure:
        _, others = failure.split(ChildGone)
        if others is not None:
            raise _first_leaf(others) from None  # the source's or the sink's own error
        # Only "a child stopped reading": the first to exit says why (a signal, bad input).
        await _first_exit(run.children)
        _raise_failures(run)
        raise ChildFailed(
            "enc", 0, "a child closed its input before the end of the stream"
        ) from failure
    # A child that failed cancelled the rest: say which and why.
    _raise_failures(run)


async def _supervise(child: Child, stderr: dict[str, bytes], everything: CancelScope) -> None:
    """Drain the child's stderr, reap it, and stop the whole chain if it failed.

    Without this, a child killed while the source is quiet would go unnoticed until the
    source spoke again - or until the time limit, if it never does.
    """
    kept = b""
    while piece := await child.read_stderr(4096):
        kept += piece[: _STDERR_KEEP - len(kept)]
    stderr[child.role] = kept
    if await child.wait() != 0:
        everything.cancel()


async def _first_exit(children: list[Child]) -> None:
    async with create_task_group() as group:
        for child in children:

            async def reap(child: Child = child) -> None:
                await child.wait()
                group.cancel_scope.cancel()

            group.start_soon(reap)


async def _start(plan: _Plan, run: _Run) -> tuple[Child, Child]:
    """Start enc and dgst with their pipes; each child joins ``run`` as soon as it runs."""
    recipe, spawner, source, decrypt = plan.recipe, plan.spawner, plan.source, plan.decrypt
    between = sized_pipe(plan.limits.chunk_bytes) if plan.sink is None else None
    # A file is opened once per child that reads it: enc, and dgst too when decrypting.
    files = await _open(source, 2 if decrypt else 1) if isinstance(source, InputFile) else []
    secret = plan.password.pipe()
    try:
        if files:
            run.bytes_in = os.fstat(files[0]).st_size
        enc = await spawner.spawn(
            recipe.enc_argv(secret, decrypt=decrypt),
            role="enc",
            stdin=files[0] if files else PIPE,
            stdout=between[1] if between else PIPE,
            pass_fds=(secret,),
        )
        run.children.append(enc)
        dgst = await spawner.spawn(
            recipe.dgst_argv(),
            role="dgst",
            stdin=between[0] if between else files[1] if len(files) > 1 else PIPE,
            stdout=PIPE,
            pass_fds=(),
        )
        run.children.append(dgst)
    finally:
        # Ours to close once the children hold them: an end left open here would keep dgst
        # from ever seeing the end of its input.
        close_fds(secret, *(between or ()), *files)
    return enc, dgst


async def _open(source: InputFile, copies: int) -> list[int]:
    """``copies`` descriptors of the file, each with its own offset (a worker thread opens them:
    an open can block on a slow file system)."""

    def open_all() -> list[int]:
        fds: list[int] = []
        try:
            for _ in range(copies):
                fds.append(os.open(source.path, os.O_RDONLY | os.O_CLOEXEC))
        except BaseException:
            close_fds(*fds)
            raise
        return fds

    return await anyio.to_thread.run_sync(open_all)


@asynccontextmanager
async def _closing(source: AsyncIterable[bytes]) -> AsyncIterator[AsyncIterable[bytes]]:
    """The source, closed on leaving if it can be (an async generator stopped mid-way).

    A generator abandoned at a ``yield`` would otherwise be finalised by the garbage
    collector, outside any task, where its clean-up code cannot run as it should.
    """
    try:
        yield source
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()


@final
class _Fanout:
    """Hands each chunk to every consumer, each writing in a task of its own.

    One chunk waits for each consumer while it writes the one before, so reading the next
    chunk, writing to the sink and writing to dgst overlap, and memory holds at most
    ``2 x consumers + 1`` chunks whatever the payload's size.
    """

    __slots__ = ("_group", "_inboxes", "_writers")

    def __init__(self, consumers: list[Sink]) -> None:
        self._writers = consumers
        self._inboxes: list[MemoryObjectSendStream[bytes]] = []
        self._group = create_task_group()

    async def __aenter__(self) -> _Fanout:
        await self._group.__aenter__()
        for write in self._writers:
            inbox, outbox = anyio.create_memory_object_stream[bytes](1)
            self._inboxes.append(inbox)
            self._group.start_soon(_write_all, outbox, write)
        return self

    async def send(self, piece: bytes) -> None:
        for inbox in self._inboxes:
            try:
                await inbox.send(piece)
            except anyio.BrokenResourceError:
                # A writer failed, and its own error is on its way out of the task group,
                # which cancels this wait: that error, not this one, is the news.
                await anyio.sleep_forever()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        for inbox in self._inboxes:
            inbox.close()  # the writers finish what they hold, then see the end
        return await self._group.__aexit__(*exc_info)


async def _write_all(outbox: MemoryObjectReceiveStream[bytes], write: Sink) -> None:
    async with outbox:
        async for piece in outbox:
            await write(piece)


def _raise_failures(run: _Run) -> None:
    for child in run.children:
        if child.returncode:
            stderr = run.stderr.get(child.role, b"").decode(errors="replace")
            raise ChildFailed(child.role, child.returncode, summarise(child.role, stderr))


def _finish(run: _Run, digest_only: bool) -> ChainResult:
    _raise_failures(run)
    text = run.digest_out.decode(errors="replace").strip()
    digest = text.split(" ", 1)[0].lower()
    if not _HEX.fullmatch(digest):
        raise ChildFailed("dgst", 0, f"printed no digest: {text[:200]!r}")
    return ChainResult(digest, run.bytes_in, None if digest_only else run.bytes_out)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
