"""Shared fixtures: tiny images written with Pillow into temporary folders, and untrained
models wrapped as huenet ColorModels (no bundled weights needed)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from PIL import Image

from huenet import color


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_color_model(preset: str, **metadata_overrides):
    """An untrained network of ``preset`` with the metadata a saved model would carry."""
    from huenet import models
    from huenet.modelfile import ColorModel

    network = models.build_model(preset)
    head = models.get_preset(preset).head
    settings = models.resolve_settings(preset)
    metadata = {"preset": preset, "head": head, "settings": settings, **metadata_overrides}
    return ColorModel(network, metadata, source=f"<untrained {preset}>")


def randomized(network, rng):
    """Random weights everywhere, batch-norm statistics included, so no layer is an identity.
    A pretrained encoder keeps its ImageNet weights: they are real and no identity, and random
    weights through its 16 blocks grow to 1e7, where float32 rounding alone parts the engines."""
    from huenet import encoder

    for layer in network.layers:
        if layer.name.startswith(encoder.PREFIX):
            continue
        if type(layer).__name__ == "BatchNormalization":  # gamma, beta, mean, variance (> 0)
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
        elif layer.get_weights():
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])
    return network


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def color_images(rng):
    """16 smooth, colorful 12x12 uint8 RGB images (gradients with random hues)."""
    ramp = np.linspace(0, 1, 12, dtype=np.float32)
    base = ramp[None, :, None, None] * rng.uniform(0.3, 1.0, (16, 1, 1, 3)).astype(np.float32)
    other = ramp[None, None, :, None] * rng.uniform(0.0, 0.7, (16, 1, 1, 3)).astype(np.float32)
    return color.to_uint8(np.clip(base + other, 0, 1))


@pytest.fixture
def image_folder(tmp_path, color_images):
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for index, image in enumerate(color_images):
        target = folder / ("sub" if index % 2 else "") / f"image{index:02d}.png"
        Image.fromarray(image).save(target)
    Image.fromarray(np.full((12, 12, 3), 128, np.uint8)).save(folder / "gray.png")
    (folder / "notes.txt").write_text("not an image")
    return folder
