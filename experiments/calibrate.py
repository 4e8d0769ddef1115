"""Choose a trained model's decoding settings on validation data, never on the test split.

    python experiments/calibrate.py runs/default-v1/model.keras \
        --data ../shared/data/cifar10-jpeg/train.tar.gz --photos ../shared/data/bsds500-jpeg/val.tar \
        --output runs/default-v1/calibrated.keras

1. Rebuilds the run's seeded validation split (same data, fraction and seed as training).
2. Scores decodings (temperature x vividness) there. Faithful: the best mean PSNR among
   decodings that keep at least ``--min-colorfulness`` of the truth's colorfulness. Vivid:
   the colorfulness closest to ``--vivid-target`` while PSNR and AuC stay above the
   gray-copy baseline measured on the same images (plus a margin).
3. Scores working sizes (long side at which the network runs) on full-size photos and keeps
   the best mean PSNR over all of them.
4. Writes the model with those settings and a ``calibration`` record (every number scored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from huenet import color, datasets, metrics
from huenet.evaluate import baseline_predictions, predict_rgb
from huenet.modelfile import load_model, read_metadata, save_model


def _score(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "psnr_mean": metrics.psnr_per_image(prediction, truth),
        "auc": metrics.auc(prediction, truth),
        "exact_match": metrics.exact_match(prediction, truth),
        "colorfulness_ratio": metrics.colorfulness(prediction) / metrics.colorfulness(truth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", required=True, help="the training source (its validation split is rebuilt)")
    parser.add_argument(
        "--photos",
        nargs="+",
        default=[],
        help="full-size photos (folders or tars) for choosing the working size; 100 photos cannot "
        "separate sizes closer than about 0.2 dB, so give all you have (none of them training data)",
    )
    parser.add_argument("--limit", type=int, default=3000, help="validation images to score")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.6, 0.4, 0.3])
    parser.add_argument("--vividness", type=float, nargs="+", default=[0.5, 0.75, 1.0, 1.5, 1.75, 2.0, 2.25])
    parser.add_argument(
        "--min-colorfulness", type=float, default=0.55, help="faithful must keep this share of the truth's colorfulness"
    )
    parser.add_argument("--vivid-target", type=float, default=0.9, help="colorfulness ratio the vivid setting aims at")
    parser.add_argument("--working-sizes", type=int, nargs="+", default=[32, 48, 64, 96, 128])
    parser.add_argument(
        "--margin-db", type=float, default=0.1, help="vivid must stay this far above the gray copy's PSNR"
    )
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()

    model = load_model(arguments.model, engine="keras")  # throughput over many images: Keras is faster there
    truth = validation_sample(model, arguments.data, arguments.limit)
    gray = color.rgb_to_gray(truth)
    gray_copy = _score(baseline_predictions(truth)["gray copy"], truth)
    print(f"{len(truth)} validation images; gray copy: {json.dumps(gray_copy)}", flush=True)

    scores = {}
    for temperature in arguments.temperatures:
        for vividness in [0.0, *arguments.vividness]:
            prediction = predict_rgb(model, gray, temperature=temperature, vividness=vividness)
            scores[(temperature, vividness)] = _score(prediction, truth)
            print(f"T={temperature} vividness={vividness}: {json.dumps(scores[(temperature, vividness)])}", flush=True)
    # Faithful: the best PSNR among decodings that keep at least --min-colorfulness of the
    # truth's colorfulness (a washed-out picture is not faithful either).
    colorful_enough = [key for key, s in scores.items() if s["colorfulness_ratio"] >= arguments.min_colorfulness]
    faithful = max(colorful_enough or scores, key=lambda key: scores[key]["psnr_mean"])
    # Vivid: colorfulness closest to --vivid-target while PSNR and AuC stay above the gray
    # copy. The target sits inside the 0.85-1.15 band rather than at 1.0: near the truth's
    # colorfulness each further 0.1 of it costs about 0.5 dB.
    allowed = [
        key
        for key, s in scores.items()
        if s["psnr_mean"] >= gray_copy["psnr_mean"] + arguments.margin_db and s["auc"] >= gray_copy["auc"] + 0.002
    ]
    vivid = min(allowed or [faithful], key=lambda key: abs(scores[key]["colorfulness_ratio"] - arguments.vivid_target))
    print(
        f"faithful: temperature {faithful[0]}, vividness {faithful[1]}; vivid: temperature {vivid[0]}, vividness {vivid[1]}",
        flush=True,
    )

    by_working_size = {}
    if arguments.photos:
        photos = [image for source in arguments.photos for image in datasets.load_images(source, skip_gray=True).images]
        for size in arguments.working_sizes:
            photo_scores = []
            for image in photos:
                prediction = predict_rgb(
                    model,
                    color.rgb_to_gray(image)[None],
                    temperature=faithful[0],
                    working_size=size,
                    vividness=faithful[1],
                )
                photo_scores.append(metrics.psnr_per_image(prediction, image[None]))
            by_working_size[size] = float(np.mean(photo_scores))
            print(f"working size {size}: photo PSNR {by_working_size[size]:.3f}", flush=True)
    working_size = max(by_working_size, key=by_working_size.get) if by_working_size else model.working_size

    save_calibrated(
        model,
        arguments.model,
        arguments.output,
        faithful,
        vivid,
        working_size,
        {
            "validation_images": len(truth),
            "gray_copy": gray_copy,
            "by_temperature_and_vividness": {f"{t},{v}": s for (t, v), s in scores.items()},
            "photo_psnr_by_working_size": {str(k): v for k, v in by_working_size.items()},
        },
    )
    print(f"wrote {arguments.output}")


def _config_that_read(training: dict, data: str) -> dict:
    """The training config, in a fine-tuned model's chain of runs (``init_from``), whose
    --data is ``data``: its validation split is the one to rebuild."""
    chain = training
    while chain:
        config = chain["config"]
        if Path(config["data"]).resolve() == Path(data).resolve():
            return config
        chain = chain.get("init_from", {}).get("training")
    raise SystemExit(f"calibrate: no run behind this model trained on {data}")


def validation_sample(model, data: str, limit: int):
    """``limit`` images (seeded) of the run's own validation split, rebuilt from its training
    source with the run's fraction and seed: images the model never trained on."""
    config = _config_that_read(model.metadata["training"], data)
    image_set = datasets.load_images(data, split="train", limit=config.get("limit"), seed=config.get("seed", 0))
    _, validation = datasets.split_train_validation(image_set, config["validation_fraction"], config["seed"])
    chosen = np.sort(np.random.default_rng(0).permutation(len(validation))[:limit])
    if isinstance(validation.images, np.ndarray):
        return validation.images[chosen]
    return [validation.images[i] for i in chosen]


