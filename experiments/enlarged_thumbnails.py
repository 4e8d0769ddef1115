"""Tiny ImageNet thumbnails enlarged to the scale the photo network works at, for its training mix.

The photos of encoder_photos.py cover some 30 kinds of things (Imagenette's 9 classes, VOC's
20, BSDS500 scenes); Tiny ImageNet covers 200. Its 64x64 photos are far below the scale an
ImageNet encoder recognizes things at, and colorize enlarges thumbnails to the model's
min_working_size (160) before the network anyway, so they are written enlarged the same way
(bicubic) to --size pixels, --per-class of each class (the first by name), the 14 held-out
classes (photo_mix.HELD_OUT) left out, grayscale ones skipped. ``--exclude FOLDER`` (repeatable)
leaves out the names (stems) found in a folder, so a second set skips the photos of a first one
and the calibration thumbnails of heldout_thumbnails.py:

    OUTPUT/<wnid>/<name>.jpg

    python experiments/enlarged_thumbnails.py ../shared/data/tiny-imagenet-jpeg/train.tar.gz \\
        --per-class 100 --size 160 --output runs/lite0-mix/train/tiny
    python experiments/enlarged_thumbnails.py ../shared/data/tiny-imagenet-jpeg/train.tar.gz \\
        --per-class 100 --size 160 --exclude runs/lite0-mix/train/tiny --exclude SCRATCH/tiny-heldout \\
        --output runs/lite0-mix2/train/tiny2
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_thumbnails import file_stems  # noqa: E402
from photo_mix import HELD_OUT  # noqa: E402

from huenet import archives, color  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="Tiny ImageNet train tar (class/.../name.JPEG)")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--exclude", action="append", default=[], help="a folder whose file names (stems) are left out (repeatable)"
    )
    arguments = parser.parse_args(argv)
    output = Path(arguments.output)
    if output.exists() and any(output.iterdir()):
        sys.exit(f"enlarged_thumbnails: {output}: folder is not empty")
    excluded = set().union(*(file_stems(folder, "enlarged_thumbnails") for folder in arguments.exclude))
    names: dict[str, list[str]] = {}
    with tarfile.open(arguments.source) as archive:
        for member in archive:
            if member.isfile() and member.name.lower().endswith((".jpeg", ".jpg", ".png")):
                wnid = next(
                    (part for part in Path(member.name).parts if part.startswith("n") and part[1:].isdigit()), None
                )
                if wnid and wnid not in HELD_OUT and Path(member.name).stem not in excluded:
                    names.setdefault(wnid, []).append(member.name)
    chosen = {name: wnid for wnid, members in names.items() for name in sorted(members)[: arguments.per_class]}
    counts = {"written": 0, "skipped_gray": 0, "classes": len(names)}
    for name, payload in tqdm(
        archives.iter_tar(Path(arguments.source), only=set(chosen)), total=len(chosen), unit="photo"
    ):
        if payload is None:
            continue
        with Image.open(io.BytesIO(payload)) as image:
            rgb = image.convert("RGB")
        if color.is_grayscale(np.asarray(rgb)[None])[0]:
            counts["skipped_gray"] += 1
            continue
        target = output / chosen[name] / f"{Path(name).stem}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        rgb.resize((arguments.size, arguments.size), Image.Resampling.BICUBIC).save(target, quality=95)
        counts["written"] += 1
    record = {"command": " ".join(sys.argv), **vars(arguments), "counts": counts}
    (output / "thumbnails.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
