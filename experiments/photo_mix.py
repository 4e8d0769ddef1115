"""Training data for the photo model with many subjects: 64x64 crops from five public sources.

The bundled photo model (up to 2026-12-02) saw Tiny ImageNet's 202 classes and 200 BSDS500
scenes only, and tinted what it had not seen. This writes one folder of fixed-size PNG crops
that ``huenet train --data`` reads, from (``docs/data.md`` has each source and commit):

    OUTPUT/train/mini/<wnid>/      mini-ImageNet train (84x84): --mini-per-class per class, each
                                   shrunk so its short side is 64-84 pixels, one random crop
    OUTPUT/train/imagenette/<wnid>/ Imagenette train (224 px): short side 64-128, one crop
    OUTPUT/train/voc/              PASCAL VOC2007 photos (all but the --voc-validation carved
                                   for validation): one crop per short side in --scales
    OUTPUT/train/bsds/             BSDS500 train photos: --bsds-crops crops per short side
    OUTPUT/train/tiny/<wnid>/      Tiny ImageNet train: --tiny-count images from the part the
                                   earlier photo runs trained on (their 5% validation split,
                                   seed 0, is left out: calibration scores it)
    OUTPUT/validation/...          center crops: mini-ImageNet val, Imagenette val, the carved
                                   VOC photos at two scales

Shrinking uses Pillow's BOX filter, as colorize does. The 14 ImageNet classes held out for
an independent check of the project (HELD_OUT) are refused wherever they appear. No
imagenet-sample, BSDS500 val/test or Kodak photo is read.

    python experiments/photo_mix.py --mini SCRATCH/mini --imagenette SCRATCH/imagenette \\
        --voc SCRATCH/voc/JPEGImages --bsds ../shared/data/bsds500-jpeg/train.tar \\
        --tiny ../shared/data/tiny-imagenet-jpeg/train.tar.gz --output runs/photo-mix
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scene_crops import center_crop, random_crops, shrink_to_short_side  # noqa: E402

from huenet import color, datasets  # noqa: E402

# Held out for an independent check of the project: never trained on, never validated on.
HELD_OUT = frozenset(
    "n01440764 n02091244 n02105505 n02108915 n02110063 n02114548 n02606052 n02747177 n02871525 n02981792 "
    "n03272010 n03535780 n04258138 n04296562".split()
)


def _read(path: Path) -> np.ndarray | None:
    """RGB uint8, or None for an unreadable or grayscale file (Imagenette has 242 of those)."""
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except OSError:
        return None
    return None if color.is_grayscale(rgb[None])[0] else rgb


def photo_files(folder: Path) -> list[Path]:
    """The JPEG and PNG files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _class_folders(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    held = [p.name for p in folders if p.name in HELD_OUT]
    if held:
        print(f"photo_mix: {root}: left out {len(held)} held-out classes ({' '.join(held)})", flush=True)
    return [p for p in folders if p.name not in HELD_OUT]


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _classes(
    root: Path,
    per_class: int | None,
    short_range: tuple[int, int],
    size: int,
    output: Path,
    rng: np.random.Generator,
    counts: dict,
    key: str,
) -> None:
    """One random crop of each of ``per_class`` images per class folder, at a random scale."""
    for folder in tqdm(_class_folders(root), desc=key, unit="class"):
        files = photo_files(folder)
        if per_class is not None:
            files = [files[i] for i in np.sort(rng.permutation(len(files))[:per_class])]
        for path in files:
            image = _read(path)
            if image is None:
                counts["skipped"] += 1
                continue
            short = int(rng.integers(short_range[0], short_range[1] + 1))
            crops = random_crops(shrink_to_short_side(image, short), size, 1, rng)
            if crops:
                _save(crops[0], output / folder.name / f"{path.stem}.png")
                counts[key] += 1


def _center_crops(root: Path, per_class: int, short: int, size: int, output: Path, counts: dict) -> None:
    for folder in _class_folders(root):
        files = photo_files(folder)[:per_class]
        for path in files:
            image = _read(path)
            crop = None if image is None else center_crop(shrink_to_short_side(image, short), size)
            if crop is not None:
                _save(crop, output / folder.name / f"{path.stem}.png")
                counts["validation"] += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--mini", required=True, help="mini-ImageNet folder with train/ and val/ class folders")
    parser.add_argument("--imagenette", required=True, help="Imagenette folder with train/ and val/ class folders")
    parser.add_argument("--voc", required=True, help="PASCAL VOC2007 JPEGImages folder")
    parser.add_argument("--bsds", required=True, help="BSDS500 train photos (tar or folder)")
    parser.add_argument("--tiny", required=True, help="Tiny ImageNet train (tar or folder)")
    parser.add_argument("--mini-per-class", type=int, default=300)
    parser.add_argument("--tiny-count", type=int, default=15000)
    parser.add_argument("--voc-validation", type=int, default=200, help="VOC photos carved for validation")
    parser.add_argument("--scales", type=int, nargs="+", default=[64, 80, 112, 160], help="scene short sides, pixels")
    parser.add_argument("--bsds-crops", type=int, default=2, help="crops per BSDS500 photo and scale")
    parser.add_argument("--size", type=int, default=64, help="crop size, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="new folder for the crops")
    arguments = parser.parse_args(argv)
    output, size = Path(arguments.output), arguments.size
    if output.exists() and any(output.iterdir()):
        sys.exit(f"photo_mix: {output}: folder is not empty")
    rng = np.random.default_rng(arguments.seed)
    counts = {"mini": 0, "imagenette": 0, "voc": 0, "bsds": 0, "tiny": 0, "validation": 0, "skipped": 0}

    _classes(
        Path(arguments.mini) / "train",
        arguments.mini_per_class,
        (size, 84),
        size,
        output / "train" / "mini",
        rng,
        counts,
        "mini",
    )
    _classes(
        Path(arguments.imagenette) / "train",
        None,
        (size, 2 * size),
        size,
        output / "train" / "imagenette",
        rng,
        counts,
        "imagenette",
    )

    voc = sorted(Path(arguments.voc).glob("*.jpg"))
    carved = set(np.sort(rng.permutation(len(voc))[: arguments.voc_validation]).tolist())
    for index, path in enumerate(tqdm(voc, desc="voc", unit="photo")):
        image = _read(path)
        if image is None:
            counts["skipped"] += 1
            continue
        if index in carved:
            for short in sorted(arguments.scales)[:2]:
                crop = center_crop(shrink_to_short_side(image, short), size)
                if crop is not None:
                    _save(crop, output / "validation" / "voc" / f"{path.stem}-s{short}.png")
                    counts["validation"] += 1
            continue
        for short in arguments.scales:
            for crop in random_crops(shrink_to_short_side(image, short), size, 1, rng):
                _save(crop, output / "train" / "voc" / f"{path.stem}-s{short}.png")
                counts["voc"] += 1

    bsds = datasets.load_images(arguments.bsds)
    for index in tqdm(range(len(bsds)), desc="bsds", unit="photo"):
        stem = Path(bsds.names[index]).stem
        for short in arguments.scales:
            for k, crop in enumerate(
                random_crops(shrink_to_short_side(bsds.images[index], short), size, arguments.bsds_crops, rng)
            ):
                _save(crop, output / "train" / "bsds" / f"{stem}-s{short}-{k}.png")
                counts["bsds"] += 1

    tiny = datasets.load_images(arguments.tiny, split="train", seed=0)
    train_part, _ = datasets.split_train_validation(
        tiny, 0.05, 0
    )  # the earlier runs' split: its validation part is calibration's
    for i in tqdm(np.sort(rng.permutation(len(train_part))[: arguments.tiny_count]), desc="tiny", unit="image"):
        if train_part.labels[i] in HELD_OUT:
            continue
        _save(
            train_part.images[i],
            output / "train" / "tiny" / train_part.labels[i] / Path(train_part.names[i]).with_suffix(".png").name,
        )
        counts["tiny"] += 1

    _center_crops(Path(arguments.mini) / "val", 4, 84, size, output / "validation" / "mini", counts)
    _center_crops(Path(arguments.imagenette) / "val", 20, 96, size, output / "validation" / "imagenette", counts)

    record = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "counts": counts,
    }
    (output / "crops.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
