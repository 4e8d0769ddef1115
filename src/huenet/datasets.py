"""Datasets: image folders and tar archives read in place into uint8 RGB arrays.

Archives are never extracted. The official CIFAR-10 releases are read by
``huenet.cifar10``; ``load_images`` recognizes them. What both share (``ImageSet``,
``DatasetError``, tar reading) is in ``huenet.archives``. Grayscale truths are skipped and
counted, since a colorizer cannot learn color from them.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from huenet import archives, cifar10, color
from huenet.archives import DatasetError, ImageSet, folder_label, is_tar, iter_tar, tar_names

__all__ = [
    "DatasetError",
    "ImageSet",
    "folder_label",
    "iter_tar",
    "load_images",
    "drop_gray",
    "sample_evenly",
    "split_train_validation",
]

# --- decoding -------------------------------------------------------------------------------


def _decode_rgb(payload: bytes | Path | None, name: str) -> np.ndarray:
    """Decode a file's bytes, or the file at a path (Pillow then reads only what it needs).

    ``None`` stands for a file over ``archives.MAX_FILE_BYTES``.
    """
    if payload is None:
        raise DatasetError(f"{name}: larger than {archives.MAX_FILE_BYTES} bytes")
    try:
        with Image.open(payload if isinstance(payload, Path) else io.BytesIO(payload)) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # Pillow raises many types for bad files
        raise DatasetError(f"{name}: not a readable image ({error})") from None


def _iter_folder(folder: Path) -> Iterator[tuple[str, Path | None]]:
    """(name, path) of each file, None for files over the size cap; nothing is read yet."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            too_big = path.stat().st_size > archives.MAX_FILE_BYTES
        except OSError:
            too_big = False  # vanished or unreadable: decoding reports it
        yield str(path.relative_to(folder)), None if too_big else path


def _looks_like_image(name: str) -> bool:
    """Whether a file name has an extension Pillow reads (used to sample files before decoding)."""
    from huenet.images import readable_extensions

    return Path(name).suffix.lower() in readable_extensions()


# --- loading --------------------------------------------------------------------------------


def sample_evenly(labels: list[str], count: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``count`` items spread evenly over the labels' classes, seeded.

    Each class's items are shuffled, then taken round-robin over the classes (in a shuffled
    class order), so every class gets count / classes items, give or take one, while it has
    them. The same labels, count and seed give the same sample.
    """
    if count >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    queues = [rng.permutation(by_class[label]) for label in sorted(by_class)]
    picked: list[int] = []
    for depth in range(max(len(queue) for queue in queues)):
        for k in rng.permutation(len(queues)):
            if depth < len(queues[k]):
                picked.append(int(queues[k][depth]))
                if len(picked) == count:
                    return np.sort(np.asarray(picked))
    return np.sort(np.asarray(picked))


def load_images(
    source: str | os.PathLike, split: str = "train", skip_gray: bool = True, limit: int | None = None, seed: int = 0
) -> ImageSet:
    """Read every image of a folder (recursive), tar / tar.gz archive or CIFAR-10 release.

    Files that are not images are skipped and counted; so are grayscale images when
    ``skip_gray`` (a colorizer cannot learn color from them). ``split`` only applies to the
    official CIFAR-10 releases. ``limit`` reads only N files, sampled evenly across the
    classes (folders) with ``seed`` (``sample_evenly``), for quick runs and tests.
    """
    path = Path(source)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 image, got {limit}")
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if is_tar(path) and cifar10.release_kind(path) is not None:
        image_set = cifar10.read_cifar10_release(path, split)
        if limit:
            image_set = _subset(image_set, sample_evenly(image_set.labels, limit, seed))
    else:
        if path.is_dir():
            entries = _iter_folder(path)
            if limit:
                listed = [entry for entry in entries if _looks_like_image(entry[0])]
                entries = iter(
                    [listed[i] for i in sample_evenly([folder_label(name) for name, _ in listed], limit, seed)]
                )
        elif is_tar(path):
            only = None
            if limit:
                names = [name for name in tar_names(path) if _looks_like_image(name)]
                only = {names[i] for i in sample_evenly([folder_label(name) for name in names], limit, seed)}
            entries = iter_tar(path, only)
        else:
            raise DatasetError(f"{path}: expected a folder, a .tar/.tar.gz archive or a CIFAR-10 release")
        images, names, unreadable = [], [], 0
        for name, payload in entries:
            try:
                images.append(_decode_rgb(payload, name))
            except DatasetError:
                unreadable += 1
                continue
            names.append(name)
        if not images:
            raise DatasetError(f"{path}: no readable images")
        if len({image.shape for image in images}) == 1:
            images = np.stack(images)
        image_set = ImageSet(images, names, skipped_unreadable=unreadable)  # labels: the folders
    if skip_gray:
        image_set = drop_gray(image_set)
    return image_set


def drop_gray(image_set: ImageSet) -> ImageSet:
    """Remove images whose truth is grayscale, counting them in ``skipped_gray``."""
    if isinstance(image_set.images, np.ndarray):
        gray = color.is_grayscale(image_set.images)
        images = image_set.images[~gray]
    else:
        gray = np.array([bool(color.is_grayscale(image[None])[0]) for image in image_set.images])
        images = [image for image, g in zip(image_set.images, gray) if not g]
    names = [name for name, g in zip(image_set.names, gray) if not g]
    labels = [label for label, g in zip(image_set.labels, gray) if not g]
    return dataclasses.replace(
        image_set, images=images, names=names, labels=labels, skipped_gray=image_set.skipped_gray + int(gray.sum())
    )


def split_train_validation(image_set: ImageSet, validation_fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Seeded random split; the validation set gets ``round(fraction * count)`` images."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    order = np.random.default_rng(seed).permutation(len(image_set))
    count = int(round(validation_fraction * len(image_set)))
    return _subset(image_set, order[count:]), _subset(image_set, order[:count])


def _subset(image_set: ImageSet, indices: np.ndarray) -> ImageSet:
    kept = np.sort(indices)
    if isinstance(image_set.images, np.ndarray):
        images = image_set.images[kept]
    else:
        images = [image_set.images[i] for i in kept]
    return ImageSet(images, [image_set.names[i] for i in kept], labels=[image_set.labels[i] for i in kept])
