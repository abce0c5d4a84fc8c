"""Small CIFAR-10 archives in exactly the formats users download (for tests/data_images.rs).

Writes tests/fixtures/data/
  cifar-10-python.tar.gz   cifar-10-batches-py/{data_batch_1, data_batch_2, test_batch, batches.meta}:
                           Python 2 cPickle protocol-2 dicts as the real files hold them (py2 `str`
                           keys and values, `data` a pickled numpy uint8 array (N, 3072) whose raw
                           bytes are a py2 `str`, `labels` a list of ints, `filenames`, `batch_label`)
  cifar-10-binary.tar.gz   cifar-10-batches-bin/{data_batch_1.bin, data_batch_2.bin, test_batch.bin}:
                           records of 1 label byte + 3072 pixel bytes (R, G, B planes, row-major)
  cifar-expected.npz       x_train (N, 3, 32, 32) uint8, labels_train, x_test, labels_test
Each pickle is checked by loading it the way CIFAR-10's own instructions say
(`pickle.load(f, encoding="bytes")`) before it is written.

Run:  python3 tools/make_image_fixtures.py   (numpy only; deterministic)
"""

import io
import os
import pickle
import struct
import tarfile

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "data")


def py2str(b: bytes) -> bytes:
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b


def binint(i: int) -> bytes:
    return b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i)


def py2_batch_pickle(data: np.ndarray, labels, label: bytes, filenames) -> bytes:
    """The opcodes Python 2's cPickle.dump(d, f, 2) writes for a CIFAR-10 batch dict."""
    n = data.shape[0]
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + binint(0) + b"\x85" + py2str(b"b") + b"\x87R"
        + b"(" + binint(1) + binint(n) + binint(3072) + b"\x86"
        + b"cnumpy\ndtype\n" + py2str(b"u1") + binint(0) + binint(1) + b"\x87R"
        + b"(" + binint(3) + py2str(b"|") + b"NNN" + binint(-1) + binint(-1) + binint(0) + b"tb"
        + b"\x89" + py2str(data.tobytes()) + b"tb"
    )
    items = (
        py2str(b"data") + array
        + py2str(b"labels") + b"](" + b"".join(binint(int(l)) for l in labels) + b"e"
        + py2str(b"batch_label") + py2str(label)
        + py2str(b"filenames") + b"](" + b"".join(py2str(f) for f in filenames) + b"e"
    )
    blob = b"\x80\x02}(" + items + b"u."
    d = pickle.loads(blob, encoding="bytes")
    assert np.array_equal(d[b"data"], data) and d[b"data"].dtype == np.uint8
    assert d[b"labels"] == [int(l) for l in labels]
    return blob


def add(tar: tarfile.TarFile, name: str, blob: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(blob)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(blob))


def main():
    rng = np.random.default_rng(10)
    batches = {name: (rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n))
               for name, n in [("data_batch_1", 10), ("data_batch_2", 8), ("test_batch", 4)]}
    os.makedirs(OUT, exist_ok=True)
    with tarfile.open(os.path.join(OUT, "cifar-10-python.tar.gz"), "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, (x, y) in batches.items():
            files = [f"img_{name}_{i}.png".encode() for i in range(len(y))]
            add(tar, f"cifar-10-batches-py/{name}", py2_batch_pickle(x, y, name.encode(), files))
        meta = b"\x80\x02}(" + py2str(b"label_names") + b"](" + b"".join(py2str(n) for n in [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]) + b"e" + py2str(b"num_vis") + binint(3072) + b"u."
        add(tar, "cifar-10-batches-py/batches.meta", meta)
    with tarfile.open(os.path.join(OUT, "cifar-10-binary.tar.gz"), "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, (x, y) in batches.items():
            rec = b"".join(bytes([int(l)]) + row.tobytes() for row, l in zip(x, y))
            add(tar, f"cifar-10-batches-bin/{name}.bin", rec)
    train_x = np.concatenate([batches["data_batch_1"][0], batches["data_batch_2"][0]]).reshape(-1, 3, 32, 32)
    train_y = np.concatenate([batches["data_batch_1"][1], batches["data_batch_2"][1]]).astype(np.int32)
    np.savez(os.path.join(OUT, "cifar-expected.npz"), x_train=train_x, labels_train=train_y,
             x_test=batches["test_batch"][0].reshape(-1, 3, 32, 32), labels_test=batches["test_batch"][1].astype(np.int32))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
