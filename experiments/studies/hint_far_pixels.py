"""Study: what one hint does to the pixels far from it, against the spreading's knobs.

The protocol of ``tests/test_hints.py``'s far-pixel tests: BSDS500 val photos at a 384 px
long side; one hint on the 8x8 cell whose colors are most wrong, carrying the truth's mean
color there; far pixels lie beyond 1/6 of the long side from it. Prints, per variant, the
mean PSNR change (dB, against no hint) far from the hint (and the worst photo's), near it
and on the whole photo.

    python experiments/studies/hint_far_pixels.py --count 12 --decays 5e-4 1e-3 2e-3 \\
        --color-scales 1.5 --fixed-decoding --edges inf 5 15
    python experiments/studies/hint_far_pixels.py --spreadings "decay=5e-4 flat=0.3" "decay=3e-4 power=0.5"
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_hints import CELL, _psnr, far_mask, worst_cell  # noqa: E402  the user-like protocol's pieces
from hint_locality import parse_variant  # noqa: E402  (this folder is on the path when run as a script)

import huenet  # noqa: E402
from huenet import color, hints  # noqa: E402
from huenet import inference as inference_module  # noqa: E402


def _photos(archive: str, count: int) -> list[np.ndarray]:
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".jpg")), key=lambda m: m.name)[:count]
        photos = []
        for member in members:
            image = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
            image.thumbnail((384, 384), Image.Resampling.BICUBIC)
            photos.append(np.asarray(image))
    return photos


def one_hint(truth: np.ndarray, model) -> tuple[float, float, float]:
    """(far, near, whole): PSNR changes from one hint where the colors are most wrong."""
    gray = color.rgb_to_gray(truth)
    plain = np.asarray(huenet.colorize(gray, model=model))
    truth_ab = color.rgb_to_lab(truth)[..., 1:]
    top, left = worst_cell(plain, truth_ab, set())
    mean = truth_ab[top : top + CELL, left : left + CELL].reshape(-1, 2).mean(axis=0)
    hint = hints.Hint(x=left + CELL / 2 - 0.5, y=top + CELL / 2 - 0.5, ab=(float(mean[0]), float(mean[1])), size=CELL)
    hinted = np.asarray(huenet.colorize(gray, model=model, hints=[hint]))
    far = far_mask(gray.shape, [(top, left)])
    return tuple(_psnr(hinted, truth, part) - _psnr(plain, truth, part) for part in (far, ~far, far | ~far))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default="../shared/data/bsds500-jpeg/val.tar")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--model", default=None)
    parser.add_argument("--decays", type=float, nargs="*", default=[], help="hint decays to try")
    parser.add_argument("--color-scales", type=float, nargs="*", default=[], help="Spreading.color_scale values")
    parser.add_argument(
        "--edges", type=float, nargs="*", default=[], help="hints.EDGE values (L units; inf: the whole patch)"
    )
    parser.add_argument("--fixed-decoding", action="store_true", help="also: the automatic decoding, not the hint's")
    parser.add_argument(
        "--spreadings",
        nargs="*",
        default=[],
        help='whole hints.Spreading variants in hint_locality.py\'s words, e.g. "decay=5e-4 flat=0.3" '
        "(fields not named take hints.LOCAL's values, not the model's)",
    )
    arguments = parser.parse_args()
    model = huenet.load_model(arguments.model)
    photos = _photos(arguments.photos, arguments.count)
    default_flat_share = model.settings.get("hint_flat_share", hints.LOCAL.flat_share)
    default_decay, local, choose, edge = (
        model.settings.get("hint_decay"),
        hints.LOCAL,
        inference_module.Colorizer.hinted_decoding,
        hints.EDGE,
    )
    variants = [("the model's", {}, None)]
    variants += [(f"decay {d:g}", {}, d) for d in arguments.decays]
    variants += [(f"color scale {s:g}", {"color_scale": s}, None) for s in arguments.color_scales]
    variants += [(f"edge {e:g}", {"edge": e}, None) for e in arguments.edges]
    for text in arguments.spreadings:
        spreading = parse_variant(text)[0]
        fields = {field.name for field in dataclasses.fields(spreading)} - {"decay"}  # decay: the model's setting
        variants.append((text, {k: getattr(spreading, k) for k in fields}, spreading.decay))
    if arguments.fixed_decoding:
        variants.append(("the automatic decoding kept", {"fixed": True}, None))
    try:
        for name, change, decay in variants:
            fixed = change.pop("fixed", False)
            hints.EDGE = change.pop("edge", edge)
            inference_module.hints_module.LOCAL = dataclasses.replace(local, **change)
            model.settings["hint_decay"] = default_decay if decay is None else decay
            # Colorizer.spreading takes the model's flat share over LOCAL's: set it there too.
            model.settings["hint_flat_share"] = change.get("flat_share", default_flat_share)
            inference_module.Colorizer.hinted_decoding = (lambda self, *_: self.decoding) if fixed else choose
            changes = np.array([one_hint(truth, model) for truth in photos])
            far = changes[:, 0]
            print(
                f"{name:28s} far {far.mean():+.3f} (worst {far.min():+.2f}, photo {int(far.argmin())}) "
                f"near {changes[:, 1].mean():+.2f} whole {changes[:, 2].mean():+.3f}",
                flush=True,
            )
    finally:
        inference_module.hints_module.LOCAL, inference_module.Colorizer.hinted_decoding = local, choose
        hints.EDGE = edge


if __name__ == "__main__":
    main()
