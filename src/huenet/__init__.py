"""huenet: colorize grayscale images of any size with a small CNN that runs on a CPU.

    >>> import huenet
    >>> color_image = huenet.colorize("old-photo.png")            # bundled model
    >>> vivid = huenet.colorize("old-photo.png", vivid=True)
    >>> hinted = huenet.colorize("old-photo.png", hints=[(120, 80, "#b03020")])  # this coat is red
    >>> huenet.suggest_colors("old-photo.png", 120, 80)    # [{"color": "#..", "probability": ..}, ...]
    >>> sure = huenet.confidence("old-photo.png")          # (height, width) in 0..1

Keras and TensorFlow are imported only when a model is first loaded.
"""

from importlib.metadata import PackageNotFoundError, version

from huenet.guided import confidence, suggest_colors
from huenet.inference import colorize, colorize_many
from huenet.modelfile import load_model

try:
    __version__ = version("huenet")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__", "colorize", "colorize_many", "confidence", "load_model", "suggest_colors"]
