"""Training data for the photo model's scene fine-tune: multi-scale crops of full-size photos.

A network trained on Tiny ImageNet's 64x64 object photos sees a full-size photo, at
colorize time, as the whole scene shrunk to the working size: many small things instead of
one big one. This writes a folder of fixed-size crops that ``huenet train --data`` reads:

    OUTPUT/train/scenes/  random crops of each training photo, shrunk (BOX filter, as
                          colorize shrinks) so that its short side is each of --scales
    OUTPUT/train/objects/ a seeded sample of Tiny ImageNet's training images, from the part
                          the base run trained on (its validation split is left out), so the
                          fine-tune keeps what it knew about objects
                          (with --objects-by-class, in a folder per class: then the class
                          loss can stay on in the fine-tune, the scenes being one more class)
    OUTPUT/validation/    center crops of the validation photos at the three smallest scales

Every crop is a PNG of --size x --size pixels. Choices are made on the validation photos
(BSDS500 val), never on a test set.

    python experiments/scene_crops.py --photos ../shared/data/bsds500-jpeg/train.tar \\
        --validation-photos ../shared/data/bsds500-jpeg/val.tar \\
        --objects ../shared/data/tiny-imagenet-jpeg/train.tar.gz --output runs/scene-crops
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from huenet import datasets


def shrink_to_short_side(image: np.ndarray, short: int) -> np.ndarray:
    """The photo with its short side at ``short`` pixels (BOX filter; never enlarged past 1x)."""
    height, width = image.shape[:2]
    scale = min(1.0, short / min(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def random_crops(image: np.ndarray, size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    height, width = image.shape[:2]
    if height < size or width < size:
        return []
    tops = rng.integers(0, height - size + 1, count)
    lefts = rng.integers(0, width - size + 1, count)
    return [image[top : top + size, left : left + size] for top, left in zip(tops, lefts)]


def center_crop(image: np.ndarray, size: int) -> np.ndarray | None:
    height, width = image.shape[:2]
    if height < size or width < size:
        return None
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--photos", required=True, help="full-size training photos (folder or tar)")
    parser.add_argument("--validation-photos", required=True, help="full-size validation photos (folder or tar)")
    parser.add_argument("--objects", help="Tiny ImageNet train (folder or tar) to mix in; omit for scenes only")
    parser.add_argument("--objects-count", type=int, default=7200, help="object images to mix in")
    parser.add_argument(
        "--objects-by-class",
        action="store_true",
        help="write each object image into a folder named after its class (objects/<class>/)",
    )
    parser.add_argument(
        "--objects-validation-fraction", type=float, default=0.05, help="the base run's --validation-fraction"
    )
    parser.add_argument(
        "--objects-seed", type=int, default=0, help="the base run's --seed (its validation split is left out)"
    )
    parser.add_argument(
        "--scales", type=int, nargs="+", default=[64, 80, 96, 128, 160, 224], help="short sides, pixels"
    )
    parser.add_argument("--crops", type=int, default=6, help="random crops per photo and scale")
    parser.add_argument("--size", type=int, default=64, help="crop size, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="new folder for the crops")
    arguments = parser.parse_args(argv)
    output = Path(arguments.output)
    if output.exists() and any(output.iterdir()):
        sys.exit(f"scene_crops: {output}: folder is not empty")
    if min(arguments.scales) < arguments.size:
        sys.exit(f"scene_crops: every scale must be at least --size {arguments.size}")
    rng = np.random.default_rng(arguments.seed)

    counts = {"scenes": 0, "objects": 0, "validation": 0}
    photos = datasets.load_images(arguments.photos)
    for index in tqdm(range(len(photos)), desc="scenes", unit="photo"):
        image, stem = photos.images[index], Path(photos.names[index]).stem
        for short in arguments.scales:
            for k, crop in enumerate(
                random_crops(shrink_to_short_side(image, short), arguments.size, arguments.crops, rng)
            ):
                _save(crop, output / "train" / "scenes" / f"{stem}-s{short}-{k}.png")
                counts["scenes"] += 1

    validation = datasets.load_images(arguments.validation_photos)
    for index in range(len(validation)):
        image, stem = validation.images[index], Path(validation.names[index]).stem
        for short in sorted(arguments.scales)[:3]:
            crop = center_crop(shrink_to_short_side(image, short), arguments.size)
            if crop is not None:
                _save(crop, output / "validation" / "scenes" / f"{stem}-s{short}.png")
                counts["validation"] += 1

    if arguments.objects:
        objects = datasets.load_images(arguments.objects, split="train", seed=arguments.objects_seed)
        train_part, _ = datasets.split_train_validation(
            objects, arguments.objects_validation_fraction, arguments.objects_seed
        )
        picks = np.sort(rng.permutation(len(train_part))[: arguments.objects_count])
        for i in tqdm(picks, desc="objects", unit="image"):
            name = train_part.names[i].replace("/", "-")
            folder = output / "train" / "objects"
            if arguments.objects_by_class:
                folder = folder / (train_part.labels[i] or "unlabelled")
            _save(train_part.images[i], folder / Path(name).with_suffix(".png").name)
            counts["objects"] += 1

    record = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "counts": counts,
    }
    (output / "crops.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
