"""README pictures: gray | huenet | huenet vivid | truth, for CIFAR-10 test images (the
cifar10 model) and full-size BSDS500 test photos (the photo model, shown as they come out,
not picked), and gray | huenet | huenet vivid for an old grayscale photo without truth.

    python experiments/make_grids.py --cifar ../shared/data/cifar10-jpeg/test.tar.gz \
        --photos ../shared/data/bsds500-jpeg/test.tar \
        --ordinary ../shared/data/imagenet-sample-jpeg/val.tar --output docs/images

``--ordinary``: everyday photos of people, animals, things and rooms (imagenet-sample val,
the classes in ORDINARY_CLASSES, named before any was colorized), each center-cropped to 4:3
and shrunk to 400x300 so they share a grid.
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
# People, animals (a white one among them), things and rooms: the subjects the photo model
# was weakest on, one photo per class.
ORDINARY_CLASSES = ("groom", "Samoyed", "tabby", "teapot", "restaurant", "ballplayer", "umbrella", "church")


def _four_by_three(image: np.ndarray, width: int = 400) -> np.ndarray:
    height, full_width = image.shape[:2]
    crop_w = min(full_width, height * 4 // 3)
    crop_h = crop_w * 3 // 4
    top, left = (height - crop_h) // 2, (full_width - crop_w) // 2
    return np.asarray(
        Image.fromarray(image[top : top + crop_h, left : left + crop_w]).resize(
            (width, width * 3 // 4), Image.Resampling.LANCZOS
        )
    )


def _colorized(model, gray: np.ndarray) -> list[np.ndarray]:
    """gray | huenet | huenet --vivid for one gray image."""
    faithful = np.asarray(huenet.colorize(gray, model=model))
    vivid = np.asarray(huenet.colorize(gray, model=model, vivid=True))
    return [np.repeat(gray[..., None], 3, -1), faithful, vivid]


def _row(model, truth: np.ndarray) -> list[np.ndarray]:
    return [*_colorized(model, color.rgb_to_gray(truth)), truth]


def _grid(rows: list[list[np.ndarray]], scale: int, gap: int = 4, columns: tuple = COLUMNS) -> Image.Image:
    height, width = rows[0][0].shape[0] * scale, rows[0][0].shape[1] * scale
    label = 16
    canvas = Image.new("RGB", (len(columns) * (width + gap) - gap, label + len(rows) * (height + gap) - gap), "white")
    draw = ImageDraw.Draw(canvas)
    for column, name in enumerate(columns):
        draw.text((column * (width + gap) + 2, 2), name, fill="black")
    for row_index, row in enumerate(rows):
        for column, pixels in enumerate(row):
            tile = Image.fromarray(pixels).resize((width, height), Image.Resampling.NEAREST)
            canvas.paste(tile, (column * (width + gap), label + row_index * (height + gap)))
    return canvas


def _skimage_camera() -> Path | None:
    """scikit-image's ``camera`` (a 1990s grayscale photo), if scikit-image is installed."""
    try:
        import skimage
    except ImportError:
        return None
    path = Path(skimage.__file__).parent / "data" / "camera.png"
    return path if path.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar", required=True, help="CIFAR-10 test images")
    parser.add_argument("--cifar-model", default="cifar10")
    parser.add_argument("--photos", required=True, help="full-size color photos (BSDS500 test)")
    parser.add_argument("--model", default="photo", help="the model for the photos")
    parser.add_argument("--ordinary", help="everyday photos named <wnid>_<class>.jpg (imagenet-sample val)")
    parser.add_argument("--old-photo", help="a grayscale photo without truth (default: scikit-image's camera)")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--photo-count", type=int, default=4)
    parser.add_argument("--output", default="docs/images")
    arguments = parser.parse_args()
    output = Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)

    cifar_model = huenet.load_model(arguments.cifar_model)
    cifar = datasets.load_images(arguments.cifar, split="test")
    chosen = np.sort(np.random.default_rng(7).choice(len(cifar), arguments.count, replace=False))
    rows = [_row(cifar_model, cifar.images[index]) for index in chosen]
    _grid(rows, scale=4).save(output / "cifar10-test-grid.png")
    written = [output / "cifar10-test-grid.png"]

    model = huenet.load_model(arguments.model)
    photos = datasets.load_images(arguments.photos)
    landscape = [i for i, image in enumerate(photos.images) if image.shape[1] > image.shape[0]]
    picks = np.random.default_rng(3).choice(landscape, arguments.photo_count, replace=False)
    rows = [_row(model, photos.images[index]) for index in sorted(picks)]
    name = f"{Path(arguments.photos).parent.name.split('-')[0]}-{Path(arguments.photos).name.split('.')[0]}-grid.jpg"
    _grid(rows, scale=1).save(output / name, quality=90)
    written.append(output / name)

    if arguments.ordinary:
        ordinary = datasets.load_images(arguments.ordinary)
        by_class = {Path(name).stem.split("_", 1)[1]: image for name, image in zip(ordinary.names, ordinary.images)}
        missing = [name for name in ORDINARY_CLASSES if name not in by_class]
        if missing:
            raise SystemExit(f"make_grids: {arguments.ordinary} lacks {', '.join(missing)}")
        rows = [_row(model, _four_by_three(by_class[name])) for name in ORDINARY_CLASSES]
        _grid(rows, scale=1).save(output / "imagenet-sample-grid.jpg", quality=88)
        written.append(output / "imagenet-sample-grid.jpg")

    old = Path(arguments.old_photo) if arguments.old_photo else _skimage_camera()
    if old is not None:
        _grid([_colorized(model, np.asarray(Image.open(old).convert("L")))], scale=1, columns=COLUMNS[:3]).save(
            output / "old-photo.jpg", quality=90
        )
        written.append(output / "old-photo.jpg")
    print("wrote " + ", ".join(map(str, written)))


if __name__ == "__main__":
    main()
