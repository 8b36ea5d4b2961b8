"""Tests for the data layer: readers (tables, arrays, image folders, labels) and datasets (IDX, MNIST)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import re
import shutil
import struct
import threading
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepclust.datasets as datasets
from deepclust.data import LoadedData, read_data, read_labels
from deepclust.data.text import read_documents
from deepclust.datasets import load_mnist, load_mnist_sample, read_idx
from deepclust.exceptions import DeepclustError

SAMPLE = resources.files("deepclust") / "data" / "mnist_sample"
T10K_IMAGES = "t10k-images-idx3-ubyte"
T10K_LABELS = "t10k-labels-idx1-ubyte"


# --------------------------------------------------------------------------------------------------
# helpers


def idx_bytes(arr: np.ndarray) -> bytes:
    """Build an IDX file by hand (independently of the reader)."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    code = codes[arr.dtype.str[1:]]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def sample_bytes(name: str) -> bytes:
    """Decompressed bytes of a bundled sample file."""
    return gzip.decompress((SAMPLE / f"{name}.gz").read_bytes())


@pytest.fixture(scope="module")
def mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist_sample()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Server:
    """A static HTTP server on 127.0.0.1 serving one folder, in a thread."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve(no_proxy: None) -> Iterator:
    servers: list[Server] = []

    def start(folder: Path) -> Server:
        servers.append(Server(folder))
        return servers[-1]

    yield start
    for s in servers:
        if s.thread.is_alive():
            s.stop()


def all_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------------------------------
# bundled sample and IDX


def test_bundled_sample_loads(mnist_sample: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = mnist_sample
    assert X.shape == (10000, 28, 28)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    counts = np.bincount(y, minlength=10)
    assert counts.sum() == 10000 and len(counts) == 10 and (counts > 800).all()
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits
    # the bundled files are the official ones
    for name in (T10K_IMAGES, T10K_LABELS):
        assert hashlib.sha256(sample_bytes(name)).hexdigest() == datasets.MNIST_SHA256[name]


def test_bundled_sample_checksum_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(datasets.MNIST_SHA256, T10K_LABELS, "0" * 64)
    with pytest.raises(DeepclustError, match=rf"{T10K_LABELS}\.gz: checksum mismatch.*expected 0{{64}}"):
        load_mnist_sample()


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-5, 0, 70000, 2**30], dtype=np.int32),
        np.linspace(-1, 1, 6).reshape(3, 2),
        np.array([[1, -2], [3, -4]], dtype=np.int16),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path: Path, arr: np.ndarray, gz: bool) -> None:
    raw = idx_bytes(arr)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    out = read_idx(path)
    assert out.shape == arr.shape
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_idx_errors(tmp_path: Path) -> None:
    raw = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    bad = tmp_path / "short.idx"
    bad.write_bytes(raw[:-7])
    with pytest.raises(DeepclustError, match=r"short\.idx: truncated IDX file.*needs 60 bytes.*found 53"):
        read_idx(bad)
    bad.write_bytes(raw[:9])  # cut inside the dimensions
    with pytest.raises(DeepclustError, match=r"short\.idx: truncated IDX file: the header"):
        read_idx(bad)
    gzbad = tmp_path / "short.idx.gz"
    gzbad.write_bytes(gzip.compress(raw)[:-10])
    with pytest.raises(DeepclustError, match=r"short\.idx\.gz.*corrupt gzip"):
        read_idx(gzbad)
    long = tmp_path / "long.idx"
    long.write_bytes(raw + b"\x00\x00")
    with pytest.raises(DeepclustError, match=r"long\.idx: .*2 unexpected bytes"):
        read_idx(long)
    magic = tmp_path / "magic.idx"
    magic.write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(DeepclustError, match=r"magic\.idx: not an IDX file"):
        read_idx(magic)
    code = tmp_path / "code.idx"
    code.write_bytes(b"\x00\x00\x07" + raw[3:])
    with pytest.raises(DeepclustError, match=r"code\.idx: .*unknown data type code 0x07"):
        read_idx(code)
    with pytest.raises(DeepclustError, match=r"nothere\.idx: no such file"):
        read_idx(tmp_path / "nothere.idx")


def test_load_mnist_from_folder_plain_and_gz(tmp_path: Path, mnist_sample) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / T10K_IMAGES).write_bytes(sample_bytes(T10K_IMAGES))  # plain
    shutil.copyfile(str(SAMPLE / f"{T10K_LABELS}.gz"), folder / f"{T10K_LABELS}.gz")  # gzipped
    X, y = load_mnist(folder, split="test")
    np.testing.assert_array_equal(X, mnist_sample[0])
    np.testing.assert_array_equal(y, mnist_sample[1])
    # the train files are absent: the message says where it looked and how to fetch them
    with pytest.raises(DeepclustError, match=r"train-images-idx3-ubyte\(\.gz\) not found in .*mnist.*download=True"):
        load_mnist(folder, split="all")
    with pytest.raises(DeepclustError, match="split must be one of train, test, all"):
        load_mnist(folder, split="validation")


def test_load_mnist_all_is_train_then_test(tmp_path: Path, monkeypatch, mnist_sample) -> None:
    # tiny stand-in train files, accepted by recording their hashes in the checksum table
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = np.full((5, 28, 28), 255, dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    for name, arr in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        raw = idx_bytes(arr)
        (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        monkeypatch.setitem(datasets.MNIST_SHA256, name, hashlib.sha256(raw).hexdigest())
    for name in (T10K_IMAGES, T10K_LABELS):
        shutil.copyfile(str(SAMPLE / f"{name}.gz"), folder / f"{name}.gz")
    X, y = load_mnist(folder)
    assert X.shape == (10005, 28, 28) and y.shape == (10005,)
    assert (X[:5] == 1.0).all() and y[:5].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(X[5:], mnist_sample[0])
    Xtr, ytr = load_mnist(folder, split="train")
    assert Xtr.shape == (5, 28, 28) and ytr.dtype == np.int64


def test_load_mnist_tampered_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    shutil.copyfile(str(SAMPLE / f"{T10K_IMAGES}.gz"), folder / f"{T10K_IMAGES}.gz")
    data = bytearray(sample_bytes(T10K_LABELS))
    data[100] = (data[100] + 1) % 10  # still a valid IDX file, one label changed
    (folder / f"{T10K_LABELS}.gz").write_bytes(gzip.compress(bytes(data)))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    expected = datasets.MNIST_SHA256[T10K_LABELS]
    with pytest.raises(DeepclustError) as info:
        load_mnist(folder, split="test")
    msg = str(info.value)
    assert f"{T10K_LABELS}.gz: checksum mismatch" in msg
    assert actual in msg and expected in msg


def test_load_mnist_missing_cache_without_download(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPCLUST_HOME", str(tmp_path / "home"))
    with pytest.raises(DeepclustError, match=r"t10k-images-idx3-ubyte\(\.gz\) not found in .*home.mnist; pass download=True"):
        load_mnist(split="test")
    assert not (tmp_path / "home").exists()  # nothing created without download=True


# --------------------------------------------------------------------------------------------------
# downloads against a local HTTP server


def _served_folder(tmp_path: Path, corrupt: bool = False) -> Path:
    served = tmp_path / "served"
    served.mkdir()
    for name in (T10K_IMAGES, T10K_LABELS):
        data = sample_bytes(name)
        if corrupt and name == T10K_IMAGES:
            data = data[:-1] + bytes([(data[-1] + 1) % 256])
        (served / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))
    return served


def test_download_then_cache_hit(tmp_path: Path, serve, monkeypatch, mnist_sample) -> None:
    server = serve(_served_folder(tmp_path))
    home = tmp_path / "home"
    # first call: cache and mirror from the environment
    monkeypatch.setenv("DEEPCLUST_HOME", str(home))
    monkeypatch.setenv("DEEPCLUST_MNIST_MIRROR", server.url + "/")
    X, y = load_mnist(split="test", download=True)
    np.testing.assert_array_equal(X, mnist_sample[0])
    np.testing.assert_array_equal(y, mnist_sample[1])
    assert all_files(home) == [f"{T10K_IMAGES}.gz", f"{T10K_LABELS}.gz"]  # no temp files left
    # second call: server gone, explicit cache_dir, download=False -> served from the cache
    server.stop()
    monkeypatch.delenv("DEEPCLUST_HOME")
    X2, y2 = load_mnist(split="test", cache_dir=home)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    # and with download=True nothing is fetched either (the server is down)
    X3, _ = load_mnist(split="test", cache_dir=home, download=True, mirror="http://127.0.0.1:9")
    assert X3.shape == (10000, 28, 28)


def test_download_corrupt_bytes_leaves_nothing(tmp_path: Path, serve) -> None:
    server = serve(_served_folder(tmp_path, corrupt=True))
    cache = tmp_path / "cache"
    with pytest.raises(DeepclustError, match=rf"{T10K_IMAGES}\.gz \(downloaded\): checksum mismatch"):
        load_mnist(split="test", download=True, mirror=server.url, cache_dir=cache)
    assert all_files(cache) == []


def test_download_http_error(tmp_path: Path, serve) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    server = serve(empty)
    cache = tmp_path / "cache"
    with pytest.raises(DeepclustError, match=rf"cannot download .*/{T10K_IMAGES}\.gz: HTTP 404"):
        load_mnist(split="test", download=True, mirror=server.url, cache_dir=cache)
    assert all_files(cache) == []


# --------------------------------------------------------------------------------------------------
# tables


def test_csv_with_header_and_label_column(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,label,c\n1,2.5,cat,3\n4,5,dog,6\n7,8,cat,9\n")
    data = read_data(path, label_column="label")
    assert isinstance(data, LoadedData)
    assert data.kind == "table" and data.source == str(path)
    assert data.X.dtype == np.float32 and data.X.shape == (3, 3)
    np.testing.assert_array_equal(data.X, [[1, 2.5, 3], [4, 5, 6], [7, 8, 9]])
    assert data.feature_names == ["a", "b", "c"]
    assert data.y.tolist() == ["cat", "dog", "cat"]
    assert data.names is None
    path2 = tmp_path / "ints.csv"
    path2.write_text("x,y\n0.5,1\n1.5,0\n")
    d2 = read_data(path2, label_column="y")
    assert d2.y.dtype == np.int64 and d2.y.tolist() == [1, 0]
    assert read_data(path2).y is None


def test_tsv_and_pandas_index_column(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("f1\tf2\n1\t2\n3\t4\n")
    data = read_data(path)
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert data.feature_names == ["f1", "f2"]
    # DataFrame.to_csv() writes the index as an unnamed first column: it is not a feature
    csv = tmp_path / "indexed.csv"
    pd.DataFrame({"u": [0.1, 0.2, 0.3], "v": [1.0, 2.0, 3.0]}).to_csv(csv)
    d = read_data(csv)
    assert d.feature_names == ["u", "v"] and d.X.shape == (3, 2)
    # trailing separators (an empty, unnamed column) and padded names
    padded = tmp_path / "padded.csv"
    padded.write_text(" a , b ,\n1,2,\n3,4,\n")
    d = read_data(padded, label_column="b")
    assert d.feature_names == ["a"] and d.y.tolist() == [2, 4]


def test_csv_without_header(tmp_path: Path) -> None:
    path = tmp_path / "nohead.csv"
    path.write_text("1,2,0\n3,4,1\n5,6,1\n")
    data = read_data(path)
    assert data.X.shape == (3, 3) and data.feature_names is None and data.y is None
    np.testing.assert_array_equal(data.X[0], [1, 2, 0])
    labelled = read_data(path, label_column="2")  # columns are numbered when there is no header
    assert labelled.X.shape == (3, 2) and labelled.y.tolist() == [0, 1, 1]
    # a string label column without a header: the first row is not all text, so it is data
    path2 = tmp_path / "nohead2.csv"
    path2.write_text("1,2,cat\n3,4,dog\n")
    assert read_data(path2, label_column="2").y.tolist() == ["cat", "dog"]
    missing = tmp_path / "nohead3.csv"  # a missing-value marker over numbers is not a column name
    missing.write_text("1,?,0\n3,4,1\n5,NA,1\n")
    with pytest.raises(DeepclustError, match=r"nohead3\.csv: column '1' has a missing value at row 1$"):
        read_data(missing, label_column="2")  # columns numbered, the first row data


@pytest.mark.parametrize("header", ["2019,2020,2021,species", "a,b,inf,species", "x1,x2,1e3,species"])
def test_a_header_with_names_that_read_as_numbers_is_a_header(tmp_path: Path, header: str) -> None:
    path = tmp_path / "years.csv"
    rows = [f"{i},{i / 2},{-i},{'xyz'[i % 3]}" for i in range(12)]
    path.write_text("\n".join([header, *rows]) + "\n")
    data = read_data(path, label_column="species")
    assert data.feature_names == header.split(",")[:3] and data.X.shape == (12, 3)
    assert data.y.tolist() == list("xyz" * 4)


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_a_compressed_text_table_reads_as_the_table(tmp_path: Path, compression: str) -> None:
    frame = pd.DataFrame({"a": [0.5, 1.5, 2.5], "b": [1, 2, 3], "kind": ["x", "y", "x"]})
    plain, packed = tmp_path / "t.csv", tmp_path / f"t.csv.{compression}"
    frame.to_csv(plain, index=False)
    frame.to_csv(packed, index=False)  # pandas compresses by the suffix
    assert packed.read_bytes() != plain.read_bytes()
    loaded = read_data(packed, label_column="kind")
    assert loaded.feature_names == ["a", "b"] and loaded.y.tolist() == ["x", "y", "x"]
    np.testing.assert_array_equal(loaded.X, read_data(plain, label_column="kind").X)
    european = tmp_path / f"e.csv.{compression}"  # the separator test reads the first line through the codec
    frame.to_csv(european, index=False, sep=";", decimal=",")
    np.testing.assert_array_equal(read_data(european, label_column="kind").X, loaded.X)


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    df = pd.DataFrame(
        {"a": np.arange(5, dtype=np.int64), "b": np.linspace(0, 1, 5), "cls": list("xyxyx")}
    )
    df.to_parquet(path)
    data = read_data(path, label_column="cls")
    assert data.kind == "table" and data.feature_names == ["a", "b"]
    np.testing.assert_allclose(data.X, df[["a", "b"]].to_numpy(), rtol=1e-6)
    assert data.y.tolist() == list("xyxyx")
    with pytest.raises(DeepclustError, match=r"data\.parquet: non-numeric columns: 'cls'"):
        read_data(path)
    nulls = tmp_path / "nulls.pq"
    pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64")}).to_parquet(nulls)
    with pytest.raises(DeepclustError, match=r"nulls\.pq: column 'a' has a missing value at row 2"):
        read_data(nulls)


def test_a_csv_of_semicolons_is_read_with_decimal_commas(tmp_path: Path) -> None:
    # what spreadsheets write where the comma is the decimal mark: to_csv(sep=";", decimal=",")
    european = tmp_path / "european.csv"
    european.write_text("a;b\n6,99;-8,28\n1,5;2\n")
    loaded = read_data(european)
    assert loaded.feature_names == ["a", "b"]
    np.testing.assert_array_equal(loaded.X, np.array([[6.99, -8.28], [1.5, 2.0]], dtype=np.float32))
    headerless = tmp_path / "headerless.csv"  # a first row of numbers with decimal commas between semicolons
    headerless.write_text("6,99;-8,28\n1,5;2\n")
    np.testing.assert_array_equal(read_data(headerless).X, loaded.X)
    grouped = tmp_path / "grouped.csv"  # points between groups of three digits, as such spreadsheets write them
    grouped.write_text("a;b;c;d\n1.234,5;12,5 %;€ 1.000;(2,5)\n-1.000.000;7;€ 3,25;4\n")
    expected = np.array([[1234.5, 12.5, 1000, -2.5], [-1e6, 7, 3.25, 4]], dtype=np.float32)
    np.testing.assert_array_equal(read_data(grouped).X, expected)
    grouped.write_text("1.234,5;12,5\n-1.000.000;7\n")  # no header: the first row's numbers are grouped too
    np.testing.assert_array_equal(read_data(grouped).X, expected[:, :2])
    grouped.write_text("1.234,5;12,5 %;€ 1.000;(2,5)\n-1.000.000;7;€ 3,25;4\n")  # no header, marks in the first row
    np.testing.assert_array_equal(read_data(grouped).X, expected)
    point = tmp_path / "point.csv"  # "1.5" groups no thousands: it stays 1.5 (pandas' thousands="." gives 15)
    point.write_text("a;b\n1,5;1.5\n2;2.5\n")
    assert read_data(point).X.tolist() == [[1.5, 1.5], [2.0, 2.5]]
    declared = tmp_path / "declared.csv"  # Excel's first line "sep=;" names the separator
    declared.write_text("sep=;\na;b\n6,99;-8,28\n1,5;2\n")
    assert read_data(declared).feature_names == ["a", "b"]
    np.testing.assert_array_equal(read_data(declared).X, np.array([[6.99, -8.28], [1.5, 2.0]], dtype=np.float32))
    declared.write_text("# exported by a lab instrument\n# units: mm\nsep=|\na|b\n6.5|-8\n")  # comments first
    assert read_data(declared).feature_names == ["a", "b"] and read_data(declared).X.tolist() == [[6.5, -8.0]]
    declared.write_text("#,b\n1,2\n2,4\n")  # a column named "#" (row numbers) is a header, not a comment
    assert read_data(declared).feature_names == ["#", "b"] and read_data(declared).X.tolist() == [[1, 2], [2, 4]]
    plain = tmp_path / "plain.csv"  # a comma in the first line, and not only numbers: comma-separated, as always
    plain.write_text("a,b;c\n1,2\n")
    loaded = read_data(plain)
    assert loaded.feature_names == ["a", "b;c"] and loaded.X.tolist() == [[1.0, 2.0]]


def test_a_text_file_that_is_not_utf8_is_read_as_windows_1252_with_a_warning(tmp_path: Path) -> None:
    # what Excel saves as "CSV (semicolon delimited)" on a French Windows: cp1252, not UTF-8
    table = tmp_path / "excel.csv"
    table.write_bytes("Région;Prix €;saison\n1,5;€ 3,25;été\n2;€ 4,5;hiver\n".encode("cp1252"))
    notice = "excel.csv: not UTF-8 text; read as Windows-1252, the encoding Excel saves in on Western European Windows"
    with pytest.warns(UserWarning, match=f"^{re.escape(str(tmp_path))}/{re.escape(notice)}$"):
        loaded = read_data(table, label_column="saison")
    assert loaded.feature_names == ["Région", "Prix €"] and loaded.y.tolist() == ["été", "hiver"]
    np.testing.assert_array_equal(loaded.X, np.array([[1.5, 3.25], [2, 4.5]], dtype=np.float32))
    table.write_bytes("\ufeffRégion;Prix €;saison\n1,5;€ 3,25;été\n2;€ 4,5;hiver\n".encode("utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # UTF-8 with a byte-order mark: read without a notice, the mark dropped
        assert read_data(table, label_column="saison").feature_names == ["Région", "Prix €"]
    documents = tmp_path / "notes.txt"
    documents.write_bytes("Café crème\n“Thé” vert\n".encode("cp1252"))
    with pytest.warns(UserWarning, match=r"^notes\.txt: not UTF-8 text; read as Windows-1252"):
        assert read_documents(documents, "notes.txt").texts == ["Café crème", "“Thé” vert"]
    neither = tmp_path / "neither.csv"  # 0x81 is no character in Windows-1252 either
    neither.write_bytes(b"a,b\n1,\x81\n")
    with pytest.raises(DeepclustError, match=r"^cannot read .*/neither\.csv: neither UTF-8 nor Windows-1252 text$"):
        read_data(neither)


def test_table_errors(tmp_path: Path) -> None:
    def write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    with pytest.raises(DeepclustError, match=r"missing\.csv: no such file"):
        read_data(tmp_path / "missing.csv")
    with pytest.raises(DeepclustError, match=r"data\.xlsx: unsupported file type '\.xlsx'; supported are \.csv, \.tsv"):
        read_data(write("data.xlsx", "a\n1\n"))
    with pytest.raises(DeepclustError, match=r"empty\.csv: the file is empty"):
        read_data(write("empty.csv", ""))
    with pytest.raises(DeepclustError, match=r"blank\.csv: the file is empty"):
        read_data(write("blank.csv", "\n\n"))
    with pytest.raises(DeepclustError, match=r"head\.csv: no data rows"):
        read_data(write("head.csv", "a,b,c\n"))
    text = write("data.csv", "a,colour,b,name\n1,red,2,x\n3,blue,4,y\n")
    with pytest.raises(DeepclustError, match=r"data\.csv: non-numeric columns: 'colour', 'name'\. Remove them, or name the label column \(--label-column"):
        read_data(text)
    with pytest.raises(DeepclustError, match=r"data\.csv: no column named 'foo'; columns are: a, colour, b, name$"):
        read_data(text, label_column="foo")
    nan = write("nan.csv", "a,b\n1,2\n3,4\n5,6\n7,8\n9,\n")
    with pytest.raises(DeepclustError, match=r"nan\.csv: column 'b' has a missing value at row 5"):
        read_data(nan)
    inf = write("inf.csv", "a,b\n1,2\n3,inf\n")
    with pytest.raises(DeepclustError, match=r"inf\.csv: column 'b' has an infinite value at row 2"):
        read_data(inf)
    big = write("big.csv", "a,b\n1,2\n3,1e300\n")
    with pytest.raises(DeepclustError, match=r"big\.csv: column 'b' has the value 1e\+300, too large for float32, at row 2"):
        read_data(big)
    typo = write("typo.csv", "a,b\n1,2\n3,4\n5,4..5\n")
    with pytest.raises(DeepclustError, match=r"typo\.csv: column 'b' has a non-numeric value '4\.\.5' at row 3"):
        read_data(typo)
    mixed = write("mixed.csv", "1,x2,3\n1,2,3\n4,5,6\n")  # text over numbers in one column only: still a header
    assert read_data(mixed).feature_names == ["1", "x2", "3"]
    mixed = write("mixed.csv", "1,b,3\n1,a,3\n4,c,6\n")  # text over text found below: data
    with pytest.raises(DeepclustError, match=r"mixed\.csv: non-numeric columns: '1'"):
        read_data(mixed)
    nolab = write("nolab.csv", "a,label\n1,x\n2,\n")
    with pytest.raises(DeepclustError, match=r"nolab\.csv: label column 'label' has a missing value at row 2"):
        read_data(nolab, label_column="label")
    only = write("only.csv", "label\nx\ny\n")
    with pytest.raises(DeepclustError, match=r"only\.csv: no feature columns"):
        read_data(only, label_column="label")
    semi = write("semi.tsv", "a;b\n1;2\n")
    with pytest.raises(DeepclustError, match=r"semi\.tsv: found a single column whose values contain ';'; deepclust "
                       r"reads \.csv files as comma-separated \(or semicolon-separated when the first line is\) "
                       r"and \.tsv/\.tab files as tab-separated, so rename the file or change its separator$"):
        read_data(semi)
    ragged = write("ragged.csv", "1,2\n3,4,5,6\n")
    with pytest.raises(DeepclustError, match=r"cannot read .*ragged\.csv"):
        read_data(ragged)
    # a field more than the header: pandas would make the first column the index and shift the rest
    longer = write("longer.csv", "a,b\n1,2,3\n4,5\n")
    with pytest.raises(DeepclustError, match=r"longer\.csv: some rows have more fields than the header's 2$"):
        read_data(longer)
    longer_semi = write("longer_semi.csv", "a;b,c\n1,2,3,4\n")
    with pytest.raises(DeepclustError, match=r"longer_semi\.csv: some rows have more fields than the header's 2; the "
                       r"header holds ';': deepclust reads \.csv files as comma-separated \(or semicolon"):
        read_data(longer_semi)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x82\x00\x90" * 20)
    with pytest.raises(DeepclustError, match=r"binary\.csv"):
        read_data(binary)
    bad_pq = tmp_path / "bad.parquet"
    bad_pq.write_bytes(b"this is not parquet at all")
    with pytest.raises(DeepclustError, match=r"cannot read .*bad\.parquet: "):
        read_data(bad_pq)


# --------------------------------------------------------------------------------------------------
# arrays


def test_a_separator_at_the_end_of_every_row_is_not_an_index_column(tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_text("a,b\n0.5,5.1,\n-0.5,4.9,\n1.5,3.3,\n")
    data = read_data(path)
    assert data.feature_names == ["a", "b"]
    np.testing.assert_array_equal(data.X, np.array([[0.5, 5.1], [-0.5, 4.9], [1.5, 3.3]], np.float32))


def test_npy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for arr in (rng.normal(size=(6, 3)), rng.random((4, 5, 5)).astype(np.float32),
                rng.integers(0, 255, size=(3, 1, 4, 4), dtype=np.uint8)):
        path = tmp_path / "x.npy"
        np.save(path, arr)
        data = read_data(path)
        assert data.kind == "array" and data.y is None and data.feature_names is None
        assert data.X.dtype == np.float32 and data.X.shape == arr.shape
        np.testing.assert_allclose(data.X, arr.astype(np.float32))
        del data  # release the memory map before the file is overwritten


def test_npz(tmp_path: Path) -> None:
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=np.array([0, 1, 1, 0]))
    data = read_data(path)
    np.testing.assert_array_equal(data.X, X)
    assert data.y.tolist() == [0, 1, 1, 0] and data.y.dtype == np.int64
    np.savez(path, data=X, labels=np.array(["a", "b", "a", "b"]))
    assert read_data(path).y.tolist() == ["a", "b", "a", "b"]
    np.savez(path, whatever=X)  # a single array is the data
    d = read_data(path)
    assert d.X.shape == (4, 3) and d.y is None
    np.savez(path, X=X, truth=np.array([3, 2, 1, 0]))
    assert read_data(path, label_column="truth").y.tolist() == [3, 2, 1, 0]


class _Trap:
    """Unpickling this object creates a file; the readers must never unpickle."""

    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def __reduce__(self):
        return (Path.touch, (self.flag,))


def test_array_errors(tmp_path: Path) -> None:
    p = tmp_path / "a.npy"
    np.save(p, np.arange(5.0))
    with pytest.raises(DeepclustError, match=r"a\.npy: the array is 1-D with shape \(5,\); reshape it"):
        read_data(p)
    np.save(p, np.zeros((2, 2, 2, 2, 2)))
    with pytest.raises(DeepclustError, match=r"a\.npy: the array has 5 dimensions"):
        read_data(p)
    np.save(p, np.zeros((0, 3)))
    with pytest.raises(DeepclustError, match=r"a\.npy: the array has no rows"):
        read_data(p)
    np.save(p, np.array([["a", "b"]]))
    with pytest.raises(DeepclustError, match=r"a\.npy: the array has non-numeric dtype <U1"):
        read_data(p)
    arr = np.ones((3, 4))
    arr[1, 2] = np.nan
    np.save(p, arr)
    with pytest.raises(DeepclustError, match=r"a\.npy: the array has a missing \(NaN\) value at index \[1, 2\]"):
        read_data(p)

    # object arrays need pickle: refused, and nothing is unpickled
    flag = tmp_path / "unpickled"
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([[_Trap(flag)]], dtype=object), allow_pickle=True)
    with pytest.raises(DeepclustError, match=r"obj\.npy: .*Python objects.*never unpickles"):
        read_data(obj)
    with pytest.raises(DeepclustError, match=r"obj\.npy: .*never unpickles"):
        read_labels(obj)
    objz = tmp_path / "obj.npz"
    np.savez(objz, X=np.array([[_Trap(flag)]], dtype=object))
    with pytest.raises(DeepclustError, match=r"obj\.npz: array 'X' holds Python objects"):
        read_data(objz)
    assert not flag.exists()

    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"definitely not numpy" * 3)
    with pytest.raises(DeepclustError, match=r"cannot read garbage\.npy|cannot read .*garbage\.npy: not a valid \.npy"):
        read_data(garbage)
    truncated = tmp_path / "trunc.npy"
    np.save(truncated, np.ones((100, 10)))
    truncated.write_bytes(truncated.read_bytes()[:-80])
    with pytest.raises(DeepclustError, match=r"cannot read .*trunc\.npy"):
        read_data(truncated)

    z = tmp_path / "z.npz"
    np.savez(z, a=np.ones((2, 2)), b=np.ones((2, 2)))
    with pytest.raises(DeepclustError, match=r"z\.npz: no array named X, x, data; arrays are: a, b"):
        read_data(z)
    np.savez(z, X=np.ones((3, 2)), y=np.array([1, 2]))
    with pytest.raises(DeepclustError, match=r"z\.npz: labels 'y' have shape \(2,\) but 'X' has 3 rows"):
        read_data(z)
    np.savez(z, X=np.ones(4))
    with pytest.raises(DeepclustError, match=r"z\.npz: array 'X' is 1-D.*reshape"):
        read_data(z)
    badz = tmp_path / "bad.npz"
    badz.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(DeepclustError, match=r"cannot read .*bad\.npz"):
        read_data(badz)
    with pytest.raises(DeepclustError, match=r"a\.npy: label_column applies to tables"):
        read_data(p, label_column="y")


# --------------------------------------------------------------------------------------------------
# image folders


def _png(path: Path, size: tuple[int, int], value: int, mode: str = "L", fmt: str = "PNG") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, color).save(path, format=fmt)


def test_image_folder_with_classes_and_a_corrupt_file(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    _png(root / "cats" / "c1.png", (8, 6), 0)
    _png(root / "cats" / "c2.png", (8, 6), 255)
    _png(root / "dogs" / "d1.png", (10, 10), 128)  # odd size: resized to the common 8x6
    _png(root / "dogs" / "d2.jpg", (8, 6), 128, mode="RGB", fmt="JPEG")
    _png(root / "dogs" / "nested" / "d3.png", (8, 6), 64)
    (root / "dogs" / "bad.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored")
    (root / ".hidden.png").write_bytes(b"ignored too")
    with pytest.warns(UserWarning, match=r"imgs: skipped 1 of 6 image files .*dogs/bad\.png"):
        data = read_data(root)
    assert data.kind == "images"
    assert data.X.shape == (5, 6, 8) and data.X.dtype == np.float32
    assert 0.0 <= data.X.min() and data.X.max() <= 1.0
    assert data.names == ["cats/c1.png", "cats/c2.png", "dogs/d1.png", "dogs/d2.jpg", "dogs/nested/d3.png"]
    assert data.y.tolist() == ["cats", "cats", "dogs", "dogs", "dogs"]
    np.testing.assert_allclose(data.X[0], 0.0)
    np.testing.assert_allclose(data.X[1], 1.0)
    np.testing.assert_allclose(data.X[2], 128 / 255, atol=1e-6)  # uniform stays uniform when resized
    np.testing.assert_allclose(data.X[4], 64 / 255, atol=1e-6)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        color = read_data(root, image_mode="RGB")
    assert color.X.shape == (5, 3, 6, 8)
    np.testing.assert_allclose(color.X[2, :, 0, 0], [128 / 255] * 3, atol=1e-6)  # gray PNG
    np.testing.assert_allclose(color.X[3, :, 0, 0], [128 / 255, 0, 127 / 255], atol=0.03)  # JPEG


def test_image_folder_flat_and_errors(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    for i in range(3):
        _png(flat / f"img{i}.png", (4, 4), 10 * i)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a clean folder
        data = read_data(flat)
    assert data.X.shape == (3, 4, 4) and data.y is None and data.names == ["img0.png", "img1.png", "img2.png"]

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(DeepclustError, match=r"empty: no images found"):
        read_data(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(2):
        (broken / f"b{i}.png").write_bytes(b"\x89PNG garbage")
    with pytest.warns(UserWarning, match=r"skipped 2 of 2"):
        with pytest.raises(DeepclustError, match=r"broken: none of the 2 image files could be read"):
            read_data(broken)


# --------------------------------------------------------------------------------------------------
# labels files


def test_read_labels(tmp_path: Path) -> None:
    def write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    assert read_labels(write("a.txt", "1\n0\n2\n")).tolist() == [1, 0, 2]
    assert read_labels(write("b.csv", "cluster\n1\n0\n")).tolist() == [1, 0]
    assert read_labels(write("c.csv", "id,label,score\n7,cat,0.5\n8,dog,0.1\n")).tolist() == ["cat", "dog"]
    assert read_labels(write("d.csv", "id,k\n7,3\n8,4\n")).tolist() == [3, 4]  # last column
    # one column of class names without a header: nothing is taken for a header
    assert read_labels(write("e.txt", "cat\ndog\ncat\n")).tolist() == ["cat", "dog", "cat"]
    # with a header above repeated class names
    assert read_labels(write("f.txt", "species\ncat\ndog\ncat\n")).tolist() == ["cat", "dog", "cat"]
    labels = read_labels(write("g.csv", "y\n1\n2\n"))
    assert labels.dtype == np.int64
    np.save(tmp_path / "h.npy", np.array([[1], [2], [3]]))
    assert read_labels(tmp_path / "h.npy").tolist() == [1, 2, 3]
    with pytest.raises(DeepclustError, match=r"i\.csv: missing label at row 2"):
        read_labels(write("i.csv", "id,label\n1,a\n2,\n3,b\n"))
    with pytest.raises(DeepclustError, match=r"j\.json: unsupported labels file type"):
        read_labels(write("j.json", "[1, 2]"))
    np.save(tmp_path / "k.npy", np.zeros((2, 2)))
    with pytest.raises(DeepclustError, match=r"k\.npy: labels must be 1-D"):
        read_labels(tmp_path / "k.npy")
    with pytest.raises(DeepclustError, match=r"nope\.csv: no such file"):
        read_labels(tmp_path / "nope.csv")
