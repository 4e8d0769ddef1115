import numpy as np
import pytest
from PIL import Image
from skimage import color as skimage_color

from huenet import color


def test_lab_matches_scikit_image(rng):
    rgb = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    np.testing.assert_allclose(color.rgb_to_lab(rgb), skimage_color.rgb2lab(rgb / 255.0), atol=1e-3)
    lab = skimage_color.rgb2lab(rgb / 255.0)
    np.testing.assert_allclose(color.lab_to_rgb(lab), skimage_color.lab2rgb(lab), atol=1e-4)


def test_uint8_lab_equals_the_float_path_exactly(rng):
    rgb = np.stack(np.meshgrid(np.arange(256), rng.integers(0, 256, 7), rng.integers(0, 256, 7)), -1).reshape(-1, 3)
    rgb = rgb.astype(np.uint8)  # every level in the red channel
    assert np.array_equal(color.rgb_to_lab(rgb), color.rgb_to_lab(rgb.astype(np.float32) / 255.0))


def test_lab_round_trip_is_exact_in_uint8(rng):
    rgb = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert np.array_equal(color.to_uint8(color.lab_to_rgb(color.rgb_to_lab(rgb))), rgb)


def test_gray_levels_survive_lightness_with_zero_chroma():
    levels = np.arange(256, dtype=np.uint8)
    lightness = color.gray_to_lightness(levels / 255.0)
    lab = np.stack([lightness, np.zeros(256), np.zeros(256)], axis=-1)
    rgb = color.to_uint8(color.lab_to_rgb(lab))
    assert np.array_equal(rgb, np.repeat(levels[:, None], 3, axis=1))


def test_gray_conversion_is_pillows(rng):
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert np.array_equal(color.rgb_to_gray(rgb), np.asarray(Image.fromarray(rgb).convert("L")))


def test_normalization_round_trip():
    ab = np.array([[-110.0, 0.0], [55.0, 110.0]], dtype=np.float32)
    np.testing.assert_allclose(color.denormalize_ab(color.normalize_ab(ab)), ab)
    assert color.normalize_lightness(np.array([0.0, 50.0, 100.0])).tolist() == [-1.0, 0.0, 1.0]


def test_ab_bins_cover_the_gamut_on_a_grid():
    bins = color.ab_bins()
    assert 200 < len(bins) < 400
    assert np.all(bins % color.AB_GRID_STEP == 0)
    ab = color.rgb_to_lab(np.array([[255, 0, 0], [0, 0, 255], [0, 255, 0]], dtype=np.uint8))[:, 1:]
    nearest = np.sqrt(((ab[:, None] - bins[None]) ** 2).sum(-1)).min(1)
    assert np.all(nearest <= color.AB_GRID_STEP / np.sqrt(2) + 1e-3)


@pytest.mark.parametrize("space, tolerance", [("rgb", 0), ("yuv", 1), ("hsv", 3)])
def test_level_spaces_round_trip(rng, space, tolerance):
    rgb = rng.integers(0, 256, (300, 3), dtype=np.uint8)
    back = color.levels_to_rgb(color.rgb_to_levels(rgb, space), space)
    assert np.abs(back.astype(int) - rgb).max() <= tolerance


def test_lab_levels_round_trip_for_midtones(rng):
    rgb = rng.integers(60, 256, (300, 3), dtype=np.uint8)
    back = color.levels_to_rgb(color.rgb_to_levels(rgb, "lab"), "lab")
    assert np.abs(back.astype(int) - rgb).mean() < 1.5


def test_unknown_space_is_refused():
    with pytest.raises(ValueError, match="unknown color space 'cmy'"):
        color.rgb_to_levels(np.zeros((1, 3), np.uint8), "cmy")


def test_combine_gray_ab_keeps_luma_and_recovers_saturated_colors(rng):
    rgb = rng.integers(0, 256, (2000, 3), dtype=np.uint8)
    gray = color.rgb_to_gray(rgb)
    ab = color.rgb_to_lab(rgb)[:, 1:]
    combined = color.combine_gray_ab(gray / 255.0, ab)
    luma_error = np.abs(color.luma(combined) * 255 - gray)
    assert np.percentile(luma_error, 99) < 0.01 and luma_error.max() < 2.5  # only gamut-edge clipping misses
    assert np.abs(color.to_uint8(combined).astype(int) - rgb).mean() < 1.0  # true chroma -> true color
    red_ab = color.rgb_to_lab(np.array([[255, 0, 0]], np.uint8))[:, 1:]
    red = color.to_uint8(color.combine_gray_ab(np.array([76 / 255.0]), red_ab)).astype(int)
    pasted = color.to_uint8(
        color.lab_to_rgb(np.concatenate([color.gray_to_lightness(np.array([[76 / 255.0]])), red_ab], -1))
    ).astype(int)
    assert np.abs(red - [255, 0, 0]).max() <= 12 < np.abs(pasted - [255, 0, 0]).max()
    assert np.array_equal(
        color.to_uint8(color.combine_gray_ab(gray / 255.0, np.zeros_like(ab))), np.repeat(gray[:, None], 3, 1)
    )


def test_out_of_gamut_chroma_shrinks_at_constant_luma():
    rng = np.random.default_rng(7)
    gray = rng.uniform(0, 1, (4000,)).astype(np.float32)
    ab = rng.uniform(-128, 128, (4000, 2)).astype(np.float32)  # mostly far outside sRGB
    rgb = color.combine_gray_ab(gray, ab)
    assert rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_allclose(color.luma(rgb), gray, atol=1e-5)  # clipping would move it by up to 0.04
    back = np.asarray(Image.fromarray(color.to_uint8(rgb)[None]).convert("L"))[0].astype(int)
    assert np.abs(back - np.rint(gray * 255)).max() <= 1
    # Chroma keeps its direction: only its size changes.
    chroma = rgb - color.luma(rgb)[..., None]
    unclipped = color.lab_to_rgb(np.stack([color.gray_to_lightness(gray), *ab.T], -1))
    direction = unclipped - color.luma(unclipped)[..., None]
    cosine = (chroma * direction).sum(-1) / (
        np.linalg.norm(chroma, axis=-1) * np.linalg.norm(direction, axis=-1) + 1e-12
    )
    assert np.median(cosine[np.linalg.norm(chroma, axis=-1) > 1e-3]) > 0.9
