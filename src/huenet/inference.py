"""Inference: lightness in, color out, at any size.

The network runs at a working resolution recorded with the model (the long side is
resized to ``working_size``, keeping the aspect ratio). Its ab prediction is upsampled
bilinearly to the full size and combined with the input's own full-resolution lightness,
strip by strip, so luminance detail is never lost and memory stays bounded.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image

from huenet import color
from huenet.images import InputImage, read_image
from huenet.modelfile import ColorModel, load_model

_STRIP_ROWS = 256
_MAX_BATCH = 256


@dataclasses.dataclass(frozen=True)
class Decoding:
    """How network outputs become ab. ``temperature`` applies to ab-bin models (annealed
    mean: 1 is the plain mean, lower values move toward the most likely color)."""

    temperature: float | None = None
    vivid: bool = False


def _resolve_temperature(model: ColorModel, decoding: Decoding) -> float:
    if decoding.temperature is not None:
        if model.head != "ab_bins":
            raise ValueError(f"temperature applies to ab-bin models; {model.source} has a {model.head} head")
        if not decoding.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {decoding.temperature}")
        return float(decoding.temperature)
    if decoding.vivid:
        if "vivid_temperature" not in model.settings:
            raise ValueError(f"{model.source} has no vivid setting (only ab-bin models with a recorded vivid temperature)")
        return float(model.settings["vivid_temperature"])
    return float(model.settings.get("temperature", 1.0))


def decode_ab(model: ColorModel, outputs: np.ndarray, decoding: Decoding = Decoding()) -> np.ndarray:
    """Network outputs (batch, h, w, channels) -> ab in Lab units (batch, h, w, 2)."""
    outputs = np.asarray(outputs, dtype=np.float32)
    if model.head == "ab_regression":
        return color.denormalize_ab(outputs)
    if model.head == "ab_bins":
        temperature = _resolve_temperature(model, decoding)
        logits = outputs / temperature
        logits -= logits.max(axis=-1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        return probabilities @ color.ab_bins()
    return color.rgb_to_lab(decode_levels(model, outputs))[..., 1:]


def decode_levels(model: ColorModel, outputs: np.ndarray) -> np.ndarray:
    """Seed head: the most likely level of each channel -> uint8 RGB (batch, h, w, 3)."""
    levels = np.asarray(outputs).reshape(*outputs.shape[:-1], 3, 256).argmax(axis=-1)
    return color.levels_to_rgb(levels, model.settings.get("color_space", "rgb"))


def working_shape(size: tuple[int, int], working_size: int) -> tuple[int, int]:
    """(height, width) with the long side at ``working_size`` and the aspect ratio kept."""
    height, width = size
    scale = working_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _pad_to(lightness: np.ndarray, multiple: int) -> np.ndarray:
    height, width = lightness.shape
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    return np.pad(lightness, ((0, pad_h), (0, pad_w)), mode="edge") if pad_h or pad_w else lightness


def predict_ab(model: ColorModel, inputs: Sequence[InputImage], decoding: Decoding = Decoding(), working_size: int | None = None) -> list[np.ndarray]:
    """Predict ab at working resolution for each input, batching inputs of one shape.

    Returns, per input, ab in Lab units, shape (ceil(h / stride), ceil(w / stride), 2) for
    that input's working shape (h, w).
    """
    from huenet.models import output_stride, pad_multiple

    _resolve_temperature(model, decoding)  # fail early on settings the model cannot use
    working_size = working_size or model.working_size
    stride = output_stride(model.settings)
    multiple = max(pad_multiple(model.settings), stride)
    groups: dict[tuple[int, int], list[int]] = {}
    prepared = []
    for index, image in enumerate(inputs):
        shape = working_shape(image.size, working_size)
        lightness = image.working_lightness(*shape)
        prepared.append((shape, _pad_to(color.normalize_lightness(lightness), multiple)))
        groups.setdefault(prepared[-1][1].shape, []).append(index)
    results: list[Any] = [None] * len(inputs)
    for indices in groups.values():
        for start in range(0, len(indices), _MAX_BATCH):
            chunk = indices[start : start + _MAX_BATCH]
            batch = np.stack([prepared[i][1] for i in chunk])[..., None]  # (batch, h, w, 1)
            ab = decode_ab(model, _run_network(model, batch), decoding)
            for offset, index in enumerate(chunk):
                height, width = prepared[index][0]
                results[index] = ab[offset, : -(-height // stride), : -(-width // stride)]
    return results


def _run_network(model: ColorModel, batch: np.ndarray) -> np.ndarray:
    outputs = model.network(batch, training=False)
    return np.asarray(outputs)


def _axis_weights(full: int, working: int, stride: int, available: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear source indices and weights mapping ``full`` output pixels onto the ab grid."""
    source = (np.arange(full) + 0.5) * (working / stride) / full - 0.5
    source = np.clip(source, 0, available - 1)
    lower = np.floor(source).astype(np.intp)
    upper = np.minimum(lower + 1, available - 1)
    return lower, upper, (source - lower).astype(np.float32)


