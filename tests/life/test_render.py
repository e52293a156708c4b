from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from service.errors import FanoutError, InvalidInput
from service.life.pattern import Cells
from service.life.render import png_bytes, render_gif, render_png
from tests.fixtures import GLIDER_LIVE as GLIDER


def grid(height: int, width: int, live: list[tuple[int, int]]) -> Cells:
    cells: Cells = np.zeros((height, width), dtype=np.uint8)
    for row, column in live:
        cells[row, column] = 1
    return cells


def pixels(path: Path | io.BytesIO) -> np.ndarray[tuple[int, ...], np.dtype[np.uint8]]:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def test_png_has_cell_size_pixels_per_cell_and_dark_live_cells(tmp_path: Path) -> None:
    path = tmp_path / "glider.png"
    render_png(grid(8, 10, GLIDER), path, cell_size=4)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == "L"
        assert image.size == (40, 32)
    grey = pixels(path)
    assert grey[0 * 4 + 1, 1 * 4 + 1] == 0  # live (0, 1): black
    assert grey[0 * 4 + 1, 0 * 4 + 1] == 255  # dead (0, 0): white
    assert grey[3, 1] < 255  # the grid line closing cell (0, 0)


def test_png_without_grid_lines_below_4_pixels(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    render_png(grid(3, 3, GLIDER), path, cell_size=3)
    grey = pixels(path)
    assert grey.shape == (9, 9)
    assert set(np.unique(grey).tolist()) == {0, 255}
    assert (grey[0:3, 3:6] == 0).all()


def test_png_bytes_equal_the_file(tmp_path: Path) -> None:
    cells = grid(8, 8, GLIDER)
    path = tmp_path / "same.png"
    render_png(cells, path)
    assert png_bytes(cells) == path.read_bytes()
    assert pixels(io.BytesIO(png_bytes(cells))).shape == (32, 32)


def test_cells_shrink_before_the_grid_is_block_averaged(tmp_path: Path) -> None:
    path = tmp_path / "fit.png"
    render_png(grid(100, 200, [(50, 100)]), path, cell_size=8, max_side=600)
    grey = pixels(path)
    assert grey.shape == (300, 600)  # 3 pixels a cell, not 8
    assert grey[151, 301] == 0


def test_sparse_10000_square_grid_downscales_fast_within_max_side(tmp_path: Path) -> None:
    cells = grid(10_000, 10_000, [(5000, 5000), (0, 0), (9999, 9999)])
    cells[100:400, 100:400] = 1
    path = tmp_path / "big.png"
    started = time.perf_counter()
    render_png(cells, path, max_side=4096)
    assert time.perf_counter() - started < 5.0
    with Image.open(path) as image:
        assert max(image.size) <= 4096
        assert image.size == (3334, 3334)  # 3x3 cells a pixel
    grey = pixels(path)
    assert grey[50, 50] == 0  # a block of live cells is black
    assert 0 < grey[1666, 1666] < 255  # a lone live cell still shows, in grey
    assert grey[2000, 2000] == 255


def test_empty_grid_draws_one_dead_cell(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    render_png(np.zeros((0, 0), dtype=np.uint8), path, cell_size=2)
    assert (pixels(path) == 255).all()
    assert pixels(path).shape == (2, 2)


def frames() -> Iterator[Cells]:
    # A growing universe: each frame is larger than the one before, and centred on the last.
    for size in (4, 6, 8):
        yield grid(size, size, [(0, 0)])


def test_gif_pads_frames_to_one_canvas_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "grow.gif"
    render_gif(frames(), path, cell_size=4, duration_ms=50)
    with Image.open(path) as image:
        assert isinstance(image, GifImagePlugin.GifImageFile)
        assert image.n_frames == 3
        assert image.size == (32, 32)
        assert image.info["loop"] == 0
        assert image.info["duration"] == 50
        first = np.asarray(image.convert("L"))
        image.seek(2)
        last = np.asarray(image.convert("L"))
    assert first[2 * 4 + 1, 2 * 4 + 1] == 0  # 4x4 frame centred: its (0, 0) is at (2, 2)
    assert first[1, 1] == 255
    assert last[1, 1] == 0


def test_gif_of_large_frames_stays_within_max_side(tmp_path: Path) -> None:
    path = tmp_path / "large.gif"
    big = [grid(3000, 2000, [(1500, 1000)]), grid(1000, 1000, [(10, 10)])]
    render_gif(big, path, max_side=500)
    with Image.open(path) as image:
        assert isinstance(image, GifImagePlugin.GifImageFile)
        assert image.size == (334, 500)
        assert image.n_frames == 2
        image.seek(1)
        assert np.asarray(image.convert("L")).min() < 255  # its lone cell survives two downscales


def test_gif_copies_frames_from_a_source_that_reuses_its_buffer(tmp_path: Path) -> None:
    def reused() -> Iterator[Cells]:
        buffer = grid(4, 4, [(0, 0)])
        yield buffer
        buffer[:] = 0
        buffer[3, 3] = 1
        yield buffer

    path = tmp_path / "reused.gif"
    render_gif(reused(), path, cell_size=1)
    with Image.open(path) as image:
        assert isinstance(image, GifImagePlugin.GifImageFile)
        assert image.n_frames == 2
        assert np.asarray(image.convert("L"))[0, 0] == 0


@pytest.mark.parametrize("cell_size", [0, 65, -1, 4.0, True])
def test_cell_size_out_of_range_is_refused(tmp_path: Path, cell_size: object) -> None:
    message = f"cell_size {cell_size!r} is out of range: must be an integer 1 to 64"
    with pytest.raises(InvalidInput, match=message):
        render_png(grid(2, 2, []), tmp_path / "x.png", cell_size=cell_size)  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test
    with pytest.raises(InvalidInput, match=message):
        render_gif([grid(2, 2, [])], tmp_path / "x.gif", cell_size=cell_size)  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test
    assert list(tmp_path.iterdir()) == []


def test_other_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="max_side 0 is out of range"):
        png_bytes(grid(2, 2, []), max_side=0)
    with pytest.raises(InvalidInput, match="duration_ms 5 is out of range"):
        render_gif([grid(2, 2, [])], tmp_path / "x.gif", duration_ms=5)
    with pytest.raises(InvalidInput, match="at least one frame"):
        render_gif([], tmp_path / "x.gif")
    with pytest.raises(InvalidInput, match=r"2-D array .* shape \(2, 2, 2\)"):
        png_bytes(np.zeros((2, 2, 2), dtype=np.uint8))

    with pytest.raises(FanoutError, match=r"cannot write .*missing.* does not exist") as caught:
        render_png(grid(2, 2, []), tmp_path / "missing" / "x.png")
    assert isinstance(caught.value.__cause__, OSError)
    target = tmp_path / "dir.png"
    target.mkdir()
    with pytest.raises(FanoutError, match=r"cannot write .*dir\.png"):
        render_png(grid(2, 2, []), target)
    assert [p.name for p in tmp_path.iterdir()] == ["dir.png"]


def test_rewrite_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "twice.png"
    render_png(grid(2, 2, []), path)
    render_png(grid(4, 4, GLIDER), path)
    assert pixels(path).shape == (16, 16)
    assert [p.name for p in tmp_path.iterdir()] == ["twice.png"]


def test_gif_frames_are_kept_downscaled_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.errors import LimitExceeded
    from service.life import render

    monkeypatch.setattr(render, "MAX_GIF_FRAMES", 3)
    gif = render.GifFrames(max_side=64)
    big = np.ones((1000, 1000), dtype=np.uint8)
    for _ in range(3):
        gif.add(big)
    with pytest.raises(LimitExceeded, match="at most 3 frames"):
        gif.add(big)
    assert len(gif) == 3
    gif.write(tmp_path / "run.gif")
    with Image.open(tmp_path / "run.gif") as image:
        assert max(image.size) <= 64
