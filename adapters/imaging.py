"""The pipeline's resize stage: decode an image, orient it, shrink it, encode it.

:func:`resize` is blocking CPU work for a worker thread or a worker process: a module-level
function whose arguments and result (:class:`Box`, :class:`Resized`, :class:`ImageError`) all
pickle. Pillow releases the GIL while it decodes, resamples and encodes, and nothing here
touches pixels from Python. No global state changes: Pillow's process-wide
``Image.MAX_IMAGE_PIXELS`` is left alone, and our own ``max_pixels`` is checked against the
header's size before any pixel data is decoded.

Errors are this module's own or built-ins (adapters import nothing from ``service``)::

    ValueError          a bad argument: box, mode, format, quality, max_pixels
    Exception
    └── ImageError      the bytes are not an image we can resize (never transient)

Every Pillow error met while opening or decoding is raised as :class:`ImageError` ``from`` it.
"""

from __future__ import annotations

import io
import math
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Final, final

from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

__all__ = ["FORMATS", "MODES", "Box", "ImageError", "Resized", "resize"]

FORMATS: Final = ("webp", "jpeg", "png")
MODES: Final = ("fit", "cover")
_MAX_SIDE: Final = 16384

# What we decode: the web's formats. Pillow would also open EPS (through Ghostscript), PSD,
# FITS and a dozen more, none of which a download should be able to reach.
_SOURCES: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_WEBP_MAX_SIDE: Final = 16383
_SAVE_AS: Final = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}
# Pillow's "indistinguishable from fair resampling" setting: a cheap integer reduce() first.
_REDUCING_GAP: Final = 3.0
# Decode and conversion failures of damaged bytes; UnidentifiedImageError is an OSError.
_DECODE_ERRORS: Final = (OSError, ValueError, EOFError, SyntaxError, IndexError, struct.error)
# EXIF orientation → the transposition that shows the stored pixels upright (as
# ImageOps.exif_transpose does); 5 to 8 turn the image a quarter, swapping width and height.
_UPRIGHT: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS: Final = frozenset({5, 6, 7, 8})

_Crop = tuple[float, float, float, float]


class ImageError(Exception):
    """Raised when bytes are not an image we can resize (never worth retrying)."""

    transient: ClassVar[bool] = False


@final
@dataclass(frozen=True, slots=True)
class Box:
    """A width and a height in pixels, each 1 to 16384: the size an image is resized into."""

    width: int
    height: int

    def __post_init__(self) -> None:
        sides = (self.width, self.height)
        if not all(type(side) is int and 1 <= side <= _MAX_SIDE for side in sides):
            msg = f"box {self.width!r}x{self.height!r}: width and height must be 1 to {_MAX_SIDE}"
            raise ValueError(msg)

    @classmethod
    def parse(cls, text: str) -> Box:
        """``"256x256"`` → ``Box(256, 256)``; raises ValueError naming the text when it is bad."""
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
        if match is None:
            raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT, such as '256x256'")
        width, height = int(match[1]), int(match[2])
        if not (1 <= width <= _MAX_SIDE and 1 <= height <= _MAX_SIDE):
            raise ValueError(f"size {text!r}: width and height must be 1 to {_MAX_SIDE}")
        return cls(width, height)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


@final
@dataclass(frozen=True, slots=True)
class Resized:
    """An encoded image: its bytes, its size in pixels, its format and its media type."""

    data: bytes
    width: int
    height: int
    format: str
    media_type: str

    def __repr__(self) -> str:
        return f"<Resized {self.format} {self.width}x{self.height}, {len(self.data)} bytes>"


