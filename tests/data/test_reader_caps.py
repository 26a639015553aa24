"""Hostile or odd data files: every reader caps what it reads before it reads it, and says so in one
named error; 16-bit PNGs, empty class folders, empty splits and wrong image sizes are handled."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image

from poolbench.data import CorruptDataError, cifar, idx, imagefolder, load_dataset
from tests.data.test_cifar_reader import write_archive
from tests.data.test_idx_reader import idx_bytes, write_idx_set
from tests.data.test_imagefolder_reader import write_folder


def _png(a: np.ndarray, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, format="PNG")
    return buf.getvalue()


def _tar_with(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_an_oversized_tar_member_is_refused_from_its_header(tmp_path, monkeypatch):
    monkeypatch.setattr(imagefolder, "MAX_FILE_BYTES", 10_000)
    big = np.zeros(200_000, np.uint8).tobytes()  # compresses to almost nothing: a small bomb
    path = tmp_path / "bomb.tar.gz"
    _tar_with(path, {"train/a/0.png": big, "test/a/0.png": _png(np.zeros((4, 4), np.uint8))})
    assert path.stat().st_size < 5_000
    with pytest.raises(CorruptDataError, match="train/a/0.png is 200000 bytes, more than"):
        imagefolder.load(str(path))


def test_an_oversized_file_in_a_folder_is_refused(tmp_path, monkeypatch):
    write_folder(tmp_path / "f")
    monkeypatch.setattr(imagefolder, "MAX_FILE_BYTES", 100)
    with pytest.raises(CorruptDataError, match="more than the 100"):
        imagefolder.load(str(tmp_path / "f"))


def test_a_huge_canvas_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    monkeypatch.setattr(imagefolder, "MAX_PIXELS", 64 * 64)
    path = tmp_path / "big.tar.gz"
    _tar_with(
        path, {"train/a/0.png": _png(np.zeros((100, 100), np.uint8)), "test/a/0.png": _png(np.zeros((4, 4), np.uint8))}
    )
    decoded = []
    load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1) or load(self))
    with pytest.raises(CorruptDataError, match="100x100 pixels, more than"):
        imagefolder.load(str(path))
    assert not decoded  # the header said it; no pixel was decoded


def test_a_decompression_bomb_is_a_named_error_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's own bomb check fires first
    path = tmp_path / "b.tar.gz"
    _tar_with(
        path, {"train/a/0.png": _png(np.zeros((20, 20), np.uint8)), "test/a/0.png": _png(np.zeros((4, 4), np.uint8))}
    )
    with pytest.raises(CorruptDataError, match="decompression bomb") as e:
        imagefolder.load(str(path))
    assert "train/a/0.png" in str(e.value)


def test_16_bit_pngs_keep_their_top_8_bits(tmp_path):
    values = np.array([[0, 255, 256, 4096], [32768, 40000, 65280, 65535]], np.uint16)
    root = tmp_path / "i16"
    for split in ("train", "test"):
        (root / split / "a").mkdir(parents=True)
        Image.fromarray(values).save(root / split / "a" / "0.png")
    assert Image.open(root / "train" / "a" / "0.png").mode.startswith("I")
    x = imagefolder.load(str(root))[0]
    assert x.shape == (1, 1, 2, 4)
    assert x[0, 0].tolist() == (values >> 8).tolist()  # not 255 everywhere above 255


@pytest.mark.parametrize("as_tar", [False, True])
def test_an_empty_train_class_folder_is_an_error(tmp_path, as_tar):
    write_folder(tmp_path / "e")
    (tmp_path / "e" / "train" / "bee").mkdir()  # sorts first: would shift every label by one
    source = tmp_path / "e"
    if as_tar:
        source = tmp_path / "e.tar"
        with tarfile.open(source, "w") as tar:
            tar.add(tmp_path / "e", arcname="e")
    with pytest.raises(CorruptDataError, match="train/bee holds no images"):
        imagefolder.load(str(source))


def test_idx_header_is_checked_before_the_gzip_is_inflated(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "MAX_BYTES", 1 << 20)
    # header: 1000 x 28 x 28 is fine, but the stream inflates to far more than the header says
    blob = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 1000, 28, 28) + bytes(50 << 20)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(blob, compresslevel=1))
    with pytest.raises(CorruptDataError, match="the file has more than 784000"):
        idx.read_idx(path, 3)
    # a header claiming more than the cap is refused at once
    path.write_bytes(gzip.compress(struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 60000, 1000, 1000)))
    with pytest.raises(CorruptDataError, match="more than the"):
        idx.read_idx(path, 3)


def test_idx_header_dimensions_whose_product_overflows_int64_are_refused(tmp_path):
    path = tmp_path / "x"
    # 2^32-1 cubed wraps int64 in np.prod; as a Python int it is simply far too large
    dims = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    assert int(np.prod(dims)) != dims[0] ** 3
    path.write_bytes(struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", *dims) + bytes(64))
    with pytest.raises(CorruptDataError, match="more than the"):
        idx.read_idx(path, 3)


def test_fashion_mnist_images_of_the_wrong_size_are_refused(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((12, 32, 32)))))
    with pytest.raises(CorruptDataError, match="32x32, fashion_mnist images are 28x28"):
        load_dataset("fashion_mnist", data_path=str(tmp_path), cache=False)


def test_an_empty_split_is_a_named_error(tmp_path):
    write_idx_set(tmp_path, n_test=0)
    with pytest.raises(CorruptDataError, match="holds no images"):
        load_dataset("mnist", data_path=str(tmp_path), cache=False)


class _Evil:
    def __init__(self, module, name):
        self.module, self.name = module, name

    def __reduce__(self):
        import importlib

        return (getattr(importlib.import_module(self.module), self.name), ())


def _cifar_with_batch(tmp_path, blob):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_archive(path, "cifar10")
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    members["cifar-10-batches-py/data_batch_1"] = blob
    _tar_with(path, members)
    return path


def test_cifar_unpickler_does_not_import_arbitrary_numpy_modules(tmp_path):
    # GLOBAL 'numpy.f2py.__main__ dtype': a numpy module and an allowed name, but importing that
    # module runs f2py's command line (SystemExit out of the reader)
    blob = b"\x80\x02cnumpy.f2py.__main__\ndtype\nq\x00)R."
    path = _cifar_with_batch(tmp_path, blob)
    with pytest.raises(CorruptDataError, match="unexpected object numpy.f2py.__main__.dtype"):
        cifar.read_archive("cifar10", path)


def test_cifar_unpickler_refuses_an_uninitialised_array(tmp_path):
    # numpy's _reconstruct with a real shape and no state: uninitialised memory as "data"
    recon = b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x10M\x00\x0c\x86C\x01B\x87R"
    blob = b"\x80\x02}(C\x04data" + recon[2:] + b"C\x06labels]K\x00au."
    path = _cifar_with_batch(tmp_path, blob)
    with pytest.raises(CorruptDataError, match="not how numpy pickles an array"):
        cifar.read_archive("cifar10", path)


def test_cifar_unpickler_still_reads_numpy_1_and_2_pickles(tmp_path):
    arr = np.arange(3072 * 2, dtype=np.uint8).reshape(2, 3072) % 251
    blob2 = pickle.dumps({b"data": arr, b"labels": [1, 2]}, protocol=2)  # numpy 2: numpy._core
    blob1 = blob2.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # the 2009 archives
    for blob in (blob1, blob2):
        d = cifar._load_pickle(blob)
        assert np.array_equal(d[b"data"], arr) and d[b"labels"] == [1, 2]
