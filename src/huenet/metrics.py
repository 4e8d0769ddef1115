"""Quality metrics on uint8 RGB predictions against uint8 RGB truths.

All functions take arrays of shape (count, height, width, 3), uint8, and return floats.
Per-image PSNR ignores nothing: callers leave grayscale truths out first (their PSNR under
a gray copy is unbounded), as ``huenet evaluate`` does.
"""

from __future__ import annotations

import numpy as np

from huenet import color

AUC_THRESHOLDS = np.arange(0, 151)  # Zhang et al.: ab error thresholds 0..150


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


def ssim(prediction: np.ndarray, truth: np.ndarray, window: int = 7) -> float:
    """Mean SSIM over images and channels (Wang et al. 2004), scikit-image's defaults.

    A 7x7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03, data range 255, and the
    mean taken over windows that lie fully inside the image (scikit-image crops the same
    border). Images smaller than the window are compared with a window of their own size.
    """
    x, y = (array.astype(np.float64) for array in _check(prediction, truth))
    window = max(1, min(window, x.shape[1], x.shape[2]))
    count = window * window
    covariance_norm = count / (count - 1) if count > 1 else 1.0
    mean_x, mean_y = _box_mean(x, window), _box_mean(y, window)
    var_x = covariance_norm * (_box_mean(x * x, window) - mean_x**2)
    var_y = covariance_norm * (_box_mean(y * y, window) - mean_y**2)
    cov_xy = covariance_norm * (_box_mean(x * y, window) - mean_x * mean_y)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    value = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / ((mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2))
    return float(value.mean())


def ab_errors(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean ab distance in Lab units, flattened."""
    _check(prediction, truth)
    errors = []
    for start in range(0, len(truth), 1024):
        predicted_ab = color.rgb_to_lab(prediction[start : start + 1024])[..., 1:]
        true_ab = color.rgb_to_lab(truth[start : start + 1024])[..., 1:]
        errors.append(np.sqrt(((predicted_ab - true_ab) ** 2).sum(-1)).ravel())
    return np.concatenate(errors)


def auc(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Zhang et al.'s AuC: share of pixels with ab error <= t, averaged over t = 0..150."""
    errors = np.sort(ab_errors(prediction, truth))
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
    if isinstance(truth, list) or isinstance(prediction, list):
        return _all_metrics_of_sizes(list(prediction), list(truth))
    truth_colorfulness = colorfulness(truth)
    predicted_colorfulness = colorfulness(prediction)
    return {
        "exact_match": exact_match(prediction, truth),
        "within_5": within(prediction, truth, 5),
        "within_13": within(prediction, truth, 13),
        "psnr_mean": psnr_per_image(prediction, truth),
        "psnr_pooled": psnr_pooled(prediction, truth),
        "ssim": ssim(prediction, truth),
        "auc": auc(prediction, truth),
        "colorfulness": predicted_colorfulness,
        "colorfulness_ratio": predicted_colorfulness / truth_colorfulness if truth_colorfulness else float("nan"),
    }


def _all_metrics_of_sizes(predictions: list, truths: list) -> dict[str, float]:
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} truths")
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (prediction, truth) in enumerate(zip(predictions, truths)):
        if np.shape(prediction) != np.shape(truth):
            raise ValueError(
                f"image {index}: prediction shape {np.shape(prediction)} differs from truth shape {np.shape(truth)}"
            )
        groups.setdefault(np.shape(truth), []).append(index)
    by_pixels = ("exact_match", "within_5", "within_13", "auc")
    by_images = ("psnr_mean", "ssim", "colorfulness")
    totals = dict.fromkeys(by_pixels + by_images, 0.0)
    squared_error = pixels = images = 0.0
    truth_colorfulness = 0.0
    for shape, indices in groups.items():
        prediction = np.stack([predictions[i] for i in indices])
        truth = np.stack([truths[i] for i in indices])
        group_pixels = len(indices) * shape[0] * shape[1]
        for key, value in (
            ("exact_match", exact_match(prediction, truth)),
            ("within_5", within(prediction, truth, 5)),
            ("within_13", within(prediction, truth, 13)),
            ("auc", auc(prediction, truth)),
        ):
            totals[key] += value * group_pixels
        for key, value in (
            ("psnr_mean", psnr_per_image(prediction, truth)),
            ("ssim", ssim(prediction, truth)),
            ("colorfulness", colorfulness(prediction)),
        ):
            totals[key] += value * len(indices)
        squared_error += float(_squared_errors(prediction, truth).sum()) * shape[0] * shape[1]
        truth_colorfulness += colorfulness(truth) * len(indices)
        pixels += group_pixels
        images += len(indices)
    result = {key: totals[key] / (pixels if key in by_pixels else images) for key in totals}
    mse = squared_error / pixels
    result["psnr_pooled"] = float(10 * np.log10(255.0**2 / max(mse, 255.0**2 * 1e-10)))
    truth_colorfulness /= images
    result["colorfulness_ratio"] = result["colorfulness"] / truth_colorfulness if truth_colorfulness else float("nan")
    order = (
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
    return {key: float(result[key]) for key in order}
