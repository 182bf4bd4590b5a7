"""Tests for scratchnn.datasets: the IDX reader and the MNIST / Fashion-MNIST loaders.

Downloads go to a small HTTP server on 127.0.0.1 that serves IDX files made here;
no test touches the internet. Toy sets, CSV and preprocessing: test_datasets_*.py.
"""

import dataclasses
import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
import time

import numpy as np
import pytest

import scratchnn.datasets as ds
from scratchnn.datasets import DownloadError, mnist, read_idx

BIG_ENDIAN = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(array, type_code=0x08):
    """The IDX encoding of `array`: magic, type, ndim, big-endian dims, big-endian data."""
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(BIG_ENDIAN[type_code]).tobytes()


def write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.fixture(autouse=True)
def no_real_data_dirs(monkeypatch, tmp_path):
    """Keep every test away from the user's cache and $SCRATCHNN_DATA."""
    monkeypatch.delenv("SCRATCHNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


# ----------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("type_code", sorted(BIG_ENDIAN))
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_every_type(tmp_path, type_code, compress):
    array = (np.arange(24).reshape(2, 3, 4) * 3 - 30).astype(BIG_ENDIAN[type_code].lstrip(">"))
    if type_code == 0x08:
        array = np.abs(array)
    data = idx_bytes(array, type_code)
    path = write(tmp_path / "a.idx", gzip.compress(data) if compress else data)
    result = read_idx(path)
    np.testing.assert_array_equal(result, array)
    assert result.dtype.isnative and result.shape == (2, 3, 4)
    assert result.flags.writeable


def test_read_idx_detects_gzip_by_magic_bytes_not_name(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    plain_name = write(tmp_path / "labels-idx1-ubyte", gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(plain_name), labels)


def test_read_idx_rejects_bad_magic(tmp_path):
    path = write(tmp_path / "x", b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"x: bad magic number 01000801"):
        read_idx(path)


def test_read_idx_rejects_unknown_type_code(tmp_path):
    path = write(tmp_path / "x", b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"unknown IDX type code 0x07"):
        read_idx(path)


def test_read_idx_rejects_zero_dimensions(tmp_path):
    path = write(tmp_path / "x", b"\x00\x00\x08\x00")
    with pytest.raises(ValueError, match=r"declares 0 dimensions"):
        read_idx(path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", r"truncated header: expected 4 bytes, found 2"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 5), r"3 dimensions need 12 bytes, found 4"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_rejects_truncated_header(tmp_path, data, message, compress):
    path = write(tmp_path / "x", gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


@pytest.mark.parametrize("extra", [-7, 3])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_rejects_wrong_data_length(tmp_path, extra, compress):
    data = idx_bytes(np.zeros((4, 5), dtype=np.uint8))
    data = data[:extra] if extra < 0 else data + b"\x00" * extra
    path = write(tmp_path / "train-images-idx3-ubyte", gzip.compress(data) if compress else data)
    found = 20 + extra
    with pytest.raises(ValueError, match=rf"train-images-idx3-ubyte: expected 20 bytes of data for shape \(4, 5\), found {found}"):
        read_idx(path)


def test_read_idx_refuses_absurd_size_before_allocating(tmp_path):
    header = b"\x00\x00\x0e\x03" + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)
    path = write(tmp_path / "plain", header + b"\x00" * 8)
    with pytest.raises(ValueError, match=r"expected \d+ bytes of data for shape \(4294967295, .*found 8"):
        read_idx(path)
    path = write(tmp_path / "packed.gz", gzip.compress(header + b"\x00" * 8))
    with pytest.raises(ValueError, match=r"but the gzip file holds only \d+ bytes"):
        read_idx(path)


def test_read_idx_reports_a_cut_gzip_stream(tmp_path):
    packed = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8)))
    path = write(tmp_path / "cut.gz", packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut.gz: the gzip stream is truncated or corrupt"):
        read_idx(path)


def test_read_idx_argument_errors(tmp_path):
    with pytest.raises(TypeError, match=r"path must be a file path \(str or os.PathLike\), got int 3"):
        read_idx(3)
    with pytest.raises(FileNotFoundError, match="missing-file"):
        read_idx(tmp_path / "missing-file")


# ----------------------------------------------------------------------------- fake MNIST

N_TRAIN, N_TEST = 20, 10


def fake_arrays(seed=0):
    """Small MNIST-shaped data: {file name: array}."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=N_TEST, dtype=np.uint8),
    }


def write_fake_set(folder, seed=0, compress=True, skip=()):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = fake_arrays(seed)
    for name, array in arrays.items():
        if name in skip:
            continue
        data = idx_bytes(array)
        if compress:
            write(folder / (name + ".gz"), gzip.compress(data))
        else:
            write(folder / name, data)
    return arrays


def local_source(tmp_path, base_url="http://127.0.0.1:9/", md5=None):
    """Fashion-MNIST's source table, with the system folder and URL moved into the test."""
    return dataclasses.replace(
        mnist.FASHION_MNIST_SOURCE,
        base_url=base_url,
        system_dir=str(tmp_path / "system"),
        md5=md5 or mnist.FASHION_MNIST_SOURCE.md5,
    )


def first_train_image(result):
    (X_train, _), _ = result
    return X_train[0]


@pytest.mark.parametrize("compress", [False, True])
def test_load_fashion_mnist_from_path_flat_and_image(tmp_path, compress):
    arrays = write_fake_set(tmp_path / "data", compress=compress)
    (X_train, y_train), (X_test, y_test) = ds.load_fashion_mnist(path=tmp_path / "data")
    assert X_train.shape == (N_TRAIN, 784) and X_test.shape == (N_TEST, 784)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0
    np.testing.assert_allclose(X_train * 255, arrays["train-images-idx3-ubyte"].reshape(N_TRAIN, 784), atol=1e-4)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    (X_image, _), _ = ds.load_mnist(path=str(tmp_path / "data"), shape="image")
    assert X_image.shape == (N_TRAIN, 1, 28, 28)
    np.testing.assert_array_equal(X_image.reshape(N_TRAIN, 784), X_train)


def test_fashion_mnist_class_names():
    assert len(ds.FASHION_MNIST_CLASSES) == 10
    assert ds.FASHION_MNIST_CLASSES[0] == "T-shirt/top" and ds.FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_explicit_path_is_the_only_place_looked_at(tmp_path, monkeypatch):
    write_fake_set(tmp_path / "env")
    monkeypatch.setenv("SCRATCHNN_DATA", str(tmp_path / "env"))
    write_fake_set(tmp_path / "partial", skip={"t10k-labels-idx1-ubyte"})
    with pytest.raises(FileNotFoundError, match=r"partial: missing t10k-labels-idx1-ubyte"):
        ds.load_fashion_mnist(path=tmp_path / "partial")
    with pytest.raises(FileNotFoundError, match=r"nowhere: no such folder"):
        ds.load_fashion_mnist(path=tmp_path / "nowhere")


def test_search_order_env_then_system_then_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "FASHION_MNIST_SOURCE", local_source(tmp_path))
    cache = tmp_path / "cache"
    write_fake_set(cache, seed=3)
    load = lambda: ds.load_fashion_mnist(cache_dir=cache, download=False)  # noqa: E731
    np.testing.assert_array_equal(first_train_image(load()) * 255, fake_arrays(3)["train-images-idx3-ubyte"][0].ravel())
    write_fake_set(tmp_path / "system", seed=2)
    np.testing.assert_array_equal(first_train_image(load()) * 255, fake_arrays(2)["train-images-idx3-ubyte"][0].ravel())
    write_fake_set(tmp_path / "env" / "fashion-mnist", seed=1)
    monkeypatch.setenv("SCRATCHNN_DATA", str(tmp_path / "env"))
    np.testing.assert_array_equal(first_train_image(load()) * 255, fake_arrays(1)["train-images-idx3-ubyte"][0].ravel())
    write_fake_set(tmp_path / "env", seed=0, compress=False)
    np.testing.assert_array_equal(first_train_image(load()) * 255, fake_arrays(0)["train-images-idx3-ubyte"][0].ravel())


