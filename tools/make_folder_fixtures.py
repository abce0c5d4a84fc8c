"""Small image sets in the layouts users keep on disk (for tests/data_images.rs).

Writes tests/fixtures/data/
  imagefolder/<class>/*.png|*.jpg    torchvision's ImageFolder layout: one folder per class (sorted
                                     names give the labels), images of different sizes and modes
  flowers-102/jpg/image_0000k.jpg, imagelabels.mat, setid.mat
                                     torchvision's Flowers102 layout (MATLAB v5 compressed files:
                                     `labels` 1-based classes, `trnid`/`valid`/`tstid` 1-based ids)
  images-expected.npz                what torchvision's Resize((8, 8)) (PIL bilinear, antialiased)
                                     then ToTensor()*255 gives, (N, 3, 8, 8) float32, with labels:
                                     folder_x, folder_labels, flowers_{train,val,test}_{x,labels}

Run:  ~/.cache/sbgm-ref/bin/python tools/make_folder_fixtures.py   (numpy, scipy, Pillow; deterministic)
"""

import os
import shutil

import numpy as np
import scipy.io
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "data")
N_PIX = 8


def picture(rng, w, h):
    # Smooth content (a gradient plus blobs), so that JPEG and resizing errors stay small.
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    chans = [np.sin(3 * xx + rng.uniform(0, 6)) + np.cos(2 * yy + rng.uniform(0, 6)) for _ in range(3)]
    return (np.stack(chans, -1) * 60 + 128).clip(0, 255).astype(np.uint8)


def expected(path):
    img = Image.open(path).convert("RGB").resize((N_PIX, N_PIX), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1)


def main():
    rng = np.random.default_rng(3)
    folder = os.path.join(OUT, "imagefolder")
    shutil.rmtree(folder, ignore_errors=True)
    xs, labels = [], []
    for label, cls in enumerate(["cat", "dog", "zebra"]):
        os.makedirs(os.path.join(folder, cls))
        for i, (w, h, ext, mode) in enumerate([(20, 16, "png", "RGB"), (12, 24, "jpg", "RGB"), (9, 9, "png", "L")][: 2 + (label == 2)]):
            arr = picture(rng, w, h)
            img = Image.fromarray(arr)
            if mode == "L":
                img = img.convert("L")
            path = os.path.join(folder, cls, f"{i:02d}.{ext}")
            img.save(path, quality=95) if ext == "jpg" else img.save(path)
            xs.append(expected(path))
            labels.append(label)
    with open(os.path.join(folder, "cat", "notes.txt"), "w") as f:
        f.write("not an image: skipped\n")
    flowers = os.path.join(OUT, "flowers-102")
    shutil.rmtree(flowers, ignore_errors=True)
    os.makedirs(os.path.join(flowers, "jpg"))
    n = 7
    flower_labels = rng.integers(1, 103, n).astype(np.float64)
    for k in range(1, n + 1):
        Image.fromarray(picture(rng, 16 + k, 14)).save(os.path.join(flowers, "jpg", f"image_{k:05d}.jpg"), quality=95)
    scipy.io.savemat(os.path.join(flowers, "imagelabels.mat"), {"labels": flower_labels[None, :]}, do_compression=True)
    ids = {"trnid": [3, 1, 5], "valid": [2, 7], "tstid": [4, 6]}
    scipy.io.savemat(os.path.join(flowers, "setid.mat"), {k: np.array(v, dtype=np.float64)[None, :] for k, v in ids.items()}, do_compression=True)
    out = dict(folder_x=np.stack(xs), folder_labels=np.array(labels, dtype=np.int32))
    for split, key in [("train", "trnid"), ("val", "valid"), ("test", "tstid")]:
        sel = ids[key]
        out[f"flowers_{split}_x"] = np.stack([expected(os.path.join(flowers, "jpg", f"image_{k:05d}.jpg")) for k in sel])
        out[f"flowers_{split}_labels"] = np.array([flower_labels[k - 1] - 1 for k in sel], dtype=np.int32)
    np.savez(os.path.join(OUT, "images-expected.npz"), **out)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
