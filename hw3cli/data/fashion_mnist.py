"""Fashion-MNIST: find the four IDX files, check them, and keep the whole set in memory as uint8.

Search order: an explicit folder; Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist); the cache
(~/.cache/hw3cli/fashion-mnist, where --download puts it); a torchvision root (<root>/FashionMNIST/raw).
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hw3cli.core.files import download as fetch
from hw3cli.core.files import open_input
from hw3cli.core.memory import require as require_memory
from hw3cli.data.sources import CACHE_DIR
from hw3cli.errors import Hw3Error

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE = CACHE_DIR / "fashion-mnist"  # where --download puts the four files
TORCHVISION_ROOT = CACHE_DIR / "torchvision"  # where torchvision's own download puts them
IMAGE_SHAPE = (28, 28)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {  # name -> (file stem, IDX magic number); 2051 = unsigned bytes in 3 dims, 2049 = in 1 dim
    "train_images": ("train-images-idx3-ubyte", 2051),
    "train_labels": ("train-labels-idx1-ubyte", 2049),
    "test_images": ("t10k-images-idx3-ubyte", 2051),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049),
}


@dataclass
class FashionMNIST:
    train_images: torch.Tensor  # (60000, 28, 28) uint8
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor  # (10000, 28, 28) uint8
    test_labels: torch.Tensor  # (10000,) int64

    def training(self, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The training images and labels, or only the first `limit` of them."""
        if limit:
            return self.train_images[:limit], self.train_labels[:limit]
        return self.train_images, self.train_labels


