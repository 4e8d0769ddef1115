"""PSNR against the number of color hints: huenet beside Levin et al. 2004 and the gray copy.

The protocol of Zhang, Zhu et al. (SIGGRAPH 2017, their Fig. 4), with fixed seeds:
- every photo is squashed to 256x256 (aspect ratio not kept); its gray version is Pillow's luma;
- N hints are random 6x6 patches (places uniform over the image) carrying the truth's mean
  ab over the patch; N = 0, 1, 2, 5, 10, 20, 50, 100; the same patches for every method;
- PSNR on uint8 RGB over all pixels and channels, per image, averaged over the images.

The classical baseline, with no learning: Levin, Lischinski and Weiss 2004, "Colorization
using Optimization". Each pixel's chroma is the affinity-weighted mean of its 3x3
neighbours' (weights exp(-(Y_r - Y_s)^2 / 2 sigma_r^2), sigma_r^2 from the window's gray
variance, as in the authors' code); hint pixels are fixed; one sparse linear solve per
image (scipy). Its chroma is combined with the gray levels the way huenet's is, so both
keep the input's luma exactly. It is written here, not in the product.

    python benchmarks/bench_hints.py --photos ../shared/data/imagenet-sample-jpeg/val.tar \\
        --photos ../shared/data/bsds500-jpeg/test.tar --json docs/hints-benchmark.json --plot docs/images/hints-curve.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image
from tqdm import tqdm

from huenet import color, datasets
from huenet.hints import Hint
from huenet.images import read_image
from huenet.inference import Colorizer, Decoding
from huenet.modelfile import load_model

SIZE = 256
PATCH = 6
COUNTS = (0, 1, 2, 5, 10, 20, 50, 100)


def squash(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((SIZE, SIZE), Image.Resampling.BICUBIC))


def draw_patches(count: int, seed: int) -> np.ndarray:
    """(count, 2) top-left corners (row, column) of 6x6 patches, the same for every method."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, SIZE - PATCH + 1, (count, 2))


def patch_hints(ab: np.ndarray, corners: np.ndarray) -> list[Hint]:
    """The truth's mean ab over each patch, as huenet hints centered on the patch."""
    hints = []
    for top, left in corners:
        mean = ab[top : top + PATCH, left : left + PATCH].reshape(-1, 2).mean(axis=0)
        hints.append(
            Hint(x=left + PATCH / 2 - 0.5, y=top + PATCH / 2 - 0.5, ab=(float(mean[0]), float(mean[1])), size=PATCH)
        )
    return hints


