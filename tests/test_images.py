"""Every input mode the CLI promises, normalized at the edge."""

import io
import os
import stat

import numpy as np
import pytest
from PIL import Image

from huenet import color, images
from huenet.images import ImageError, read_image, write_image

GRADIENT = np.tile(np.linspace(0, 255, 33).astype(np.uint8), (47, 1))  # (47, 33)


def _save(tmp_path, image, name="input.png", **options):
    path = tmp_path / name
    image.save(path, **options)
    return path


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "CMYK"])
def test_gray_content_in_any_8_bit_mode(tmp_path, mode):
    image = Image.fromarray(GRADIENT).convert(mode)
    name = "input.tif" if mode == "CMYK" else "input.png"
    loaded = read_image(_save(tmp_path, image, name))
    assert loaded.size == (47, 33)
    assert loaded.notes == []
    expected = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(loaded.lightness(), color.gray_to_lightness(expected), atol=0.6)


def test_sixteen_bit_precision_reaches_lightness(tmp_path):
    levels = np.array([[1000, 1001, 1002, 60000]], dtype=np.uint16)
    path = _save(tmp_path, Image.fromarray(levels))
    loaded = read_image(path)
    lightness = loaded.lightness()[0]
    assert lightness[0] < lightness[1] < lightness[2]  # lost if rounded to 8 bits
    np.testing.assert_allclose(lightness, color.gray_to_lightness(levels[0] / 65535.0), atol=1e-3)


def test_mode_i_and_f(tmp_path):
    wide = Image.fromarray(np.array([[0, 30000, 65535]], dtype=np.int32), mode="I")
    loaded = read_image(wide)
    np.testing.assert_allclose(
        loaded.lightness()[0], color.gray_to_lightness(np.array([0, 30000, 65535]) / 65535), atol=1e-3
    )
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    np.testing.assert_allclose(
        read_image(unit).lightness()[0], [0.0, color.gray_to_lightness(np.array(0.5)), 100.0], atol=1e-3
    )
    stretched = read_image(Image.fromarray(np.array([[-5.0, 1000.0]], dtype=np.float32), mode="F"))
    assert any("stretched" in note for note in stretched.notes)


def test_a_32_bit_tiff_of_8_bit_levels_keeps_its_levels(tmp_path):
    levels = np.array([[0, 100, 255]], dtype=np.int32)
    loaded = read_image(_save(tmp_path, Image.fromarray(levels, mode="I"), "levels.tif"))
    np.testing.assert_allclose(loaded.lightness()[0], color.gray_to_lightness(levels[0] / 255.0), atol=1e-3)
    assert any("8-bit" in note for note in loaded.notes)


@pytest.mark.parametrize("mode", ["LA", "RGBA", "PA"])
def test_alpha_is_carried(tmp_path, mode):
    rgba = np.dstack([np.repeat(GRADIENT[..., None], 3, -1), np.tile(np.arange(33, dtype=np.uint8) * 7, (47, 1))])
    image = Image.fromarray(rgba, "RGBA")
    image = image.convert("LA") if mode == "LA" else image.convert("PA") if mode == "PA" else image
    loaded = read_image(image if mode == "PA" else _save(tmp_path, image))  # PNG cannot store PA
    assert loaded.alpha is not None
    assert np.array_equal(loaded.alpha, np.asarray(image.getchannel("A")))


def test_palette_with_transparency_keeps_alpha(tmp_path):
    image = Image.fromarray(GRADIENT).convert("P")
    image.info["transparency"] = 0
    loaded = read_image(_save(tmp_path, image, transparency=0))
    assert loaded.alpha is not None and loaded.alpha.min() == 0


def test_color_input_warns_and_uses_its_lightness(tmp_path):
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = 40
    loaded = read_image(_save(tmp_path, Image.fromarray(rgb)))
    assert len(loaded.notes) == 1 and "color" in loaded.notes[0]
    assert np.array_equal(loaded.gray, color.rgb_to_gray(rgb))


def test_exif_orientation_is_honored(tmp_path):
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, :5] = 255  # bright band on the left edge
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    loaded = read_image(path)
    assert loaded.size == (40, 20)
    lightness = loaded.lightness()
    assert lightness[:5].mean() > 90 and lightness[-5:].mean() < 10  # band now on top


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((8, 8), value, np.uint8)) for value in (10, 200)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    loaded = read_image(path)
    assert any("2 frames or pages: colorizing the first one" in note for note in loaded.notes)
    assert loaded.lightness().max() < 10


def test_multi_page_tiff_uses_first_page(tmp_path):
    pages = [Image.fromarray(np.full((6, 9), value, np.uint8)) for value in (220, 5, 5)]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    loaded = read_image(path)
    assert any("3 frames or pages" in note for note in loaded.notes)
    assert loaded.size == (6, 9) and loaded.lightness().min() > 80  # (height, width)


