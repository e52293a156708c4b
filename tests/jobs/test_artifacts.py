"""service.jobs.artifacts: safe names, atomic writes, and what a crash leaves swept away."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from service.errors import FanoutError
from service.jobs.artifacts import Artifacts, is_job_id, sync_artifact, write_artifact
from service.jobs.model import Job, JobState, new_job_id
from tests.jobs._harness import names

pytestmark = pytest.mark.anyio


def _job(job_id: str) -> Job:
    return Job(id=job_id, kind="life", status=JobState.SUCCEEDED, params={}, created_at=0.0)


def test_names_are_built_from_a_job_id_and_a_plain_suffix(tmp_path: Path) -> None:
    artifacts = Artifacts(tmp_path)
    job_id = new_job_id()
    assert is_job_id(job_id)
    path = artifacts.path_for(job_id, ".tar.gz")
    assert path == tmp_path / f"{job_id}.tar.gz"
    assert artifacts.relative(path) == f"{job_id}.tar.gz"
    assert artifacts.resolve(f"{job_id}.tar.gz") == path
    for bad_id in ("../../etc", "ABC", job_id + "0"):
        with pytest.raises(ValueError, match="must be 26 lowercase hex digits"):
            artifacts.path_for(bad_id, ".rle")
    for bad_suffix in ("rle", "/x", ".part", ".a.b.c", "./..", ".RLE"):
        with pytest.raises(ValueError, match="artifact suffix"):
            artifacts.path_for(job_id, bad_suffix)
    with pytest.raises(ValueError, match="is not an artifact path inside"):
        artifacts.relative(tmp_path / "elsewhere" / f"{job_id}.rle")
    with pytest.raises(ValueError, match="must be a plain file name"):
        artifacts.resolve(f"../{job_id}.rle")


async def test_an_atomic_write_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / f"{new_job_id()}.bin"
    assert await write_artifact(path, b"whole") == 5
    assert await anyio.Path(path).read_bytes() == b"whole"

    async def broken() -> AsyncIterator[bytes]:
        yield b"first half"
        raise OSError(28, "No space left on device")

    target = tmp_path / f"{new_job_id()}.bin"
    with pytest.raises(OSError, match="No space left"):
        await write_artifact(target, broken())
    assert await names(tmp_path) == [path.name]

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 1024
            await anyio.lowlevel.checkpoint()

    with anyio.move_on_after(0.05):
        await write_artifact(target, endless())
    assert await names(tmp_path) == [path.name]


async def test_a_refused_write_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / f"{new_job_id()}.bin"
    with pytest.raises(
        Exception, match=f"cannot write {str(missing)!r}: its directory .* does not exist"
    ):
        await write_artifact(missing, b"x")


async def test_partials_are_swept_and_a_job_takes_only_its_own_files(tmp_path: Path) -> None:
    artifacts = Artifacts(tmp_path / "artifacts")
    assert await artifacts.sweep_partials() == 0
    mine, other = new_job_id(), new_job_id()
    for name in (f"{mine}.rle", f"{mine}.rle.0badf00d.part", f"{other}.rle", f".{other}.x.part"):
        await anyio.Path(artifacts.root / name).write_bytes(b"data")
    assert await artifacts.sweep_partials() == 2
    assert await names(artifacts.root) == sorted([f"{mine}.rle", f"{other}.rle"])
    await anyio.Path(artifacts.root / f".{mine}.png.1.part").write_bytes(b"data")
    assert await artifacts.remove(_job(mine)) == 2
    assert await names(artifacts.root) == [f"{other}.rle"]
    assert await artifacts.remove(_job("not-a-job-id")) == 0


async def test_removing_a_jobs_files_before_any_artifact_exists_finds_none(tmp_path: Path) -> None:
    job = Job(id=new_job_id(), kind="count", status=JobState.FAILED, params={}, created_at=0.0)
    assert await Artifacts(tmp_path / "never-made").remove(job) == 0


def test_an_artifact_is_synced_only_as_a_regular_file(tmp_path: Path) -> None:
    written = tmp_path / "job.bin"
    written.write_bytes(b"ciphertext")
    sync_artifact(written)
    assert written.read_bytes() == b"ciphertext"
    with pytest.raises(
        FanoutError, match=r"^the job.s artifact never-written\.bin was never written$"
    ):
        sync_artifact(tmp_path / "never-written.bin")
    inside = tmp_path / "inside"
    inside.mkdir()
    with pytest.raises(FanoutError, match="artifact inside was never written"):
        sync_artifact(inside)  # a directory


def test_a_fifo_in_place_of_an_artifact_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "job.bin"
    os.mkfifo(fifo)
    with pytest.raises(FanoutError, match="was never written"):
        sync_artifact(fifo)  # opened non-blocking: no writer needed
