"""Run a saved huenet network with NumPy alone, so colorizing needs no Keras or TensorFlow.

Importing TensorFlow takes about 4 of the 4.8 seconds that one ``huenet colorize`` call
took on a 2-core machine, and the network itself runs at the working resolution (48 pixels
on the long side for the bundled model), where NumPy is fast enough. This module reads the
``.keras`` file as data (the layer graph from ``config.json``, the weights from
``model.weights.h5``), runs no code from it, and knows the handful of layers huenet's
U-Nets are made of. Anything else raises ``Unsupported`` and the caller falls back to Keras.

Keras 3 stores each layer's weights under ``layers/<class name in snake case>[_<n>]/vars``,
numbered per class in the order the layers are listed; ``_weight_paths`` rebuilds those
names and the shapes are checked against the layer configs before anything runs.
"""

from __future__ import annotations

import functools
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from huenet.hints import HINT_CHANNELS

_PATCH_BYTES = 64 * 2**20  # im2col buffer per strip


class Unsupported(ValueError):
    """The file holds a layer or setting this runner does not implement (use Keras)."""


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": _relu,
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "tanh": np.tanh,
}


def _activation(name: Any) -> Callable[[np.ndarray], np.ndarray]:
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise Unsupported(f"activation {name!r}")
    return _ACTIVATIONS[name]