def resize(
    data: bytes,
    box: Box,
    *,
    mode: str = "fit",
    format: str = "webp",
    quality: int = 82,
    max_pixels: int = 50_000_000,
) -> Resized:
    """Decode ``data``, turn it upright (EXIF orientation), resize it into ``box``, encode it.

    ``fit`` keeps the aspect ratio and the whole image inside ``box``; it never enlarges, so an
    image already inside the box keeps its size. ``cover`` fills ``box`` exactly, cropping the
    overflow around the centre; it enlarges an image smaller than the box. Only the first frame
    of an animation is used. ``quality`` (1 to 100) applies to webp and jpeg; png is lossless
    and written without ``optimize``, for speed. Metadata is dropped (EXIF, XMP, comments); an
    ICC colour profile stays when the colour space does. jpeg has no alpha: transparent pixels
    are laid on white. webp allows at most 16383 pixels a side.

    Pillow's own ``Image.MAX_IMAGE_PIXELS`` still applies on top of ``max_pixels``.
    """
    _check_options(box, mode, format, quality, max_pixels)
    with _open(data, max_pixels) as image:
        _check_pixels(image.size, max_pixels)
        out = _for_format(_shrink(image, box, cover=mode == "cover"), format)
        return _encode(out, format, quality, _kept_profile(image, out.mode))


def _check_options(box: Box, mode: str, format: str, quality: int, max_pixels: int) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
    if type(quality) is not int or not 1 <= quality <= 100:
        raise ValueError(f"quality {quality!r}: must be a whole number from 1 to 100")
    if type(max_pixels) is not int or max_pixels < 1:
        raise ValueError(f"max_pixels {max_pixels!r}: must be a whole number of 1 or more")
    if format == "webp" and max(box.width, box.height) > _WEBP_MAX_SIDE:
        raise ValueError(f"box {box}: webp allows 1 to {_WEBP_MAX_SIDE} pixels a side")
    # cover always writes the whole box, enlarging small images; keep that under the limit too.
    if mode == "cover" and box.width * box.height > max_pixels:
        area = box.width * box.height
        raise ValueError(f"box {box} = {area} pixels for cover: past max_pixels {max_pixels}")


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Read the header only: size, mode and format, but no pixel data."""
    if not data:
        raise ImageError("not an image: no bytes at all")
    try:
        image = Image.open(io.BytesIO(data), formats=_SOURCES)
    except UnidentifiedImageError as exc:
        known = ", ".join(_SOURCES)
        # Never a byte of it: a local source may be any file the user can name.
        reason = f"{len(data):,} bytes in none of the formats {known}"
        raise ImageError(f"not an image: {reason}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_past_pillow_limit(exc, max_pixels)) from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"truncated or corrupt image: {exc}") from exc
    # The bytes are in memory already: give the decoder all of them in one call (at the
    # cost of one passing copy). Pillow's default is 64 KiB a call, and the GIL is taken back
    # after each: a dozen times for a photo of 700 KiB, each a wait whenever the event loop
    # or another worker holds it.
    image.decodermaxblock = max(image.decodermaxblock, len(data))
    return image


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        msg = (
            f"image is {width}x{height} = {width * height} pixels, past the limit of "
            f"{max_pixels} ([pipeline] max_pixels)"
        )
        raise ImageError(msg)


@contextmanager
def _decoding() -> Iterator[None]:
    """Pillow's errors while it reads pixels or metadata → ImageError; our own bugs stay bugs."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise ImageError(f"truncated or corrupt image: {exc}") from exc


def _past_pillow_limit(exc: Exception, max_pixels: int) -> str:
    # Image.open() runs Pillow's own check before we see the size: a warning past
    # MAX_IMAGE_PIXELS (an error where warnings are errors), an error past twice that.
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{found[1]} pixels" if found else "too many pixels"
    return (
        f"image is {pixels}, past the limit of {max_pixels} ([pipeline] max_pixels) "
        f"or Pillow's own of {Image.MAX_IMAGE_PIXELS} (Image.MAX_IMAGE_PIXELS)"
    )


def _shrink(image: ImageFile.ImageFile, box: Box, *, cover: bool) -> Image.Image:
    """Resize in the stored orientation, then turn the (small) result upright."""
    with _decoding():
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    stored_box = (
        (box.height, box.width) if orientation in _QUARTER_TURNS else (box.width, box.height)
    )
    size, crop = (_cover if cover else _fit)(image.size, stored_box)
    crop = _draft(image, size, crop)
    with _decoding():
        working = _working_copy(image)
    if size != working.size or crop != (0, 0, *working.size):
        working = working.resize(size, Image.Resampling.LANCZOS, crop, _REDUCING_GAP)
    upright = _UPRIGHT.get(orientation)
    return working if upright is None else working.transpose(upright)


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[tuple[int, int], _Crop]:
    """The whole image inside ``box``, aspect kept, never enlarged."""
    width, height = size
    scale = min(box[0] / width, box[1] / height)
    whole = (0.0, 0.0, float(width), float(height))
    if scale >= 1:
        return size, whole
    return (max(1, round(width * scale)), max(1, round(height * scale))), whole