def test_mnist_looks_in_its_own_subfolder(tmp_path, monkeypatch):
    write_fake_set(tmp_path / "env" / "mnist", seed=5)
    write_fake_set(tmp_path / "env" / "fashion-mnist", seed=6)
    monkeypatch.setenv("SCRATCHNN_DATA", str(tmp_path / "env"))
    (X_train, _), _ = ds.load_mnist(download=False)
    np.testing.assert_array_equal(X_train[0] * 255, fake_arrays(5)["train-images-idx3-ubyte"][0].ravel())


def test_default_cache_dir_follows_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist.default_cache_dir("mnist") == str(tmp_path / "xdg" / "scratchnn" / "mnist")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist.default_cache_dir("mnist") == str(tmp_path / "home" / ".cache" / "scratchnn" / "mnist")
    folders = mnist.search_folders(mnist.MNIST_SOURCE)
    assert folders == ["/usr/share/datasets/mnist", mnist.default_cache_dir("mnist")]


def test_not_found_without_download_names_the_folders_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "FASHION_MNIST_SOURCE", local_source(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"system.*download=False.*apt-get install dataset-fashion-mnist"):
        ds.load_fashion_mnist(cache_dir=tmp_path / "cache", download=False)


def test_inconsistent_files_are_reported(tmp_path):
    arrays = fake_arrays()
    write_fake_set(tmp_path / "a")
    write(tmp_path / "a" / "train-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(arrays["train-labels-idx1-ubyte"][:5])))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: expected 20 uint8 labels .*found uint8 of shape \(5,\)"):
        ds.load_fashion_mnist(path=tmp_path / "a")
    write_fake_set(tmp_path / "b")
    write(tmp_path / "b" / "t10k-images-idx3-ubyte.gz", gzip.compress(idx_bytes(np.zeros((3, 27, 28), np.uint8))))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: expected uint8 images of shape \(N, 28, 28\)"):
        ds.load_fashion_mnist(path=tmp_path / "b")
    write_fake_set(tmp_path / "c")
    write(tmp_path / "c" / "t10k-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(np.full(N_TEST, 10, np.uint8))))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: labels must be 0..9, found 10"):
        ds.load_fashion_mnist(path=tmp_path / "c")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"shape": "nchw"}, ValueError, r"shape must be 'flat' or 'image', got 'nchw'"),
        ({"download": "yes"}, TypeError, r"download must be True or False, got 'yes'"),
        ({"path": 3}, TypeError, r"path must be a file path \(str or os.PathLike\), got int 3"),
        ({"cache_dir": 3.5}, TypeError, r"cache_dir must be a file path \(str or os.PathLike\), got float 3.5"),
    ],
)
def test_loader_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        ds.load_fashion_mnist(**kwargs)
    with pytest.raises(error, match=message):
        ds.load_mnist(**kwargs)


