"""adapters.imaging: sizes, orientation, formats, limits and errors, on real Pillow images.

What a resize looks like is checked against Pillow at its slowest and plainest: decode the
whole image, ``ImageOps.exif_transpose``, then ``ImageOps.contain`` (fit) or ``ImageOps.fit``
(cover), both LANCZOS. Ours drafts JPEGs and turns the image upright after resizing; the two
must look the same, for every EXIF orientation.
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageOps, ImageStat

from adapters.imaging import FORMATS, MODES, Box, ImageError, Resized, resize

BOX = Box(256, 256)
PILLOW_LIMIT = Image.MAX_IMAGE_PIXELS
PILLOW_FORMAT = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}


def photo(size: tuple[int, int]) -> Image.Image:
    """Gradients, noise and a few shapes: detail for the encoders, asymmetry for orientation."""
    width, height = size
    noise = Image.effect_noise(size, 40)
    across = Image.linear_gradient("L").rotate(90).resize(size)
    round_ = Image.radial_gradient("L").resize(size)
    image = Image.merge("RGB", (ImageChops.add(across, noise, 2.0), round_, across))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 3, height // 4), fill=(255, 0, 0))
    draw.ellipse((width // 2, height // 2, width - 1, height - 1), fill=(0, 0, 255))
    return image


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    if format == "PNG":
        options.setdefault("compress_level", 1)  # the default level spends seconds on noise
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def decode(result: Resized) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


def exif(orientation: int) -> bytes:
    tags = Image.Exif()
    tags[0x0112] = orientation
    return tags.tobytes()


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def near(value: tuple[int, ...], expected: tuple[int, ...], within: int = 8) -> bool:
    return all(abs(a - b) <= within for a, b in zip(value, expected, strict=True))


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims ``width`` x ``height``: a bomb that is only a header.

    Its IDAT holds one pixel, so a decoder that went past the header would fail as truncated.
    """
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    start = 8 + 4  # signature, then the IHDR chunk's length; the type and the fields follow
    data[start + 4 : start + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(data[start : start + 17])
    data[start + 17 : start + 21] = struct.pack(">I", crc)
    return bytes(data)


@pytest.fixture(scope="module")
def landscape_jpeg() -> bytes:
    return encode(photo((1920, 1080)), "JPEG", quality=90)


@pytest.mark.parametrize(
    ("source", "box", "fit", "cover"),
    [
        ((1920, 1080), BOX, (256, 144), (256, 256)),
        ((1080, 1920), BOX, (144, 256), (256, 256)),
        ((1000, 1000), BOX, (256, 256), (256, 256)),
        ((1920, 1080), Box(100, 300), (100, 56), (100, 300)),
        ((600, 900), Box(300, 100), (67, 100), (300, 100)),
    ],
)
@pytest.mark.parametrize("format", ["JPEG", "PNG"])
def test_fit_and_cover_sizes(
    source: tuple[int, int],
    box: Box,
    fit: tuple[int, int],
    cover: tuple[int, int],
    format: str,
) -> None:
    data = encode(Image.new("RGB", source, (90, 120, 200)), format)
    for mode, expected in (("fit", fit), ("cover", cover)):
        result = resize(data, box, mode=mode, format="png")
        assert (result.width, result.height) == expected
        assert decode(result).size == expected


def test_fit_never_enlarges_and_cover_does() -> None:
    data = encode(photo((100, 50)), "PNG")
    kept = resize(data, BOX)
    assert (kept.width, kept.height) == (100, 50)
    enlarged = resize(data, BOX, mode="cover")
    assert (enlarged.width, enlarged.height) == (256, 256)


def test_cover_crops_around_the_centre() -> None:
    bands = Image.new("RGB", (300, 100), (255, 0, 0))
    bands.paste((0, 255, 0), (100, 0, 200, 100))
    bands.paste((0, 0, 255), (200, 0, 300, 100))
    result = decode(resize(encode(bands, "PNG"), Box(50, 50), mode="cover", format="png"))
    assert near(pixel(result, (2, 25)), (0, 255, 0))
    assert near(pixel(result, (47, 25)), (0, 255, 0))


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 80),
    height=st.integers(1, 80),
    box=st.builds(Box, st.integers(1, 80), st.integers(1, 80)),
)
def test_fit_stays_inside_keeps_aspect_and_cover_fills(width: int, height: int, box: Box) -> None:
    data = encode(Image.new("RGB", (width, height), (9, 99, 199)), "PNG")
    fit = resize(data, box, format="png")
    assert fit.width <= min(box.width, width)
    assert fit.height <= min(box.height, height)
    # Both sides take the same scale, rounded to the nearest pixel, and never below one.
    scale = min(box.width / width, box.height / height, 1)
    assert abs(fit.width - max(width * scale, 1)) <= 0.5
    assert abs(fit.height - max(height * scale, 1)) <= 0.5
    cover = resize(data, box, mode="cover", format="png")
    assert (cover.width, cover.height) == (box.width, box.height)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", MODES)
