"""Model files: one ``.keras`` file that also carries huenet's own settings, and the
registry of models bundled with the package.

A huenet model file is a normal Keras 3 ``.keras`` archive (a zip) with one extra member,
``huenet.json``, holding the preset, head, decoding settings, training record and metrics.
Keras ignores the extra member; huenet reads it with ``zipfile``. The NumPy engine
(``huenet.numpy_network``) reads the layer graph and weights as data and runs nothing from
the file; Keras loads a model always with ``safe_mode=True`` and without its training
configuration.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from huenet.files import atomic_path
from huenet.kerasutil import TRAIN_EXTRA_HINT, import_keras_quietly, keras_available, native_stderr_silenced

FORMAT_VERSION = 1
METADATA_MEMBER = "huenet.json"

# Bundled models live in huenet/weights; models.json there records each one's file and
# sha256 (written by experiments/publish_model.py, checked by a test), and aliases: names
# that stand for a bundled model ("default": the model used when none is named).
DEFAULT_MODEL = "default"


@functools.cache
def _registry() -> dict[str, dict[str, str]]:
    """models.json, read once per process (every load resolves names through it)."""
    return json.loads((importlib.resources.files("huenet") / "weights" / "models.json").read_text())


def bundled_models() -> dict[str, dict[str, str]]:
    """Name -> {"file", "sha256", "card"} of the models shipped with the package (no aliases)."""
    return {name: entry for name, entry in _registry().items() if "file" in entry}


def model_aliases() -> dict[str, dict[str, str]]:
    """Alias -> {"alias": the bundled model it stands for, "note": why}."""
    return {name: entry for name, entry in _registry().items() if "alias" in entry}


def bundled_name(name: str) -> str | None:
    """The bundled model a name or alias stands for; None when it is neither."""
    models, aliases = bundled_models(), model_aliases()
    name = aliases[name]["alias"] if name in aliases else name
    return name if name in models else None


def _known_names() -> str:
    return ", ".join(
        [*bundled_models(), *(f"{alias} (= {entry['alias']})" for alias, entry in model_aliases().items())]
    )


class ModelFileError(ValueError):
    """A model name or file that cannot be used; the message names it and the reason."""


class ColorModel:
    """A loaded network plus the settings needed to prepare its input and decode its output.

    ``network`` is the Keras model. A model loaded with the NumPy runner (``runner``, see
    ``huenet.numpy_network``) imports Keras only if ``network`` is asked for.
    """

    def __init__(self, network: Any, metadata: dict[str, Any], source: str = "", runner: Any = None):
        self._network = network  # keras.Model, or None until first needed
        self.metadata = metadata
        self.source = source
        self.runner = runner  # callable (N, H, W, 1) -> network output, or None: use Keras

    @property
    def network(self) -> Any:
        if self._network is None:
            self._network = _load_keras_network(Path(self.source), self.metadata)
        return self._network

    def __repr__(self) -> str:
        return f"ColorModel(source={self.source!r}, preset={self.metadata.get('preset')!r}, engine={self.engine!r})"

    @property
    def engine(self) -> str:
        return "numpy" if self.runner is not None else "keras"

    @property
    def network_reads_hints(self) -> bool:
        """Whether the network's output can change with the hint channels (False: hints act
        after the network alone, so one forward pass serves every set of hints). Known for
        the NumPy engine; the Keras engine answers True (it may)."""
        return bool(self.settings.get("hint_inputs")) and getattr(self.runner, "reads_hints", True)

    @property
    def head(self) -> str:
        return self.metadata["head"]

    @property
    def settings(self) -> dict[str, Any]:
        return self.metadata["settings"]

    @property
    def working_size(self) -> int:
        return int(self.settings.get("working_size", 32))

    @property
    def bin_prior(self) -> np.ndarray | None:
        prior = self.metadata.get("bin_prior")
        return None if prior is None else np.asarray(prior, dtype=np.float32)


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


WEIGHTS_DTYPES = ("float32", "float16")  # how a model file may store its weights (``save_model``)


def save_model(network: Any, path: str | os.PathLike, metadata: dict[str, Any], weights_dtype: str = "float32") -> Path:
    """Write ``network`` and ``metadata`` to ``path`` atomically (temp file, then rename).

    ``weights_dtype="float16"`` halves the file (the bundled model ships this way); loading
    turns the network back into float32, so computation is unchanged but for rounding of the
    weights (logits move by about 0.005 on the default model). A network trained in mixed
    precision is stored with plain ``weights_dtype`` layers too, so that every huenet model
    file computes the same way on any machine.
    """
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"weights_dtype must be float32 or float16, got {weights_dtype!r}")
    path = Path(path)
    metadata = {**metadata, "weights_dtype": weights_dtype}
    with atomic_path(path, overwrite=True, suffix=".keras") as temporary:
        uniform = all(layer.dtype_policy.name == weights_dtype for layer in network.layers)
        (network if uniform else _with_dtype(network, weights_dtype)).save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(
                METADATA_MEMBER, json.dumps({"format": FORMAT_VERSION, **metadata}, indent=1, default=_json_default)
            )
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in model metadata")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The huenet metadata of a model file, without loading the network."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(METADATA_MEMBER))
    except KeyError:
        raise ModelFileError(f"{path}: a Keras file without huenet settings (no {METADATA_MEMBER})") from None
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: not a readable huenet model file ({error})") from None


def bundled_model_path(name: str) -> Path:
    """Path of a bundled model's file (by name or alias) inside the installed package."""
    resolved = bundled_name(name)
    if resolved is None:
        raise ModelFileError(f"unknown model {name!r}; bundled models: {_known_names()} (or give a .keras path)")
    return Path(str(importlib.resources.files("huenet") / "weights" / bundled_models()[resolved]["file"]))


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    text = str(name_or_path)
    if bundled_name(text) is not None:
        return bundled_model_path(text)
    path = Path(text)
    if not path.is_file():
        raise ModelFileError(f"{text}: no such model file and not a bundled model ({_known_names()})")
    return path


