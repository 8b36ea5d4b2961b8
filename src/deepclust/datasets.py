"""Datasets: MNIST from a folder or a checksummed cache, and the bundled 10,000-image sample.

Every MNIST file is verified by the SHA-256 of its *decompressed* bytes, so gzipped and plain copies
are accepted alike and a corrupted or substituted file is refused with both hashes in the message.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from importlib import resources
from pathlib import Path
from typing import Union

import numpy as np

from deepclust.exceptions import DeepclustError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "DEFAULT_MIRROR",
    "MNIST_FILES",
    "MNIST_SHA256",
    "load_mnist",
    "load_mnist_sample",
    "read_idx",
]

DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist"
MIRROR_ENV = "DEEPCLUST_MNIST_MIRROR"
HOME_ENV = "DEEPCLUST_HOME"

#: SHA-256 of each decompressed MNIST file.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: (images file, labels file) per split.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLITS = ("train", "test", "all")

_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_DOWNLOAD_TIMEOUT_S = 60


# --------------------------------------------------------------------------------------------------
# IDX files


def _decompress(raw: bytes, shown: str) -> bytes:
    """Gunzip ``raw`` if it starts with the gzip magic number, else return it unchanged."""
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DeepclustError(f"cannot read {shown}: corrupt gzip data ({exc})") from None


def _read_file_bytes(path: Path, shown: str) -> bytes:
    """The (decompressed) bytes of a file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DeepclustError(f"{shown}: no such file") from None
    except OSError as exc:
        raise DeepclustError(f"cannot read {shown}: {exc.strerror or exc}") from None
    return _decompress(raw, shown)


def parse_idx(data: bytes, shown: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file (already decompressed) into an array of native byte order.

    Layout: two zero bytes, a dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian
    uint32, then the data, big-endian, row-major.
    """
    if len(data) < 4:
        raise DeepclustError(f"{shown}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DeepclustError(
            f"{shown}: not an IDX file (bad magic number {data[:4].hex()}; expected 0000xxxx)"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DeepclustError(f"{shown}: not an IDX file (unknown data type code 0x{code:02x})")
    if ndim == 0:
        raise DeepclustError(f"{shown}: IDX file declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DeepclustError(
            f"{shown}: truncated IDX file: the header needs {header} bytes, "
            f"the file has {len(data)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise DeepclustError(
            f"{shown}: truncated IDX file: shape {dims} needs {expected} bytes of data, "
            f"found {found}"
        )
    if found > expected:
        raise DeepclustError(
            f"{shown}: IDX file has {found - expected} unexpected bytes after the data "
            f"for shape {dims}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array whose shape is the file's dimensions."""
    shown = str(path)
    return parse_idx(_read_file_bytes(Path(os.fspath(path)).expanduser(), shown), shown)


# --------------------------------------------------------------------------------------------------
# checksums and locating files


def _verify(data: bytes, name: str, shown: str) -> None:
    """Refuse ``data`` (decompressed) unless its SHA-256 is the one recorded for ``name``."""
    expected = MNIST_SHA256[name]
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DeepclustError(
            f"{shown}: checksum mismatch: SHA-256 of the decompressed data is {actual}, expected "
            f"{expected}; the file is corrupt or not the official {name}. Delete it and fetch it "
            "again"
        )


def _candidates(folder: Path, name: str) -> list[Path]:
    """Names an MNIST file may have in a folder, gzipped or not (also 'images.idx3' spelling)."""
    dotted = name.replace("-idx", ".idx")
    return [folder / n for base in (name, dotted) for n in (base, base + ".gz")]


def _find(folder: Path, name: str) -> Path | None:
    return next((p for p in _candidates(folder, name) if p.is_file()), None)


def _default_cache_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else Path.home() / ".cache" / "deepclust"


def _resolve_mirror(mirror: str | None) -> str:
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
    return mirror.rstrip("/")


def _download(name: str, folder: Path, mirror: str) -> bytes:
    """Fetch ``<mirror>/<name>.gz`` into ``folder`` atomically; return the verified data.

    The file is written to a temporary name in ``folder`` and renamed into place only after its
    checksum matches; on any failure nothing is left behind.
    """
    url = f"{mirror}/{name}.gz"
    target = folder / f"{name}.gz"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise DeepclustError(f"cannot create the cache folder {folder}: {reason}") from None
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                url, timeout=_DOWNLOAD_TIMEOUT_S
            ) as response:
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise DeepclustError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DeepclustError(f"cannot download {url}: {reason}") from None
        data = _read_file_bytes(tmp, f"{url} (downloaded)")
        _verify(data, name, f"{url} (downloaded)")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return data