def _path(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_folder(data_dir: Path | None = None, torchvision_root: Path = TORCHVISION_ROOT) -> Path:
    candidates = [data_dir] if data_dir is not None else [DEBIAN_DIR, CACHE, torchvision_root / "FashionMNIST" / "raw"]
    for folder in candidates:
        if folder is not None and all(_path(folder, stem) for stem, _ in FILES.values()):
            return folder
    if data_dir is not None and not data_dir.is_dir():
        what = "not a folder" if data_dir.exists() else "no such folder"
        raise Hw3Error(f"{data_dir}: {what} (give the folder of the four Fashion-MNIST IDX files, or "
                       "add --download to fetch them there)")
    if data_dir is not None:
        missing = [stem for stem, _ in FILES.values() if _path(data_dir, stem) is None]
        raise Hw3Error(f"{data_dir} lacks the Fashion-MNIST files {', '.join(missing)} (.gz or not; --download "
                       "fetches them there)")
    raise Hw3Error(
        "Fashion-MNIST not found: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
        "pass --data with the four IDX files, or use --download"
    )


def download(folder: Path | None = None) -> Path:
    """The four gzipped IDX files fetched from torchvision's Fashion-MNIST mirror into `folder` (default: the
    cache), each checked against torchvision's MD5. They are fetched aside and moved in only when all four are
    whole, so a failed download leaves nothing behind."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    folder = Path(folder or CACHE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    except OSError as exc:
        raise Hw3Error(f"cannot download Fashion-MNIST into {folder} ({exc.strerror or exc})") from None
    try:
        for name, md5 in TorchvisionFashionMNIST.resources:
            fetch(TorchvisionFashionMNIST.mirrors[0] + name, aside / name, "md5", md5,
                  "pass --data with a local copy")
        for name, _ in TorchvisionFashionMNIST.resources:
            os.replace(aside / name, folder / name)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return folder


MAX_ITEMS = 1_000_000  # far beyond Fashion-MNIST's 60,000: a header asking for more is not this data set


def read_idx(path: Path, magic: int) -> np.ndarray:
    """One IDX file (gzipped or not), checked: magic number, 28x28 images, data length matching the header. The
    header is read first and only as many bytes as it announces are decompressed: a file that inflates to
    more (a gzip bomb, a file of many gzip members) is refused after reading one byte too many."""
    with open_input(path, "Fashion-MNIST file") as raw:
        try:
            stream = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
            head = stream.read(4)
            if len(head) < 4 or int.from_bytes(head, "big") != magic:
                found = int.from_bytes(head, "big") if len(head) == 4 else "missing"
                raise Hw3Error(f"{path} is not an IDX file of the expected type (magic number {found}, "
                               f"expected {magic})")
            dims = head[3]
            sizes = stream.read(4 * dims)
            if len(sizes) < 4 * dims:
                raise EOFError("the header is cut short")
            shape = [int.from_bytes(sizes[4 * i: 4 * i + 4], "big") for i in range(dims)]
            if dims == 3 and tuple(shape[1:]) != IMAGE_SHAPE:
                raise Hw3Error(f"{path} holds images of {shape[1:]} pixels, expected 28x28")
            if not shape or shape[0] > MAX_ITEMS:
                raise Hw3Error(f"{path}'s header announces {shape[0] if shape else 0:,} items; Fashion-MNIST has "
                               "60,000")
            expected = int(np.prod(shape))
            require_memory(2 * expected, f"{path}, whose header announces {expected:,} bytes")
            data = stream.read(expected + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise Hw3Error(f"cannot read {path}: {exc} (truncated or corrupt?)") from None
    if len(data) != expected:
        more = "more" if len(data) > expected else f"{len(data):,} bytes of"
        raise Hw3Error(f"{path} has {more} data than its header's {expected:,} bytes (truncated or corrupt?)")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def load_fashion_mnist(data_dir: Path | None = None, download_missing: bool = False) -> FashionMNIST:
    """The data set from `data_dir` (or the usual places); with `download_missing`, fetched there (or into the
    cache) when it is not found."""
    try:
        folder = find_folder(data_dir)
    except Hw3Error:
        if not download_missing:
            raise
        folder = download(data_dir)
    arrays = {key: read_idx(_path(folder, stem), magic) for key, (stem, magic) in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels) or len(images) == 0:
            raise Hw3Error(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
        if labels.max() > 9:
            raise Hw3Error(f"{folder}: the {split} labels hold values above 9")
    return FashionMNIST(
        torch.from_numpy(arrays["train_images"].copy()), torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        torch.from_numpy(arrays["test_images"].copy()), torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    )


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) to flat float vectors in [-1, 1], the generator's tanh range."""
    return images.reshape(images.shape[0], -1).float().mul_(2.0 / 255.0).sub_(1.0)


def image_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                  generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of (images in [-1, 1], labels) in a seeded random order, on the images' device; the last
    incomplete batch is dropped so every step sees the same batch size."""
    order = torch.randperm(len(images), generator=generator).to(images.device)
    for start in range(0, len(order) - batch_size + 1, batch_size):
        index = order[start:start + batch_size]
        yield to_unit_range(images[index]), labels[index]


class ImageSource:
    """Training images for the GAN loop (a data.sources.GanSource): an epoch is one pass in a seeded random order;
    `draw` is a random batch for an unrolled look-ahead step. `data`, where given, is the whole set, whose test
    images the scores compare with."""

    sample_shape = IMAGE_SHAPE
    classes = CLASSES
    density_samples = 0

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, data: FashionMNIST | None = None):
        self.images, self.labels = images, labels  # uint8 images and their labels, on the training device
        self.size = len(images)
        self.data = data

    @classmethod
    def of(cls, data: FashionMNIST, limit: int, device: torch.device) -> ImageSource:
        """The training images (the first `limit`; 0: all) of `data` on `device`."""
        images, labels = data.training(limit)
        return cls(images.to(device), labels.to(device), data)

    def epoch(self, batch_size: int, rng: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return image_batches(self.images, self.labels, batch_size, rng)

    def draw(self, size: int, rng: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, len(self.images), (size,), device=self.images.device, generator=rng)
        return to_unit_range(self.images[index])

    def items_per_epoch(self, batch_size: int) -> int:
        return (len(self.images) // batch_size) * batch_size

    def scored_samples(self, grid: int) -> int:
        return grid

    @staticmethod
    def to_samples(output: torch.Tensor) -> torch.Tensor:
        return output.add(1).div(2).clamp(0, 1).reshape(-1, *IMAGE_SHAPE)

    def score(self, final: torch.Tensor, over_training: dict[int, torch.Tensor]) -> dict:
        """The spread of the final fixed-noise samples beside that of 1,000 real test images (the graders, which
        need models of their own, score the rest)."""
        real = to_unit_range(self.data.test_images[:1000]).add(1).div(2)
        return {"sample_diversity": pixel_diversity(final), "real_diversity": pixel_diversity(real)}


def pixel_diversity(images: torch.Tensor) -> float:
    """Mean over pixels of the standard deviation across images: about 0 when every sample is the same."""
    return float(images.reshape(len(images), -1).float().std(0).mean())
