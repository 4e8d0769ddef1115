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
import dataclasses
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image
from tqdm import tqdm

from huenet import color, datasets, hints
from huenet.hints import Hint
from huenet.images import read_image
from huenet.inference import Colorizer, Decoding
from huenet.modelfile import load_model

SIZE = 256
PATCH = 6
COUNTS = (0, 1, 2, 5, 10, 20, 50, 100)
# The user-like protocol: photos at a 384 px long side; each next hint on the 8x8 cell whose
# colors are most wrong now; "far" pixels lie farther than 1/6 of the long side from every hint.
USER_SIZE = 384
CELL = 8
FAR = 1 / 6
USER_COUNTS = (0, 1, 2, 3, 5, 10)


def squash(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((SIZE, SIZE), Image.Resampling.BICUBIC))


def draw_patches(count: int, seed: int) -> np.ndarray:
    """(count, 2) top-left corners (row, column) of 6x6 patches, the same for every method."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, SIZE - PATCH + 1, (count, 2))


def patch_hints(ab: np.ndarray, corners: np.ndarray, patch: int = PATCH) -> list[Hint]:
    """The truth's mean ab over each ``patch``-wide square, as huenet hints centered on it."""
    hints = []
    for top, left in corners:
        mean = ab[top : top + patch, left : left + patch].reshape(-1, 2).mean(axis=0)
        hints.append(
            Hint(x=left + patch / 2 - 0.5, y=top + patch / 2 - 0.5, ab=(float(mean[0]), float(mean[1])), size=patch)
        )
    return hints


