"""Steering a colorization: hints from files and command lines, suggested colors, confidence.

The one implementation the CLI (``--hint``, ``--hints``, ``--confidence-map``), the web page
and HTTP API (``huenet serve``) and the Python API (``huenet.suggest_colors``,
``huenet.confidence``) share. Hints themselves (parsing, checking, drawing them on the
network's grid) are ``huenet.hints``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from PIL import Image

from huenet import color
from huenet.hints import MAX_HINTS, HintError, make_hint, parse_hints
from huenet.images import InputImage
from huenet.inference import Colorizer, Decoding, _read_named, spread

MAX_HINTS_FILE_BYTES = 4 * 2**20  # MAX_HINTS hints as JSON take well under 1 MB
# Confidence falls linearly from 1 (all probability on one color) to 0 at this spread of the
# predicted ab distribution (Lab units); photos' pixels span about 10-30 (5th-95th percentile).
CONFIDENCE_ZERO_SPREAD = 40.0
# Suggested colors closer than this (Lab units of ab) are one suggestion.
_SUGGESTION_RADIUS = 18.0


def parse_cli_hint(text: str) -> Any:
    """``X,Y,#RRGGBB[,SIZE]`` (the CLI's ``--hint``) -> a checked Hint."""
    parts = text.split(",")
    if len(parts) not in (3, 4):
        raise HintError(f"--hint {text!r}: expected X,Y,#RRGGBB or X,Y,#RRGGBB,SIZE")
    try:
        numbers = [float(part) for part in parts[:2] + parts[3:]]
    except ValueError:
        raise HintError(f"--hint {text!r}: X, Y and SIZE must be numbers") from None
    try:
        return make_hint(numbers[0], numbers[1], parts[2], numbers[2] if len(numbers) == 3 else None)
    except HintError as error:
        raise HintError(f"--hint {text!r}: {error}") from None


