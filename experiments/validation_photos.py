"""The full-size validation photos the photo model's decodings are chosen on, as links.

    OUTPUT/imagenet-sample/  imagenet-sample val, unpacked (823 photos)
    OUTPUT/imagenet-half/    every second of them by name (411): the ImageNet kind
    OUTPUT/voc-val/          the VOC2007 photos encoder_photos.py carves for validation (200)
    OUTPUT/other-photos/     CUrban100, CSun_Hays80 and CSet14 (194; 9 of them gray)

BSDS500 val, the fourth part, is read from its tar. The carve is encoder_photos.py's (the
same --voc-validation and --seed), so these VOC photos are never among the training ones.

    python experiments/validation_photos.py --imagenet-sample ../shared/data/imagenet-sample-jpeg/val.tar \\
        --voc SCRATCH/voc/JPEGImages --denoising SCRATCH/denoising_datasets --output SCRATCH
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoder_photos import voc_carved  # noqa: E402  (the experiments folder is not a package)
from photo_mix import photo_files  # noqa: E402

OTHER_SETS = ("CUrban100", "CSun_Hays80", "CSet14")  # never BSD68 / CBSD68: BSDS500 test photos


def _link_all(paths: list[Path], folder: Path) -> int:
    """Links in ``folder`` to ``paths`` (by absolute path); exits if two share a name."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        target = folder / path.name
        if target.is_symlink() or target.exists():
            sys.exit(f"validation_photos: {target}: already exists")
        target.symlink_to(path.resolve())
    return len(paths)


def _photos(folder: Path) -> list[Path]:
    photos = photo_files(folder)
    if not photos:
        sys.exit(f"validation_photos: {folder}: no photos")
    return photos


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--imagenet-sample", required=True, help="imagenet-sample val tar")
    parser.add_argument("--voc", required=True, help="PASCAL VOC2007 JPEGImages folder")
    parser.add_argument("--denoising", required=True, help="the denoising_datasets repository folder")
    parser.add_argument("--voc-validation", type=int, default=200, help="as encoder_photos.py's")
    parser.add_argument("--seed", type=int, default=0, help="as encoder_photos.py's")
    parser.add_argument("--output", required=True, help="a scratch folder outside the repository")
    arguments = parser.parse_args(argv)
    output = Path(arguments.output)
    folders = ("imagenet-sample", "imagenet-half", "voc-val", "other-photos")
    for name in folders:
        if (output / name).exists():
            sys.exit(f"validation_photos: {output / name}: already exists")

    with tarfile.open(arguments.imagenet_sample) as archive:
        archive.extractall(output / "imagenet-sample", filter="data")
    imagenet = _photos(output / "imagenet-sample")
    counts = {"imagenet-sample": len(imagenet), "imagenet-half": _link_all(imagenet[1::2], output / "imagenet-half")}

    voc = sorted(Path(arguments.voc).glob("*.jpg"))
    carved = voc_carved(len(voc), arguments.voc_validation, arguments.seed)
    counts["voc-val"] = _link_all([voc[i] for i in sorted(carved)], output / "voc-val")

    others = [path for name in OTHER_SETS for path in _photos(Path(arguments.denoising) / name)]
    counts["other-photos"] = _link_all(others, output / "other-photos")
    (output / "validation-photos.json").write_text(json.dumps({"command": " ".join(sys.argv), "counts": counts}))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