def test_looks_like_the_slow_reference(orientation: int, mode: str) -> None:
    # 1001x601: JPEG draft sizes round up here, so a misplaced draft box would show.
    data = encode(photo((1001, 601)), "JPEG", quality=95, exif=exif(orientation))
    box = Box(200, 120)
    result = decode(resize(data, box, mode=mode, format="png"))

    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    size = (box.width, box.height)
    if mode == "fit":
        expected = ImageOps.contain(upright, size, Image.Resampling.LANCZOS)
    else:
        expected = ImageOps.fit(upright, size, Image.Resampling.LANCZOS)
    # Drafting alone costs about 0.8 (of 255); a draft box half a pixel out costs 1.2 or more.
    assert mean_difference(result, expected) < 1


@pytest.mark.parametrize("source", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_source_format_past_one_decoder_block_looks_like_the_reference(source: str) -> None:
    # Past 64 KiB, Pillow's default block: the decoder is given the whole file in one call.
    options: dict[str, dict[str, object]] = {
        "JPEG": {"quality": 95},
        "WEBP": {"quality": 95},
        "TIFF": {"compression": "tiff_adobe_deflate"},
    }
    data = encode(photo((640, 480)), source, **options.get(source, {}))
    assert len(data) > 64 * 1024
    result = decode(resize(data, Box(160, 160), format="png"))

    reference = Image.open(io.BytesIO(data)).convert("RGB")
    expected = ImageOps.contain(reference, (160, 160), Image.Resampling.LANCZOS)
    assert result.size == expected.size == (160, 120)
    # A JPEG drafted at 1/4 scale differs by about 1 (of 255); a broken decode by far more.
    assert mean_difference(result.convert("RGB"), expected) < 2


def test_exif_orientation_6_turns_a_landscape_jpeg_portrait(landscape_jpeg: bytes) -> None:
    turned = encode(Image.open(io.BytesIO(landscape_jpeg)), "JPEG", exif=exif(6))
    result = resize(turned, BOX, format="jpeg")
    assert (result.width, result.height) == (144, 256)
    image = decode(result)
    assert image.size == (144, 256)
    # Orientation 6 shows the stored top on the right: the red block is now top right.
    assert near(pixel(image, (130, 10)), (255, 0, 0), within=40)
    assert 0x0112 not in image.getexif()


def test_metadata_is_dropped() -> None:
    data = encode(photo((64, 48)), "JPEG", exif=exif(1), comment=b"secret")
    for format in FORMATS:
        image = decode(resize(data, BOX, format=format))
        assert not image.getexif()
        assert "comment" not in image.info
        assert "exif" not in image.info


@pytest.mark.parametrize("format", FORMATS)
def test_each_format_decodes_back(landscape_jpeg: bytes, format: str) -> None:
    result = resize(landscape_jpeg, BOX, format=format)
    assert result.format == format
    assert result.media_type == f"image/{format}"
    image = decode(result)
    assert image.format == PILLOW_FORMAT[format]
    assert image.size == (result.width, result.height) == (256, 144)


def transparent_square() -> bytes:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (50, 0, 100, 100))
    return encode(image, "PNG")


def test_rgba_to_jpeg_lays_transparency_on_white() -> None:
    image = decode(resize(transparent_square(), Box(50, 50), format="jpeg"))
    assert image.mode == "RGB"
    assert near(pixel(image, (5, 25)), (255, 255, 255))
    assert near(pixel(image, (45, 25)), (200, 0, 0), within=20)


@pytest.mark.parametrize("format", ["webp", "png"])
def test_alpha_is_kept_where_the_format_has_it(format: str) -> None:
    image = decode(resize(transparent_square(), Box(50, 50), format=format))
    assert image.mode == "RGBA"
    assert pixel(image, (5, 25))[3] == 0


def test_palette_with_transparency_becomes_rgba() -> None:
    image = Image.open(io.BytesIO(transparent_square())).convert("P")
    image.info["transparency"] = image.getpixel((0, 0))
    result = decode(resize(encode(image, "PNG"), Box(50, 50), format="png"))
    assert result.mode == "RGBA"


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey = Image.new("I;16", (40, 40), 20000)
    image = decode(resize(encode(grey, "PNG"), Box(20, 20), format="png"))
    assert image.mode == "L"
    assert 70 <= image.getpixel((10, 10)) <= 85  # type: ignore[operator]  # an L image's pixel is an int; Pillow's stubs allow tuples


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (80, 60), (0, 255, 255, 0))
    image = decode(resize(encode(cmyk, "JPEG"), Box(40, 40), format="png"))
    assert image.mode == "RGB"


def test_animation_uses_its_first_frame() -> None:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    image = decode(resize(out.getvalue(), Box(20, 20), format="png"))
    assert pixel(image.convert("RGB"), (10, 10)) == (255, 0, 0)


def test_an_rgb_colour_profile_stays_and_a_cmyk_one_goes() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = encode(photo((64, 48)), "JPEG", icc_profile=srgb)
    for format in FORMATS:
        assert decode(resize(rgb, BOX, format=format)).info.get("icc_profile") == srgb
    cmyk = encode(Image.new("CMYK", (64, 48)), "JPEG", icc_profile=b"not an RGB profile")
    assert "icc_profile" not in decode(resize(cmyk, BOX, format="webp")).info


