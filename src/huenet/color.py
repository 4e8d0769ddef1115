"""The color contract: every conversion and normalization constant huenet uses.

Training, inference, metrics and tests all call these functions, so a model never sees
data prepared one way at training time and another way at inference time.

Conventions:
- ``rgb`` arrays are sRGB, float in [0, 1] or uint8 in [0, 255], channels last.
- ``lab`` is CIE L*a*b* under the D65 white point (2 degree observer), the same
  definition as scikit-image's ``rgb2lab``: L in [0, 100], a and b roughly in [-110, 110].
- The network sees ``lightness`` normalized to [-1, 1] and ``ab`` normalized by
  ``AB_SCALE`` (see ``normalize_lightness`` / ``normalize_ab``).
"""

from __future__ import annotations

import functools

import numpy as np

# D65 reference white in XYZ, as used by scikit-image and most Lab code.
WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)

# sRGB (linear) -> XYZ, IEC 61966-2-1.
_RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)

# Normalization seen by every network: lightness in [-1, 1], ab divided by 110, the
# radius that contains the sRGB gamut in the ab plane.
LIGHTNESS_CENTER = 50.0
LIGHTNESS_SCALE = 50.0
AB_SCALE = 110.0

# Quantized ab space for classification heads (Zhang, Isola, Efros 2016): grid step 10.
AB_GRID_STEP = 10.0

_EPSILON = 216.0 / 24389.0
_KAPPA = 24389.0 / 27.0


def as_float_rgb(rgb: np.ndarray) -> np.ndarray:
    """Return ``rgb`` as float32 in [0, 1]; uint8 input is divided by 255."""
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / 65535.0
    return rgb.astype(np.float32, copy=False)


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve (values in [0, 1])."""
    values = np.asarray(values, dtype=np.float32)
    return np.where(values > 0.04045, ((values + 0.055) / 1.055) ** 2.4, values / 12.92)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Apply the sRGB transfer curve; negative inputs are clipped to 0."""
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, None)
    return np.where(values > 0.0031308, 1.055 * values ** (1 / 2.4) - 0.055, 12.92 * values)


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPSILON, np.cbrt(t), (_KAPPA * t + 16.0) / 116.0)


def _f_inverse(t: np.ndarray) -> np.ndarray:
    cube = t * t * t  # products, not a power: a tenth of the time on a full-size image
    return np.where(cube > _EPSILON, cube, (116.0 * t - 16.0) / _KAPPA)