def _with_dtype(network: Any, dtype: str) -> Any:
    """A copy of ``network`` whose layers compute and store weights in ``dtype``."""
    keras = import_keras_quietly()

    def rebuild(layer: Any) -> Any:
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    with native_stderr_silenced():
        copy = keras.models.clone_model(network, clone_function=rebuild)
        copy.set_weights([weight.astype(dtype) for weight in network.get_weights()])
    return copy


_CACHE: dict[tuple[str, str], ColorModel] = {}
ENGINES = ("auto", "numpy", "keras")


def load_model(name_or_path: str | os.PathLike | None = None, engine: str = "auto") -> ColorModel:
    """Load a bundled model by name or alias (default: ``"default"``) or a ``.keras`` file.

    Loading is lazy and cached: nothing is read until the first call, and the same file is
    read once per process. ``engine``: ``"numpy"`` runs the network with NumPy alone
    (``huenet.numpy_network``; no TensorFlow import, about 4 s less per process start),
    ``"keras"`` with Keras, ``"auto"`` with NumPy when the file's layers allow it.

    Raises:
        ModelFileError: unknown name, missing or unreadable file, no huenet settings, or
            engine "numpy" for a network it cannot run.
    """
    if engine not in ENGINES:
        raise ModelFileError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    path = resolve_model_path(name_or_path or DEFAULT_MODEL)
    key = (str(path.resolve()), engine)
    if key in _CACHE:
        return _CACHE[key]
    metadata = read_metadata(path)
    model = None
    if engine in ("auto", "numpy"):
        from huenet.numpy_network import NumpyNetwork, Unsupported

        try:
            model = ColorModel(None, metadata, source=str(path), runner=NumpyNetwork(path))
        except Exception as error:  # noqa: BLE001  any file it cannot run goes to Keras, which explains itself
            if engine == "numpy" or not keras_available():
                reason = error if isinstance(error, Unsupported) else f"{type(error).__name__}: {error}"
                hint = "use engine keras" if engine == "numpy" else f"Keras may run it: {TRAIN_EXTRA_HINT}"
                raise ModelFileError(f"{path}: the NumPy engine cannot run this network ({reason}); {hint}") from None
    if model is None:
        model = ColorModel(_load_keras_network(path, metadata), metadata, source=str(path))
    _CACHE[key] = model
    return model


def _load_keras_network(path: Path, metadata: dict[str, Any]) -> Any:
    from huenet.kerasutil import require_keras

    try:
        require_keras(f"{path}: running this network with Keras")
    except ImportError as error:
        raise ModelFileError(str(error)) from None
    keras = import_keras_quietly()
    import huenet.losses  # noqa: F401  registers huenet's serializable losses and metrics

    try:
        network = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise ModelFileError(f"{path}: Keras could not load the network ({error})") from None
    if metadata.get("weights_dtype", "float32") != "float32":
        network = _with_dtype(network, "float32")
    return network
