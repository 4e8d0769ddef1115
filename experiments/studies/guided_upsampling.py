"""Study: upsample the network's chroma with the full-size gray as a guide (fast guided filter).

``compose`` upsamples ab from the output grid (a full-size photo: about 12 pixels a cell)
bilinearly, so colors bleed across edges the gray shows sharply. The fast guided filter
(He and Sun 2015; He, Sun and Tang 2010) fits, in each window of cells, ab as a linear
function of the gray level (a * gray + b, ridge ``eps``), and applies the bilinearly
upsampled (a, b) to the full-size gray: chroma edges follow gray edges. This scores it
against today's bilinear upsampling on full-size validation photos through the colorize path.

    python experiments/studies/guided_upsampling.py --photos ../shared/data/imagenet-sample-jpeg/val.tar \\
        --start 400 --count 80 --radii 1 2 --eps 1e-3 1e-2 --output runs/guided-imagenet.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from huenet import color, datasets, metrics
from huenet.images import read_image
from huenet.inference import Colorizer, Decoding, _axis_weights, working_shape
from huenet.modelfile import load_model


def box(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2 radius + 1)^2 window of cells, edges replicated."""
    padded = np.pad(values, [(radius, radius), (radius, radius)] + [(0, 0)] * (values.ndim - 2), mode="edge")
    total = np.cumsum(np.cumsum(padded, axis=0), axis=1)
    total = np.pad(total, [(1, 0), (1, 0)] + [(0, 0)] * (values.ndim - 2))
    size = 2 * radius + 1
    height, width = values.shape[:2]
    window = (
        total[size : size + height, size : size + width]
        - total[:height, size : size + width]
        - total[size : size + height, :width]
        + total[:height, :width]
    )
    return window / size**2


def cell_gray(image, working: tuple[int, int], stride: int, grid: tuple[int, int]) -> np.ndarray:
    """The gray level (0..1) averaged over each output-grid cell."""
    small = np.asarray(Image.fromarray(image.gray).resize(working[::-1], Image.Resampling.BOX), np.float32) / 255.0
    padded = np.pad(small, [(0, grid[0] * stride - working[0]), (0, grid[1] * stride - working[1])], mode="edge")
    return padded.reshape(grid[0], stride, grid[1], stride).mean(axis=(1, 3))


def guided_compose(image, ab: np.ndarray, colorizer: Colorizer, radius: int, eps: float) -> np.ndarray:
    working = working_shape(image.size, colorizer.working_size)
    guide = cell_gray(image, working, colorizer.stride, ab.shape[:2])
    mean_i = box(guide, radius)
    mean_p = box(ab, radius)
    cov = box(guide[..., None] * ab, radius) - mean_i[..., None] * mean_p
    var = box(guide**2, radius) - mean_i**2
    a = cov / (var[..., None] + eps)
    b = mean_p - a * mean_i[..., None]
    coefficients = np.concatenate([box(a, radius), box(b, radius)], axis=-1)  # (rows, cols, 4)
    height, width = image.size
    rows = _axis_weights(height, working[0], colorizer.stride, ab.shape[0])
    cols = _axis_weights(width, working[1], colorizer.stride, ab.shape[1])
    up = coefficients[rows[0]] * (1 - rows[2])[:, None, None] + coefficients[rows[1]] * rows[2][:, None, None]
    up = up[:, cols[0]] * (1 - cols[2])[None, :, None] + up[:, cols[1]] * cols[2][None, :, None]
    gray = image.gray_levels()
    full_ab = up[..., :2] * gray[..., None] + up[..., 2:]
    return color.to_uint8(color.combine_gray_ab(gray, full_ab.astype(np.float32)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--photos", default="../shared/data/imagenet-sample-jpeg/val.tar")
    parser.add_argument("--start", type=int, default=400)
    parser.add_argument("--count", type=int, default=80)
    parser.add_argument("--radii", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--eps", type=float, nargs="+", default=[1e-3, 1e-2])
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    colorizer = Colorizer(load_model(arguments.model), Decoding())
    photos = datasets.load_images(arguments.photos).images[arguments.start : arguments.start + arguments.count]
    scores: dict[str, list[float]] = {}
    for index, truth in enumerate(photos):
        image = read_image(color.rgb_to_gray(truth))
        (ab,) = colorizer.predict_ab([image])
        outputs = {"bilinear": np.asarray(colorizer.compose(image, ab))}
        for radius in arguments.radii:
            for eps in arguments.eps:
                outputs[f"guided r{radius} eps {eps:g}"] = guided_compose(image, ab, colorizer, radius, eps)
        for key, output in outputs.items():
            scores.setdefault(key, []).append(metrics.psnr_per_image(output, truth))
        if (index + 1) % 20 == 0:
            print(index + 1, {k: round(float(np.mean(v)), 3) for k, v in scores.items()}, flush=True)
    table = {k: round(float(np.mean(v)), 3) for k, v in scores.items()}
    print(table)
    Path(arguments.output).write_text(
        json.dumps(
            {"photos": [arguments.photos, arguments.start, arguments.start + len(photos)], "psnr": table}, indent=1
        )
    )


if __name__ == "__main__":
    main()