def _cover(size: tuple[int, int], box: tuple[int, int]) -> tuple[tuple[int, int], _Crop]:
    """All of ``box``, filled from the centre of the image, whose overflow is cropped."""
    width, height = size
    crop_width = min(float(width), height * box[0] / box[1])
    crop_height = min(float(height), width * box[1] / box[0])
    left, top = (width - crop_width) / 2, (height - crop_height) / 2
    return box, (left, top, left + crop_width, top + crop_height)


def _draft(image: ImageFile.ImageFile, size: tuple[int, int], crop: _Crop) -> _Crop:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale while ``crop`` still covers ``size``.

    Returns ``crop`` in the coordinates of the smaller image that ``load()`` will produce.
    """
    if image.format not in ("JPEG", "MPO"):
        return crop
    width, height = image.size
    crop_width, crop_height = crop[2] - crop[0], crop[3] - crop[1]
    # The whole image at the output's scale: the decoder picks the largest reduction that keeps
    # it, so resampling still starts from at least as many pixels as it writes.
    wanted = (math.ceil(size[0] * width / crop_width), math.ceil(size[1] * height / crop_height))
    drafted = image.draft(None, wanted)
    if drafted is None:
        return crop
    _, (_, _, drafted_width, drafted_height) = drafted
    x_scale, y_scale = drafted_width / width, drafted_height / height
    return (crop[0] * x_scale, crop[1] * y_scale, crop[2] * x_scale, crop[3] * y_scale)


def _working_copy(image: Image.Image) -> Image.Image:
    """Decode, into L, LA, RGB or RGBA: the modes that resample well and that we can encode."""
    image.load()
    if image.mode.startswith("I;16"):
        # 16-bit grey: convert() would clip everything above 255 to white, so scale it down.
        return image.convert("I").point(lambda value: value / 256).convert("L")
    alpha = image.has_transparency_data
    if Image.getmodebase(image.mode) == "L":
        mode = "LA" if alpha else "L"
    else:
        mode = "RGBA" if alpha else "RGB"
    return image if image.mode == mode else image.convert(mode)


def _for_format(image: Image.Image, format: str) -> Image.Image:
    """The image in a mode ``format`` stores: jpeg has no alpha, webp has no grey."""
    if format == "jpeg" and image.mode in ("LA", "RGBA"):
        return _on_white(image)
    if format == "webp" and image.mode in ("L", "LA"):
        return image.convert("RGBA" if image.mode == "LA" else "RGB")
    return image


def _encode(image: Image.Image, format: str, quality: int, icc: bytes | None) -> Resized:
    # Encoders copy parts of info (PNG: ICC, transparency; JPEG: the comment): pass what we keep.
    image.info = {}
    options: dict[str, object] = {"optimize": False} if format == "png" else {"quality": quality}
    if icc:
        options["icc_profile"] = icc
    out = io.BytesIO()
    image.save(out, _SAVE_AS[format], **options)
    width, height = image.size
    return Resized(out.getvalue(), width, height, format, f"image/{format}")


def _on_white(image: Image.Image) -> Image.Image:
    base = image.mode[:-1]
    backdrop = Image.new(base, image.size, "white")
    backdrop.paste(image.convert(base), mask=image.getchannel("A"))
    return backdrop


def _kept_profile(source: Image.Image, mode: str) -> bytes | None:
    """The source's ICC profile, if it still describes the colour space of ``mode``."""
    icc = source.info.get("icc_profile")
    same_space = _family(source.mode) != "" and _family(source.mode) == _family(mode)
    return icc if isinstance(icc, bytes) and same_space else None


def _family(mode: str) -> str:
    """The colour space an ICC profile describes for ``mode``: RGB, L, or "" (none we keep)."""
    if mode in ("RGB", "RGBA", "RGBX", "P", "PA"):
        return "RGB"
    if mode in ("1", "L", "LA") or mode.startswith("I"):
        return "L"
    return ""
