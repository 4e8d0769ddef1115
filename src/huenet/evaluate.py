"""Evaluation: models beside the trivial baselines on held-out color images.

Each truth image is turned into the grayscale input a user would give (Pillow's luma),
colorized, and compared with the truth. Truths that are already grayscale are left out
and counted (the ctest10k protocol of Larsson et al.): a gray copy reproduces them
exactly and their unbounded PSNR would swamp every mean.

Baselines:
- ``gray copy``: the gray input copied into R, G and B.
- ``Lab, ab = 0``: the truth's own Lab lightness with zero chroma.
- ``Lab, mean ab``: the truth's lightness with the mean ab of the evaluated images.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from huenet import cifar10, color, datasets, metrics

METRIC_COLUMNS = (
    ("exact_match", "exact", "{:.2%}"),
    ("within_5", "±5", "{:.1%}"),
    ("within_13", "±13", "{:.1%}"),
    ("psnr_mean", "PSNR", "{:.2f}"),
    ("psnr_pooled", "PSNR pooled", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("auc", "AuC", "{:.1%}"),
    ("colorfulness", "colorful", "{:.1f}"),
    ("colorfulness_ratio", "colorful ratio", "{:.2f}"),
)


def baseline_predictions(truth: np.ndarray | list) -> dict[str, Any]:
    """The three trivial baselines for uint8 truths (count, h, w, 3), or a list of photos."""
    if isinstance(truth, list):  # photos of several sizes: the mean ab is over all their pixels
        labs = [color.rgb_to_lab(image) for image in truth]
        mean_ab = np.concatenate([lab[..., 1:].reshape(-1, 2) for lab in labs]).mean(axis=0)
        rows: dict[str, list] = {"gray copy": [], "Lab, ab = 0": [], "Lab, mean ab": []}
        for image, lab in zip(truth, labs):
            rows["gray copy"].append(np.repeat(color.rgb_to_gray(image)[..., None], 3, axis=-1))
            for name, ab in (("Lab, ab = 0", 0.0), ("Lab, mean ab", mean_ab)):
                changed = lab.copy()
                changed[..., 1:] = ab
                rows[name].append(color.to_uint8(color.lab_to_rgb(changed)))
        return rows
    gray = color.rgb_to_gray(truth)
    lab = np.concatenate([color.rgb_to_lab(truth[i : i + 1024]) for i in range(0, len(truth), 1024)])
    mean_ab = lab[..., 1:].reshape(-1, 2).mean(axis=0)
    no_chroma = lab.copy()
    no_chroma[..., 1:] = 0
    mean_chroma = lab.copy()
    mean_chroma[..., 1:] = mean_ab
    return {
        "gray copy": np.repeat(gray[..., None], 3, axis=-1),
        "Lab, ab = 0": color.to_uint8(color.lab_to_rgb(no_chroma)),
        "Lab, mean ab": color.to_uint8(color.lab_to_rgb(mean_chroma)),
    }


def predict_rgb(
    model: Any,
    gray: np.ndarray | list,
    temperature: float | None = None,
    vivid: bool = False,
    working_size: int | None = None,
    vividness: float | None = None,
) -> np.ndarray | list:
    """Colorize uint8 gray images (count, h, w) with a loaded model -> uint8 RGB (count, h, w, 3).

    A list of differently sized gray photos gives a list of RGB photos, each colorized at its
    full size. Seed models (``levels`` head) at their native size return their own RGB, as
    the seed scored them; ab models go through the same path as ``huenet colorize``.
    """
    from huenet.inference import Colorizer, Decoding, decode_levels, run_network

    decoding = Decoding(temperature, vivid, vividness)
    if model.head == "levels" and isinstance(gray, np.ndarray):
        colorizer = Colorizer(model, decoding, working_size)
        if max(gray.shape[1:3]) == colorizer.working_size:
            outputs = []
            for start in range(0, len(gray), 256):
                raw = run_network(model, color.network_input(gray[start : start + 256].astype(np.float32) / 255.0))
                outputs.append(decode_levels(model, raw))
            return np.concatenate(outputs)
    return predict_rgb_decodings(model, gray, [decoding], working_size)[0]


def predict_rgb_decodings(
    model: Any, gray: np.ndarray | list, decodings: Sequence[Any], working_size: int | None = None
) -> list[np.ndarray | list]:
    """``predict_rgb`` for each of several decodings (``inference.Decoding``) of one forward
    pass: the network runs once per image, however many decodings are scored."""
    from huenet.images import read_image
    from huenet.inference import Colorizer

    colorizers = [Colorizer(model, decoding, working_size) for decoding in decodings]
    outputs: list[list] = [[] for _ in decodings]
    chunk = _CHUNK if isinstance(gray, np.ndarray) else _PHOTO_CHUNK
    for start in range(0, len(gray), chunk):
        # A chunk at a time: the network inputs of all 9,874 Tiny ImageNet test images,
        # enlarged to 160 px, ran a 24 GB machine out of memory at once (2026-12-06).
        inputs = [read_image(image) for image in gray[start : start + chunk]]
        if len(colorizers) == 1:
            ab_of_each = [colorizers[0].predict_ab(inputs)]
        else:
            raw = colorizers[0].network_outputs(inputs)
            ab_of_each = [
                [each.honor_hints(image, values, None) for image, values in zip(inputs, raw)] for each in colorizers
            ]
        for results, colorizer, abs_ in zip(outputs, colorizers, ab_of_each):
            results += [np.asarray(colorizer.compose(image, ab)) for image, ab in zip(inputs, abs_)]
    return [results if isinstance(gray, list) else np.stack(results) for results in outputs]


_CHUNK = 512  # same-size images colorized together by predict_rgb
_PHOTO_CHUNK = 64  # full-size photos: their network outputs (ab-bin logits) are kept for every decoding


def evaluate(
    model_paths: Sequence[str],
    dataset: str,
    split: str = "test",
    limit: int | None = None,
    vivid: bool = False,
    temperature: float | None = None,
    working_size: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray]:
    """Score baselines and models; returns (report, predictions by row name, truths).

    ``progress``, when given, receives one line per stage (a 10,000-image test split takes
    minutes on a CPU, so the command says what it is doing).
    """
    from huenet.inference import Decoding
    from huenet.modelfile import load_model

    say = progress or (lambda line: None)
    say(f"reading {dataset}")
    image_set = datasets.load_images(dataset, split=split, skip_gray=False, limit=limit)
    if isinstance(image_set.images, np.ndarray):
        gray_mask = color.is_grayscale(image_set.images)
        truth = image_set.images[~gray_mask]
        gray_inputs = color.rgb_to_gray(truth)
    else:  # photos of several sizes, each scored at its full size
        gray_mask = np.array([bool(color.is_grayscale(image[None])[0]) for image in image_set.images])
        truth = [image for image, gray in zip(image_set.images, gray_mask) if not gray]
        gray_inputs = [color.rgb_to_gray(image) for image in truth]
    predictions = baseline_predictions(truth)
    timings = {}
    for path in model_paths:
        # Thousands of same-size images: Keras is faster than the NumPy engine there. Photos of
        # many sizes: the NumPy engine, as Keras under TensorFlow traces the network again for
        # every new size (a thousand photos ran a 24 GB machine out of memory, 2026-12-06).
        model = load_model(path, engine="keras" if isinstance(gray_inputs, np.ndarray) else "auto")
        name = row_name(path)
        started = time.time()
        if vivid and "vivid" in model.settings and model.head != "levels":
            say(f"colorizing {len(truth)} images with {name}, faithful and vivid")
            decodings = [Decoding(temperature), Decoding(vivid=True)]
            faithful, vivid_rgb = predict_rgb_decodings(model, gray_inputs, decodings, working_size)
            predictions[name], predictions[f"{name} (vivid)"] = faithful, vivid_rgb
        else:
            say(f"colorizing {len(truth)} images with {name}")
            predictions[name] = predict_rgb(model, gray_inputs, temperature, False, working_size)
            if vivid and "vivid" in model.settings:
                say(f"colorizing {len(truth)} images with {name} (vivid)")
                predictions[f"{name} (vivid)"] = predict_rgb(model, gray_inputs, None, True, working_size)
        timings[name] = time.time() - started
    say(f"scoring {len(predictions)} rows")
    report = {
        "dataset": str(dataset),
        "split": split,
        "images": int(len(truth)),
        "left_out_grayscale": int(gray_mask.sum()),
        "results": metrics.all_metrics_rows(predictions, truth),
        "seconds_to_colorize": timings,
    }
    return report, predictions, truth


def row_name(model: str | Path) -> str:
    """A report row's name: a bundled model's name, a file's stem, or for a run's generic
    ``model.keras`` / ``best.keras`` the run folder's name (two runs must not look the same)."""
    text = str(model)
    if not text.endswith(".keras"):
        return text
    path = Path(text)
    if path.stem in ("model", "best") and path.parent.name:
        return path.parent.name if path.stem == "model" else f"{path.parent.name} (best)"
    return path.stem


