"""Quality metrics on uint8 RGB predictions against uint8 RGB truths.

All functions take arrays of shape (count, height, width, 3), uint8, and return floats.
Per-image PSNR ignores nothing: callers leave grayscale truths out first (their PSNR under
a gray copy is unbounded), as ``huenet evaluate`` does.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from huenet import color

AUC_THRESHOLDS = np.arange(0, 151)  # Zhang et al.: ab error thresholds 0..150
SSIM_WINDOW = 7  # scikit-image's default


def _check(prediction: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from truth shape {truth.shape}")
    return prediction.astype(np.int16), truth.astype(np.int16)


def exact_match(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Share of 8-bit channel values predicted exactly (the seed's Keras "accuracy")."""
    prediction, truth = _check(prediction, truth)
    return float(np.mean(prediction == truth))


def within(prediction: np.ndarray, truth: np.ndarray, levels: int) -> float:
    """Share of 8-bit channel values within +-``levels`` of the truth."""
    prediction, truth = _check(prediction, truth)
    return float(np.mean(np.abs(prediction - truth) <= levels))


def _squared_errors(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    prediction, truth = _check(prediction, truth)
    difference = (prediction - truth).astype(np.float64)
    return (difference**2).reshape(len(difference), -1).mean(axis=1)  # (count,)


def psnr_per_image(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Mean over images of each image's PSNR in dB (identical images count as 100 dB)."""
    mse = _squared_errors(prediction, truth)
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 255.0**2 * 1e-10))))


def psnr_pooled(prediction: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of the mean squared error over all pixels of all images."""
    mse = float(_squared_errors(prediction, truth).mean())
    return float(10 * np.log10(255.0**2 / max(mse, 255.0**2 * 1e-10)))


def _box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Mean over every size x size window fully inside the image, (count, h, w, c) -> valid part."""
    summed = np.cumsum(np.cumsum(np.pad(values, ((0, 0), (1, 0), (1, 0), (0, 0))), axis=1), axis=2)
    window = summed[:, size:, size:] - summed[:, :-size, size:] - summed[:, size:, :-size] + summed[:, :-size, :-size]
    return window / (size * size)


class Truth:
    """Same-size truths (count, h, w, 3) and what scoring any prediction against them needs
    of them alone (their Lab ab, SSIM window sums, colorfulness), computed once: ``huenet
    evaluate`` scores five or more rows against one truth set."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = np.asarray(images)

    @functools.cached_property
    def ab(self) -> np.ndarray:
        return np.concatenate(
            [_lab_ab(self.images[start : start + 1024]) for start in range(0, len(self.images), 1024)]
        )

    @property
    def ssim_window(self) -> int:
        """``ssim``'s window: 7, or the images' own size where they are smaller."""
        return max(1, min(SSIM_WINDOW, self.images.shape[1], self.images.shape[2]))

    @functools.cached_property
    def ssim_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the truth as float64, its window means, its window variances) for ``ssim``'s window."""
        y = self.images.astype(np.float64)
        window = self.ssim_window
        count = window * window
        mean_y = _box_mean(y, window)
        var_y = _covariance_norm(count) * (_box_mean(y * y, window) - mean_y**2)
        return y, mean_y, var_y

    @functools.cached_property
    def colorfulness(self) -> float:
        return colorfulness(self.images)


def _lab_ab(images: np.ndarray) -> np.ndarray:
    return color.rgb_to_lab(images)[..., 1:]


def _covariance_norm(count: int) -> float:
    return count / (count - 1) if count > 1 else 1.0


def ssim(prediction: np.ndarray, truth: np.ndarray | Truth) -> float:
    """Mean SSIM over images and channels (Wang et al. 2004), scikit-image's defaults.

    A 7x7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03, data range 255, and the
    mean taken over windows that lie fully inside the image (scikit-image crops the same
    border). Images smaller than the window are compared with a window of their own size.
    ``truth`` may be a ``Truth`` (its window sums kept between calls).
    """
    truth = _as_truth(prediction, truth)
    return _ssim(prediction, truth)


def _ssim(prediction: np.ndarray, truth: Truth) -> float:
    x = np.asarray(prediction).astype(np.float64)
    y, mean_y, var_y = truth.ssim_terms
    window = truth.ssim_window
    covariance_norm = _covariance_norm(window * window)
    mean_x = _box_mean(x, window)
    var_x = covariance_norm * (_box_mean(x * x, window) - mean_x**2)
    cov_xy = covariance_norm * (_box_mean(x * y, window) - mean_x * mean_y)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    value = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / ((mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2))
    return float(value.mean())


def ab_errors(prediction: np.ndarray, truth: np.ndarray | Truth) -> np.ndarray:
    """Per-pixel Euclidean ab distance in Lab units, flattened (``truth``: or a ``Truth``)."""
    return _ab_errors(prediction, _as_truth(prediction, truth))


def _ab_errors(prediction: np.ndarray, truth: Truth) -> np.ndarray:
    errors = []
    for start in range(0, len(prediction), 1024):
        predicted_ab = _lab_ab(prediction[start : start + 1024])
        errors.append(np.sqrt(((predicted_ab - truth.ab[start : start + 1024]) ** 2).sum(-1)).ravel())
    return np.concatenate(errors)


def auc(prediction: np.ndarray, truth: np.ndarray | Truth) -> float:
    """Zhang et al.'s AuC: share of pixels with ab error <= t, averaged over t = 0..150
    (``truth``: or a ``Truth``, whose Lab is kept between calls)."""
    return _auc(prediction, _as_truth(prediction, truth))


def _as_truth(prediction: np.ndarray, truth: np.ndarray | Truth) -> Truth:
    _check(prediction, truth.images if isinstance(truth, Truth) else truth)
    return truth if isinstance(truth, Truth) else Truth(truth)


def _auc(prediction: np.ndarray, truth: Truth) -> float:
    errors = np.sort(_ab_errors(prediction, truth))
    shares = np.searchsorted(errors, AUC_THRESHOLDS, side="right") / len(errors)
    return float(shares.mean())


def colorfulness(images: np.ndarray) -> float:
    """Mean Hasler-Suesstrunk (2003) colorfulness, signed opponent channels.

    rg = R - G, yb = (R + G) / 2 - B per pixel; per image
    sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2).
    """
    return float(np.mean(colorfulness_per_image(images)))


def colorfulness_per_image(images: np.ndarray) -> np.ndarray:
    """Each image's Hasler-Suesstrunk colorfulness (``colorfulness``), shape (batch,)."""
    rgb = np.asarray(images, dtype=np.float64).reshape(len(images), -1, 3)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    spread = np.sqrt(rg.std(axis=1) ** 2 + yb.std(axis=1) ** 2)
    center = np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)
    return spread + 0.3 * center


