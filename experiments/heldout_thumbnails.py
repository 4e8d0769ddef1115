"""Tiny ImageNet train images that a training mix left out, at their own 64 px, for calibration.

The photo network of 0.2.2 trained on 100 Tiny ImageNet train photos of each class
(``enlarged_thumbnails.py``); its small-image decoding is calibrated on others of the same
part: for each class (held-out ones included, as before), the first ``--per-class`` files
in the archive's order whose names are not in ``--exclude`` (the training folder):

    OUTPUT/<wnid>/<name>.jpg   (the archive's bytes, unchanged)

    python experiments/heldout_thumbnails.py ../shared/data/tiny-imagenet-jpeg/train.tar.gz \\
        --exclude runs/lite0-mix/train/tiny --per-class 3 --output SCRATCH/tiny-heldout
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tarfile
from pathlib import Path


def file_stems(folder: str | Path, script: str) -> set[str]:
    """The names (stems) of the files under ``folder``, for a training mix to leave out; exits
    naming the folder when it holds none (a mistyped path would otherwise leave nothing out)."""
    stems = {path.stem for path in Path(folder).rglob("*") if path.is_file()}
    if not stems:
        sys.exit(f"{script}: {folder}: no files to leave out")
    return stems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="Tiny ImageNet train tar (train/<wnid>/.../name.JPEG)")
    parser.add_argument("--exclude", required=True, help="a folder whose file names (stems) are left out")
    parser.add_argument("--per-class", type=int, default=3)
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args(argv)
    output = Path(arguments.output)
    if output.exists() and any(output.iterdir()):
        sys.exit(f"heldout_thumbnails: {output}: folder is not empty")
    used = file_stems(arguments.exclude, "heldout_thumbnails")
    taken: collections.Counter[str] = collections.Counter()
    with tarfile.open(arguments.source) as archive:
        for member in archive:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3:
                continue
            wnid, name = parts[1], Path(member.name).stem
            if name in used or taken[wnid] >= arguments.per_class:
                continue
            target = output / wnid / f"{name}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extractfile(member).read())
            taken[wnid] += 1
    counts = {"written": sum(taken.values()), "classes": len(taken), "left_out_names": len(used)}
    (output / "heldout.json").write_text(json.dumps({"command": " ".join(sys.argv), "counts": counts}, indent=2))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