def test_quality_changes_jpeg_size(landscape_jpeg: bytes) -> None:
    low = resize(landscape_jpeg, BOX, format="jpeg", quality=20)
    high = resize(landscape_jpeg, BOX, format="jpeg", quality=95)
    assert len(low.data) < len(high.data)


def test_a_header_past_max_pixels_is_refused_before_decoding() -> None:
    # The file holds 8x8 pixels of data: decoding it as 9000x9000 would fail as truncated,
    # so this message can only come from the header check.
    with pytest.raises(ImageError) as caught:
        resize(png_claiming(9000, 9000), BOX)
    assert str(caught.value) == (
        "image is 9000x9000 = 81000000 pixels, past the limit of 50000000 ([pipeline] max_pixels)"
    )


@pytest.mark.parametrize("side", [10_000, 100_000])
def test_pillow_own_bomb_check_is_reported_as_ours(side: int) -> None:
    # 10000² trips Pillow's warning (an error under this test suite), 100000² its error.
    with pytest.raises(ImageError, match=r"\[pipeline\] max_pixels") as caught:
        resize(png_claiming(side, side), BOX)
    assert f"{side * side} pixels" in str(caught.value)
    assert Image.MAX_IMAGE_PIXELS == PILLOW_LIMIT  # untouched


def test_max_pixels_is_a_per_call_limit(landscape_jpeg: bytes) -> None:
    with pytest.raises(ImageError, match=r"1920x1080 = 2073600 pixels, past the limit of 2000000"):
        resize(landscape_jpeg, BOX, max_pixels=2_000_000)
    assert resize(landscape_jpeg, BOX, max_pixels=2_073_600).width == 256


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^not an image: no bytes"),
        (b"<!doctype html><p>404</p>", r"^not an image: 25 bytes in none of the formats JPEG"),
        # Pillow reads PCX; we read only the web's formats.
        (encode(Image.new("RGB", (8, 8)), "PCX"), r"^not an image: .* formats JPEG, PNG"),
    ],
)
def test_not_an_image(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        resize(data, BOX)


def test_truncated_jpeg(landscape_jpeg: bytes) -> None:
    for cut in (len(landscape_jpeg) // 2, 200):
        with pytest.raises(ImageError, match=r"^truncated or corrupt image: ") as caught:
            resize(landscape_jpeg[:cut], BOX)
        assert isinstance(caught.value.__cause__, OSError)


def test_errors_are_never_transient() -> None:
    assert ImageError.transient is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "stretch"}, r"unknown mode 'stretch': choose one of fit, cover"),
        ({"format": "jpg"}, r"unknown format 'jpg': choose one of webp, jpeg, png"),
        ({"quality": 0}, r"quality 0: must be a whole number from 1 to 100"),
        ({"quality": 101}, r"quality 101: "),
        ({"quality": True}, r"quality True: "),
        ({"max_pixels": 0}, r"max_pixels 0: must be a whole number of 1 or more"),
    ],
)
def test_bad_arguments(landscape_jpeg: bytes, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resize(landscape_jpeg, BOX, **options)  # type: ignore[arg-type]  # a wrong type on purpose: the refusal is the test


def test_boxes_past_what_the_output_allows() -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(ValueError, match=r"box 16384x10: webp allows 1 to 16383 pixels a side"):
        resize(data, Box(16384, 10))
    assert resize(data, Box(16384, 10), format="png").width == 8
    with pytest.raises(ValueError, match=r"box 1000x1000 = 1000000 pixels for cover: past max_"):
        resize(data, Box(1000, 1000), mode="cover", max_pixels=999_999)


@pytest.mark.parametrize(
    ("text", "box"), [("256x256", Box(256, 256)), (" 16384X1 ", Box(16384, 1))]
)
def test_box_parse(text: str, box: Box) -> None:
    assert Box.parse(text) == box
    assert Box.parse(str(box)) == box


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0x5", r"^size '0x5': width and height must be 1 to 16384$"),
        ("16385x1", r"^size '16385x1': width and height must be 1 to 16384$"),
        ("256", r"^size '256': expected WIDTHxHEIGHT, such as '256x256'$"),
        ("-1x5", r"^size '-1x5': expected WIDTHxHEIGHT"),
    ],
)
def test_box_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Box.parse(text)


@pytest.mark.parametrize(("width", "height"), [(0, 1), (1, 16385), (1.5, 2), (True, 2)])
def test_box_refuses(width: int, height: int) -> None:
    with pytest.raises(ValueError, match=r"width and height must be 1 to 16384"):
        Box(width, height)


def test_results_boxes_and_errors_pickle(landscape_jpeg: bytes) -> None:
    result = resize(landscape_jpeg, BOX)
    assert pickle.loads(pickle.dumps(result)) == result
    assert pickle.loads(pickle.dumps(BOX)) == BOX
    with pytest.raises(ImageError) as caught:
        resize(b"nope", BOX)
    error = pickle.loads(pickle.dumps(caught.value))
    assert type(error) is ImageError
    assert str(error) == str(caught.value)
    assert error.transient is False
