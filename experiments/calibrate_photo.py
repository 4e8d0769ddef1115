"""Choose a photo model's working size and decodings on held-out data, never on a test split.

    python experiments/calibrate_photo.py runs/photo-scenes/model.keras \
        --data ../shared/data/tiny-imagenet-jpeg/train.tar.gz \
        --photos ../shared/data/bsds500-jpeg/val.tar \
        --output runs/photo-scenes/calibrated.keras

Two held-out sets, scored the way ``huenet evaluate`` scores (grayscale truths left out,
full-size photos at their full size through the colorize path):
- "tiny": the run's own validation split, rebuilt from the training source with the run's
  fraction and seed (``--limit`` images of it, sampled with seed 0);
- "photos": full-size photos that are not in the model's training data (BSDS500 val; its
  train photos too for a model that did not fine-tune on them).
Vividness below 0 pulls toward the common, muted colors: a network that paints unfamiliar
scenes too colorfully can be brought back toward the gray copy's safety that way.

1. Working size: each candidate long side is scored on the photos with a few decodings;
   the best mean photo PSNR over those decodings wins. (The 64x64 set runs at its own
   size for every candidate of 64 or more, so it cannot choose.)
2. Decodings (temperature x vividness) at that working size, on both sets. The network
   runs once per image; every decoding reuses its logits. Each set gets its own pair: the
   "tiny" set's for images that run at their own size, the photos' for images shrunk as
   much as they are (``settings["shrunk"]``; ``inference.resolve_decoding`` blends the two
   in between). With ``--one-decoding`` both sets share one pair, as before 2026-12-02.
   - Faithful: the best PSNR among decodings whose colorfulness ratio keeps at least
     ``--min-colorfulness`` of the truth's, counted at the 5th percentile of a bootstrap
     over the set's images (a set of 100 photos gives a wide ratio; the bound keeps the
     choice from sitting on the edge by luck of the sample).
   - Vivid: among decodings whose PSNR and AuC stay above the gray copy's (plus margins),
     the one whose colorfulness ratio is closest to ``--vivid-target``. Photos given as
     ``KIND=PATH`` are also scored per kind, and vivid must clear the margins on each kind
     apart: on 891 photos pooled, vividness 1.5 cleared the gray copy by 0.17 dB while the
     ImageNet ones fell 0.16 dB below it (2026-12-07).
3. Writes the model with those settings and a ``calibration`` record (every number scored).
   ``--scores-from`` chooses again from such a record, without running the network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from huenet import color, datasets, metrics
from huenet.images import read_image
from huenet.inference import Colorizer, Decoding, calibrated_decoding, decode_ab, shrink_factor
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate import save_calibrated, settings_of, validation_sample  # noqa: E402  (the experiments folder is not a package)

_BOOTSTRAP_DRAWS = 1000


def score_images(predictions: list, truths: list) -> dict[str, float]:
    """Mean per-image PSNR, AuC (pixel-weighted) and colorfulness ratio, images of any sizes;
    ``colorfulness_low``: the ratio's 5th percentile over bootstrap resamples of the images."""
    return aggregate(image_scores(predictions, [metrics.Truth(truth[None]) for truth in truths]))


def image_scores(predictions: list, truths: list) -> dict[str, np.ndarray]:
    """Each image's PSNR, AuC, pixel count and colorfulness (its own and its truth's) against
    ``truths`` (``metrics.Truth`` of one image each, which keep their Lab between calls)."""
    scores = {key: np.zeros(len(truths)) for key in ("psnr", "auc", "pixels", "colorful", "truth_colorful")}
    for index, (prediction, truth) in enumerate(zip(predictions, truths)):
        prediction = np.asarray(prediction)[None]
        scores["psnr"][index] = metrics.psnr_per_image(prediction, truth.images)
        scores["auc"][index] = metrics.auc(prediction, truth)
        scores["pixels"][index] = prediction.shape[1] * prediction.shape[2]
        scores["colorful"][index] = metrics.colorfulness_per_image(prediction)[0]
        scores["truth_colorful"][index] = truth.colorfulness
    return scores


