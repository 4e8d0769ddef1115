"""Importing Keras without TensorFlow's start-up chatter.

The only place that imports Keras for the package; the modules that build, train or load
networks with Keras call ``import_keras_quietly``. Colorizing with the NumPy engine never does.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any


@contextlib.contextmanager
def native_stderr_silenced() -> Any:
    """Point the process's stderr (fd 2) at /dev/null; Python exceptions still propagate.

    TensorFlow writes notices such as "oneDNN custom operations are on" from C++ before its
    logging is configured, so TF_CPP_MIN_LOG_LEVEL cannot stop them.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


TRAIN_EXTRA_HINT = "pip install 'huenet[train]'"


class KerasMissing(ImportError):
    """Keras (the ``train`` extra) is not installed; the message says how to install it."""


def keras_available() -> bool:
    """Whether Keras can be imported (it comes with the ``train`` extra), without importing it."""
    import importlib.util

    return importlib.util.find_spec("keras") is not None


def require_keras(what: str) -> None:
    """Raise KerasMissing, naming ``what`` needs it and the install command, when Keras is absent."""
    if not keras_available():
        raise KerasMissing(
            f"{what} needs Keras and TensorFlow, which a plain install leaves out; install them with: {TRAIN_EXTRA_HINT}"
        )


def import_keras_quietly() -> Any:
    """Import Keras (and TensorFlow) without TensorFlow's native start-up lines on stderr.

    Raises KerasMissing (with the install command) where the ``train`` extra is not installed.
    """
    import sys

    if "keras" in sys.modules:
        return sys.modules["keras"]
    require_keras("training, evaluation and the Keras engine")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import keras
        import keras.ops

        keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # some notices come at first use
    return keras