def test_set_name(dataset: str | Path) -> str:
    """A report's ``dataset`` as a short name: ``../shared/data/cifar10-jpeg/test.tar.gz`` ->
    ``cifar10-jpeg/test``. Model cards and ``huenet models`` name each summary's test set so."""
    path = Path(dataset)
    stem = path.name.split(".")[0]
    return f"{path.parent.name}/{stem}" if path.parent.name else stem


def format_table(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    header = "| model | " + " | ".join(label for _, label, _ in METRIC_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(METRIC_COLUMNS) + 1)]
    for name, values in report["results"].items():
        cells = [fmt.format(values[key]) for key, _, fmt in METRIC_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_grid(
    predictions: dict[str, Any], truth: np.ndarray | list, path: str | Path, count: int = 8, seed: int = 0
) -> Path:
    """A PNG grid, one row per sampled image: gray | each model's prediction | truth.

    Small images are enlarged (nearest neighbour) to about 96 pixels; photos of several
    sizes are shrunk to fit cells of 160 pixels.
    """
    chosen = np.sort(np.random.default_rng(seed).choice(len(truth), size=min(count, len(truth)), replace=False))
    columns = (
        ["gray"]
        + [name for name in predictions if name not in ("gray copy", "Lab, ab = 0", "Lab, mean ab")]
        + ["truth"]
    )
    if isinstance(truth, list):
        height = width = 160
        scale = 1
    else:
        height, width = truth.shape[1:3]
        scale = max(1, 96 // max(height, width))
    cell_h, cell_w, label_h = height * scale, width * scale, 14
    grid = Image.new("RGB", (cell_w * len(columns), label_h + cell_h * len(chosen)), "white")
    draw = ImageDraw.Draw(grid)
    for column, name in enumerate(columns):
        draw.text((column * cell_w + 2, 1), name[: max(4, cell_w // 6)], fill="black")
        for row, index in enumerate(chosen):
            if name == "gray":
                pixels = np.repeat(color.rgb_to_gray(truth[index])[..., None], 3, axis=-1)
            elif name == "truth":
                pixels = truth[index]
            else:
                pixels = predictions[name][index]
            tile = Image.fromarray(pixels)
            if isinstance(truth, list):
                tile.thumbnail((cell_w, cell_h), Image.Resampling.LANCZOS)
            else:
                tile = tile.resize((cell_w, cell_h), Image.Resampling.NEAREST)
            grid.paste(
                tile,
                (column * cell_w + (cell_w - tile.width) // 2, label_h + row * cell_h + (cell_h - tile.height) // 2),
            )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", nargs="*", metavar="MODEL", help="bundled model names or .keras files (none: baselines only)"
    )
    parser.add_argument(
        "--data",
        required=True,
        help="folder, tar(.gz) or CIFAR-10 release of color images, or cifar10 (cached release)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch --data cifar10 / cifar10-binary if it is not cached (needs internet)",
    )
    parser.add_argument("--split", default="test", help="split of a CIFAR-10 release")
    parser.add_argument("--limit", type=int, help="evaluate only N images, sampled evenly across classes (folders)")
    parser.add_argument("--vivid", action="store_true", help="also score each model's vivid decoding")
    parser.add_argument("--temperature", type=float, help="annealed-mean temperature for ab-bin models")
    parser.add_argument("--working-size", type=int, help="long side at which the network runs (default: the model's)")
    parser.add_argument("--output-dir", default="evaluation", help="where evaluation.json and grid.png go")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def evaluate_command(arguments: argparse.Namespace) -> int:
    import sys

    from huenet.files import atomic_path

    def progress(line: str) -> None:
        print(f"huenet: {line}", file=sys.stderr, flush=True)

    report, predictions, truth = evaluate(
        arguments.models,
        cifar10.resolve_source(arguments.data, arguments.download),
        arguments.split,
        arguments.limit,
        arguments.vivid,
        arguments.temperature,
        arguments.working_size,
        progress=None if arguments.quiet else progress,
    )
    output = Path(arguments.output_dir)
    # A report is replaced whole or not at all: a crash mid-write must not leave half a JSON.
    with atomic_path(output / "evaluation.json", overwrite=True) as temporary:
        Path(temporary).write_text(json.dumps(report, indent=2))
    with atomic_path(output / "grid.png", overwrite=True, suffix=".png") as temporary:
        save_grid(predictions, truth, temporary)
    print(
        f"{report['images']} color images of {report['dataset']} ({report['left_out_grayscale']} grayscale truths left out)"
    )
    print(format_table(report))
    print(f"wrote {output / 'evaluation.json'} and {output / 'grid.png'}")
    return 0