def compose(image: InputImage, ab: np.ndarray, working_size: int, stride: int) -> Image.Image:
    """Combine full-resolution lightness with upsampled ab -> RGB(A) PIL image."""
    height, width = image.size
    work_h, work_w = working_shape((height, width), working_size)
    rows = _axis_weights(height, work_h, stride, ab.shape[0])
    cols = _axis_weights(width, work_w, stride, ab.shape[1])
    channels = 3 if image.alpha is None else 4
    output = np.empty((height, width, channels), dtype=np.uint8)
    for top in range(0, height, _STRIP_ROWS):
        strip = slice(top, min(top + _STRIP_ROWS, height))
        lower, upper, weight = (part[strip] for part in rows)
        ab_rows = ab[lower] * (1 - weight)[:, None, None] + ab[upper] * weight[:, None, None]
        ab_full = ab_rows[:, cols[0]] * (1 - cols[2])[None, :, None] + ab_rows[:, cols[1]] * cols[2][None, :, None]
        lab = np.concatenate([image.lightness(strip)[..., None], ab_full], axis=-1)
        output[strip, :, :3] = color.to_uint8(color.lab_to_rgb(lab))
    if image.alpha is not None:
        output[..., 3] = image.alpha
    return Image.fromarray(output, mode="RGB" if channels == 3 else "RGBA")


def colorize_many(
    images: Iterable[Any],
    model: ColorModel | str | None = None,
    temperature: float | None = None,
    vivid: bool = False,
    working_size: int | None = None,
) -> list[Image.Image]:
    """Colorize several images (PIL images, arrays or paths) in shared network batches."""
    model = model if isinstance(model, ColorModel) else load_model(model)
    inputs = [image if isinstance(image, InputImage) else read_image(image) for image in images]
    working_size = working_size or model.working_size
    decoding = Decoding(temperature, vivid)
    from huenet.models import output_stride

    stride = output_stride(model.settings)
    ab_maps = predict_ab(model, inputs, decoding, working_size)
    return [compose(image, ab, working_size, stride) for image, ab in zip(inputs, ab_maps)]


def colorize(
    image: Any,
    model: ColorModel | str | None = None,
    temperature: float | None = None,
    vivid: bool = False,
    working_size: int | None = None,
) -> Image.Image:
    """Colorize one image.

    Args:
        image: a PIL image, a NumPy array ((h, w) gray, (h, w, 3) RGB, (h, w, 4) RGBA; uint8,
            uint16 or float in [0, 1]) or a path.
        model: a loaded model, a bundled model name or a .keras path; default: the bundled model.
        temperature: annealed-mean temperature for ab-bin models (default: the model's).
        vivid: use the model's recorded vivid temperature (more colorful, less faithful).
        working_size: long side, in pixels, at which the network runs (default: the model's).
    Returns:
        An RGB PIL image (RGBA when the input had alpha) of exactly the input's size.
    Raises:
        huenet.images.ImageError: unusable input; ValueError: bad settings.
    """
    return colorize_many([image], model, temperature, vivid, working_size)[0]
