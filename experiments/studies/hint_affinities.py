"""Study: do the network's own predictions make better affinities for spreading hints?

``hints.propagate`` spread each hint's correction by gray-level affinities between
neighbouring cells of the output grid (Levin et al. 2004). The network also says, per cell,
which colors it thinks possible: two neighbours of one gray level but different predicted
colors are likely different things. This scores, on validation photos only (bench_hints.py's
protocol and seeds), variants of the spreading, each named by a string:

    gray              gray-level affinities only (the product before 2026-12-03 evening)
    hellinger S       gray x exp(-|sqrt p_r - sqrt p_s|^2 / S)  (p: the distribution at T 1)
    ab S [DECAY]      gray x exp(-|ab_r - ab_s|^2 / S^2)  (ab: the decoded colors, Lab units;
                      "ab 3" is the product's since then, ``hints.COLOR_SCALE``)
    abmean S          the same with the distribution's mean at T 1
    abcal S           the same with the automatic decoding's colors (not the one hints chose)
    knn K W           hellinger 0.3 plus K non-local edges per cell to its nearest cells in
                      sqrt p (weight W x exp(-d^2 / 0.3)), so a hint reaches the same kind of
                      thing elsewhere in the picture
    ... + shift N     first, the whole image shifted by the hints' mean correction (a prior of
                      N hinted cells toward no shift)
    ... + affine L    first, an affine map of ab fitted to the hinted cells (ridge L toward
                      the identity); "linear L": the same without the shift
    ... + none ~S     the candidate decodings hints choose among, averaged with weights
                      exp(-cost / S) instead of the best one taken
    ... + none @W [u][g] [D]
                      the result blended with the hint colors spread alone (no network, decay
                      D, default 1e-6: Levin et al.'s colorization on the output grid), share W;
                      u: times the cell's spread over the median, g: times the hints' reach
                      (the product's blend is "@0.4 ug 3e-5", hints.LEVIN_SHARE and LEVIN_DECAY)
    ... + none ^P     the decay per cell times (median spread / the cell's spread) ** P: an
                      unsure cell takes a hint's correction more readily

The solve uses scipy's sparse LU, so any affinity matrix fits (scipy is not a huenet
dependency; the dev extra's scikit-image and JAX bring it: ``make install-dev``).

    python experiments/studies/hint_affinities.py --count 80 --variants gray "ab 3" "ab 3 + affine 10" \
        --output runs/hint-affinities.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hint_decay import add_photo_arguments, score, validation_photos  # noqa: E402

from huenet import color  # noqa: E402
from huenet import hints as hints_module  # noqa: E402
from huenet.inference import Colorizer, Decoding, decode_ab  # noqa: E402
from huenet.modelfile import load_model  # noqa: E402


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def solve(ab: np.ndarray, channels: np.ndarray, weights: scipy.sparse.csr_matrix, decay) -> np.ndarray:
    """hints.propagate's energy under any symmetric affinity matrix over the grid's cells."""
    height, width = ab.shape[:2]
    fixed = (channels[..., 2] > 0).ravel()
    known = np.where(fixed[:, None], (channels[..., :2] * color.AB_SCALE - ab).reshape(-1, 2), 0.0)
    degree = np.asarray(weights.sum(axis=1)).ravel()
    free = np.flatnonzero(~fixed)
    matrix = scipy.sparse.diags(np.maximum(degree * (1 + np.ravel(decay)), 1e-12)) - weights
    system = matrix[free][:, free].tocsc()
    right = weights[free][:, np.flatnonzero(fixed)] @ known[fixed]
    correction = known.copy()
    correction[free] = scipy.sparse.linalg.spsolve(system, right).reshape(-1, 2)
    return (ab + correction.reshape(height, width, 2)).astype(np.float32)


def grid_affinities(lightness: np.ndarray, features: np.ndarray | None, scale: float) -> scipy.sparse.csr_matrix:
    """8-neighbour gray affinities (the product's), times exp(-|f_r - f_s|^2 / scale)."""
    height, width = lightness.shape
    gray = hints_module._affinities(lightness)  # (8, h, w): to the neighbour at each offset
    rows, cols, values = [], [], []
    index = np.arange(height * width).reshape(height, width)
    for k, (dr, dc) in enumerate(hints_module._OFFSETS):
        r0, r1 = max(0, -dr), height - max(0, dr)
        c0, c1 = max(0, -dc), width - max(0, dc)
        here = index[r0:r1, c0:c1].ravel()
        there = index[r0 + dr : r1 + dr, c0 + dc : c1 + dc].ravel()
        value = gray[k, r0:r1, c0:c1].ravel()
        if features is not None:
            flat = features.reshape(height * width, -1)
            value = value * np.exp(-((flat[here] - flat[there]) ** 2).sum(-1) / scale)
        rows.append(here), cols.append(there), values.append(value)
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(height * width,) * 2
    )
    return (matrix + matrix.T) / 2


