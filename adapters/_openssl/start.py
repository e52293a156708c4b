"""Starting enc and dgst with their pipes, the input (a file, or small bytes) and the password.

Each descriptor this process opens for them is closed on its side as soon as the children hold
it, whether they started or not.
"""

from __future__ import annotations

import os

import anyio

from adapters._openssl.children import PIPE, Child
from adapters._openssl.pipes import close_fds, sized_pipe
from adapters._openssl.plan import InputBytes, InputFile, Plan, Run

__all__ = ["start_children"]


async def start_children(plan: Plan, run: Run) -> tuple[Child, Child]:
    """Start enc and dgst with their pipes; each child joins ``run`` as soon as it runs."""
    recipe, spawner, source, decrypt = plan.recipe, plan.spawner, plan.source, plan.decrypt
    between = sized_pipe(plan.limits.chunk_bytes) if plan.sink is None else None
    # A file is opened once per child that reads it: enc, and dgst too when decrypting.
    if isinstance(source, InputFile):
        files = await _open(source, 2 if decrypt else 1)
    elif isinstance(source, InputBytes):
        files = [_filled(source.data) for _ in range(2 if decrypt else 1)]
    else:
        files = []
    secret = plan.password.pipe()
    try:
        if isinstance(source, InputBytes):
            run.bytes_in = len(source.data)
        elif files:
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


def _filled(data: bytes) -> int:
    """A pipe's read end holding ``data`` and then its end (the write end closed); ``data`` is
    at most a pipe's default capacity, so the writes never block."""
    read, write = os.pipe()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(write, view) :]
    except BaseException:
        close_fds(read)
        raise
    finally:
        close_fds(write)
    return read


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
