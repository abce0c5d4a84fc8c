"""Helpers of tools/gpu_check.sh (numpy only, plus scikit-learn for the moons and safetensors
for the model fixtures): data files, sample quality, fixture comparisons and the benchmark
table. Each subcommand prints one line (or a table) for the check's log.

  python3 tools/gpu_check.py nvlibs                     # the nvidia/*/lib folders of this Python
  python3 tools/gpu_check.py cudadir                    # a CUDA folder with nvvm/libdevice
  python3 tools/gpu_check.py moons OUT.npy N            # N moons points (noise 0.05, data space)
  python3 tools/gpu_check.py sw1 SAMPLES.npy            # sliced W1 of samples to fresh moons
  python3 tools/gpu_check.py fixture-in DIR WORK        # in.t / in.x of DIR/io.safetensors -> .npy
  python3 tools/gpu_check.py fixture-cmp DIR SCORES.npy # scores vs the sbgm reference (exit 1: off)
  python3 tools/gpu_check.py loglik LL.npy              # mean log-likelihood and finiteness
  python3 tools/gpu_check.py bench BENCH.json           # sbgm vs sbgm-xla table
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import sys

import numpy as np


def nvlibs() -> None:
    spec = importlib.util.find_spec("nvidia")
    dirs = []
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            dirs += sorted(d for d in glob.glob(os.path.join(base, "*", "lib")) if os.path.isdir(d))
    print(":".join(dirs))


def cudadir() -> None:
    """A CUDA folder with nvvm/libdevice (for XLA's --xla_gpu_cuda_data_dir): the pip NVIDIA
    packages' first, then /usr/local/cuda*; prints nothing when there is none."""
    roots = []
    spec = importlib.util.find_spec("nvidia")
    if spec is not None and spec.submodule_search_locations:
        roots += list(spec.submodule_search_locations)
    roots += sorted(glob.glob("/usr/local/cuda*"))
    for root in roots:
        hits = sorted(glob.glob(os.path.join(root, "**", "nvvm", "libdevice", "libdevice*.bc"),
                                recursive=True))
        if hits:
            print(os.path.dirname(os.path.dirname(os.path.dirname(hits[0]))))
            return


def moons(n: int, seed: int) -> np.ndarray:
    from sklearn.datasets import make_moons

    x, _ = make_moons(n, noise=0.05, random_state=seed)
    return x.astype(np.float32)


def sliced_w1(a: np.ndarray, b: np.ndarray, n_proj: int = 64, seed: int = 2) -> float:
    p = np.random.default_rng(seed).normal(size=(n_proj, a.shape[1]))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    m = min(len(a), len(b))
    return float(np.mean([np.mean(np.abs(np.sort(a[:m] @ v) - np.sort(b[:m] @ v))) for v in p]))


def cmd_sw1(path: str) -> int:
    s = np.load(path)
    finite = bool(np.isfinite(s).all())
    ref = moons(len(s), 7)
    gauss = np.random.default_rng(3).normal(size=ref.shape) * ref.std(0) + ref.mean(0)
    w = sliced_w1(s, ref) if finite else float("nan")
    print(f"samples {s.shape} finite={finite} sliced_W1_to_moons={w:.4f} "
          f"(moons vs moons {sliced_w1(moons(len(s), 11), ref):.4f}, "
          f"matched Gaussian {sliced_w1(gauss, ref):.4f})")
    return 0 if finite else 1


def cmd_fixture_in(d: str, work: str) -> int:
    from safetensors.numpy import load_file

    io = load_file(os.path.join(d, "io.safetensors"))
    os.makedirs(work, exist_ok=True)
    np.save(os.path.join(work, "t.npy"), io["in.t"])
    np.save(os.path.join(work, "x.npy"), io["in.x"])
    return 0


def cmd_fixture_cmp(d: str, path: str) -> int:
    from safetensors.numpy import load_file

    ref = load_file(os.path.join(d, "io.safetensors"))["out.score"]
    got = np.load(path)
    if got.shape != ref.shape:
        print(f"{os.path.basename(d)}: shape {got.shape} != reference {ref.shape}")
        return 1
    err = float(np.max(np.abs(got - ref)))
    rel = err / max(float(np.max(np.abs(ref))), 1e-30)
    ok = np.isfinite(got).all() and rel < 1e-2
    print(f"{os.path.basename(d)}: max|s - s_sbgm| = {err:.3e}, relative to max|s_sbgm| "
          f"{rel:.3e} ({'ok' if ok else 'OFF'}; f32 on CPU agrees to ~1e-6, TF32 to ~1e-3)")
    return 0 if ok else 1


def cmd_loglik(path: str) -> int:
    ll = np.load(path)
    finite = bool(np.isfinite(ll).all())
    print(f"log-likelihoods {ll.shape}: mean {float(np.mean(ll)):.4f} nats, finite={finite}")
    return 0 if finite else 1


KEYS = ["first_step_s", "train_steps_per_s", "final_loss", "eu_first_s", "eu_s", "ode_first_s",
        "ode_s", "dpm2m_first_s", "dpm2m_s", "loglik_first_s", "loglik_samples_per_s",
        "sliced_w1", "peak_rss_mb", "wall_s"]


def cmd_bench(path: str) -> int:
    r = json.load(open(path))
    rows = []
    for label, side in (("sbgm", r.get("sbgm")), ("sbgm_unet", r.get("sbgm_unet"))):
        if side:
            rows.append((label + " " + str(side.get("device", "")), side))
    for run in r.get("rust", []) + ([r["rust_unet"]] if r.get("rust_unet") else []):
        cmd = [a for a in run.get("command", []) if not a.startswith("SBGM_XLA") and a != "env"]
        label = " ".join(os.path.basename(a) if "/" in a else a for a in cmd[:1] + cmd[1:])
        rows.append((label[:110], run))
    for label, d in rows:
        vals = ", ".join(f"{k}={d[k]}" for k in KEYS if d.get(k) is not None)
        err = f" ERROR {d['error']}: {d.get('stderr_tail', '')[-600:]}" if "error" in d else ""
        print(f"- {label}\n    {vals}{err}")
    for i, rat in enumerate(r.get("ratios", [])):
        print(f"  ratios rust[{i}] (>1: sbgm-xla better): {json.dumps(rat)}")
    if r.get("ratios_unet"):
        print(f"  ratios unet: {json.dumps(r['ratios_unet'])}")
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "nvlibs":
        nvlibs()
        return 0
    if cmd == "cudadir":
        cudadir()
        return 0
    if cmd == "moons":
        np.save(args[0], moons(int(args[1]), 5))
        return 0
    if cmd == "sw1":
        return cmd_sw1(args[0])
    if cmd == "fixture-in":
        return cmd_fixture_in(args[0], args[1])
    if cmd == "fixture-cmp":
        return cmd_fixture_cmp(args[0], args[1])
    if cmd == "loglik":
        return cmd_loglik(args[0])
    if cmd == "bench":
        return cmd_bench(args[0])
    print(f"unknown subcommand {cmd!r}\n{__doc__}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