def _load_file(folder: Path, name: str, download: bool, mirror: str, hint: str) -> np.ndarray:
    """Read, verify and parse one MNIST file from ``folder``, fetching it first if allowed."""
    found = _find(folder, name)
    if found is not None:
        shown = str(found)
        data = _read_file_bytes(found, shown)
        _verify(data, name, shown)
    elif download:
        shown = str(folder / f"{name}.gz")
        data = _download(name, folder, mirror)
    else:
        raise DeepclustError(f"MNIST file {name}(.gz) not found in {folder}; {hint}")
    return parse_idx(data, shown)


def _images_labels(
    images: np.ndarray, labels: np.ndarray, shown: str
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 28, 28) and labels (n,) -> X float32 in [0, 1] and y int64."""
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DeepclustError(
            f"{shown}: images of shape {images.shape} do not match labels of shape {labels.shape}"
        )
    X = images.astype(np.float32)
    X /= 255.0
    return X, labels.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# public loaders


def load_mnist(
    path: PathLike | None = None,
    *,
    split: str = "all",
    download: bool = False,
    mirror: str | None = None,
    cache_dir: PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST: X float32 in [0, 1] of shape (n, 28, 28) and y int64 of shape (n,).

    ``split`` is "train" (60,000), "test" (10,000) or "all" (70,000: train then test).
    ``path`` is a folder holding the IDX files (``train-images-idx3-ubyte`` etc., gzipped or not).
    Without it, the files live in ``cache_dir/mnist`` (default ``$DEEPCLUST_HOME`` or
    ``~/.cache/deepclust``). Missing files are fetched from ``<mirror>/<name>.gz`` when
    ``download=True`` (mirror: the argument, else ``$DEEPCLUST_MNIST_MIRROR``, else
    :data:`DEFAULT_MIRROR`). Every file is checked against its SHA-256.
    """
    if split not in SPLITS:
        raise DeepclustError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if path is not None:
        folder = Path(os.fspath(path)).expanduser()
        if folder.exists() and not folder.is_dir():
            raise DeepclustError(f"{path}: expected a folder holding the MNIST IDX files")
        hint = "pass download=True to fetch it there, or point path at the folder that holds it"
    else:
        if cache_dir is not None:
            base = Path(os.fspath(cache_dir)).expanduser()
        else:
            base = _default_cache_dir()
        folder = base / "mnist"
        hint = "pass download=True to fetch it (about 11 MB)"
    resolved_mirror = _resolve_mirror(mirror)
    parts = ("train", "test") if split == "all" else (split,)
    Xs, ys = [], []
    for part in parts:
        img_name, lbl_name = MNIST_FILES[part]
        images = _load_file(folder, img_name, download, resolved_mirror, hint)
        labels = _load_file(folder, lbl_name, download, resolved_mirror, hint)
        X, y = _images_labels(images, labels, str(folder))
        Xs.append(X)
        ys.append(y)
    if len(Xs) == 1:
        return Xs[0], ys[0]
    return np.concatenate(Xs), np.concatenate(ys)


def load_mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST test split: X float32 in [0, 1] of shape (10000, 28, 28), y int64 (10000,).

    Works offline; the files ship inside the package and are checked against their SHA-256.
    """
    folder = resources.files("deepclust") / "data" / "mnist_sample"
    arrays = []
    for name in MNIST_FILES["test"]:
        res = folder / f"{name}.gz"
        shown = f"deepclust/data/mnist_sample/{name}.gz"
        try:
            raw = res.read_bytes()
        except OSError as exc:
            raise DeepclustError(
                f"{shown}: the bundled MNIST sample is missing from the installation ({exc})"
            ) from None
        data = _decompress(raw, shown)
        _verify(data, name, shown)
        arrays.append(parse_idx(data, shown))
    return _images_labels(arrays[0], arrays[1], "deepclust/data/mnist_sample")
