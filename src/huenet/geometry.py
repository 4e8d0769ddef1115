"""How a network's settings map an image's size to its input and output sizes.

Kept apart from the network modules (which import Keras) so that colorizing with the NumPy
engine never imports Keras.
"""

from __future__ import annotations

from typing import Any


def output_stride(settings: dict[str, Any]) -> int:
    """How many input pixels one output pixel covers along each axis (1 or 2)."""
    return int(settings.get("output_stride", 1))


def pad_multiple(settings: dict[str, Any]) -> int:
    """Inputs must have height and width divisible by this (pooling depth)."""
    return 2 ** int(settings.get("depth", 0))