def settings_of(decoding: tuple) -> dict[str, float]:
    """A decoding, (temperature, vividness[, contrast]), as model settings: the contrast only
    where it is not 1 (calibrate_photo.py's decodings carry one; models before it have none)."""
    contrast = {"contrast": decoding[2]} if len(decoding) > 2 and decoding[2] != 1.0 else {}
    return {"temperature": decoding[0], "vividness": decoding[1], **contrast}


def save_calibrated(
    model,
    source: str,
    output: str,
    faithful: tuple,
    vivid: tuple,
    working_size: int,
    record: dict,
    shrunk: dict | None = None,
    min_working_size: int | None = None,
    film_working_size: int | None = None,
) -> None:
    """Write ``model`` with the chosen (temperature, vividness) pairs and working size as its
    settings (and ``shrunk``, the decodings of shrunk inputs, if given), and a ``calibration``
    record: the command that chose them and ``record``. ``min_working_size``: small images are
    enlarged to it for the network (``inference.working_shape``). ``film_working_size``: the
    long side films run at unless one is asked for (a film must keep up with its frame rate;
    ``video.colorize_video``)."""
    metadata = read_metadata(source)
    metadata.pop("format", None)

    metadata["settings"] = {
        **{key: value for key, value in metadata["settings"].items() if key != "contrast"},
        **settings_of(faithful),
        "vivid": settings_of(vivid),
        "working_size": working_size,
    }
    metadata["settings"].pop("shrunk", None)
    metadata["settings"].pop("min_working_size", None)
    metadata["settings"].pop("film_working_size", None)
    if film_working_size and film_working_size != working_size:
        metadata["settings"]["film_working_size"] = int(film_working_size)
    if min_working_size:
        metadata["settings"]["min_working_size"] = int(min_working_size)
    if shrunk:
        metadata["settings"]["shrunk"] = shrunk
    metadata["calibration"] = {"command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), **record}
    save_model(model.network, output, metadata)


if __name__ == "__main__":
    main()
