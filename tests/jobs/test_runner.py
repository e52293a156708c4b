"""The runner's last check on an artifact: a regular file, synced before the job is recorded."""

from __future__ import annotations

import os
from pathlib import Path

from service.jobs._runner import _synced_file


def test_an_artifact_must_be_a_regular_file(tmp_path: Path) -> None:
    written = tmp_path / "job.bin"
    written.write_bytes(b"ciphertext")
    assert _synced_file(written)
    assert written.read_bytes() == b"ciphertext"
    assert not _synced_file(tmp_path / "never-written.bin")
    assert not _synced_file(tmp_path)  # a directory


def test_a_fifo_in_place_of_an_artifact_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "job.bin"
    os.mkfifo(fifo)
    assert not _synced_file(fifo)  # opened non-blocking: no writer needed
