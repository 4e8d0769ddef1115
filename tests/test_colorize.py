import re
from pathlib import Path

import numpy as np
import pytest
from conftest import make_color_model
from PIL import Image

import huenet
from huenet import color, models
from huenet import inference as colorize_module
from huenet.images import ImageError, read_image
from huenet.inference import Decoding, colorize, colorize_many, decode_ab, working_shape


@pytest.fixture(scope="module")
def tiny_model():
    return make_color_model("unet-tiny")


@pytest.mark.parametrize("name", models.preset_names())
@pytest.mark.parametrize("size", [(1, 1), (33, 47), (7, 100)])
def test_every_preset_returns_the_input_size(name, size):
    model = make_color_model(name)
    gray = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)
    result = colorize(gray, model=model)
    assert result.mode == "RGB"
    assert (result.height, result.width) == size


@pytest.mark.parametrize("size", [(1, 300), (4000, 100)])
def test_extreme_aspect_ratios(tiny_model, size):
    result = colorize(np.zeros(size, np.uint8), model=tiny_model)
    assert (result.height, result.width) == size


def test_working_shape_keeps_aspect_ratio():
    assert working_shape((300, 600), 32) == (16, 32)
    assert working_shape((4000, 100), 32) == (32, 1)
    assert working_shape((1, 1), 32) == (1, 1)
    assert working_shape((20, 30), 32) == (20, 30)


def test_a_model_with_a_minimum_working_size_enlarges_small_images_only():
    assert working_shape((16, 24), 224, min_size=160) == (107, 160)  # a thumbnail, enlarged
    assert working_shape((300, 600), 224, min_size=160) == (112, 224)  # a photo, shrunk as before
    assert working_shape((170, 100), 224, min_size=160) == (170, 100)  # between: its own size
    assert working_shape((16, 24), 128, min_size=160) == (85, 128)  # never above the working size


def test_an_enlarged_small_image_keeps_its_size_and_its_gray(rng):
    """unet-tiny with min_working_size 48: a 20x14 image runs at 48x34 and comes back at 20x14
    with its own gray levels; the network really saw the enlarged image."""
    model = make_color_model("unet-tiny")
    model.settings["min_working_size"] = 48
    gray = rng.integers(40, 216, (20, 14), dtype=np.uint8)
    colorizer = colorize_module.Colorizer(model, Decoding(), 64)
    shape, network_input = colorizer.network_input(read_image(gray))
    assert shape == (48, 34) and network_input.shape[:2] == (48, 36)  # padded to the network's multiple
    result = colorizer.colorize_many([gray])[0]
    assert (result.height, result.width) == (20, 14)
    assert np.abs(np.asarray(result.convert("L")).astype(int) - gray).max() <= 1


def _zero_chroma_model():
    model = make_color_model("unet-tiny")
    last = model.network.layers[-1]
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    return model


def test_zero_chroma_reproduces_the_gray_input_exactly(rng):
    gray = rng.integers(0, 256, (37, 29), dtype=np.uint8)
    result = np.asarray(colorize(gray, model=_zero_chroma_model()))
    assert np.array_equal(result, np.repeat(gray[..., None], 3, axis=-1))


def test_output_converts_back_to_the_input_gray(tiny_model, rng):
    gray = rng.integers(40, 216, (64, 80), dtype=np.uint8)  # midtones: the chroma below fits the gamut
    model = make_color_model("unet-tiny")
    last = model.network.layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([np.zeros_like(kernel), np.array([0.15, -0.1], np.float32)])  # one chroma everywhere
    result = colorize(gray, model=model)
    assert np.asarray(result).std(axis=-1).mean() > 4  # really colored
    back = np.asarray(result.convert("L")).astype(int)
    assert np.abs(back - gray).max() <= 1
    assert np.mean(back == gray) > 0.6


def test_strips_match_a_one_shot_composition(tiny_model, rng, monkeypatch):
    gray = rng.integers(0, 256, (300, 41), dtype=np.uint8)
    striped = np.asarray(colorize(gray, model=tiny_model))
    monkeypatch.setattr(colorize_module, "_STRIP_ROWS", 10_000)
    whole = np.asarray(colorize(gray, model=tiny_model))
    assert np.array_equal(striped, whole)