def aggregate(scores: dict[str, np.ndarray], indices: np.ndarray | None = None) -> dict[str, float]:
    """``score_images``' numbers from ``image_scores`` of the images at ``indices`` (all: None):
    AuC weighted by pixels, as if all their pixels were one pool."""
    if indices is not None:
        scores = {key: values[indices] for key, values in scores.items()}
    images = len(scores["psnr"])
    draws = np.random.default_rng(0).integers(0, images, size=(_BOOTSTRAP_DRAWS, images))
    colorful, truth_colorful = scores["colorful"], scores["truth_colorful"]
    ratios = colorful[draws].sum(axis=1) / np.maximum(truth_colorful[draws].sum(axis=1), 1e-12)
    return {
        "psnr_mean": float(scores["psnr"].mean()),
        "auc": float((scores["auc"] * scores["pixels"]).sum() / scores["pixels"].sum()),
        "colorfulness_ratio": float(colorful.sum() / truth_colorful.sum()),
        "colorfulness_low": float(np.percentile(ratios, 5)),
    }


class HeldOut:
    """One set's truths, its gray inputs and the network's logits at one working size
    (``compare_photo_models.py`` scores candidate models with it too)."""

    def __init__(
        self,
        name: str,
        truths: list,
        colorizer: Colorizer,
        kinds: list[str] | None = None,
        references: list | None = None,
    ):
        """``references``: another set's ``references()`` of the same truths, to share (a
        second network scored on the same photos)."""
        self.name = name
        self.truths = truths
        self.kinds = kinds if kinds and len(set(kinds)) > 1 else None
        self._references = references  # each truth's metrics.Truth, made at the first score
        self.inputs = [read_image(color.rgb_to_gray(truth)) for truth in truths]
        self.colorizer = colorizer
        started = time.perf_counter()
        # float16, 32 images at a time: a thousand full-size photos' logits at a 224 px working
        # size are 10 GB in float32, and ran a 24 GB machine out of memory beside the rest.
        self.logits = [
            np.asarray(logits, np.float16)
            for start in range(0, len(self.inputs), 32)
            for logits in colorizer.network_outputs(self.inputs[start : start + 32])
        ]
        print(
            f"{name}: {len(truths)} images, network at working size {colorizer.working_size} "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

    def score(self, temperature: float, vividness: float, gain: float = 1.0, contrast: float = 1.0) -> dict:
        """Scores of one decoding; ``gain`` scales the decoded ab (a chroma gain to compare);
        ``contrast``: ``Decoding.contrast``."""
        decoding = Decoding(temperature, False, vividness, contrast)
        model = self.colorizer.model
        predictions = [
            np.asarray(self.colorizer.compose(image, gain * decode_ab(model, logits[None], decoding)[0]))
            for image, logits in zip(self.inputs, self.logits)
        ]
        return self._scores(predictions)

    def references(self) -> list:
        """Each truth's ``metrics.Truth`` (its Lab and the rest a score needs), made once."""
        if self._references is None:
            self._references = [metrics.Truth(truth[None]) for truth in self.truths]
        return self._references

    def gray_copy(self) -> dict[str, float]:
        return self._scores([np.repeat(color.rgb_to_gray(t)[..., None], 3, axis=-1) for t in self.truths])

    def _scores(self, predictions: list) -> dict:
        """``score_images`` over the set, and under ``"kinds"`` over each kind apart (if any):
        each image is scored once, against its truth's Lab computed once for every decoding."""
        each = image_scores(predictions, self.references())
        scores: dict = aggregate(each)
        if self.kinds:
            kinds = np.array(self.kinds)
            scores["kinds"] = {kind: aggregate(each, np.flatnonzero(kinds == kind)) for kind in sorted(set(self.kinds))}
        return scores


def choose_decodings(
    scores: dict,
    gray: dict,
    names: list[str],
    min_colorfulness: dict[str, float],
    vivid_target: float,
    margin_db: float,
    margin_auc: float,
) -> tuple[tuple, tuple]:
    """(faithful, vivid) decodings, (temperature, vividness, contrast), for the sets ``names``;
    each must pass.

    Faithful: the best mean PSNR among decodings whose bootstrap-low colorfulness ratio is at
    least ``min_colorfulness[name]`` on every set. Vivid: among decodings at least
    ``margin_db`` and ``margin_auc`` above the gray copy on every set and on every kind of a
    set scored per kind (``"kinds"``), the one whose colorfulness ratio is nearest
    ``vivid_target`` (the larger distance counts).
    """

    def clears_gray(score: dict, reference: dict) -> bool:
        return (
            score["psnr_mean"] >= reference["psnr_mean"] + margin_db
            and score["auc"] >= reference["auc"] + margin_auc
            and all(clears_gray(score["kinds"][kind], reference["kinds"][kind]) for kind in reference.get("kinds", {}))
        )

    def psnr(key: tuple) -> float:
        return float(np.mean([scores[key][name]["psnr_mean"] for name in names]))

    colorful_enough = [
        key for key in scores if all(scores[key][name]["colorfulness_low"] >= min_colorfulness[name] for name in names)
    ]
    faithful = max(colorful_enough or scores, key=psnr)
    allowed = [key for key in scores if all(clears_gray(scores[key][name], gray[name]) for name in names)]
    vivid = min(
        allowed or [faithful],
        key=lambda key: max(abs(scores[key][name]["colorfulness_ratio"] - vivid_target) for name in names),
    )
    return faithful, vivid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", help="the training source (its validation split is rebuilt)")
    parser.add_argument(
        "--small-images",
        help="instead of --data: small images the model never trained on (a folder or tar; --limit of them, "
        "evenly over its classes), for the decoding of images that run at their own size",
    )
    parser.add_argument(
        "--photos",
        nargs="+",
        metavar="[KIND=]PATH",
        help="full-size photos (folders or tars) that are not training data; with KIND= (e.g. imagenet=, other=) "
        "each kind is also scored apart and vivid must clear the gray copy on each",
    )
    parser.add_argument(
        "--scores-from",
        metavar="CALIBRATED",
        help="choose again from the scores recorded in a model this script wrote (no network run)",
    )
    parser.add_argument("--limit", type=int, default=2000, help="validation images of the training source to score")
    parser.add_argument("--working-sizes", type=int, nargs="+", default=[64, 96, 128, 160, 192, 256])
    parser.add_argument(
        "--min-working-size",
        type=int,
        default=0,
        help="enlarge smaller images to this long side for the network (a pretrained encoder's thumbnails); "
        "recorded in the model's settings",
    )
    parser.add_argument(
        "--film-working-size",
        type=int,
        help="the long side films run at (default: the working size); recorded in the model's settings",
    )
    parser.add_argument(
        "--size-decodings",
        default="0.4,-0.5 0.4,0.0 0.4,0.5",
        help="temperature,vividness pairs the working size is chosen with",
    )
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.6, 0.4, 0.3])
    parser.add_argument(
        "--vividness",
        type=float,
        nargs="+",
        default=[-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5],
    )
    parser.add_argument(
        "--contrasts",
        type=float,
        nargs="+",
        default=[1.0],
        help="chroma contrasts (inference.Decoding.contrast), each scored with every temperature and vividness",
    )
    parser.add_argument(
        "--decodings",
        nargs="+",
        metavar="T,V[,C]",
        help="score exactly these temperature,vividness[,contrast] decodings instead of the grid of "
        "--temperatures, --vividness and --contrasts (each decoding costs minutes on a thousand photos)",
    )
    parser.add_argument(
        "--min-colorfulness",
        type=float,
        default=0.5,
        help="faithful keeps this share of the truth's colorfulness (bootstrap 5th percentile)",
    )
    parser.add_argument(
        "--photos-min-colorfulness",
        type=float,
        help="the same bar for the full-size photos (default: --min-colorfulness); the photos' own "
        "bootstrap already says how sure their ratio is",
    )
    parser.add_argument("--one-decoding", action="store_true", help="one decoding for both sets (the best mean PSNR)")
    parser.add_argument(
        "--keep-small-decodings",
        action="store_true",
        help="keep the model's own decodings for images that run at their own size (its faithful and vivid "
        "blocks; their scores still printed) and choose only the shrunk photos' ones",
    )
    parser.add_argument("--vivid-target", type=float, default=0.95, help="colorfulness ratio the vivid setting aims at")
    parser.add_argument(
        "--margin-db", type=float, default=0.1, help="vivid stays this far above the gray copy's PSNR on both sets"
    )
    parser.add_argument("--margin-auc", type=float, default=0.002, help="... and this far above its AuC")
    parser.add_argument("--engine", default="numpy", choices=["numpy", "keras"], help="what runs the network")
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    if not arguments.scores_from and not ((arguments.data or arguments.small_images) and arguments.photos):
        parser.error("--data (or --small-images) and --photos are needed (or --scores-from)")
    try:
        decoding_grid(arguments)
    except (ValueError, IndexError):
        parser.error(f"--decodings: each is temperature,vividness[,contrast], not {' '.join(arguments.decodings)}")
    started = time.perf_counter()

    # The NumPy engine: Keras under TensorFlow traces the network again for every new photo
    # size, and a thousand photos of many sizes ran a 24 GB machine out of memory (2026-12-06).
    model = load_model(arguments.model, engine=arguments.engine)
    model.settings["min_working_size"] = arguments.min_working_size  # every Colorizer below runs with it
    if arguments.scores_from:
        record, working_size, photo_shrink = _recorded_scores(arguments.scores_from, model)
        scores = {decoding_key(key): value for key, value in record["by_temperature_and_vividness"].items()}
        gray = record["gray_copy"]
    else:
        record, working_size, scores, gray, photo_shrink = _score(model, arguments)
    minimum = {
        "tiny": arguments.min_colorfulness,
        "photos": arguments.min_colorfulness
        if arguments.photos_min_colorfulness is None
        else arguments.photos_min_colorfulness,
    }

    def choose(names: list[str]) -> tuple[tuple, tuple]:
        return choose_decodings(
            scores, gray, names, minimum, arguments.vivid_target, arguments.margin_db, arguments.margin_auc
        )

    if arguments.one_decoding and arguments.keep_small_decodings:
        parser.error("--keep-small-decodings chooses the photos' decodings apart: not with --one-decoding")
    chosen = (
        {"both": choose(["tiny", "photos"])}
        if arguments.one_decoding
        else {name: choose([name]) for name in ("tiny", "photos")}
    )
    if arguments.keep_small_decodings:
        chosen["tiny"] = (calibrated_decoding(model.settings, False), calibrated_decoding(model.settings, True))
    for name, (faithful, vivid) in chosen.items():
        for role, key in (("faithful", faithful), ("vivid", vivid)):
            print(
                f"{name}: {role} {json.dumps(settings_of(key))}: {json.dumps(scores.get(key, 'not scored'))}",
                flush=True,
            )
    faithful, vivid = chosen["both" if arguments.one_decoding else "tiny"]
    shrunk = None
    if not arguments.one_decoding:
        large_faithful, large_vivid = chosen["photos"]
        shrunk = {"shrink": round(photo_shrink, 3), **settings_of(large_faithful), "vivid": settings_of(large_vivid)}
        print(f"shrunk {photo_shrink:.2f} times or more: {json.dumps(shrunk)}", flush=True)

    record = {
        **record,
        "photo_shrink": photo_shrink,
        "seconds": record.get("seconds", 0) + round(time.perf_counter() - started, 1),
    }
    save_calibrated(
        model,
        arguments.model,
        arguments.output,
        faithful,
        vivid,
        working_size,
        shrunk=shrunk,
        record=record,
        min_working_size=arguments.min_working_size,
        film_working_size=arguments.film_working_size,
    )
    print(f"wrote {arguments.output} ({time.perf_counter() - started:.0f} s)")