def knn_affinities(features: np.ndarray, neighbours: int, weight: float, scale: float) -> scipy.sparse.csr_matrix:
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
    squared = (flat**2).sum(-1)
    distances = np.maximum(squared[:, None] + squared[None] - 2 * flat @ flat.T, 0)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argpartition(distances, neighbours, axis=1)[:, :neighbours]
    rows = np.repeat(np.arange(len(flat)), neighbours)
    cols = nearest.ravel()
    values = weight * np.exp(-distances[rows, cols] / scale)
    matrix = scipy.sparse.csr_matrix((values, (rows, cols)), shape=(len(flat),) * 2)
    return (matrix + matrix.T) / 2


class StudyColorizer(Colorizer):
    variant: tuple = ("gray",)
    pre: tuple = ("none",)
    decay_power: float = 0.0  # decay per cell x (median spread / the cell's spread) ** power
    soft: float = 0.0  # > 0: average the candidate decodings, weights exp(-cost / soft), instead of the best
    levin: float = 0.0  # > 0: the result blended with the hint colors spread alone (Levin et al.), this share
    levin_mode: str = ""  # "u": the share times the cell's spread over the median; "g": times the hints' reach
    levin_decay: float = 1e-6

    def soft_decoding(self, outputs: np.ndarray, channels: np.ndarray, shrink: float) -> np.ndarray:
        """Colorizer.hinted_decoding's costs, every candidate's colors averaged by exp(-cost / soft)."""
        import huenet.inference as inference

        costs = self.hint_decoding_costs(outputs, channels, shrink)
        weights = np.exp(-(costs - costs.min()) / self.soft)
        weights /= weights.sum()
        return sum(
            w * decode_ab(self.model, outputs[None], c, shrink)[0]
            for w, c in zip(weights, inference.HINT_DECODINGS)
            if w > 1e-4
        ).astype(np.float32)

    def global_step(self, ab: np.ndarray, channels: np.ndarray) -> np.ndarray:
        """Before spreading: a correction of the whole image fitted to the hints (a prior
        of ``strength`` hinted cells toward none): a shift of ab, or an affine map of ab."""
        kind, *values = self.pre
        if kind == "none":
            return ab
        cells = channels[..., 2] > 0
        x = ab[cells].astype(np.float64)
        residual = channels[cells][:, :2] * color.AB_SCALE - x
        if kind == "shift":
            return ab + (residual.sum(axis=0) / (len(x) + values[0])).astype(np.float32)
        columns = 3 if kind == "affine" else 2  # "linear": no shift

        def design(values_ab: np.ndarray) -> np.ndarray:
            return np.concatenate([values_ab / 30.0, np.ones((len(values_ab), 1))], axis=1)[:, :columns]

        theta = np.linalg.solve(design(x).T @ design(x) + values[0] * np.eye(columns), design(x).T @ residual)
        flat = ab.reshape(-1, 2).astype(np.float64)
        return (flat + design(flat) @ theta).reshape(ab.shape).astype(np.float32)

    def _decode(self, image, outputs, network_input):  # the product's, with the affinity swapped
        hinted = bool(network_input[..., 3].any())
        shrink = self.shrink(image)
        if not hinted:
            return decode_ab(self.model, outputs[None], self.decoding, shrink)[0]
        channels = self._hint_cells(network_input, outputs.shape[:2])
        if self.soft:
            ab = self.soft_decoding(outputs, channels, shrink)
        else:
            ab = decode_ab(self.model, outputs[None], self.hinted_decoding(outputs, channels, shrink), shrink)[0]
        lightness = channels[..., 3] * color.LIGHTNESS_SCALE + color.LIGHTNESS_CENTER
        kind, *values = self.variant
        ab = self.global_step(ab, channels)
        if kind == "fine":  # the product's spreading (ab 3), on the working grid: stride 1
            return self._fine(ab, network_input)
        decay = self.hint_decay
        if kind == "gray":
            weights = grid_affinities(lightness, None, 1.0)
        elif kind == "hellinger":
            weights = grid_affinities(lightness, np.sqrt(_softmax(outputs.astype(np.float64))), values[0])
        elif kind == "ab":
            weights = grid_affinities(lightness, ab.astype(np.float64) / values[0], 1.0)
        elif kind == "abcal":  # the colors of the automatic decoding, whatever the hints chose
            automatic = decode_ab(self.model, outputs[None], self.decoding, shrink)[0]
            weights = grid_affinities(lightness, automatic.astype(np.float64) / values[0], 1.0)
        elif kind == "abmean":
            mean = decode_ab(self.model, outputs[None], Decoding(temperature=1.0, vividness=0.0), shrink)[0]
            weights = grid_affinities(lightness, mean.astype(np.float64) / values[0], 1.0)
        elif kind == "knn":
            features = np.sqrt(_softmax(outputs.astype(np.float64)))
            weights = grid_affinities(lightness, features, 0.3) + knn_affinities(
                features, int(values[0]), values[1], 0.3
            )
        if kind in ("ab", "abcal", "abmean", "hellinger") and len(values) > 1:
            decay = values[1]
        if self.decay_power:
            from huenet.inference import spread

            unsure = spread(outputs)
            decay = decay * (np.median(unsure) / np.maximum(unsure, 1e-3)) ** self.decay_power
        result = solve(ab, channels[..., :3], weights.tocsr(), decay)
        if self.levin:  # the hint colors alone, spread as far as the gray (and colors) allow
            alone = solve(np.zeros_like(ab), channels[..., :3], weights.tocsr(), self.levin_decay)
            share = np.full(ab.shape[:2], self.levin)
            if "u" in self.levin_mode:
                from huenet.inference import spread

                unsure = spread(outputs)
                share = share * unsure / np.median(unsure)
            if "g" in self.levin_mode:  # 1 on the hints, falling off as their corrections do
                reach = solve(
                    np.zeros_like(ab),
                    np.concatenate(
                        [channels[..., 2:3] / color.AB_SCALE, channels[..., 2:3] * 0, channels[..., 2:3]], -1
                    ),
                    weights.tocsr(),
                    decay,
                )[..., 0]
                share = share * reach
            share = np.clip(share, 0, 1)[..., None]
            result = ((1 - share) * result + share * alone).astype(np.float32)
        return result

    def _fine(self, ab: np.ndarray, network_input: np.ndarray) -> np.ndarray:
        from huenet.inference import _axis_weights

        height, width = ab.shape[0] * self.stride, ab.shape[1] * self.stride
        fine = network_input[:height, :width]
        rows = _axis_weights(height, height, self.stride, ab.shape[0])
        cols = _axis_weights(width, width, self.stride, ab.shape[1])
        upper = ab[rows[0]] * (1 - rows[2])[:, None, None] + ab[rows[1]] * rows[2][:, None, None]
        upsampled = upper[:, cols[0]] * (1 - cols[2])[None, :, None] + upper[:, cols[1]] * cols[2][None, :, None]
        lightness = fine[..., 0] * color.LIGHTNESS_SCALE + color.LIGHTNESS_CENTER
        return hints_module.propagate(upsampled, lightness, fine[..., 1:4], self.hint_decay)

    def compose(self, image, ab, shift=(0.0, 0.0)):
        from huenet.inference import compose, working_shape

        grid = working_shape(image.size, self.working_size)
        stride = 1 if ab.shape[0] >= grid[0] else self.stride
        return compose(image, ab, self.working_size, stride, self.threads, shift)


