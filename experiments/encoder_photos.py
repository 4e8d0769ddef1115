"""Training photos for the pretrained-encoder network (huenet-lite0): whole photos at its scale.

The earlier photo mix (photo_mix.py) holds 64x64 crops, far below the scale an ImageNet
encoder recognizes things at. This writes photos shrunk (Pillow's BOX filter, as colorize
does) so that the long side is --long-side pixels, which ``huenet train --crop-size`` then
crops at random, from (docs/data.md has each source and commit):

    OUTPUT/train/imagenette/<wnid>/   Imagenette train (224x224), all but the held-out class
    OUTPUT/train/voc/                 PASCAL VOC2007 photos but the --voc-validation carved ones
    OUTPUT/train/bsds/                BSDS500 train photos
    OUTPUT/validation/imagenette/     Imagenette val: --imagenette-validation of them, evenly
    OUTPUT/validation/voc/            the carved VOC photos
    OUTPUT/validation/bsds/           BSDS500 val photos

Grayscale files are skipped. The 14 held-out ImageNet classes (photo_mix.HELD_OUT) are refused.

    python experiments/encoder_photos.py --imagenette SCRATCH/imagenette --voc SCRATCH/voc/JPEGImages \\
        --bsds ../shared/data/bsds500-jpeg/train.tar --bsds-validation ../shared/data/bsds500-jpeg/val.tar \\
        --output runs/lite0-photos
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photo_mix import HELD_OUT  # noqa: E402

from huenet import archives, color, datasets  # noqa: E402


def voc_carved(count: int, validation: int, seed: int = 0) -> set[int]:
    """Indices, into the VOC photos sorted by name, of those carved for validation."""
    return set(np.random.default_rng(seed).permutation(count)[:validation].tolist())


def _shrunk(image: Image.Image, long_side: int) -> Image.Image | None:
    """RGB shrunk to ``long_side`` (never enlarged); None for a grayscale photo."""
    image = image.convert("RGB")
    scale = long_side / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BOX)
    return None if color.is_grayscale(np.asarray(image)[None])[0] else image


def _write(image: Image.Image | None, path: Path, counts: dict, key: str) -> None:
    if image is None:
        counts["skipped_gray"] += 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=95)
    counts[key] += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--imagenette", required=True, help="Imagenette repository folder (train/ and val/)")
    parser.add_argument("--voc", required=True, help="PASCAL VOC2007 JPEGImages folder")
    parser.add_argument("--bsds", required=True, help="BSDS500 train tar")
    parser.add_argument("--bsds-validation", required=True, help="BSDS500 val tar")
    parser.add_argument("--long-side", type=int, default=256)
    parser.add_argument("--voc-validation", type=int, default=200)
    parser.add_argument("--imagenette-validation", type=int, default=450)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args(argv)
    output = Path(arguments.output)
    if output.exists() and any(output.iterdir()):
        sys.exit(f"encoder_photos: {output}: folder is not empty")
    counts = {"imagenette": 0, "voc": 0, "bsds": 0, "validation": 0, "skipped_gray": 0, "held_out": 0}
    long_side = arguments.long_side

    for split, limit in (("train", None), ("val", arguments.imagenette_validation)):
        paths = sorted(
            p for p in (Path(arguments.imagenette) / split).glob("*/*") if p.suffix.lower() in (".jpeg", ".jpg", ".png")
        )
        kept = [p for p in paths if p.parent.name not in HELD_OUT]
        counts["held_out"] += len(paths) - len(kept)
        if limit:
            kept = [kept[i] for i in datasets.sample_evenly([p.parent.name for p in kept], limit, arguments.seed)]
        for path in tqdm(kept, desc=f"imagenette {split}", unit="photo"):
            with Image.open(path) as image:
                target = (
                    output / "train" / "imagenette" / path.parent.name
                    if split == "train"
                    else output / "validation" / "imagenette"
                )
                _write(
                    _shrunk(image, long_side),
                    target / f"{path.stem}.jpg",
                    counts,
                    "imagenette" if split == "train" else "validation",
                )

    voc = sorted(Path(arguments.voc).glob("*.jpg"))
    carved = voc_carved(len(voc), arguments.voc_validation, arguments.seed)
    for index, path in enumerate(tqdm(voc, desc="voc", unit="photo")):
        with Image.open(path) as image:
            if index in carved:
                _write(
                    _shrunk(image, long_side), output / "validation" / "voc" / f"{path.stem}.jpg", counts, "validation"
                )
            else:
                _write(_shrunk(image, long_side), output / "train" / "voc" / f"{path.stem}.jpg", counts, "voc")

    for tar, folder, key in (
        (arguments.bsds, output / "train" / "bsds", "bsds"),
        (arguments.bsds_validation, output / "validation" / "bsds", "validation"),
    ):
        for name, payload in tqdm(list(archives.iter_tar(Path(tar))), desc=Path(tar).name, unit="photo"):
            if payload is None or not name.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            with Image.open(io.BytesIO(payload)) as image:
                _write(_shrunk(image, long_side), folder / f"{Path(name).stem}.jpg", counts, key)

    record = {"command": " ".join(sys.argv), "long_side": long_side, "seed": arguments.seed, "counts": counts}
    (output / "photos.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