def test_alpha_is_kept(tiny_model):
    rgba = np.zeros((9, 11, 4), np.uint8)
    rgba[..., 3] = np.arange(11, dtype=np.uint8) * 20
    result = colorize(Image.fromarray(rgba, "RGBA"), model=tiny_model)
    assert result.mode == "RGBA"
    assert np.array_equal(np.asarray(result)[..., 3], rgba[..., 3])


def test_batched_equals_one_by_one(tiny_model, rng):
    images = [rng.integers(0, 256, (32, 32), dtype=np.uint8) for _ in range(5)] + [
        rng.integers(0, 256, (20, 50), dtype=np.uint8)
    ]
    batched = colorize_many(images, model=tiny_model)
    single = [colorize(image, model=tiny_model) for image in images]
    for a, b in zip(batched, single):
        assert np.abs(np.asarray(a).astype(int) - np.asarray(b)).max() <= 1


def test_annealed_mean_decoding():
    model = make_color_model("unet-classification")
    bins = color.ab_bins()
    logits = np.full((1, 1, 1, len(bins)), -2.0, np.float32)
    logits[..., 10] = 1.0
    logits[..., 200] = 0.5
    mean = decode_ab(model, logits, Decoding(temperature=1.0))[0, 0, 0]
    probabilities = np.exp(logits[0, 0, 0]) / np.exp(logits[0, 0, 0]).sum()
    np.testing.assert_allclose(mean, probabilities @ bins, atol=1e-4)
    cold = decode_ab(model, logits, Decoding(temperature=0.01))[0, 0, 0]
    np.testing.assert_allclose(cold, bins[10], atol=1e-3)


def test_decoding_settings_are_checked(tiny_model):
    with pytest.raises(ValueError, match="apply to ab-bin models"):
        colorize(np.zeros((4, 4), np.uint8), model=tiny_model, temperature=0.5)
    with pytest.raises(ValueError, match="no vivid setting"):
        colorize(np.zeros((4, 4), np.uint8), model=tiny_model, vivid=True)
    classifier = make_color_model("unet-classification")
    with pytest.raises(ValueError, match="must be > 0"):
        colorize(np.zeros((4, 4), np.uint8), model=classifier, temperature=0)
    with pytest.raises(ValueError, match="not calibrated"):
        colorize(np.zeros((4, 4), np.uint8), model=classifier, vivid=True)
    for bad_size in (0, -5, 2.5):  # refused, not silently replaced by the model's own
        with pytest.raises(ValueError, match="working size must be"):
            colorize(np.zeros((4, 4), np.uint8), model=tiny_model, working_size=bad_size)


def test_vividness_moves_toward_rare_saturated_bins():
    bins = color.ab_bins()
    prior = np.exp(-np.hypot(bins[:, 0], bins[:, 1]) / 10)  # neutral colors are common
    model = make_color_model("unet-classification", bin_prior=prior.tolist())
    logits = -np.hypot(bins[:, 0] - 20, bins[:, 1] - 20)[None, None, None] / 10  # spread around (20, 20)
    faithful = decode_ab(model, logits, Decoding(temperature=1.0))[0, 0, 0]
    vivid = decode_ab(model, logits, Decoding(temperature=1.0, vividness=1.0))[0, 0, 0]
    assert np.hypot(*vivid) > np.hypot(*faithful) + 1
    muted = decode_ab(model, logits, Decoding(temperature=1.0, vividness=-1.0))[0, 0, 0]
    assert np.hypot(*muted) < np.hypot(*faithful) - 1