VARIANTS = {
    "gray": ("gray",),
    "hellinger 0.1": ("hellinger", 0.1),
    "hellinger 0.3": ("hellinger", 0.3),
    "hellinger 1": ("hellinger", 1.0),
    "ab 5": ("ab", 5.0),
    "ab 10": ("ab", 10.0),
    "ab 20": ("ab", 20.0),
    "knn 4 0.1": ("knn", 4, 0.1),
    "knn 8 0.3": ("knn", 8, 0.3),
    "knn 8 1": ("knn", 8, 1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_photo_arguments(parser)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument(
        "--temperatures",
        type=float,
        nargs="+",
        default=None,
        help="hints choose among these temperatures too (x vividness -2..3; default: the product's set)",
    )
    parser.add_argument("--cost", type=float, default=None, help="HINT_VIVIDNESS_COST (default: the product's)")
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    if arguments.cost is not None:
        import huenet.inference

        huenet.inference.HINT_VIVIDNESS_COST = arguments.cost
    if arguments.temperatures:
        import huenet.inference

        huenet.inference.HINT_DECODINGS = tuple(
            Decoding(temperature=t, vividness=v) for t in arguments.temperatures for v in np.arange(-2.0, 3.01, 0.5)
        )
    photos = validation_photos(arguments)
    model = load_model(arguments.model or "photo")
    rows = {}
    for name in arguments.variants:
        colorizer = StudyColorizer(model, Decoding())
        spread_part, _, global_part = name.partition("+")
        colorizer.variant = (
            VARIANTS[spread_part.strip()]
            if spread_part.strip() in VARIANTS
            else tuple([spread_part.split()[0]] + [float(v) for v in spread_part.split()[1:]])
        )
        if "@" in global_part:
            global_part, _, share = global_part.partition("@")
            colorizer.levin = float(share.split()[0])
            colorizer.levin_mode = "".join(share.split()[1:2])
            if len(share.split()) > 2:
                colorizer.levin_decay = float(share.split()[2])
        if "~" in global_part:
            global_part, _, soft = global_part.partition("~")
            colorizer.soft = float(soft)
        if "^" in global_part:
            global_part, _, power = global_part.partition("^")
            colorizer.decay_power = float(power)
        if global_part.strip():
            colorizer.pre = tuple([global_part.split()[0]] + [float(v) for v in global_part.split()[1:]])
        rows[name] = score(name, photos, colorizer, arguments.counts)
        print(name, rows[name], flush=True)
    Path(arguments.output).write_text(
        json.dumps(
            {"photos": [arguments.photos, arguments.start, arguments.start + len(photos)], "scores": rows}, indent=1
        )
    )


if __name__ == "__main__":
    main()
