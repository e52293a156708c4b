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
import re
from collections.abc import AsyncIterable
from typing import Final

import anyio
from anyio import CancelScope, create_task_group

from adapters._openssl.children import Child, ChildGone, Spawner, stop
from adapters._openssl.errors import ChainTimeout, ChildFailed, StartFailed
from adapters._openssl.fanout import Fanout, closing
from adapters._openssl.password import Password
from adapters._openssl.pipes import move_into_file
from adapters._openssl.plan import (
    ChainResult,
    InputBytes,
    InputFile,
    Limits,
    OutputFile,
    Plan,
    Recipe,
    Run,
    Sink,
)
from adapters._openssl.start import start_children
from adapters._openssl.stderr import summarise

__all__ = ["run_chain"]

# openssl's stderr is a few lines; past this much, the rest is read and dropped.
_STDERR_KEEP: Final = 16 * 1024
_HEX: Final = re.compile(r"[0-9a-f]+")
# The default of run_chain's ``limits``, named here because the class lives in :mod:`.plan`.
_LIMITS: Final = Limits()


async def run_chain(
    recipe: Recipe,
    spawner: Spawner,
    password: Password,
    source: AsyncIterable[bytes] | InputFile | InputBytes,
    sink: Sink | OutputFile | None,
    *,
    decrypt: bool = False,
    limits: Limits = _LIMITS,
) -> ChainResult:
    """Run enc and dgst over ``source``; ``sink`` None: digest only (encryption only)."""
    if decrypt and sink is None:
        raise ValueError("decryption needs a sink for the plaintext")
    run = Run()
    try:
        with anyio.move_on_after(limits.timeout_s):
            await _wire(Plan(recipe, spawner, password, source, sink, decrypt, limits), run)
            return _finish(run, digest_only=sink is None)
        raise ChainTimeout(
            f"openssl ran past its time limit of {limits.timeout_s:g} s (crypto.timeout_s) "
            "and was stopped"
        )
    finally:
        with CancelScope(shield=True):
            running = [child for child in run.children if child.returncode is None]
            for child in run.children:
                if child.returncode is not None:
                    await child.aclose()  # reaped already: only its pipes to close
            if running:
                async with create_task_group() as group:
                    for child in running:
                        group.start_soon(_stop, child, limits.grace_s)


async def _stop(child: Child, grace_s: float) -> None:
    await stop(child, grace_s=grace_s)


async def _wire(plan: Plan, run: Run) -> None:
    chunk, source, sink, decrypt = plan.limits.chunk_bytes, plan.source, plan.sink, plan.decrypt
    try:
        enc, dgst = await start_children(plan, run)
    except OSError as exc:
        hint = " (too many open files: run fewer jobs at once or raise `ulimit -n`)"
        raise StartFailed(
            f"cannot start openssl: {exc.strerror or exc}"
            + (hint if exc.errno == errno.EMFILE else "")
        ) from exc

    if isinstance(source, InputBytes):
        try:
            await _relay(enc, dgst, sink, run, chunk=chunk, decrypt=decrypt)
        except ChildGone as gone:  # dgst stopped reading: the first to exit says why
            await _first_exit(run.children)
            _raise_failures(run)
            raise ChildFailed("dgst", 0, "it closed its input before the end") from gone
        _raise_failures(run)
        return

    async def feed() -> None:
        if isinstance(source, InputFile):
            return  # the children read it themselves
        # decrypt: the ciphertext to enc -d and to dgst; encrypt: the plaintext to enc.
        consumers: list[Sink] = [enc.write, dgst.write] if decrypt else [enc.write]
        async with closing(source) as pieces, Fanout(consumers) as fanout:
            async for piece in pieces:
                run.bytes_in += len(piece)
                await fanout.send(piece)
        await enc.close_stdin()
        if decrypt:
            await dgst.close_stdin()

    async def pump() -> None:
        # encrypt: enc's output to the sink and to dgst; decrypt: to the sink only.
        assert sink is not None
        if isinstance(sink, OutputFile):
            moved = await _moved_by_the_kernel(enc, None if decrypt else dgst, sink, chunk)
            if moved is not None:
                run.bytes_out += moved
                if not decrypt:
                    await dgst.close_stdin()
                return
        write = sink.write if isinstance(sink, OutputFile) else sink
        consumers: list[Sink] = [write] if decrypt else [write, dgst.write]
        async with Fanout(consumers) as fanout:
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


async def _moved_by_the_kernel(
    enc: Child, dgst: Child | None, sink: OutputFile, chunk: int
) -> int | None:
    """enc's output into the file, and into dgst's stdin, with no byte through this process;
    None when it cannot be done here (no ``tee``)."""
    _, source = enc.pipe_fds
    copy_to = None if dgst is None else dgst.pipe_fds[0]
    if source is None or (dgst is not None and copy_to is None):
        raise ChildGone("a pipe of the chain is closed")
    try:
        return await move_into_file(source, sink.fd, copy_to, chunk)
    except BrokenPipeError as exc:
        raise ChildGone("openssl dgst closed its input") from exc


async def _relay(
    enc: Child, dgst: Child, sink: Sink | OutputFile | None, run: Run, *, chunk: int, decrypt: bool
) -> None:
    """The chain of a small payload, already in the children's stdin: relayed in this task.

    enc's output goes to the sink (and, encrypting, to dgst's stdin); then both children are
    reaped, and only then is dgst's digest read, and what each said on stderr: a child that
    has exited left it in the pipe, so reading it costs no wait. Nothing can wait on anything
    else: the children hold their whole input, and the digest and stderr are a few lines,
    which their pipes hold until they are read.
    """
    if sink is not None:
        write = sink.write if isinstance(sink, OutputFile) else sink
        consumers: list[Sink] = [write] if decrypt else [write, dgst.write]
        while piece := await enc.read(chunk):
            run.bytes_out += len(piece)
            for write in consumers:
                await write(piece)
        if not decrypt:
            await dgst.close_stdin()
    for child in (enc, dgst):
        await child.wait()
    while piece := await dgst.read(chunk):
        run.digest_out += piece[: _STDERR_KEEP - len(run.digest_out)]
    for child in (enc, dgst):
        kept = b""
        while piece := await child.read_stderr(4096):
            kept += piece[: _STDERR_KEEP - len(kept)]
        run.stderr[child.role] = kept


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


def _raise_failures(run: Run) -> None:
    for child in run.children:
        if child.returncode:
            stderr = run.stderr.get(child.role, b"").decode(errors="replace")
            raise ChildFailed(child.role, child.returncode, summarise(child.role, stderr))


def _finish(run: Run, *, digest_only: bool) -> ChainResult:
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
