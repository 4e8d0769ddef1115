"""What every dataset reader shares: the image set, its error, and tar archives read in place.

``huenet.datasets`` (folders, archives) and ``huenet.cifar10`` (the official releases) both
build on this module; neither imports the other's internals.
"""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path
from typing import Any, Iterator

# Dataset files larger than this are skipped as unreadable without being read: no training
# image comes near it, and reading a stray multi-gigabyte file whole would exhaust memory.
MAX_FILE_BYTES = 1 << 30


class DatasetError(ValueError):
    """A dataset file that cannot be read; the message names the file and the reason."""


@dataclasses.dataclass
class ImageSet:
    """Images read from one source.

    ``images`` is a uint8 array (count, height, width, 3) when all images share a size,
    otherwise a list of (height, width, 3) arrays. ``names`` identify each image, and
    ``labels`` give its class: the CIFAR-10 class of the official releases, else the name
    of the folder the file sits in ("" at the top level). Only the auxiliary class loss of
    training uses them.
    """

    images: Any
    names: list[str]
    skipped_gray: int = 0
    skipped_unreadable: int = 0
    labels: list[str] | None = None

    def __post_init__(self) -> None:
        if self.labels is None:
            self.labels = [folder_label(name) for name in self.names]

    def __len__(self) -> int:
        return len(self.names)


def folder_label(name: str) -> str:
    """The class of an image named ``name`` inside a dataset: its folder's name ("" if none)."""
    parts = name.replace("\\", "/").split("/")
    return parts[-2] if len(parts) > 1 else ""


def iter_tar(path: Path, only: set[str] | None = None) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of each member file, None for members over the size cap (not read).

    ``only``: read just the members of these names (the others are passed over unread).
    """
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and (only is None or member.name in only):
                    if member.size > MAX_FILE_BYTES:
                        yield member.name, None
                        continue
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield member.name, handle.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DatasetError(f"{path}: not a readable tar archive ({error})") from None


def tar_names(path: Path) -> list[str]:
    """Names of an archive's member files, in archive order; nothing is extracted."""
    try:
        with tarfile.open(path) as archive:
            return [member.name for member in archive if member.isfile()]
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DatasetError(f"{path}: not a readable tar archive ({error})") from None


def is_tar(path: Path) -> bool:
    return path.is_file() and any(str(path).endswith(ext) for ext in (".tar", ".tar.gz", ".tgz"))
