"""README pictures: gray | huenet | huenet vivid | truth, for CIFAR-10 test images and for
full-size BSDS500 val photos (out of the model's domain, shown as they come out).

    python experiments/make_grids.py --cifar ../shared/data/cifar10-jpeg/test.tar.gz \
        --photos ../shared/data/bsds500-jpeg/val.tar --output docs/images
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image, ImageDraw

import huenet
from huenet import color, datasets

COLUMNS = ("gray", "huenet", "huenet --vivid", "truth")


def _row(model, truth: np.ndarray) -> list[np.ndarray]:
    gray = color.rgb_to_gray(truth)
    faithful = np.asarray(huenet.colorize(gray, model=model))
    vivid = np.asarray(huenet.colorize(gray, model=model, vivid=True))
    return [np.repeat(gray[..., None], 3, -1), faithful, vivid, truth]


def _grid(rows: list[list[np.ndarray]], scale: int, gap: int = 4) -> Image.Image:
    height, width = rows[0][0].shape[0] * scale, rows[0][0].shape[1] * scale
    label = 16
    canvas = Image.new("RGB", (len(COLUMNS) * (width + gap) - gap, label + len(rows) * (height + gap) - gap), "white")
    draw = ImageDraw.Draw(canvas)
    for column, name in enumerate(COLUMNS):
        draw.text((column * (width + gap) + 2, 2), name, fill="black")
    for row_index, row in enumerate(rows):
        for column, pixels in enumerate(row):
            tile = Image.fromarray(pixels).resize((width, height), Image.Resampling.NEAREST)
            canvas.paste(tile, (column * (width + gap), label + row_index * (height + gap)))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar", required=True)
    parser.add_argument("--photos", required=True)
    parser.add_argument("--model", default="default")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--photo-count", type=int, default=4)
    parser.add_argument("--output", default="docs/images")
    arguments = parser.parse_args()
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    model = huenet.load_model(arguments.model)

    cifar = datasets.load_images(arguments.cifar, split="test")
    chosen = np.sort(np.random.default_rng(7).choice(len(cifar), arguments.count, replace=False))
    rows = [_row(model, cifar.images[index]) for index in chosen]
    _grid(rows, scale=4).save(output / "cifar10-test-grid.png")

    photos = datasets.load_images(arguments.photos)
    landscape = [i for i, image in enumerate(photos.images) if image.shape[1] > image.shape[0]]
    picks = np.random.default_rng(3).choice(landscape, arguments.photo_count, replace=False)
    rows = [_row(model, photos.images[index]) for index in sorted(picks)]
    _grid(rows, scale=1).save(output / "bsds500-val-grid.jpg", quality=90)
    print(f"wrote {output / 'cifar10-test-grid.png'} and {output / 'bsds500-val-grid.jpg'}")


if __name__ == "__main__":
    main()
