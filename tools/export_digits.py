"""Export scikit-learn's bundled 8x8 digits into src/data/digits8x8.bin.

Run once with the reference environment (it has scikit-learn):

    ~/.cache/sbgm-ref/bin/python tools/export_digits.py

Layout of the file (no header): 1797 * 64 bytes of pixel values (0..16, row-major,
one image after the other), then 1797 bytes of labels (0..9). The Rust side
(`sbgm_xla::data::digits`) embeds it with include_bytes! and checks its length.
"""

import os
import sys

import numpy as np
from sklearn.datasets import load_digits


def main() -> None:
    digits = load_digits()
    images = np.asarray(digits.images)
    labels = np.asarray(digits.target)
    assert images.shape == (1797, 8, 8), images.shape
    assert labels.shape == (1797,), labels.shape
    assert images.min() >= 0 and images.max() <= 16
    assert np.all(images == np.round(images)), "digits pixels are integers"
    pixels = images.astype(np.uint8).reshape(-1)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "data", "digits8x8.bin")
    with open(out, "wb") as f:
        f.write(pixels.tobytes())
        f.write(labels.astype(np.uint8).tobytes())
    counts = np.bincount(labels, minlength=10)
    print(f"wrote {os.path.normpath(out)}: {images.shape[0]} images, class counts {counts.tolist()}")
    print(f"pixel sum {int(pixels.sum())}, first image row 0: {pixels[:8].tolist()}", file=sys.stderr)


if __name__ == "__main__":
    main()