def test_contrast_moves_each_pixel_away_from_its_own_images_mean_color():
    """Chroma contrast c: ab' = mean + c (ab - mean), the mean over each image's own grid; the
    model's vivid block may carry one, the user's overrides it, hint candidates never use it."""
    from huenet.modelfile import ColorModel

    model = make_color_model("unet-classification")
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2, 3, 4, len(color.ab_bins()))).astype(np.float32)  # two images
    plain = decode_ab(model, logits, Decoding(temperature=1.0))
    assert np.array_equal(decode_ab(model, logits, Decoding(temperature=1.0, contrast=1.0)), plain)
    strong = decode_ab(model, logits, Decoding(temperature=1.0, contrast=1.5))
    for image in range(2):
        mean = plain[image].mean(axis=(0, 1))
        np.testing.assert_allclose(strong[image], mean + 1.5 * (plain[image] - mean), atol=1e-4)
        np.testing.assert_allclose(strong[image].mean(axis=(0, 1)), mean, atol=1e-4)  # the image's mean holds
    settings = {**model.settings, "temperature": 1.0, "vivid": {"temperature": 1.0, "vividness": 0.0, "contrast": 2.0}}
    calibrated = ColorModel(model.network, {**model.metadata, "settings": settings}, source="calibrated")
    np.testing.assert_allclose(decode_ab(calibrated, logits, Decoding()), plain, atol=1e-5)  # faithful: none
    doubled = decode_ab(calibrated, logits, Decoding(vivid=True))
    np.testing.assert_allclose(doubled, decode_ab(model, logits, Decoding(temperature=1.0, contrast=2.0)), atol=1e-5)
    assert colorize_module.resolve_contrast(calibrated, Decoding(vivid=True, contrast=1.2)) == 1.2
    assert all(candidate.contrast == 1.0 for candidate in colorize_module.HINT_DECODINGS)
    shrunk = {"shrink": 4.0, "temperature": 1.0, "vividness": 0.0, "vivid": {"vividness": 0.5, "contrast": 3.0}}
    photos = ColorModel(model.network, {**model.metadata, "settings": {**settings, "shrunk": shrunk}}, source="p")
    resolve = colorize_module.resolve_contrast
    assert resolve(photos, Decoding(vivid=True), shrink=1.0) == 2.0  # its own size: the vivid block's
    assert resolve(photos, Decoding(vivid=True), shrink=2.0) == pytest.approx(2.5)  # halfway in log(shrink)
    assert resolve(photos, Decoding(vivid=True), shrink=8.0) == 3.0 and resolve(photos, Decoding(), shrink=8.0) == 1.0
    with pytest.raises(ValueError, match="contrast must be between"):
        decode_ab(model, logits, Decoding(contrast=0.0))
    with pytest.raises(ValueError, match="contrast apply to ab-bin models"):
        colorize_module.resolve_decoding(make_color_model("unet-tiny"), Decoding(contrast=1.5))


def _model_with_a_shrunk_decoding():
    from huenet.modelfile import ColorModel

    model = make_color_model("unet-classification")
    settings = {
        **model.settings,
        "working_size": 16,
        "temperature": 1.0,
        "vividness": 0.5,
        "vivid": {"temperature": 0.5, "vividness": 2.0},
        "shrunk": {
            "shrink": 4.0,
            "temperature": 0.25,
            "vividness": -0.5,
            "vivid": {"temperature": 0.4, "vividness": 1.0},
        },
    }
    return ColorModel(model.network, {**model.metadata, "settings": settings}, source=model.source)


def test_shrunk_inputs_take_the_shrunk_decoding_and_sizes_between_blend():
    model = _model_with_a_shrunk_decoding()
    resolve = colorize_module.resolve_decoding
    assert resolve(model, Decoding()) == (1.0, 0.5)  # not shrunk: the model's own pair
    assert resolve(model, Decoding(), shrink=1.0) == (1.0, 0.5)
    assert resolve(model, Decoding(), shrink=4.0) == (0.25, -0.5)
    assert resolve(model, Decoding(), shrink=50.0) == (0.25, -0.5)  # beyond the calibrated factor: held
    assert resolve(model, Decoding(), shrink=2.0) == pytest.approx((0.625, 0.0))  # halfway in log(shrink)
    assert resolve(model, Decoding(vivid=True), shrink=1.0) == (0.5, 2.0)
    assert resolve(model, Decoding(vivid=True), shrink=4.0) == (0.4, 1.0)
    # What the user gives holds at every size; the rest still follows the size.
    assert resolve(model, Decoding(vividness=1.5), shrink=4.0) == (0.25, 1.5)
    assert resolve(model, Decoding(temperature=0.7, vividness=1.5), shrink=2.0) == (0.7, 1.5)
    # A model without the block decodes alike at every size.
    plain = make_color_model("unet-classification")
    assert resolve(plain, Decoding(), shrink=1.0) == resolve(plain, Decoding(), shrink=30.0)