def levin(gray: np.ndarray, ab: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Levin et al. 2004: the hint chroma spread by gray-level affinity -> uint8 RGB."""
    import scipy.sparse
    import scipy.sparse.linalg

    height, width = gray.shape
    y = gray.astype(np.float64) / 255.0
    fixed = np.zeros((height, width), bool)
    values = np.zeros((height, width, 2))
    for top, left in corners:
        fixed[top : top + PATCH, left : left + PATCH] = True
        values[top : top + PATCH, left : left + PATCH] = (
            ab[top : top + PATCH, left : left + PATCH].reshape(-1, 2).mean(axis=0)
        )
    if not fixed.any():
        return color.to_uint8(color.combine_gray_ab(gray / 255.0, np.zeros((height, width, 2), np.float32)))
    padded = np.pad(y, 1, mode="edge")
    offsets = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    neighbours = np.stack(
        [padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width] for dr, dc in offsets]
    )  # (8, h, w)
    window = np.concatenate([neighbours, y[None]])
    variance = window.var(axis=0) * 0.6
    nearest = ((neighbours - y[None]) ** 2).min(axis=0)
    variance = np.maximum(np.maximum(variance, -nearest / np.log(0.01)), 2e-6)
    weights = np.exp(-((neighbours - y[None]) ** 2) / variance[None])
    rows_in, cols_in = np.mgrid[0:height, 0:width]
    valid = []
    for k, (dr, dc) in enumerate(offsets):
        inside = (rows_in + dr >= 0) & (rows_in + dr < height) & (cols_in + dc >= 0) & (cols_in + dc < width)
        weights[k][~inside] = 0
        valid.append(inside)
    weights /= weights.sum(axis=0, keepdims=True)
    index = np.arange(height * width).reshape(height, width)
    free = ~fixed
    row_ids, col_ids, data = [index.ravel()], [index.ravel()], [np.ones(height * width)]
    for k, (dr, dc) in enumerate(offsets):
        use = valid[k] & free
        row_ids.append(index[use])
        col_ids.append(index[np.clip(rows_in + dr, 0, height - 1), np.clip(cols_in + dc, 0, width - 1)][use])
        data.append(-weights[k][use])
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(data), (np.concatenate(row_ids), np.concatenate(col_ids))), shape=(height * width,) * 2
    )
    right = np.where(fixed[..., None], values, 0).reshape(-1, 2)
    solved = scipy.sparse.linalg.spsolve(matrix.tocsc(), right).reshape(height, width, 2)
    return color.to_uint8(color.combine_gray_ab(gray / 255.0, solved.astype(np.float32)))


def run_set(
    name: str,
    truths: list[np.ndarray],
    colorizer: Colorizer | None,
    counts: tuple[int, ...],
    levin_limit: int,
    seed: int,
    levin_scores: dict | None = None,
) -> dict:
    """One set's scores. ``colorizer`` None: Levin 2004 only; ``levin_scores``: Levin's, from
    an earlier run of the same protocol (it does not depend on the model), not run again."""
    huenet_scores: dict[int, list[float]] = {n: [] for n in counts}
    levin_run: dict[int, list[float]] = {n: [] for n in counts}
    gray_scores = []
    for index, truth in enumerate(tqdm(truths, desc=name, unit="photo")):
        if colorizer is None and index >= levin_limit:
            break
        truth = squash(truth)
        gray = color.rgb_to_gray(truth)
        ab = color.rgb_to_lab(truth)[..., 1:]
        image = read_image(gray)
        gray_scores.append(_psnr(np.repeat(gray[..., None], 3, axis=-1), truth))
        for count in counts:
            corners = draw_patches(count, seed * 1_000_003 + index * 101 + count)
            if colorizer is not None:
                (predicted,) = colorizer.predict_ab([image], [patch_hints(ab, corners)])
                huenet_scores[count].append(_psnr(np.asarray(colorizer.compose(image, predicted)), truth))
            if index < levin_limit and levin_scores is None:
                levin_run[count].append(_psnr(levin(gray, ab, corners), truth))
    levin_key = f"levin_first_{levin_limit}"
    result = {
        "photos": len(gray_scores),
        "gray_copy": float(np.mean(gray_scores)),
        "gray_copy_first": float(np.mean(gray_scores[:levin_limit])),
        levin_key: levin_scores
        if levin_scores is not None
        else {str(n): float(np.mean(v)) for n, v in levin_run.items() if v},
    }
    if colorizer is not None:
        result["huenet"] = {str(n): float(np.mean(v)) for n, v in huenet_scores.items()}
        result[f"huenet_first_{levin_limit}"] = {
            str(n): float(np.mean(v[:levin_limit])) for n, v in huenet_scores.items()
        }
    return result


def _psnr(prediction: np.ndarray, truth: np.ndarray) -> float:
    error = np.mean((prediction.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results["sets"]), figsize=(5.2 * len(results["sets"]), 3.8), squeeze=False)
    for axis, (name, scores) in zip(axes[0], results["sets"].items()):
        counts = [int(n) for n in scores["huenet"]]
        shown = [max(n, 0.5) for n in counts]
        axis.plot(shown, list(scores["huenet"].values()), marker="o", label=f"huenet ({scores['photos']} photos)")
        levin_key = next(k for k in scores if k.startswith("levin_first_"))
        if scores[levin_key]:
            limit = levin_key.rsplit("_", 1)[1]
            axis.plot(shown, list(scores[levin_key].values()), marker="s", label=f"Levin et al. 2004 (first {limit})")
            axis.plot(
                shown,
                list(scores[f"huenet_first_{limit}"].values()),
                marker=".",
                linestyle=":",
                label=f"huenet (first {limit})",
            )
        axis.axhline(scores["gray_copy"], color="gray", linestyle="--", label="gray copy")
        if name.startswith("imagenet"):
            axis.plot(
                [0.5, 1, 10, 100],
                [24.43, 25.37, 28.42, 31.13],
                marker="x",
                linestyle="none",
                color="black",
                label="SIGGRAPH 2017 (published)",
            )
        axis.set(xscale="log", xlabel="hints (6x6 patches; 0 plotted at 0.5)", ylabel="PSNR (dB)", title=name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model (default: the bundled default)")
    parser.add_argument("--photos", action="append", required=True, help="a folder or tar of color photos (repeatable)")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N photos of each set")
    parser.add_argument(
        "--levin-limit", type=int, default=150, help="photos per set that Levin 2004 also colorizes (slow)"
    )
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--working-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--levin-only", action="store_true", help="score only Levin 2004 (it does not depend on the model)"
    )
    parser.add_argument("--levin-from", metavar="JSON", help="Levin 2004's scores from an earlier run of this protocol")
    parser.add_argument("--json")
    parser.add_argument("--plot")
    arguments = parser.parse_args()
    colorizer = None
    results = {
        "protocol": f"{SIZE}x{SIZE} squashed, random {PATCH}x{PATCH} patches with the truth's mean ab, seed {arguments.seed}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d"),
        "sets": {},
    }
    if not arguments.levin_only:
        model = load_model(arguments.model, engine="keras")
        if not model.settings.get("hint_inputs"):
            sys.exit(f"bench_hints: model {arguments.model or 'default'} does not take color hints")
        colorizer = Colorizer(model, Decoding(), arguments.working_size)
        results.update(model=arguments.model or "default", model_file=model.source, working_size=colorizer.working_size)
    earlier = json.loads(Path(arguments.levin_from).read_text())["sets"] if arguments.levin_from else {}
    started = time.perf_counter()
    for source in arguments.photos:
        truths = list(datasets.load_images(source).images)  # grayscale truths are left out
        if arguments.limit:
            truths = truths[: arguments.limit]
        name = f"{Path(source).parent.name}/{Path(source).name.split('.')[0]}"
        key = f"levin_first_{arguments.levin_limit}"
        known = earlier.get(name, {}).get(key)
        if arguments.levin_from and (not known or earlier[name].get("seed", arguments.seed) != arguments.seed):
            sys.exit(f"bench_hints: {arguments.levin_from} has no {key} scores for {name}")
        results["sets"][name] = run_set(
            name, truths, colorizer, tuple(arguments.counts), arguments.levin_limit, arguments.seed, known
        )
        results["sets"][name]["seed"] = arguments.seed
        print(name, json.dumps(results["sets"][name]), flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=1) + "\n")
    if arguments.plot and colorizer is not None:
        plot(results, arguments.plot)


if __name__ == "__main__":
    main()