def all_metrics(prediction: np.ndarray | list, truth: np.ndarray | list) -> dict[str, float]:
    """Every metric of the report, as a flat dict (shares as fractions, PSNR in dB).

    Lists of differently sized images (full-size photos) are scored group by group of one
    size and combined as if scored together: pixel shares (exact, within, AuC) and pooled
    PSNR weighted by pixels, per-image means (PSNR, SSIM, colorfulness) by images.
    """
    return all_metrics_rows({"": prediction}, truth)[""]


def all_metrics_rows(predictions: dict[str, Any], truth: np.ndarray | list) -> dict[str, dict[str, float]]:
    """``all_metrics`` of each named prediction against one truth set; what the truth alone
    decides (``Truth``) is computed once per group of one size, not once per row."""
    if isinstance(truth, list) or any(isinstance(prediction, list) for prediction in predictions.values()):
        return _all_metrics_of_sizes({name: list(prediction) for name, prediction in predictions.items()}, list(truth))
    reference = Truth(truth)
    rows = {}
    for name, prediction in predictions.items():
        _check(prediction, truth)
        totals = _group_metrics(prediction, reference)
        predicted = totals["colorfulness"]
        totals["psnr_pooled"] = psnr_pooled(prediction, truth)
        totals["colorfulness_ratio"] = predicted / reference.colorfulness if reference.colorfulness else float("nan")
        rows[name] = {key: float(totals[key]) for key in _ORDER}
    return rows


_BY_PIXELS = ("exact_match", "within_5", "within_13", "auc")
_BY_IMAGES = ("psnr_mean", "ssim", "colorfulness")
_ORDER = (
    "exact_match",
    "within_5",
    "within_13",
    "psnr_mean",
    "psnr_pooled",
    "ssim",
    "auc",
    "colorfulness",
    "colorfulness_ratio",
)


def _group_metrics(prediction: np.ndarray, truth: Truth) -> dict[str, float]:
    """The pixel shares and per-image means of one same-size group."""
    return {
        "exact_match": exact_match(prediction, truth.images),
        "within_5": within(prediction, truth.images, 5),
        "within_13": within(prediction, truth.images, 13),
        "auc": _auc(prediction, truth),
        "psnr_mean": psnr_per_image(prediction, truth.images),
        "ssim": _ssim(prediction, truth),
        "colorfulness": colorfulness(prediction),
    }


def _all_metrics_of_sizes(predictions: dict[str, list], truths: list) -> dict[str, dict[str, float]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for images in predictions.values():
        if len(images) != len(truths):
            raise ValueError(f"{len(images)} predictions for {len(truths)} truths")
        for index, (prediction, truth) in enumerate(zip(images, truths)):
            if np.shape(prediction) != np.shape(truth):
                raise ValueError(
                    f"image {index}: prediction shape {np.shape(prediction)} differs from truth shape {np.shape(truth)}"
                )
    for index, truth in enumerate(truths):
        groups.setdefault(np.shape(truth), []).append(index)
    totals = {name: dict.fromkeys(_BY_PIXELS + _BY_IMAGES, 0.0) for name in predictions}
    squared_errors = dict.fromkeys(predictions, 0.0)
    pixels = images = truth_colorfulness = 0.0
    for shape, indices in groups.items():
        # One group's truth quantities at a time: kept for all 823 imagenet-sample photos,
        # their Lab and SSIM sums would take about 10 GB.
        reference = Truth(np.stack([truths[i] for i in indices]))
        group_pixels = len(indices) * shape[0] * shape[1]
        for name, images_of_row in predictions.items():
            prediction = np.stack([images_of_row[i] for i in indices])
            for key, value in _group_metrics(prediction, reference).items():
                totals[name][key] += value * (group_pixels if key in _BY_PIXELS else len(indices))
            squared_errors[name] += float(_squared_errors(prediction, reference.images).sum()) * shape[0] * shape[1]
        truth_colorfulness += reference.colorfulness * len(indices)
        pixels += group_pixels
        images += len(indices)
    truth_colorfulness /= images
    rows = {}
    for name in predictions:
        result = {key: totals[name][key] / (pixels if key in _BY_PIXELS else images) for key in totals[name]}
        mse = squared_errors[name] / pixels
        result["psnr_pooled"] = float(10 * np.log10(255.0**2 / max(mse, 255.0**2 * 1e-10)))
        result["colorfulness_ratio"] = (
            result["colorfulness"] / truth_colorfulness if truth_colorfulness else float("nan")
        )
        rows[name] = {key: float(result[key]) for key in _ORDER}
    return rows