def decoding_key(text: str) -> tuple[float, float, float]:
    """A record's ``"temperature,vividness[,contrast]"`` -> (temperature, vividness, contrast)."""
    values = [float(x) for x in text.split(",")]
    return (values[0], values[1], values[2] if len(values) > 2 else 1.0)


def decoding_grid(arguments) -> list[tuple[float, float, float]]:
    """The decodings to score: ``--decodings`` as given, or every contrast, temperature and
    vividness together."""
    if arguments.decodings:
        return [decoding_key(text) for text in arguments.decodings]
    return [(t, v, c) for c in arguments.contrasts for t in arguments.temperatures for v in arguments.vividness]


def decoding_text(key: tuple[float, float, float]) -> str:
    """``decoding_key``'s inverse; a contrast of 1 is left out (records before contrasts)."""
    return ",".join(str(x) for x in (key if key[2] != 1.0 else key[:2]))


def _recorded_scores(path: str, model) -> tuple[dict, int, float]:
    """A calibrated model's record, working size and the photos' median shrink factor; it must
    have been calibrated from ``model``'s run."""
    from huenet.modelfile import read_metadata

    metadata = read_metadata(path)
    if metadata.get("training") != model.metadata.get("training"):
        raise SystemExit(f"{path}: calibrated from another run than {model.source}")
    record = metadata.get("calibration")
    if not record or "by_temperature_and_vividness" not in record:
        raise SystemExit(f"{path}: no calibration scores recorded (not written by calibrate_photo.py)")
    settings = metadata["settings"]
    shrink = record.get("photo_shrink") or settings.get("shrunk", {}).get("shrink")
    if shrink is None:
        raise SystemExit(f"{path}: the photos' shrink factor is not recorded; score again")
    record = {key: value for key, value in record.items() if key != "command"}
    record["scores_from"] = path
    record.setdefault("scored_by", metadata["calibration"].get("command"))
    return record, int(settings["working_size"]), float(shrink)