def test_decompression_bomb_guard(tmp_path):
    path = _save(tmp_path, Image.fromarray(np.zeros((100, 100), np.uint8)))
    with pytest.raises(ImageError, match="too large"):
        read_image(path, max_pixels=5000)
    assert read_image(path, max_pixels=20000).size == (100, 100)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"hello, I am text", "not an image"), (None, "cannot decode")],
)
def test_bad_files_raise_image_error(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    if content is None:
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, "JPEG")
        content = buffer.getvalue()[:300]
        path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        read_image(path)


def test_arrays_are_accepted():
    assert read_image(np.zeros((5, 7), np.uint8)).size == (5, 7)
    assert read_image(np.zeros((5, 7, 1), np.float32)).size == (5, 7)
    assert read_image(np.zeros((5, 7, 4), np.uint16)).alpha.shape == (5, 7)
    with pytest.raises(ImageError, match="shape"):
        read_image(np.zeros((5, 7, 2), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        read_image(np.full((2, 2), np.nan, np.float32))
    with pytest.raises(ImageError, match=r"span \[0, 255\]; expected \[0, 1\]"):  # not clipped to white
        read_image(np.array([[0.0, 255.0]]))
    with pytest.raises(ImageError, match="expected"):
        read_image(np.array([[-0.5, 0.5]]))
    assert read_image(np.array([[1.0 + 1e-6, 0.5]])).gray.max() == 1.0  # rounding noise is clipped


def test_file_bytes_are_decoded_and_other_types_refused(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.full((3, 5), 77, np.uint8)).save(buffer, format="PNG")
    image = read_image(buffer.getvalue())
    assert image.size == (3, 5) and int(image.gray[0, 0]) == 77
    with pytest.raises(ImageError, match="empty file"):
        read_image(b"")
    with pytest.raises(ImageError, match="not an image"):
        read_image(b"definitely not an image")
    with pytest.raises(ImageError, match="cannot read a int"):
        read_image(5)


def test_write_is_atomic_and_respects_existing(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    image = Image.new("RGB", (4, 4))
    with pytest.raises(FileExistsError):
        write_image(image, target)
    assert target.read_bytes() == b"precious"

    def failing_encode(image, stream, *args, **kwargs):
        stream.write(b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(images, "encode_image", failing_encode)
    fresh = tmp_path / "fresh.png"
    with pytest.raises(OSError, match="disk full"):
        write_image(image, fresh)
    with pytest.raises(OSError, match="disk full"):
        write_image(image, target, overwrite=True)
    assert not fresh.exists()
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_gives_normal_permissions_and_never_replaces_a_late_file(tmp_path, monkeypatch):
    previous = os.umask(0o022)
    try:
        written = write_image(Image.new("RGB", (4, 4)), tmp_path / "shared.png")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == 0o644  # not mkstemp's private 0600

    # Another process creates the target after our existence check, before our rename.
    target = tmp_path / "raced.png"
    real_encode = images.encode_image

    def encode_then_race(image, stream, *args, **kwargs):
        real_encode(image, stream, *args, **kwargs)
        target.write_bytes(b"theirs")

    monkeypatch.setattr(images, "encode_image", encode_then_race)
    with pytest.raises(FileExistsError):
        write_image(Image.new("RGB", (4, 4)), target)
    assert target.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raced.png", "shared.png"]


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("height, width", [(1, 1), (255, 3), (600, 37), (257, 1)])
@pytest.mark.parametrize("threads", [1, 3])
def test_png_writer_round_trips_every_pixel(tmp_path, mode, height, width, threads):
    """huenet's own PNG writer (strips deflated in parallel) gives a file any decoder reads
    back exactly: strip boundaries (256 rows), one-pixel images, alpha, several threads."""
    rng = np.random.default_rng(height * width)
    pixels = rng.integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
    pixels[: height // 2] //= 16  # smooth and noisy parts, so both compress differently
    path = write_image(Image.fromarray(pixels, mode), tmp_path / "out.png", threads=threads)
    with Image.open(path) as written:
        written.verify()  # chunk CRCs and structure
    with Image.open(path) as written:
        assert written.mode == mode
        np.testing.assert_array_equal(np.asarray(written), pixels)
    import zlib

    with open(path, "rb") as stream:  # the zlib stream as a whole, Adler-32 included
        data = stream.read()
    idat, position = b"", 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        if data[position + 4 : position + 8] == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    assert len(zlib.decompress(idat)) == height * (width * len(mode) + 1)


def test_adler32_of_strips_combines_to_the_whole():
    import zlib

    from huenet.images import _adler32_combine

    data = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    checksum = 1
    for start, stop in [(0, 1), (1, 70_000), (70_000, 70_001), (70_001, 300_000)]:
        checksum = _adler32_combine(checksum, zlib.adler32(data[start:stop]), stop - start)
    assert checksum == zlib.adler32(data)


@pytest.mark.parametrize("mode", ["L", "P"])
def test_other_png_modes_still_go_through_pillow(tmp_path, mode):
    image = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert(mode)
    path = write_image(image, tmp_path / "out.png")
    with Image.open(path) as written:
        assert written.mode == mode
        np.testing.assert_array_equal(np.asarray(written), np.asarray(image))