REAL_FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(REAL_FASHION), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package():
    (X_train, y_train), (X_test, y_test) = ds.load_fashion_mnist(path=REAL_FASHION)
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    assert set(np.unique(y_train)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))
    assert np.all(np.bincount(y_train) == 6000)


# ----------------------------------------------------------------------------- downloads


class FileServer(http.server.ThreadingHTTPServer):
    """Serves `files` {url path: bytes}; /cut/... sends half a file, /slow/... waits first."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.requests = {}, []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request, client_address):
        pass  # a client that gave up (the timeout test) is expected here


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        kind, _, name = self.path.lstrip("/").partition("/")
        if kind == "slow":
            time.sleep(0.5)
        data = self.server.files.get(name)
        if data is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if kind == "cut" else data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    file_server = FileServer()
    thread = threading.Thread(target=file_server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield file_server
    file_server.shutdown()
    file_server.server_close()
    thread.join()


def serve_fake_set(server):
    """Put the gzipped fake set on the server; return the arrays and their MD5 table."""
    arrays = fake_arrays(7)
    md5 = {}
    for name, array in arrays.items():
        packed = gzip.compress(idx_bytes(array), mtime=0)
        server.files[name + ".gz"] = packed
        md5[name + ".gz"] = hashlib.md5(packed).hexdigest()
    return arrays, md5


def test_download_loads_caches_and_is_not_repeated(tmp_path, server, monkeypatch):
    arrays, md5 = serve_fake_set(server)
    monkeypatch.setattr(mnist, "FASHION_MNIST_SOURCE", local_source(tmp_path, server.url + "ok/", md5))
    cache = tmp_path / "cache"
    (X_train, y_train), (X_test, y_test) = ds.load_fashion_mnist(cache_dir=cache)
    assert len(server.requests) == 4
    assert sorted(os.listdir(cache)) == sorted(name + ".gz" for name in mnist.IDX_FILES)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    assert X_test.shape == (N_TEST, 784)
    (X_again, _), _ = ds.load_fashion_mnist(cache_dir=cache)
    assert len(server.requests) == 4, "the second call must use the cache"
    np.testing.assert_array_equal(X_again, X_train)


def test_download_fetches_only_the_missing_files(tmp_path, server):
    _, md5 = serve_fake_set(server)
    write_fake_set(tmp_path / "cache", seed=7, skip={"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    source = local_source(tmp_path, server.url + "ok/", md5)
    mnist._load(source, None, "flat", str(tmp_path / "cache"), True)
    assert sorted(server.requests) == ["/ok/t10k-images-idx3-ubyte.gz", "/ok/t10k-labels-idx1-ubyte.gz"]


def test_corrupted_download_is_rejected_and_not_cached(tmp_path, server):
    _, md5 = serve_fake_set(server)
    good = md5["train-images-idx3-ubyte.gz"]
    server.files["train-images-idx3-ubyte.gz"] = b"\x1f\x8b" + b"rubbish" * 100
    bad = hashlib.md5(server.files["train-images-idx3-ubyte.gz"]).hexdigest()
    source = local_source(tmp_path, server.url + "ok/", md5)
    with pytest.raises(ValueError, match=rf"train-images-idx3-ubyte.gz: checksum mismatch .*expected md5 {good}, got {bad}"):
        mnist._load(source, None, "flat", str(tmp_path / "cache"), True)
    assert os.listdir(tmp_path / "cache") == []


def test_truncated_file_on_the_server_fails_its_checksum(tmp_path, server):
    _, md5 = serve_fake_set(server)
    whole = server.files["train-labels-idx1-ubyte.gz"]
    server.files["train-labels-idx1-ubyte.gz"] = whole[: len(whole) - 10]
    source = local_source(tmp_path, server.url + "ok/", md5)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: checksum mismatch"):
        mnist._load(source, None, "flat", str(tmp_path / "cache"), True)
    assert os.listdir(tmp_path / "cache") == ["train-images-idx3-ubyte.gz"]


def test_cut_connection_is_an_error_and_leaves_no_file(tmp_path, server):
    _, md5 = serve_fake_set(server)
    source = local_source(tmp_path, server.url + "cut/", md5)
    with pytest.raises(DownloadError, match=r"cut/train-images-idx3-ubyte.gz: the connection closed after \d+ of \d+ bytes"):
        mnist._load(source, None, "flat", str(tmp_path / "cache"), True)
    assert os.listdir(tmp_path / "cache") == []


def test_http_404_names_the_url_and_the_fix(tmp_path, server):
    source = local_source(tmp_path, server.url + "ok/")
    with pytest.raises(DownloadError, match=r"could not download http://127.0.0.1:\d+/ok/train-images-idx3-ubyte.gz: HTTP 404.*apt-get install dataset-fashion-mnist.*path="):
        mnist._load(source, None, "flat", str(tmp_path / "cache"), True)
    assert os.listdir(tmp_path / "cache") == []


def test_unreachable_server_and_timeout_are_clear_errors(tmp_path, server):
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    source = local_source(tmp_path, f"http://127.0.0.1:{closed_port}/")
    with pytest.raises(DownloadError, match=rf"could not download http://127.0.0.1:{closed_port}/train-images"):
        mnist._load(source, None, "flat", str(tmp_path / "cache"), True)
    serve_fake_set(server)
    source = local_source(tmp_path, server.url + "slow/")
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"slow/train-images-idx3-ubyte.gz: .*timed out"):
        mnist._load(source, None, "flat", str(tmp_path / "cache"), True, timeout=0.1)
    assert time.perf_counter() - start < 0.45
    assert os.listdir(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "kwargs, message",
    [({"md5": "abc"}, r"md5 must be a 32-character hex string, got 'abc'"),
     ({"md5": "z" * 32}, r"md5 must be a 32-character hex string, got 'zzzz"),
     ({"md5": "0" * 32, "timeout": 0}, r"timeout must be a number of seconds > 0, got 0")],
)
def test_download_file_argument_errors(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ds.download_file("http://127.0.0.1:9/x", tmp_path / "x", **kwargs)


@pytest.mark.parametrize("source", [mnist.FASHION_MNIST_SOURCE, mnist.MNIST_SOURCE])
def test_source_tables_cover_the_four_files(source):
    assert sorted(source.md5) == sorted(name + ".gz" for name in mnist.IDX_FILES)
    assert all(len(digest) == 32 and int(digest, 16) >= 0 for digest in source.md5.values())
    assert source.base_url.startswith("http") and source.base_url.endswith("/")
    assert source.system_dir == "/usr/share/datasets/" + source.name


def test_public_names():
    for name in ds.__all__:
        assert getattr(ds, name).__doc__ or name.isupper(), name