@pytest.mark.parametrize("shrunk", [{"shrink": "six"}, 5, {"temperature": 0.5}, {"shrink": 4, "vivid": 3}])
def test_a_model_file_with_unreadable_decodings_is_named_in_one_error(shrunk):
    from huenet.modelfile import ColorModel

    model = _model_with_a_shrunk_decoding()
    broken = ColorModel(
        model.network, {**model.metadata, "settings": {**model.settings, "shrunk": shrunk}}, source="odd.keras"
    )
    with pytest.raises(ValueError, match=r"^odd.keras: unreadable decoding settings"):
        colorize_module.resolve_decoding(broken, Decoding(vivid=True), shrink=8.0)
    with pytest.raises(ValueError, match=r"^odd.keras: unreadable decoding settings"):  # before any image is read
        colorize_module.Colorizer(broken, Decoding(vivid=True), threads=1)


def test_the_colorizer_decodes_each_image_by_how_much_it_is_shrunk(rng):
    model = _model_with_a_shrunk_decoding()
    colorizer = colorize_module.Colorizer(model, threads=1)
    sizes = [(16, 16), (64, 48), (32, 32)]  # shrunk 1x, 4x and 2x to the 16-pixel working size
    inputs = [read_image(rng.integers(0, 256, size, dtype=np.uint8)) for size in sizes]
    decoded = colorizer.predict_ab(inputs)  # the last two share a working shape and one network batch
    raw = colorizer.network_outputs(inputs)
    for image, ab, outputs, shrink in zip(inputs, decoded, raw, (1.0, 4.0, 2.0)):
        assert colorizer.shrink(image) == shrink
        temperature, vividness = colorize_module.resolve_decoding(model, Decoding(), shrink)
        expected = decode_ab(model, outputs[None], Decoding(temperature=temperature, vividness=vividness))[0]
        np.testing.assert_allclose(ab, expected, atol=1e-5)
    # The 4x input was not decoded like the unshrunk one.
    same_as_small = decode_ab(model, raw[1][None], Decoding(temperature=1.0, vividness=0.5))[0]
    assert np.abs(decoded[1] - same_as_small).max() > 0.01


@pytest.mark.parametrize("vividness", [-2.5, 3.5, float("nan")])
def test_vividness_outside_its_range_is_refused(vividness):
    model = make_color_model("unet-classification")
    with pytest.raises(ValueError, match="vividness must be between -2 and 3"):
        decode_ab(model, np.zeros((1, 1, 1, 313), np.float32), Decoding(vividness=vividness))


def test_sixteen_bit_input_gives_eight_bit_color(tiny_model):
    gray = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    result = colorize(Image.fromarray(gray), model=tiny_model)
    assert result.mode == "RGB" and result.size == (8, 8)
    assert read_image(gray).size == (8, 8)


def test_the_api_names_the_file_it_cannot_read(tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(ImageError, match=f"^{re.escape(str(missing))}: no such file$"):
        huenet.colorize(str(missing))
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImageError, match="notes.png: not an image Pillow can read"):
        huenet.colorize_many([tmp_path / "notes.png"])