def _score(model, arguments) -> tuple[dict, int, dict, dict, float]:
    """Steps 1 and 2: the working size, then every decoding on both sets."""
    if arguments.data:
        tiny_truths = list(validation_sample(model, arguments.data, arguments.limit))
    else:
        tiny_truths = list(datasets.load_images(arguments.small_images, limit=arguments.limit, seed=0).images)
    photos, kinds = [], []
    for source in arguments.photos:
        kind, _, path = ("", "", source) if Path(source).exists() else source.partition("=")
        images = datasets.load_images(path, skip_gray=True).images
        photos += list(images)
        kinds += [kind or "photos"] * len(images)
    small = arguments.data or arguments.small_images
    print(f"{len(tiny_truths)} validation images of {small}; {len(photos)} color photos", flush=True)

    # 1. Working size, on the photos.
    size_decodings = [tuple(float(x) for x in pair.split(",")) for pair in arguments.size_decodings.split()]
    by_size: dict[int, dict[str, dict[str, float]]] = {}
    only_size: HeldOut | None = None  # with one working size, step 2 reuses its logits
    for size in arguments.working_sizes:
        held = HeldOut(f"photos@{size}", photos, Colorizer(model, Decoding(), size, threads=2), kinds)
        by_size[size] = {f"{t},{v}": held.score(t, v) for t, v in size_decodings}
        if len(arguments.working_sizes) == 1:
            only_size = held
        mean_psnr = float(np.mean([s["psnr_mean"] for s in by_size[size].values()]))
        print(f"working size {size}: photo PSNR {mean_psnr:.3f} ({json.dumps(by_size[size])})", flush=True)
    working_size = max(by_size, key=lambda size: np.mean([s["psnr_mean"] for s in by_size[size].values()]))
    print(f"working size: {working_size}", flush=True)

    # 2. Decodings, on both sets at that size.
    sets = {
        "tiny": HeldOut("tiny", tiny_truths, Colorizer(model, Decoding(), working_size, threads=2)),
        "photos": only_size or HeldOut("photos", photos, Colorizer(model, Decoding(), working_size, threads=2), kinds),
    }
    gray = {name: held.gray_copy() for name, held in sets.items()}
    print(f"gray copy: {json.dumps(gray)}", flush=True)
    scores: dict[tuple[float, float, float], dict[str, dict[str, float]]] = {}
    for temperature, vividness, contrast in decoding_grid(arguments):
        key = (temperature, vividness, contrast)
        scores[key] = {name: held.score(temperature, vividness, contrast=contrast) for name, held in sets.items()}
        label = f"T={temperature} vividness={vividness}" + (f" contrast={contrast}" if contrast != 1.0 else "")
        print(f"{label}: {json.dumps(scores[key])}", flush=True)
    photo_shrink = float(np.median([shrink_factor(photo.shape[:2], working_size) for photo in photos]))
    record = {
        "validation_images": len(tiny_truths),
        "photos": len(photos),
        "gray_copy": gray,
        "photo_scores_by_working_size": {str(k): v for k, v in by_size.items()},
        "by_temperature_and_vividness": {decoding_text(key): s for key, s in scores.items()},
    }
    return record, working_size, scores, gray, photo_shrink


if __name__ == "__main__":
    main()