def levin(gray: np.ndarray, ab: np.ndarray, corners: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Levin et al. 2004: the hint chroma spread by gray-level affinity -> uint8 RGB. The hints
    are the ``patch`` x ``patch`` squares at ``corners`` (top, left) with the truth's mean ab."""
    import scipy.sparse
    import scipy.sparse.linalg

    height, width = gray.shape
    y = gray.astype(np.float64) / 255.0
    fixed = np.zeros((height, width), bool)
    values = np.zeros((height, width, 2))
    for top, left in corners:
        fixed[top : top + patch, left : left + patch] = True
        values[top : top + patch, left : left + patch] = (
            ab[top : top + patch, left : left + patch].reshape(-1, 2).mean(axis=0)
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
        truth, gray, ab, image = _prepared(squash(truth))
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


def _prepared(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """(truth, its gray version, its ab, the gray as huenet's input image)."""
    gray = color.rgb_to_gray(truth)
    return truth, gray, color.rgb_to_lab(truth)[..., 1:], read_image(gray)


def _psnr(prediction: np.ndarray, truth: np.ndarray, where: np.ndarray | None = None) -> float:
    squared = (prediction.astype(np.float64) - truth.astype(np.float64)) ** 2
    error = np.mean(squared if where is None else squared[where])
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


# --- the user-like protocol -------------------------------------------------------------------


def shrink_long_side(rgb: np.ndarray, size: int = USER_SIZE) -> np.ndarray:
    """The photo with its long side at ``size`` (aspect ratio kept; smaller photos as they are)."""
    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    if scale >= 1:
        return rgb
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(shape, Image.Resampling.BICUBIC))


def worst_cell(prediction: np.ndarray, truth_ab: np.ndarray, taken: set) -> tuple[int, int]:
    """The top-left corner of the CELL x CELL cell (of the photo's grid of whole cells) where
    the colors of ``prediction`` (uint8 RGB) are farthest from the truth's (mean squared ab
    error), among the cells not in ``taken``."""
    height, width = (truth_ab.shape[0] // CELL) * CELL, (truth_ab.shape[1] // CELL) * CELL
    error = ((color.rgb_to_lab(prediction)[..., 1:] - truth_ab) ** 2).sum(axis=-1)[:height, :width]
    cells = error.reshape(height // CELL, CELL, width // CELL, CELL).mean(axis=(1, 3))
    for row, column in taken:
        cells[row // CELL, column // CELL] = -1.0
    row, column = np.unravel_index(int(np.argmax(cells)), cells.shape)
    return int(row) * CELL, int(column) * CELL


def far_mask(shape: tuple[int, int], corners: list[tuple[int, int]]) -> np.ndarray:
    """Pixels farther than FAR of the long side from the center of every hint cell."""
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    far = np.ones(shape, bool)
    limit = FAR * max(shape)
    for top, left in corners:
        center = (top + CELL / 2 - 0.5, left + CELL / 2 - 0.5)
        far &= (rows - center[0]) ** 2 + (columns - center[1]) ** 2 > limit**2
    return far


def user_session(truth: np.ndarray, colorize_with, counts: tuple[int, ...]) -> dict[str, dict[int, float]]:
    """One photo, hinted as a person would: each next hint on the cell whose colors are most
    wrong now, carrying the truth's mean ab there. ``colorize_with(corners)`` -> uint8 RGB for
    the hints on those cells. Returns {"whole": {count: PSNR}, "far": {count: PSNR of the
    pixels far from every hint}, "far_before": {count: the colors without hints on those same
    pixels}}; at 0 hints all three are the whole photo's."""
    truth_ab = color.rgb_to_lab(truth)[..., 1:]
    corners: list[tuple[int, int]] = []
    scores: dict[str, dict[int, float]] = {"whole": {}, "far": {}, "far_before": {}}
    automatic = prediction = colorize_with(corners)
    for count in range(max(counts) + 1):
        if count in counts:
            scores["whole"][count] = _psnr(prediction, truth)
            mask = far_mask(truth.shape[:2], corners)
            scores["far"][count] = _psnr(prediction, truth, mask) if mask.any() else float("nan")
            scores["far_before"][count] = _psnr(automatic, truth, mask) if mask.any() else float("nan")
        if count == max(counts):
            break
        corners.append(worst_cell(prediction, truth_ab, set(corners)))
        prediction = colorize_with(corners)
    return scores


def _huenet_colors(colorizer: Colorizer, image, truth_ab: np.ndarray, corners: list[tuple[int, int]]) -> np.ndarray:
    (predicted,) = colorizer.predict_ab([image], [patch_hints(truth_ab, np.array(corners).reshape(-1, 2), CELL)])
    return np.asarray(colorizer.compose(image, predicted))


def _levin_colors(gray: np.ndarray, truth_ab: np.ndarray, corners: list[tuple[int, int]]) -> np.ndarray:
    return levin(gray, truth_ab, np.array(corners).reshape(-1, 2), CELL)


def run_user_set(
    name: str, truths: list[np.ndarray], colorizer: Colorizer | None, counts: tuple[int, ...], levin_limit: int
) -> dict:
    """The user-like protocol on one set: huenet (when ``colorizer`` is given) and Levin 2004 on
    the first ``levin_limit`` photos, each placing its hints by its own current colors."""
    keys = ("huenet", "huenet_far", "huenet_far_before", "levin", "levin_far", "levin_far_before")
    scores: dict[str, dict[int, list[float]]] = {key: {n: [] for n in counts} for key in keys}
    gray_scores = []
    for index, truth in enumerate(tqdm(truths, desc=f"{name} (user-like)", unit="photo")):
        if colorizer is None and index >= levin_limit:
            break
        truth, gray, truth_ab, image = _prepared(shrink_long_side(truth))
        gray_scores.append(_psnr(np.repeat(gray[..., None], 3, axis=-1), truth))

        if colorizer is not None:
            session = user_session(truth, functools.partial(_huenet_colors, colorizer, image, truth_ab), counts)
            for part, values in session.items():
                for n in counts:
                    scores["huenet" + part.replace("whole", "").replace("far", "_far")][n].append(values[n])
        if index < levin_limit:
            session = user_session(truth, functools.partial(_levin_colors, gray, truth_ab), counts)
            for part, values in session.items():
                for n in counts:
                    scores["levin" + part.replace("whole", "").replace("far", "_far")][n].append(values[n])
    result = {
        "photos": len(gray_scores),
        "gray_copy": float(np.mean(gray_scores)),
        "levin_photos": min(levin_limit, len(gray_scores)),
    }
    for key, values in scores.items():
        if any(values.values()):
            result[key] = {str(n): float(np.nanmean(v)) for n, v in values.items()}
    if colorizer is not None:
        first = min(levin_limit, len(gray_scores))
        result["huenet_first_levin"] = {str(n): float(np.nanmean(v[:first])) for n, v in scores["huenet"].items()}
    return result


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


def plot_user(results: dict, path: str) -> None:
    """The user-like protocol: PSNR of the whole photo and of the pixels far from every hint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = results["user"]
    figure, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 3.8), squeeze=False)
    for axis, (name, scores) in zip(axes[0], sets.items()):
        counts = [int(n) for n in scores.get("huenet", scores.get("levin", {}))]
        for key, label, style in (
            ("huenet", f"huenet, whole photo ({scores['photos']} photos)", "-o"),
            ("huenet_far", "huenet, pixels far from every hint", "--o"),
            ("levin", f"Levin et al. 2004, whole photo (first {scores['levin_photos']})", "-s"),
            ("levin_far", "Levin et al. 2004, far pixels", "--s"),
        ):
            if key in scores:
                axis.plot(counts, list(scores[key].values()), style, label=label, markersize=4)
        axis.axhline(scores["gray_copy"], color="gray", linestyle=":", label="gray copy")
        axis.set(xlabel="hints, each where the colors are most wrong", ylabel="PSNR (dB)", title=f"{name}, user-like")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def replot(arguments: argparse.Namespace) -> None:
    """The plots again from saved results, without measuring."""
    results = json.loads(Path(arguments.replot).read_text())
    earlier = json.loads(Path(arguments.levin_from).read_text()).get("user", {}) if arguments.levin_from else {}
    for name, scores in results.get("user", {}).items():
        known = earlier.get(name, {})
        if not scores.get("levin_photos") and known.get("levin_photos"):
            scores.update({key: known[key] for key in ("levin", "levin_far", "levin_photos") if key in known})
    draw_plots(results, arguments)


def draw_plots(results: dict, arguments: argparse.Namespace) -> None:
    """--plot and --user-plot, where the results have what they show (a --levin-only run has
    no huenet curve to plot against random patches)."""
    if arguments.plot and results.get("model") and results.get("sets"):
        plot(results, arguments.plot)
    if arguments.user_plot and results.get("user"):
        plot_user(results, arguments.user_plot)


def _decay(value: str) -> float | str:
    """--hint-decay: a number, or 'none' (no spreading after the network)."""
    if value.lower() == "none":
        return "none"
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'none': {value!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model (default: the bundled default)")
    parser.add_argument("--photos", action="append", help="a folder or tar of color photos (repeatable)")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N photos of each set")
    parser.add_argument(
        "--protocol",
        choices=("random", "user", "both"),
        default="both",
        help="random 6x6 patches at 256x256 (SIGGRAPH 2017), user-like hints where the colors are most wrong, or both",
    )
    parser.add_argument(
        "--levin-limit", type=int, default=150, help="photos per set that Levin 2004 also colorizes (slow)"
    )
    parser.add_argument(
        "--user-levin-limit", type=int, default=30, help="photos per set that Levin 2004 also hints user-like (slow)"
    )
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS), help="random protocol's hint counts")
    parser.add_argument(
        "--user-counts", type=int, nargs="+", default=list(USER_COUNTS), help="user-like protocol's hint counts"
    )
    parser.add_argument("--working-size", type=int, default=None)
    parser.add_argument(
        "--hint-decay",
        type=_decay,
        help="override the model's hint_decay (hints.Spreading.decay); 'none': the network alone honors the hints",
    )
    parser.add_argument(
        "--hint-flat-share",
        type=float,
        help="override the model's hint_flat_share (hints.Spreading.flat_share: the decay on flat cells "
        "as a share of that on textured ones)",
    )
    parser.add_argument(
        "--hint-edge",
        type=float,
        help="override hints.EDGE: L units within which a hint's patch covers the cells around its center "
        "(inf: the whole patch, as before 2026-12-06)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--levin-only", action="store_true", help="score only Levin 2004 (it does not depend on the model)"
    )
    parser.add_argument("--levin-from", metavar="JSON", help="Levin 2004's scores from an earlier run of this protocol")
    parser.add_argument("--json")
    parser.add_argument("--plot", help="the random protocol's plot (PNG)")
    parser.add_argument("--user-plot", help="the user-like protocol's plot (PNG)")
    parser.add_argument(
        "--replot",
        metavar="JSON",
        help="only draw --plot and --user-plot from a JSON this benchmark wrote (Levin 2004's user-like curves "
        "from --levin-from where it has none)",
    )
    arguments = parser.parse_args()
    if arguments.replot:
        replot(arguments)
        return
    if not arguments.photos:
        parser.error("--photos is needed (or --replot)")
    colorizer = None
    results = {
        "protocol": f"{SIZE}x{SIZE} squashed, random {PATCH}x{PATCH} patches with the truth's mean ab, seed {arguments.seed}",
        "user_protocol": f"{USER_SIZE} px long side, each next hint on the {CELL}x{CELL} cell whose ab is farthest "
        f"from the truth's, carrying the truth's mean ab there; far: beyond {FAR:.3f} of the long side from every hint",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d"),
        "sets": {},
        "user": {},
    }
    if not arguments.levin_only:
        model = load_model(arguments.model, engine="keras")
        if not model.settings.get("hint_inputs"):
            sys.exit(f"bench_hints: model {arguments.model or 'default'} does not take color hints")
        if arguments.hint_decay is not None:
            model.settings["hint_decay"] = None if arguments.hint_decay == "none" else arguments.hint_decay
        if arguments.hint_flat_share is not None:
            model.settings["hint_flat_share"] = arguments.hint_flat_share
        if arguments.hint_edge is not None:
            hints.EDGE = arguments.hint_edge
        colorizer = Colorizer(model, Decoding(), arguments.working_size)
        results.update(
            hint_edge=hints.EDGE,
            model=arguments.model or "default",
            model_file=model.source,
            working_size=colorizer.working_size,
            spreading=dataclasses.asdict(colorizer.spreading),
        )
    earlier = json.loads(Path(arguments.levin_from).read_text())["sets"] if arguments.levin_from else {}
    started = time.perf_counter()
    for source in arguments.photos:
        truths = list(datasets.load_images(source).images)  # grayscale truths are left out
        if arguments.limit:
            truths = truths[: arguments.limit]
        name = f"{Path(source).parent.name}/{Path(source).name.split('.')[0]}"
        if arguments.protocol in ("random", "both"):
            key = f"levin_first_{arguments.levin_limit}"
            known = earlier.get(name, {}).get(key)
            if arguments.levin_from and (not known or earlier[name].get("seed", arguments.seed) != arguments.seed):
                sys.exit(f"bench_hints: {arguments.levin_from} has no {key} scores for {name}")
            results["sets"][name] = run_set(
                name, truths, colorizer, tuple(arguments.counts), arguments.levin_limit, arguments.seed, known
            )
            results["sets"][name]["seed"] = arguments.seed
            print(name, json.dumps(results["sets"][name]), flush=True)
        if arguments.protocol in ("user", "both"):
            results["user"][name] = run_user_set(
                name, truths, colorizer, tuple(sorted(set(arguments.user_counts))), arguments.user_levin_limit
            )
            print(name, "user-like", json.dumps(results["user"][name]), flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=1) + "\n")
    draw_plots(results, arguments)


if __name__ == "__main__":
    main()