@pytest.mark.parametrize("decoding", [{}, {"vivid": True}, {"vividness": 3.0}])
def test_gray_round_trip_within_one_level_on_saturated_photos(decoding):
    # Saturated patches and a photo-like texture: the gray of every output pixel is the input's.
    rng = np.random.default_rng(3)
    patches = np.zeros((120, 180, 3), np.uint8)
    for index, rgb in enumerate([(255, 0, 0), (0, 0, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255), (0, 255, 255)]):
        patches[(index // 3) * 60 : (index // 3 + 1) * 60, (index % 3) * 60 : (index % 3 + 1) * 60] = rgb
    texture = rng.integers(0, 256, (90, 130), dtype=np.uint8)
    large = np.kron(color.rgb_to_gray(patches), np.ones((5, 5), np.uint8))  # big enough for the table route
    for gray in (color.rgb_to_gray(patches), texture, large, (texture.astype(np.uint16) * 257)):
        output = huenet.colorize(gray, **decoding)
        back = np.asarray(output.convert("L"), dtype=np.int16)
        expected = gray if gray.dtype == np.uint8 else np.rint(gray / 257.0)
        assert np.abs(back - expected).max() <= 1, decoding


def test_threads_change_speed_not_colors(monkeypatch):
    from huenet.images import read_image
    from huenet.inference import Colorizer, Decoding

    gray = np.random.default_rng(4).integers(0, 256, (700, 300), dtype=np.uint8)  # three strips of rows
    model, image = huenet.load_model(), read_image(gray)
    (ab,) = Colorizer(model, Decoding(), threads=1).predict_ab([image])
    # The full-resolution work, in strips of rows over the threads, is exact.
    one = np.asarray(Colorizer(model, Decoding(), threads=1).compose(image, ab))
    assert np.array_equal(one, np.asarray(Colorizer(model, Decoding(), threads=3).compose(image, ab)))
    # The network's matrix products may round differently in more BLAS threads (OpenBLAS 0.3.31
    # splits the sums): at most one level, on a few pixels.
    change = np.abs(
        np.asarray(huenet.colorize(gray, threads=1), np.int16) - np.asarray(huenet.colorize(gray, threads=3), np.int16)
    )
    assert change.max() <= 1 and (change > 0).mean() < 1e-3, (change.max(), (change > 0).mean())
    with pytest.raises(ValueError, match="threads must be a whole number, at least 1"):
        huenet.colorize(gray, threads=0)


def test_default_threads_leave_out_the_cores_busy_now(monkeypatch, tmp_path):
    monkeypatch.setattr(colorize_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    loadavg = tmp_path / "loadavg"
    monkeypatch.setattr(colorize_module, "_LOADAVG", str(loadavg))
    monkeypatch.setattr(colorize_module, "_busy_seen", [float("-inf"), 0])  # this test's counts stay in this test
    monkeypatch.setattr(colorize_module, "_BUSY_TTL_S", 0.0)  # count afresh on every call
    monkeypatch.setattr(colorize_module, "_OWN_TASKS", str(tmp_path / "task" / "*" / "stat"))
    for thread, state in ((101, "R"), (102, "R"), (103, "S")):  # two of this process's threads runnable
        (tmp_path / "task" / str(thread)).mkdir(parents=True)
        (tmp_path / "task" / str(thread) / "stat").write_text(f"{thread} (huenet (worker)) {state} 1 2 3\n")
    loadavg.write_text("0.10 0.20 0.30 3/311 4242\n")  # this process's two and one other runnable
    assert colorize_module.default_threads() == 1  # one of two cores busy: one thread
    loadavg.write_text("0.10 0.20 0.30 2/311 4242\n")  # only this process's own threads
    assert colorize_module.default_threads() == 2
    loadavg.write_text("1.00 0.90 0.50 2/311 4242\n")  # only this process, though the average still lags at 1
    assert colorize_module.default_threads() == 2
    loadavg.write_text("9.00 9.00 9.00 12/311 4242\n")
    assert colorize_module.default_threads() == 1
    loadavg.unlink()  # no /proc (not Linux): the one-minute load average
    monkeypatch.setattr(colorize_module.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    assert colorize_module.default_threads() == 1
    monkeypatch.setattr(colorize_module.os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert colorize_module.default_threads() == 2
    monkeypatch.setattr(colorize_module, "_BUSY_TTL_S", 60.0)  # within the reuse time the last count stands
    monkeypatch.setattr(colorize_module.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    assert colorize_module.default_threads() == 2


def test_the_color_table_keeps_every_levels_luma_and_stays_near_the_exact_colors(monkeypatch):
    # The table solves every other gray level and blends the ones between: luma is linear in
    # R, G and B, so the blends keep their own level's luma exactly.
    rng = np.random.default_rng(0)
    ab = rng.uniform(-60, 60, (6, 7, 2)).astype(np.float32)
    gray = np.concatenate([np.arange(3, 250, dtype=np.uint8)] * 200)  # odd and even levels, many pixels
    colors, position = colorize_module._color_table(gray, ab)
    levels = np.unique(gray)
    assert np.abs(color.luma(colors[:, :, position[levels]]) - levels / 255.0).max() < 1e-4
    monkeypatch.setattr(colorize_module, "_TABLE_LEVEL_STEP", 1)
    exact, _ = colorize_module._color_table(gray, ab)
    assert np.abs(colors - exact).max() * 255 <= 5


@pytest.mark.parametrize("threads", [1, 2])
def test_the_color_table_route_matches_the_direct_route(threads):
    # 8-bit photos take the table route; 16-bit inputs of the same picture the direct one.
    y, x = np.mgrid[0:1600, 0:2400]  # big enough for the table to pay with any bundled model's ab grid
    gray = (127 + 90 * np.sin(x / 74.0) * np.cos(y / 46.0)).astype(np.uint8)
    model = huenet.load_model()
    (ab,) = colorize_module.Colorizer(model).predict_ab([read_image(gray)])
    assert colorize_module._color_table(gray, ab, threads) is not None
    table = np.asarray(colorize_module.compose(read_image(gray), ab, model.working_size, 2, threads), dtype=int)
    direct_input = read_image(gray.astype(np.uint16) * 257)
    assert colorize_module._color_table(direct_input.gray, ab) is None
    direct = np.asarray(colorize_module.compose(direct_input, ab, model.working_size, 2), dtype=int)
    difference = np.abs(table - direct)
    assert difference.mean() < 0.05 and difference.max() <= 3


def test_stretch_widens_only_a_narrow_lightness_onto_the_span():
    ramp = np.linspace(0.0, 100.0, 10_001, dtype=np.float32)
    np.testing.assert_array_equal(colorize_module.stretch_lightness(ramp), ramp)  # a full range is kept
    faded = 0.6 * ramp + 20.0
    stretched = colorize_module.stretch_lightness(faded)
    np.testing.assert_allclose(np.percentile(stretched, [1, 99]), colorize_module.STRETCH_SPAN, atol=0.01)
    assert (np.diff(stretched) >= 0).all()  # the order of gray levels is kept
    flat = 50.0 + 0.01 * np.sin(ramp)  # a blank page's faint texture is not blown up into noise
    assert np.ptp(colorize_module.stretch_lightness(flat)) <= colorize_module.STRETCH_MAX_GAIN * np.ptp(flat) + 1e-4


def test_a_faded_photo_stretched_is_colored_as_the_photo_itself():
    """Faded to 60% of its contrast (in L), a photo colored as it is drifts from the colors the
    network gives the photo itself; with ``stretch`` the network sees both at one contrast and
    the drift shrinks (2.85 against 0.97 Lab units, photo 0.2.5, 2026-12-07), while the output
    keeps the faded gray levels."""
    photo = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "examples" / "bsds-143090.png").convert("L"))
    lab = np.zeros(photo.shape + (3,))
    lab[..., 0] = 0.6 * color.gray_to_lightness(photo / 255.0) + 20.0
    faded = color.to_uint8(color.lab_to_rgb(lab))[..., 0]
    model = huenet.load_model()

    def colors(image, stretch):
        return np.asarray(colorize(image, model=model, stretch=stretch))

    as_is = np.abs(color.rgb_to_lab(colors(faded, False))[..., 1:] - color.rgb_to_lab(colors(photo, False))[..., 1:])
    stretched_output = colors(faded, True)
    stretched = np.abs(color.rgb_to_lab(stretched_output)[..., 1:] - color.rgb_to_lab(colors(photo, True))[..., 1:])
    assert stretched.mean() < 0.5 * as_is.mean(), (stretched.mean(), as_is.mean())
    assert np.abs(color.rgb_to_gray(stretched_output).astype(int) - faded).max() <= 1  # the faded gray is kept