def read_hints_file(path: str | os.PathLike) -> list | dict[str, list]:
    """A hints file: a JSON list of ``{"x", "y", "color", "size"}`` (for one image), or a
    mapping from input file name to such a list (for a folder). Checked here, before any
    image is read; HintError names the file and the problem."""
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        if size > MAX_HINTS_FILE_BYTES:
            raise HintError(f"{name}: {size} bytes, larger than the {MAX_HINTS_FILE_BYTES} a hints file may have")
        with open(name, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except HintError:
        raise
    except OSError as error:
        raise HintError(f"{name}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HintError(f"{name}: not JSON ({error})") from None
    try:
        return parse_hint_data(data)
    except HintError as error:
        raise HintError(f"{name}: {error}") from None


def parse_hint_data(data: Any) -> list | dict[str, list]:
    """Decoded JSON hints (a list, or a mapping of name -> list) -> checked Hint lists."""
    if isinstance(data, list):
        return parse_hints(data)
    if isinstance(data, dict):
        if sum(len(v) if isinstance(v, list) else 0 for v in data.values()) > MAX_HINTS * 10:
            raise HintError(f"more than {MAX_HINTS * 10} hints in all")
        parsed = {}
        for key, value in data.items():
            try:
                parsed[str(key)] = parse_hints(value)
            except HintError as error:
                raise HintError(f"{key!r}: {error}") from None
        return parsed
    raise HintError(f"expected a list of hints or a mapping from file name to a list, got {type(data).__name__}")


def _prepare(image: Any, model: Any, hints: Any) -> tuple[Colorizer, InputImage, list]:
    colorizer = model if isinstance(model, Colorizer) else Colorizer(model, Decoding())
    source = image if isinstance(image, InputImage) else _read_named(image)
    return colorizer, source, colorizer.check_hints(hints, source.size)


def suggest_colors(
    image: Any, x: float, y: float, k: int = 6, hints: Any = None, model: Any = None
) -> list[dict[str, Any]]:
    """The ``k`` most likely distinct colors at column ``x``, row ``y`` of ``image``.

    From the network's predicted distribution over ab at that point (given the hints already
    placed): bins are taken in order of probability, and each absorbs the probability of the
    bins within 18 Lab units of it, so the suggestions differ visibly. Each color carries the
    image's own lightness there.

    Returns:
        ``[{"color": "#rrggbb", "probability": p}, ...]``, most likely first.
    """
    colorizer, source, placed = _prepare(image, model, hints)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= 32:
        raise ValueError(f"k must be a whole number from 1 to 32, got {k!r}")
    check = make_hint(x, y, "#808080")
    height, width = source.size
    if not (0 <= check.x < width and 0 <= check.y < height):
        raise HintError(f"({check.x:g}, {check.y:g}) is outside the {width}x{height} image")
    if colorizer.model.head != "ab_bins":
        raise ValueError(f"{colorizer.model.source} predicts one color, not a distribution: no suggestions")
    logits = colorizer.network_outputs([source], [placed])[0]
    row, column = _cell(check.y, check.x, source.size, colorizer)
    values = logits[min(row, logits.shape[0] - 1), min(column, logits.shape[1] - 1)].astype(np.float64)
    probabilities = np.exp(values - values.max())
    probabilities /= probabilities.sum()
    bins = color.ab_bins()
    remaining = probabilities.copy()
    lightness = float(source.lightness(slice(int(check.y), int(check.y) + 1))[0, int(check.x)])
    suggestions = []
    while len(suggestions) < k and remaining.max() > 0:
        top = int(remaining.argmax())
        near = (np.linalg.norm(bins - bins[top], axis=1) <= _SUGGESTION_RADIUS) & (remaining > 0)
        mass = float(remaining[near].sum())
        ab = (remaining[near] @ bins[near]) / mass
        rgb = color.to_uint8(color.lab_to_rgb(np.array([[lightness, ab[0], ab[1]]], np.float32)))[0]
        suggestions.append(
            {"color": "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb)), "probability": round(mass, 4)}
        )
        remaining[near] = 0
    return sorted(suggestions, key=lambda item: -item["probability"])


def _cell(y: float, x: float, size: tuple[int, int], colorizer: Colorizer) -> tuple[int, int]:

    work_h, work_w = colorizer.working_shape(size)
    return (
        int((y + 0.5) * work_h / size[0]) // colorizer.stride,
        int((x + 0.5) * work_w / size[1]) // colorizer.stride,
    )


def confidence(image: Any, hints: Any = None, model: Any = None) -> np.ndarray:
    """Per-pixel confidence in 0..1 at the image's full size, float32 (height, width).

    1 where the predicted distribution puts its probability on one color, falling linearly
    to 0 where its spread (the standard deviation of ab under it) reaches 40 Lab units.
    Computed at the working resolution and upsampled bilinearly.
    """
    colorizer, source, placed = _prepare(image, model, hints)
    if colorizer.model.head != "ab_bins":
        raise ValueError(f"{colorizer.model.source} predicts one color, not a distribution: no confidence map")
    logits = colorizer.network_outputs([source], [placed])[0]
    level = np.clip(1.0 - spread(logits) / CONFIDENCE_ZERO_SPREAD, 0.0, 1.0).astype(np.float32)
    height, width = source.size

    work_h, work_w = colorizer.working_shape(source.size)
    # The grid covers the working image padded up to the stride: resize just what maps onto it.
    box = (0, 0, work_w / colorizer.stride, work_h / colorizer.stride)
    full = Image.fromarray(level, mode="F").resize((width, height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(full, np.float32).clip(0, 1)


def confidence_image(level: np.ndarray) -> Image.Image:
    """A confidence map as an 8-bit gray image (white: sure, black: unsure)."""
    return Image.fromarray(np.round(np.clip(level, 0, 1) * 255).astype(np.uint8), mode="L")
