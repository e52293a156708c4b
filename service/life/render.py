"""Pictures of Life grids: a PNG of one generation, an animated GIF of many.

Live cells are black on a white background, as on paper and in print; when
a cell is 4 pixels or wider a light grey line closes each cell on its right and bottom, so
neighbouring live cells stay countable. Images are greyscale (mode ``L``).

A grid that does not fit ``max_side`` pixels is never drawn full size first. Cells shrink to
fewer pixels, down to one; past that, each ``k x k`` block of cells becomes one pixel whose
grey level is the share of live cells in the block (the block mean), computed with numpy in
bounded bands. The mean keeps density visible where block-max would turn any soup solid black;
grey levels start at ``_MIN_INK`` so a lone glider in a large block does not fade to white.

Files are written atomically: a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, TypeAlias, final

import numpy as np
import numpy.typing as npt
from PIL import Image

from service.errors import FanoutError, InvalidInput, LimitExceeded
from service.life.pattern import Cells
from service.system.files import atomic_file

__all__ = ["MAX_GIF_BYTES", "MAX_GIF_FRAMES", "GifFrames", "png_bytes", "render_gif", "render_png"]

_Grey: TypeAlias = npt.NDArray[np.uint8]

_CELL_SIZES: Final = range(1, 65)
_MAX_SIDES: Final = range(1, 16385)
_DURATIONS_MS: Final = range(10, 60_001)
_WHITE: Final = 255
_GRID: Final = 208
_GRID_FROM: Final = 4
_MIN_INK: Final = 96
# Cells copied at a time while downscaling: bounds the scratch memory to ~16 MiB whatever the
# size of the grid.
_BAND_CELLS: Final = 1 << 24


@final
@dataclass(frozen=True, slots=True)
class _Ink:
    """A grid as ink levels (0 all dead .. 255 all live), one per ``factor x factor`` cells."""

    levels: _Grey
    factor: int
    height: int
    width: int


def render_png(
    cells: Cells, path: str | os.PathLike[str], *, cell_size: int = 4, max_side: int = 4096
) -> None:
    """Draw ``cells`` as a PNG at ``path``: ``cell_size`` pixels a cell, ``max_side`` at most."""
    _check(cell_size, max_side)
    image = _images([_ink(cells, max_side)], cell_size, max_side)[0]
    target = Path(path)
    with atomic_file(target) as stream:
        _save(image, stream, str(target), format="PNG")


def png_bytes(cells: Cells, *, cell_size: int = 4, max_side: int = 4096) -> bytes:
    """The PNG that ``render_png`` would write, as bytes (for the daemon to serve)."""
    _check(cell_size, max_side)
    image = _images([_ink(cells, max_side)], cell_size, max_side)[0]
    buffer = io.BytesIO()
    _save(image, buffer, "PNG bytes", format="PNG")
    return buffer.getvalue()


MAX_GIF_FRAMES: Final = 1000
MAX_GIF_BYTES: Final = 256 * 1024 * 1024
"""An animation holds at most this many frames and this many bytes of downscaled frames."""


@final
class GifFrames:
    """Frames of an animated GIF, downscaled as they are added, so memory stays bounded.

    Pillow needs every frame before it writes the file; keeping each one already reduced to at
    most ``max_side**2`` bytes, and refusing past :data:`MAX_GIF_FRAMES` frames or
    :data:`MAX_GIF_BYTES` bytes, keeps a long run from filling memory.
    """

    __slots__ = ("_inks", "_size", "max_side")

    def __init__(self, *, max_side: int = 1024) -> None:
        _check(1, max_side)
        self.max_side = max_side
        self._inks: list[_Ink] = []
        self._size = 0

    def __len__(self) -> int:
        return len(self._inks)

    def __repr__(self) -> str:
        return f"<GifFrames {len(self._inks)} frames, {self._size} bytes>"

    def add(self, cells: Cells) -> None:
        """Reduce one generation and keep it (the array itself is not kept)."""
        ink = _ink(cells, self.max_side)
        if len(self._inks) >= MAX_GIF_FRAMES or self._size + ink.levels.nbytes > MAX_GIF_BYTES:
            raise LimitExceeded(
                f"an animation holds at most {MAX_GIF_FRAMES} frames and "
                f"{MAX_GIF_BYTES // 2**20} MiB: take fewer frames (a larger --every)"
            )
        self._inks.append(ink)
        self._size += ink.levels.nbytes

    def write(
        self, path: str | os.PathLike[str], *, cell_size: int = 4, duration_ms: int = 100
    ) -> None:
        """Write the frames as a GIF that loops forever, ``duration_ms`` per frame.

        Frames of different shapes are centred on one canvas that fits the largest.
        Consecutive identical frames merge into one longer frame, as Pillow writes them.
        """
        _check(cell_size, self.max_side)
        if not _within(duration_ms, _DURATIONS_MS):
            raise InvalidInput(
                f"duration_ms {duration_ms!r} is out of range: must be an integer 10 to 60000"
            )
        if not self._inks:
            raise InvalidInput("an animation needs at least one frame, got none")
        images = _images(self._inks, cell_size, self.max_side)
        options: dict[str, Any] = {"save_all": True, "append_images": images[1:], "loop": 0}
        options.update(format="GIF", duration=duration_ms)
        target = Path(path)
        with atomic_file(target) as stream:
            _save(images[0], stream, str(target), **options)


def render_gif(
    frames: Iterable[Cells],
    path: str | os.PathLike[str],
    *,
    cell_size: int = 4,
    duration_ms: int = 100,
    max_side: int = 1024,
) -> None:
    """Draw ``frames`` as a looping GIF at ``path`` (see :class:`GifFrames`)."""
    _check(cell_size, max_side)
    gif = GifFrames(max_side=max_side)
    for cells in frames:
        gif.add(cells)
    gif.write(path, cell_size=cell_size, duration_ms=duration_ms)


def _check(cell_size: int, max_side: int) -> None:
    if not _within(cell_size, _CELL_SIZES):
        raise InvalidInput(f"cell_size {cell_size!r} is out of range: must be an integer 1 to 64")
    if not _within(max_side, _MAX_SIDES):
        raise InvalidInput(f"max_side {max_side!r} is out of range: must be an integer 1 to 16384")


def _within(value: object, allowed: range) -> bool:
    # range's `in` accepts 4.0 and True; pixel arithmetic needs a real int.
    return type(value) is int and value in allowed


def _ink(cells: Cells, max_side: int) -> _Ink:
    if cells.ndim != 2:
        raise InvalidInput(f"cells must be a 2-D array of 0 and 1, got shape {cells.shape}")
    if cells.size == 0:
        # An empty pattern (all dead, trimmed to 0x0) still draws: as one dead cell.
        cells = np.zeros((1, 1), dtype=np.uint8)
    height, width = cells.shape
    factor = -(-max(height, width) // max_side)
    return _Ink(_block_levels(cells, factor), factor, height, width)


def _block_levels(cells: Cells, factor: int) -> _Grey:
    if factor == 1:
        # A copy, never a view: a lazy frame source may reuse its buffer for the next frame.
        return np.where(cells != 0, np.uint8(255), np.uint8(0))
    height, width = cells.shape
    out_width = -(-width // factor)
    levels = np.empty((-(-height // factor), out_width), dtype=np.uint8)
    rows_per_band = max(1, _BAND_CELLS // (factor * factor * out_width))
    for top in range(0, levels.shape[0], rows_per_band):
        band = cells[top * factor : (top + rows_per_band) * factor]
        rows = -(-band.shape[0] // factor)
        # Zero padding counts the cells past the edge as dead, so edge blocks need no care.
        padded = np.zeros((rows * factor, out_width * factor), dtype=np.uint8)
        np.not_equal(band, 0, out=padded[: band.shape[0], :width], casting="unsafe")
        levels[top : top + rows] = _block_mean(padded, factor)
    return levels


def _block_mean(live: _Grey, factor: int) -> _Grey:
    # Strided adds, rows then columns: O(cells) for any factor, and 5-10x faster than summing
    # a 4-D reshape, because every add runs over long contiguous rows.
    area = factor * factor
    total = np.uint16 if area <= 0xFFFF else np.int64
    rows = np.zeros((live.shape[0] // factor, live.shape[1]), dtype=total)
    for offset in range(factor):
        rows += live[offset::factor]
    blocks = np.zeros((rows.shape[0], rows.shape[1] // factor), dtype=total)
    for offset in range(factor):
        blocks += rows[:, offset::factor]
    # Rounding up keeps a single live cell in the block at an ink level of at least 1.
    return ((blocks.astype(np.int64) * 255 + area - 1) // area).astype(np.uint8)


def _images(inks: list[_Ink], cell_size: int, max_side: int) -> list[Image.Image]:
    factor = max(ink.factor for ink in inks)
    height = -(-max(ink.height for ink in inks) // factor)
    width = -(-max(ink.width for ink in inks) // factor)
    scale = min(cell_size, max_side // max(height, width)) if factor == 1 else 1
    return [
        Image.fromarray(_pixels(_centred(_refactored(ink, factor), height, width), scale))
        for ink in inks
    ]


def _refactored(ink: _Ink, factor: int) -> _Grey:
    if ink.factor == factor:
        return ink.levels
    # Box resampling averages areas, so a coarser factor still shows the share of live cells.
    size = (-(-ink.width // factor), -(-ink.height // factor))
    return np.asarray(Image.fromarray(ink.levels).resize(size, Image.Resampling.BOX))


def _centred(levels: _Grey, height: int, width: int) -> _Grey:
    canvas = np.zeros((height, width), dtype=np.uint8)
    top, left = (height - levels.shape[0]) // 2, (width - levels.shape[1]) // 2
    canvas[top : top + levels.shape[0], left : left + levels.shape[1]] = levels
    return canvas


def _pixels(levels: _Grey, scale: int) -> _Grey:
    # Any live share starts at _MIN_INK and the rest of the range keeps densities apart.
    ink = _MIN_INK + levels.astype(np.uint16) * (255 - _MIN_INK) // 255
    grey = np.where(levels == 0, _WHITE, _WHITE - ink).astype(np.uint8)
    if scale == 1:
        return grey
    grey = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    if scale >= _GRID_FROM:
        grey[scale - 1 :: scale, :] = _GRID
        grey[:, scale - 1 :: scale] = _GRID
    return grey


def _save(image: Image.Image, stream: IO[bytes], name: str, **params: Any) -> None:
    try:
        image.save(stream, **params)
    except (OSError, ValueError) as exc:
        raise FanoutError(f"cannot write {name}: Pillow failed: {exc}") from exc