_LINEAR_OF_LEVEL = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)  # uint8 level -> linear


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8 or float in [0, 1]), shape (..., 3) -> Lab float32, shape (..., 3)."""
    rgb = np.asarray(rgb)
    # uint8 (every training batch): a 256-entry table gives the same values as the curve,
    # without a power per pixel.
    linear = _LINEAR_OF_LEVEL[rgb] if rgb.dtype == np.uint8 else srgb_to_linear(as_float_rgb(rgb))
    xyz = linear @ (_RGB_TO_XYZ / WHITE_D65[:, None]).T.astype(np.float32)
    fx, fy, fz = (_f(xyz[..., i]) for i in range(3))
    lab = np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)
    return lab.astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab, shape (..., 3) -> sRGB float32 in [0, 1] (out-of-gamut values clipped)."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    xyz = np.stack([_f_inverse(fx), _f_inverse(fy), _f_inverse(fz)], axis=-1)
    linear = (xyz * WHITE_D65.astype(np.float32)) @ _XYZ_TO_RGB.T.astype(np.float32)
    return np.clip(linear_to_srgb(linear), 0.0, 1.0).astype(np.float32)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """sRGB-encoded gray levels in [0, 1] -> Lab lightness L in [0, 100].

    A gray pixel has R = G = B, so its Y is the linearized level and a = b = 0.
    """
    y = srgb_to_linear(gray)
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) -> uint8 gray, ITU-R 601 luma exactly as Pillow's ``convert("L")``.

    This is how a color image becomes the grayscale input a user would give us, so
    evaluation feeds models the same gray that Pillow produces.
    """
    rgb = np.asarray(rgb, dtype=np.uint32)
    return ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of float sRGB (..., 3) -> (...), the float form of ``rgb_to_gray``."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def combine_gray_ab(gray: np.ndarray, ab: np.ndarray, iterations: int = 3) -> np.ndarray:
    """The color image whose chroma is ``ab`` and whose luma is the input ``gray``.

    Args:
        gray: sRGB-encoded gray levels in [0, 1], shape (...).
        ab: Lab chroma, shape (..., 2).
    Returns:
        float sRGB in [0, 1], shape (..., 3).

    A grayscale file holds luma (Pillow, OpenCV and most tools convert with the ITU-R 601
    weights), not Lab lightness: a saturated red of Lab L 53 becomes gray level 76, whose own
    L is 32. Pasting ab onto L 32 would give a dark red. Instead the lightness is solved so
    that the result, converted back to gray, gives the input again: a few fixed-point steps
    in lightness, then an equal shift of R, G and B (which leaves chroma alone) absorbs what
    is left. With ab = 0 this returns the gray input exactly.

    Colors outside the sRGB gamut are not clipped (clipping one channel changes the luma, by
    up to 10 gray levels for saturated colors): the pixel's chroma, its offset from its gray
    in R, G and B, is shrunk just enough to fit, so luma stays exactly the input's gray.
    """
    gray = np.asarray(gray, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    target = gray_to_lightness(gray)
    lightness = target
    for _ in range(iterations):
        rgb = lab_to_rgb(np.concatenate([lightness[..., None], ab], axis=-1))
        lightness = np.clip(lightness + target - gray_to_lightness(np.clip(luma(rgb), 0, 1)), 0.0, 100.0)
    rgb = lab_to_rgb(np.concatenate([lightness[..., None], ab], axis=-1))
    return fit_chroma_to_gamut(gray, rgb - luma(rgb)[..., None])


def fit_chroma_to_gamut(gray: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """``gray + s * chroma`` with the largest s <= 1 that keeps R, G and B in [0, 1].

    ``chroma`` (..., 3) has zero luma (R, G, B offsets whose 601-weighted sum is 0), so the
    result's luma is ``gray`` for any s: out-of-gamut colors lose saturation at constant
    luma instead of being clipped. float32 in, float32 out.
    """
    gray = np.asarray(gray, dtype=np.float32)[..., None]
    chroma = np.asarray(chroma, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(chroma > 0, (1.0 - gray) / chroma, np.where(chroma < 0, gray / -chroma, np.inf))
    scale = np.minimum(room.min(axis=-1, keepdims=True), 1.0).astype(np.float32)
    return np.clip(gray + scale * chroma, 0.0, 1.0)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float sRGB in [0, 1] -> uint8 with rounding (the one quantizer we use)."""
    return np.clip(np.rint(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)


def normalize_lightness(lightness: np.ndarray) -> np.ndarray:
    """L in [0, 100] -> network input in [-1, 1]."""
    return ((np.asarray(lightness, dtype=np.float32) - LIGHTNESS_CENTER) / LIGHTNESS_SCALE).astype(np.float32)


def network_input(gray: np.ndarray) -> np.ndarray:
    """sRGB-encoded gray levels in [0, 1], (...) -> normalized lightness, (..., 1).

    This is everything a network sees, at training and at inference alike.
    """
    return normalize_lightness(gray_to_lightness(gray))[..., None]


def normalize_ab(ab: np.ndarray) -> np.ndarray:
    """ab in Lab units -> network target, about [-1, 1]."""
    return (np.asarray(ab, dtype=np.float32) / AB_SCALE).astype(np.float32)


def denormalize_ab(ab: np.ndarray) -> np.ndarray:
    """Network ab -> Lab units."""
    return (np.asarray(ab, dtype=np.float32) * AB_SCALE).astype(np.float32)


@functools.lru_cache(maxsize=1)
def ab_bins() -> np.ndarray:
    """Centers of the quantized ab bins that sRGB colors can reach, shape (Q, 2), Lab units.

    Deterministic: every color of a 64-level sRGB cube is converted to Lab and its ab is
    rounded to the 10-unit grid; the occupied grid cells are the bins, sorted by (a, b).
    Classification heads store Q in their configuration, so a change here is caught at load.
    """
    levels = np.linspace(0.0, 1.0, 64, dtype=np.float32)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    ab = rgb_to_lab(cube)[:, 1:]
    cells = np.rint(ab / AB_GRID_STEP).astype(np.int64)
    # Unique (a, b) pairs as one sortable key: np.unique(axis=0) took 0.46 s of a CLI
    # start, this takes milliseconds. Same bins, same (a, b) order.
    low, span = cells.min(axis=0), np.ptp(cells, axis=0) + 1
    keys = np.unique((cells[:, 0] - low[0]) * span[1] + (cells[:, 1] - low[1]))
    cells = np.stack([keys // span[1] + low[0], keys % span[1] + low[1]], axis=-1)
    return (cells * AB_GRID_STEP).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _bin_smoothing_kernel(sigma: float) -> np.ndarray:
    """Gaussian weights between every pair of ab bins (bins x bins). Computed once per sigma:
    it was 4 ms of every ``rebalancing_weights`` call, and decoding calls that per image."""
    centers = ab_bins()
    distance2 = ((centers[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-distance2 / (2 * sigma**2))
    kernel.setflags(write=False)
    return kernel


def rebalancing_weights(bin_prior: np.ndarray, mix: float = 0.5, sigma: float = 5.0) -> np.ndarray:
    """Zhang et al.'s class-rebalancing weights from an empirical ab-bin prior.

    The prior is smoothed with a Gaussian (``sigma`` Lab units) over the bins, mixed with a
    uniform distribution (``mix`` = lambda, 0.5 in the paper), inverted, and normalized so that
    the expected weight under the prior is 1. ``mix=1`` gives all bins weight 1.
    """
    prior = np.asarray(bin_prior, dtype=np.float64)
    prior = prior / max(prior.sum(), 1e-12)
    kernel = _bin_smoothing_kernel(float(sigma))
    smoothed = kernel @ prior
    smoothed /= smoothed.sum()
    weights = 1.0 / ((1 - mix) * smoothed + mix / len(kernel))
    weights /= (smoothed * weights).sum()
    return weights.astype(np.float32)


# --- 8-bit color spaces for the seed presets -----------------------------------------
# The seed predicted each channel as one of 256 classes; its future work asked for HSV and
# Lab. Each space below maps uint8 RGB to three uint8 channels and back.

COLOR_SPACES = ("rgb", "hsv", "lab", "yuv")

# Full-range BT.601 (JPEG's YCbCr).
_YUV_MATRIX = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float32,
)
_YUV_INVERSE = np.linalg.inv(_YUV_MATRIX).astype(np.float32)


def _check_space(space: str) -> None:
    if space not in COLOR_SPACES:
        raise ValueError(f"unknown color space {space!r}; choose one of {', '.join(COLOR_SPACES)}")


def rgb_to_levels(rgb: np.ndarray, space: str) -> np.ndarray:
    """uint8 sRGB (..., 3) -> uint8 channel levels (..., 3) in ``space``."""
    _check_space(space)
    rgb = np.asarray(rgb)
    if space == "rgb":
        return rgb.astype(np.uint8)
    rgb_float = as_float_rgb(rgb)
    if space == "hsv":
        maximum = rgb_float.max(axis=-1)
        minimum = rgb_float.min(axis=-1)
        delta = maximum - minimum
        safe = np.where(delta > 0, delta, 1.0)
        r, g, b = (rgb_float[..., i] for i in range(3))
        hue = np.where(
            maximum == r, ((g - b) / safe) % 6.0, np.where(maximum == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
        )
        hue = np.where(delta > 0, hue / 6.0, 0.0)
        saturation = np.where(maximum > 0, delta / np.where(maximum > 0, maximum, 1.0), 0.0)
        return to_uint8(np.stack([hue, saturation, maximum], axis=-1))
    if space == "lab":
        lab = rgb_to_lab(rgb_float)
        scaled = np.stack([lab[..., 0] * 2.55, lab[..., 1] + 128.0, lab[..., 2] + 128.0], axis=-1)
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    yuv = rgb_float @ _YUV_MATRIX.T
    yuv[..., 1:] += 0.5
    return to_uint8(yuv)


def levels_to_rgb(levels: np.ndarray, space: str) -> np.ndarray:
    """Channel levels (..., 3) in ``space`` (uint8, or float for soft decodings) -> uint8 sRGB."""
    _check_space(space)
    levels = np.asarray(levels, dtype=np.float32)
    if space == "rgb":
        return np.clip(np.rint(levels), 0, 255).astype(np.uint8)
    if space == "hsv":
        hue, saturation, value = (levels[..., i] / 255.0 for i in range(3))
        sector = hue * 6.0
        i = np.floor(sector) % 6
        frac = sector - np.floor(sector)
        p = value * (1 - saturation)
        q = value * (1 - saturation * frac)
        t = value * (1 - saturation * (1 - frac))
        choices = [
            np.stack(c, axis=-1)
            for c in ((value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q))
        ]
        rgb = np.select([(i == k)[..., None] for k in range(6)], choices)
        return to_uint8(rgb)
    if space == "lab":
        lab = np.stack([levels[..., 0] / 2.55, levels[..., 1] - 128.0, levels[..., 2] - 128.0], axis=-1)
        return to_uint8(lab_to_rgb(lab))
    yuv = levels / 255.0
    yuv[..., 1:] -= 0.5
    return to_uint8(yuv @ _YUV_INVERSE.T)


# --- grayscale detection -----------------------------------------------------------------

# An image is treated as grayscale when 95% of its pixels have Lab chroma below this.
GRAY_CHROMA_THRESHOLD = 3.0


def chroma_percentile(rgb: np.ndarray, percentile: float = 95.0) -> np.ndarray:
    """Per-image percentile of Lab chroma, rgb: (count, height, width, 3) uint8 -> (count,)."""
    values = []
    for start in range(0, len(rgb), 1024):
        lab = rgb_to_lab(rgb[start : start + 1024])
        chroma = np.hypot(lab[..., 1], lab[..., 2]).reshape(len(lab), -1)
        values.append(np.percentile(chroma, percentile, axis=1))
    return np.concatenate(values) if values else np.zeros(0)


def is_grayscale(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of images whose truth is (nearly) gray: 95th pct chroma below 3."""
    return chroma_percentile(rgb) < GRAY_CHROMA_THRESHOLD
