"""Training batches: augmentation, network inputs and targets, the ab-bin prior."""

from __future__ import annotations

from typing import Any

import numpy as np

from huenet import color


def augment(
    images: Any, indices: np.ndarray, rng: np.random.Generator, crop_size: int | None, max_shift: int, flip: bool
) -> np.ndarray:
    """Draw a batch with random horizontal flips, small shifts and (large images) crops.

    Same-size arrays are cropped with one vectorized gather: each image is edge-padded by
    ``max_shift`` and a window of its own size (or ``crop_size``) is taken at a random
    offset. Lists of differently sized photos are cropped to ``crop_size`` one by one.
    Returns uint8 (batch, height, width, 3).
    """
    if isinstance(images, np.ndarray):
        batch = images[indices]
        height, width = batch.shape[1:3]
        out_h, out_w = (min(crop_size, height), min(crop_size, width)) if crop_size else (height, width)
        if max_shift or (out_h, out_w) != (height, width):
            padded = np.pad(batch, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
            top = rng.integers(0, height - out_h + 2 * max_shift + 1, len(batch))
            left = rng.integers(0, width - out_w + 2 * max_shift + 1, len(batch))
            rows = (top[:, None] + np.arange(out_h))[:, :, None]  # (batch, out_h, 1)
            cols = (left[:, None] + np.arange(out_w))[:, None, :]  # (batch, 1, out_w)
            batch = padded[np.arange(len(batch))[:, None, None], rows, cols]
    else:
        if not crop_size:
            raise ValueError("images of different sizes need a crop size")
        crops = []
        for index in indices:
            image = images[index]
            height, width = image.shape[:2]
            size_h, size_w = min(crop_size, height), min(crop_size, width)
            top = rng.integers(0, height - size_h + 1)
            left = rng.integers(0, width - size_w + 1)
            crop = image[top : top + size_h, left : left + size_w]
            crops.append(np.pad(crop, ((0, crop_size - size_h), (0, crop_size - size_w), (0, 0)), mode="edge"))
        batch = np.stack(crops)
    if flip:
        mirrored = rng.random(len(batch)) < 0.5
        batch = np.where(mirrored[:, None, None, None], batch[:, :, ::-1], batch)
    return np.ascontiguousarray(batch)


def make_batch(
    rgb: np.ndarray,
    head: str,
    stride: int = 1,
    color_space: str = "rgb",
    hint_inputs: bool = False,
    hint_rng: np.random.Generator | None = None,
    no_hint_share: float | None = None,
    hint_draw: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB (batch, h, w, 3) -> (network input, training target) for ``head``.

    Input: normalized lightness (batch, h, w, 1); with ``hint_inputs``, followed by the
    three hint channels (batch, h, w, 4): hints drawn from the truth with ``hint_rng``
    (training; ``no_hint_share``: the share of images left without, default the
    training draw's; ``hint_draw``: more of ``hints.sample_training_hints``' arguments), or none (validation, automatic colorization). Target: channel levels
    (batch, h, w, 3) for ``levels``; normalized ab averaged over ``stride`` x ``stride``
    blocks, (batch, h / stride, w / stride, 2), for the ab heads.
    """
    # The network sees exactly what inference computes from a grayscale file: Pillow's luma
    # of the color image, read as a gray level. (Lab L of the color image would differ for
    # saturated colors, and the network would learn cues that real inputs do not have.)
    inputs = color.network_input(color.rgb_to_gray(rgb).astype(np.float32) / 255.0)
    lab = color.rgb_to_lab(rgb)
    if head == "levels":
        return inputs, color.rgb_to_levels(rgb, color_space)
    ab = lab[..., 1:]
    if hint_inputs:
        from huenet import hints

        if hint_rng is None:
            channels = np.zeros((*ab.shape[:3], hints.HINT_CHANNELS), np.float32)
        else:
            channels = hints.sample_training_hints(ab, hint_rng, no_hint_share, **(hint_draw or {}))
        inputs = np.concatenate([inputs, channels], axis=-1)
    if stride > 1:
        count, height, width, _ = ab.shape
        ab = ab[:, : height - height % stride, : width - width % stride]
        # The block mean as a sum of stride**2 strided views: numpy's mean over two axes of
        # a 6-d reshape was a third of the batch pipeline's time.
        ab = sum(ab[:, row::stride, col::stride] for row in range(stride) for col in range(stride)) / (stride * stride)
    return inputs, color.normalize_ab(ab)


def ab_bin_prior(images: Any, stride: int = 1, sample: int = 5000, seed: int = 0) -> np.ndarray:
    """Empirical distribution of the nearest ab bin over a seeded sample of training images."""
    centers = color.ab_bins()
    picks = np.random.default_rng(seed).permutation(len(images))[:sample]
    if isinstance(images, np.ndarray):
        blocks = [images[picks[i : i + 512]] for i in range(0, len(picks), 512)]
    else:
        blocks = [images[i][None] for i in picks]
    counts = np.zeros(len(centers))
    # |ab - c|^2 = |ab|^2 - 2 ab.c + |c|^2: the argmin over c needs only the last two terms, one
    # matrix product instead of an (N, bins, 2) difference (ten times faster on photos).
    weights, offsets = -2.0 * centers.T, (centers**2).sum(axis=1)
    pixel_rng = np.random.default_rng([seed, 1])
    for block in blocks:
        _, ab = make_batch(block, "ab_regression", stride)
        ab = ab.reshape(-1, 2) * color.AB_SCALE
        if len(block) == 1 and len(ab) > PRIOR_PIXELS_PER_IMAGE:  # a large photo: a seeded sample of its pixels
            ab = ab[pixel_rng.choice(len(ab), PRIOR_PIXELS_PER_IMAGE, replace=False)]
        nearest = (ab @ weights + offsets).argmin(1)
        counts += np.bincount(nearest, minlength=len(centers))
    return counts / counts.sum()


# Pixels of one photo that count towards the ab-bin prior: every pixel of the 64x64 crops the
# earlier photo runs trained on, a sample of a whole photo's (whose neighbours repeat each other).
PRIOR_PIXELS_PER_IMAGE = 4096