def _snake_case(name: str) -> str:
    """Keras' own rule (keras.src.utils.naming.to_snake_case): Conv2D -> conv2d, UpSampling2D -> up_sampling2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's (and Keras') "same": the output is ceil(size / stride) long and an odd
    total padding puts its extra pixel after (bottom, right), as EfficientNet's weights expect."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_for(x: np.ndarray, kernel_shape: tuple[int, int], stride: int, config: dict) -> np.ndarray:
    if config.get("padding") != "same":
        return x
    rows, columns = kernel_shape
    return np.pad(
        x, ((0, 0), _same_padding(x.shape[1], rows, stride), _same_padding(x.shape[2], columns, stride), (0, 0))
    )


def _conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, config: dict) -> np.ndarray:
    rows, columns = kernel.shape[:2]
    stride = int(tuple(config.get("strides", (1, 1)))[0])
    x = _pad_for(x, (rows, columns), stride, config)
    height, width = (x.shape[1] - rows) // stride + 1, (x.shape[2] - columns) // stride + 1
    if rows == columns == 1:
        out = x[:, ::stride, ::stride] @ kernel[0, 0]
    else:  # im2col: the k*k shifted views side by side, one matrix product per strip of rows
        matrix = kernel.reshape(-1, kernel.shape[-1])
        out = np.empty((x.shape[0], height, width, kernel.shape[-1]), np.float32)
        row_bytes = x.shape[0] * width * matrix.shape[0] * 4
        strip = max(1, _PATCH_BYTES // max(row_bytes, 1))  # bounds memory at large working sizes
        for top in range(0, height, strip):
            bottom = min(top + strip, height)
            patches = np.concatenate(
                [
                    x[
                        :,
                        top * stride + i : (bottom - 1) * stride + i + 1 : stride,
                        j : (width - 1) * stride + j + 1 : stride,
                    ]
                    for i in range(rows)
                    for j in range(columns)
                ],
                axis=-1,
            )
            out[:, top:bottom] = patches @ matrix
    if bias is not None:
        out += bias
    return _activation(config.get("activation", "linear"))(out)


def _depthwise_conv2d(sources: list[np.ndarray], config: dict, variables: list[np.ndarray]) -> np.ndarray:
    """One k x k filter per channel (depth multiplier 1): k*k shifted, strided views, weighted and summed."""
    kernel = variables[0]  # (kh, kw, channels, 1)
    rows, columns = kernel.shape[:2]
    stride = int(tuple(config.get("strides", (1, 1)))[0])
    x = _pad_for(_one(sources), (rows, columns), stride, config)
    height, width = (x.shape[1] - rows) // stride + 1, (x.shape[2] - columns) // stride + 1
    out = np.zeros((x.shape[0], height, width, x.shape[3]), np.float32)
    for i in range(rows):
        for j in range(columns):
            out += (
                x[:, i : i + (height - 1) * stride + 1 : stride, j : j + (width - 1) * stride + 1 : stride]
                * kernel[i, j, :, 0]
            )
    if len(variables) > 1:
        out += variables[1]
    return _activation(config.get("activation", "linear"))(out)


def _upsample_bilinear(x: np.ndarray, factor_rows: int, factor_columns: int) -> np.ndarray:
    """Half-pixel-centred bilinear resize, edges clamped (what tf.image.resize and jax.image.resize do)."""

    def along(x: np.ndarray, axis: int, factor: int) -> np.ndarray:
        size = x.shape[axis]
        source = (np.arange(size * factor) + 0.5) / factor - 0.5
        source = np.clip(source, 0, size - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, size - 1)
        weight = (source - low).astype(x.dtype)
        shape = [1] * x.ndim
        shape[axis] = -1
        weight = weight.reshape(shape)
        return np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight

    return along(along(x, 1, factor_rows), 2, factor_columns)


def _max_pool(x: np.ndarray, config: dict) -> np.ndarray:
    pool = tuple(config.get("pool_size", (2, 2)))  # strides equal to it, no padding: checked at load
    batch, height, width, channels = x.shape
    height, width = height // pool[0] * pool[0], width // pool[1] * pool[1]
    x = x[:, :height, :width].reshape(batch, height // pool[0], pool[0], width // pool[1], pool[1], channels)
    return x.max(axis=(2, 4))


class NumpyNetwork:
    """A functional Keras model with one image input and one output, evaluated in float32."""

    def __init__(self, path: str | Path):
        import h5py

        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights_file = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        if config.get("class_name") != "Functional":
            raise Unsupported(f"model class {config.get('class_name')!r}")
        graph = config["config"]
        self.layers = graph["layers"]
        inputs, outputs = graph["input_layers"], graph["output_layers"]
        if len(self.layers) == 0 or _single(inputs) is None or _single(outputs) is None:
            raise Unsupported("a network with several inputs or outputs")
        self.input_name, self.output_name = _single(inputs), _single(outputs)
        self.weights: dict[str, list[np.ndarray]] = {}
        # Each layer's input layers, read from the graph once rather than on every call.
        self.sources = {layer["name"]: _sources(layer) for layer in self.layers if layer["name"] != self.input_name}
        with weights_file:
            for layer, path_in_file in zip(self.layers, _weight_paths(self.layers)):
                group = weights_file.get(f"layers/{path_in_file}/vars")
                # Read in the stored dtype, then convert: HDF5's own float16 -> float32
                # conversion took 0.75 s for the photo model, NumPy's 0.06 s.
                variables = (
                    []
                    if group is None
                    else [np.asarray(group[str(i)][()]).astype(np.float32, copy=False) for i in range(len(group))]
                )
                self.weights[layer["name"]] = variables
        for layer in self.layers:
            self._check(layer)
        self.by_name = {layer["name"]: layer for layer in self.layers}
        self.gates = self._gates()
        self.hint_free = self._hint_free()
        # Whether the output can depend on the hint channels: if not, a forward pass without
        # hints serves every set of hints (a hint path not yet trained: ``add_hint_inputs``).
        self.reads_hints = self.output_name not in self.hint_free
        # What ``__call__(..., reuse=)`` keeps: the hint-free activations the rest reads.
        self.hint_frontier = self.hint_free & (
            {self.output_name}
            | {s for name, sources in self.sources.items() if name not in self.hint_free for s in sources}
        )
        try:  # weights whose shapes do not fit the graph fail here, not on a user's image
            self(
                np.zeros((1, 32, 32, self.input_channels), np.float32)
            )  # small: it runs on every load (32: a stride-32 encoder)
        except (ValueError, IndexError, KeyError, TypeError) as error:
            raise Unsupported(f"the weights do not fit the layer graph ({error})") from None

    def _check(self, layer: dict) -> None:
        kind, config, variables = layer["class_name"], layer["config"], self.weights[layer["name"]]
        if layer["name"] == self.input_name:
            channels = (config.get("batch_shape") or [None, None, None, 1])[-1]
            if kind != "InputLayer" or channels not in (1, 1 + HINT_CHANNELS):
                raise Unsupported(
                    f"input layer {layer['name']}: expected lightness (and hint) channels, got {channels}"
                )
            self.input_channels = channels
            return
        expected = {
            "Conv2D": 1 + bool(config.get("use_bias")),
            "DepthwiseConv2D": 1 + bool(config.get("use_bias")),
            "Dense": 1 + bool(config.get("use_bias")),
            "BatchNormalization": 2 + bool(config.get("center", True)) + bool(config.get("scale", True)),
        }
        if kind not in _LAYERS:
            raise Unsupported(f"layer {kind}")
        if len(variables) != expected.get(kind, 0):
            raise Unsupported(
                f"layer {layer['name']}: {len(variables)} weight arrays, expected {expected.get(kind, 0)}"
            )
        if kind in ("Conv2D", "DepthwiseConv2D"):
            # Strides 1 or 2 alike on both axes (2: EfficientNet's downsampling, "same" padding).
            if (
                tuple(config.get("strides", (1, 1))) not in ((1, 1), (2, 2))
                or tuple(config.get("dilation_rate", (1, 1))) != (1, 1)
                or config.get("groups", 1) != 1
                or config.get("data_format", "channels_last") != "channels_last"
                or config.get("padding") not in ("same", "valid")
                or tuple(variables[0].shape[:2]) != tuple(config["kernel_size"])
                or (
                    kind == "DepthwiseConv2D" and (config.get("depth_multiplier", 1) != 1 or variables[0].shape[3] != 1)
                )
            ):
                raise Unsupported(f"layer {layer['name']}: convolution settings")
            _activation(config.get("activation", "linear"))
        elif kind == "Dense":
            _activation(config.get("activation", "linear"))
        elif kind == "BatchNormalization" and config.get("axis", -1) not in (-1, 3, [-1], [3]):
            raise Unsupported(f"layer {layer['name']}: batch normalization over axis {config.get('axis')}")
        elif kind == "Activation":
            _activation(config.get("activation"))
        elif kind == "UpSampling2D" and (
            config.get("interpolation") not in ("bilinear", "nearest") or not _small_factors(config.get("size", (2, 2)))
        ):
            raise Unsupported(
                f"layer {layer['name']}: {config.get('interpolation')} upsampling by {config.get('size')}"
            )
        elif kind == "MaxPooling2D" and (
            not _small_factors(config.get("pool_size", (2, 2)))
            or tuple(config.get("strides") or config.get("pool_size", (2, 2))) != tuple(config.get("pool_size", (2, 2)))
            or config.get("padding", "valid") != "valid"
        ):
            raise Unsupported(
                f"layer {layer['name']}: pooling by {config.get('pool_size')}, strides "
                f"{config.get('strides')}, padding {config.get('padding')}"
            )
        elif kind == "Concatenate" and config.get("axis", -1) not in (-1, 3):
            raise Unsupported(f"layer {layer['name']}: concatenation over axis {config.get('axis')}")
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D") and not config.get("keepdims", False):
            raise Unsupported(f"layer {layer['name']}: global pooling without keepdims")

    def _hint_free(self) -> set[str]:
        """The layers whose outputs cannot change with the hint channels: those reached from
        the input only through convolutions with zero weights on them (the encoder's
        lightness select). ``__call__(..., reuse=)`` keeps the ones the other layers read."""
        if self.input_channels == 1:
            return {layer["name"] for layer in self.layers if layer["name"] != self.input_name}
        free: set[str] = set()
        for layer in self.layers:  # sources first (the file's order)
            name, sources = layer["name"], self.sources.get(layer["name"])
            if sources is None:
                continue  # the input
            if sources == [self.input_name]:
                variables = self.weights[name]
                if layer["class_name"] == "Conv2D" and not variables[0][:, :, 1:].any():
                    free.add(name)
            elif all(source in free for source in sources):
                free.add(name)
        return free

    def _gates(self) -> dict[str, tuple[str, list[dict], set[str]]]:
        """Gated branches: {Multiply layer: (gate, the gate's layers in order, the branch's layers)}
        where the gate is a global max pool (one value per image), every use of the product
        is a sum, and the branch's layers are those only the product's other input needs.
        Where the gates of a batch are all 0 the product is 0 and the branch is never
        computed: a hint branch (``unet.build_unet(hint_branch=True)``) costs nothing
        without hints."""
        users: dict[str, list[str]] = {}
        for name, sources in self.sources.items():
            for source in sources:
                users.setdefault(source, []).append(name)

        def reach(start: str, cuts: frozenset[tuple[str, str]] = frozenset()) -> set[str]:
            # Every layer ``start`` depends on (itself included), iteratively: a file may be deep.
            seen, stack = set(), [start]
            while stack:
                name = stack.pop()
                if name in seen or name == self.input_name:
                    continue
                seen.add(name)
                stack.extend(s for s in self.sources[name] if (name, s) not in cuts)
            return seen

        products = {}  # Multiply layer -> (gate, the product's other input)
        for name, sources in self.sources.items():
            if self.by_name[name]["class_name"] != "Multiply" or len(sources) != 2 or name == self.output_name:
                continue
            kinds = [self.by_name[source]["class_name"] for source in sources]
            if kinds.count("GlobalMaxPooling2D") != 1 or not all(
                self.by_name[u]["class_name"] == "Add" for u in users.get(name, [])
            ):
                continue
            products[name] = (
                sources[kinds.index("GlobalMaxPooling2D")],
                sources[1 - kinds.index("GlobalMaxPooling2D")],
            )
        gates = {}
        for name, (gate, features) in products.items():
            # Products of one gate shut together: a branch feeding several of them (the encoder
            # network's feeds every decoder level) is skipped whole.
            cuts = frozenset((other, f) for other, (g, f) in products.items() if g == gate)
            branch = reach(features) - reach(self.output_name, cuts)
            needed = reach(gate)
            gates[name] = (gate, [layer for layer in self.layers if layer["name"] in needed], branch)
        return gates

    def __call__(self, batch: np.ndarray, reuse: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """(N, H, W, 1) float lightness (a hint model: (N, H, W, 4), ``huenet.hints``) -> the network's
        output, as Keras gives it in inference mode.

        ``reuse``: a dict kept between calls on the same lightness with other hints (the
        page's re-renders). The first call fills it with the hint-free activations that the
        rest of the network reads (``hint_free``: the encoder's features); later calls take
        them from it and compute only what the hints change."""
        values: dict[str, np.ndarray] = {self.input_name: np.asarray(batch, np.float32)}
        skipped: set[str] = set()
        if reuse:
            values.update(reuse)
            skipped |= self.hint_free
        for name, (gate, gate_layers, branch) in self.gates.items():
            self._run(values, gate_layers)
            if not values[gate].any():  # every gate shut: the product is 0, added to the rest
                values[name] = np.zeros((1, 1, 1, 1), np.float32)
                skipped |= branch
        kept: set[str] = set()
        if reuse is not None and not reuse:  # the first call: every hint-free layer that is read later
            skipped -= self.hint_free
            kept = self.hint_frontier
        self._run(values, [layer for layer in self.layers if layer["name"] not in skipped], free=True, keep=kept)
        if kept:
            reuse.update({name: values[name] for name in kept})
        return values[self.output_name]

    def _run(
        self, values: dict[str, np.ndarray], layers: list[dict], free: bool = False, keep: set[str] = frozenset()
    ) -> None:
        """Compute ``layers`` (in the file's order, which Keras writes sources first) into ``values``.

        ``free``: drop each layer's output after its last use among ``layers`` (the input and
        the output stay, and ``keep``). The encoder network has 180 layers: kept to the end, a batch's
        activations took 15 GB for 256 photos at a 224 px working size (2026-12-06)."""
        last_use: dict[str, int] = {}
        if free:
            for index, layer in enumerate(layers):
                for source in self.sources.get(layer["name"], ()):
                    last_use[source] = index
        for index, layer in enumerate(layers):
            name = layer["name"]
            if name not in values:
                sources = [values[source] for source in self.sources[name]]
                values[name] = _LAYERS[layer["class_name"]](sources, layer["config"], self.weights[name])
            for source in self.sources.get(name, ()):
                if last_use.get(source) == index and source not in (self.input_name, self.output_name, *keep):
                    values.pop(source, None)  # absent: a shut gate's branch, never computed


def _small_factors(factors: Any) -> bool:
    """Two integer factors from 1 to 8: a file asking for more (a hostile one could ask for
    a million) would make the dry run at load allocate without bound."""
    return (
        isinstance(factors, (list, tuple))
        and len(factors) == 2
        and all(isinstance(f, int) and not isinstance(f, bool) and 1 <= f <= 8 for f in factors)
    )


def _single(layer_list: list) -> str | None:
    """The layer name from Keras' [name, node, tensor] or [[name, node, tensor]] when there is one."""
    if len(layer_list) == 3 and isinstance(layer_list[0], str):
        return layer_list[0]
    if len(layer_list) == 1 and isinstance(layer_list[0], list) and len(layer_list[0]) == 3:
        return layer_list[0][0]
    return None


def _sources(layer: dict) -> list[str]:
    nodes = layer.get("inbound_nodes", [])
    if len(nodes) != 1:
        raise Unsupported(f"layer {layer['name']} is used {len(nodes)} times")
    names: list[str] = []

    def collect(item: Any) -> None:
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            names.append(item["config"]["keras_history"][0])
        elif isinstance(item, (list, tuple)):
            for element in item:
                collect(element)

    collect(nodes[0].get("args", []))
    return names


def _weight_paths(layers: list[dict]) -> list[str]:
    counts: dict[str, int] = {}
    paths = []
    for layer in layers:
        base = _snake_case(layer["class_name"])
        index = counts.get(base, 0)
        counts[base] = index + 1
        paths.append(base if index == 0 else f"{base}_{index}")
    return paths


def _one(sources: list[np.ndarray]) -> np.ndarray:
    if len(sources) != 1:
        raise Unsupported(f"{len(sources)} inputs where one was expected")
    return sources[0]


def _batch_norm(sources, config, variables):
    x = _one(sources)
    index = 0
    gamma = beta = None
    if config.get("scale", True):
        gamma, index = variables[index], index + 1
    if config.get("center", True):
        beta, index = variables[index], index + 1
    mean, variance = variables[index], variables[index + 1]
    scale = 1.0 / np.sqrt(variance + config.get("epsilon", 1e-3))
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale + (beta if beta is not None else 0.0)
    return x * scale.astype(np.float32) + shift.astype(np.float32)


def _dense(sources, config, variables):
    out = _one(sources) @ variables[0]
    if len(variables) > 1:
        out = out + variables[1]
    return _activation(config.get("activation", "linear"))(out)


def _upsampling(sources, config, variables):
    rows, columns = config.get("size", (2, 2))
    x = _one(sources)
    if config.get("interpolation") == "nearest":
        return x.repeat(rows, axis=1).repeat(columns, axis=2)
    return _upsample_bilinear(x, rows, columns)


_LAYERS: dict[str, Callable[[list[np.ndarray], dict, list[np.ndarray]], np.ndarray]] = {
    "Conv2D": lambda sources, config, variables: _conv2d(
        _one(sources), variables[0], variables[1] if len(variables) > 1 else None, config
    ),
    "DepthwiseConv2D": _depthwise_conv2d,
    "BatchNormalization": _batch_norm,
    "Activation": lambda sources, config, variables: _activation(config["activation"])(_one(sources)),
    "MaxPooling2D": lambda sources, config, variables: _max_pool(_one(sources), config),
    "UpSampling2D": _upsampling,
    "Concatenate": lambda sources, config, variables: np.concatenate(sources, axis=-1),
    "Add": lambda sources, config, variables: sum(sources[1:], sources[0]),
    "Average": lambda sources, config, variables: sum(sources[1:], sources[0]) / np.float32(len(sources)),
    "GlobalAveragePooling2D": lambda sources, config, variables: _one(sources).mean(axis=(1, 2), keepdims=True),
    "GlobalMaxPooling2D": lambda sources, config, variables: _one(sources).max(axis=(1, 2), keepdims=True),
    "Multiply": lambda sources, config, variables: functools.reduce(np.multiply, sources[1:], sources[0]),
    "Dense": _dense,
    # Identity at inference time:
    "Dropout": lambda sources, config, variables: _one(sources),
    "SpatialDropout2D": lambda sources, config, variables: _one(sources),
}
