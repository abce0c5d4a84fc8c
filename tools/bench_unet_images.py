"""Side-by-side training benchmark on images: sbgm 0.0.38's UNet against sbgm-xla's, same model,
data, batch and steps, in f32 and bf16, with the EMA (sbgm: `make_step` then `apply_ema`, as
its own training loop runs a step; sbgm-xla: its full training loop, `examples/bench_unet`
with `train.use_ema = true`).

The data are N random images of --shape (default 3x32x32, CIFAR-10's), uniform on [-1, 1],
written once as .npy and read by both sides (a data set on disk: `[data] dataset = "file"`).
The model is sbgm's UNet with dim --dim, dim_mults --mults, 2 attention heads of 16 channels
and random Fourier time features; VP SDE (linear beta 0.1..20, t0 = 1e-5, t1 = 1,
dt = 0.01); optax.adamw(3e-4); EMA rate 0.999. Precision "bf16" runs sbgm under
`jax.default_matmul_precision("bfloat16")` and sbgm-xla with `--precision bf16`.

The sides alternate --repeat times per precision (the machine may be shared: only runs made in
the same minutes compare); the result reports each run, the medians and the paired ratios
(sbgm-xla steps/s over sbgm's).

    cargo build --release --example bench_unet
    ~/.cache/sbgm-ref/bin/python tools/bench_unet_images.py [--steps 30] [--batch 32]
        [--dim 32] [--mults 1,2] [--shape 3x32x32] [--repeat 2] [--out bench/unet32.json]

On a GPU (sbgm's CIFAR-10 model: --dim 64 --mults 1,2,2 --batch 128): JAX_PLATFORMS=cuda
XLA_PYTHON_CLIENT_PREALLOCATE=false and --plugin cuda.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sbgm import jax_device, peak_rss_mb, run_rust  # noqa: E402


def sbgm_steps_per_s(args, X, precision):
    """sbgm's make_step + apply_ema: (first step seconds, steps/s, final loss)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    import optax
    from sbgm._train import apply_ema, make_step
    from sbgm.models import UNet
    from sbgm.sde import VPSDE

    ctx = (jax.default_matmul_precision("bfloat16") if precision == "bf16"
           else contextlib.nullcontext())
    with ctx:
        model = UNet(dim=args.dim, dim_mults=tuple(args.mults), channels=X.shape[1],
                     attn_heads=2, attn_dim_head=16, learned_sinusoidal_cond=True,
                     random_fourier_features=True, key=jr.key(0))
        sde = VPSDE(lambda t: 0.1 * t + 0.5 * (20.0 - 0.1) * t**2, dt=0.01, t0=1e-5, t1=1.0)
        opt = optax.adamw(3e-4)
        opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
        ema = model
        rng = np.random.default_rng(0)
        key = jr.key(1)

        def b():
            return (jnp.asarray(X[rng.integers(0, len(X), args.batch)]), None, None)

        t0 = time.perf_counter()
        L, model, key, opt_state = make_step(model, sde, b(), key, opt_state, opt)
        ema = apply_ema(ema, model)
        jax.block_until_ready((L, ema))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(args.steps):
            L, model, key, opt_state = make_step(model, sde, b(), key, opt_state, opt)
            ema = apply_ema(ema, model)
        jax.block_until_ready((L, ema))
        rate = args.steps / (time.perf_counter() - t0)
    n_params = sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    return dict(first_step_s=round(first, 2), train_steps_per_s=round(rate, 3),
                final_loss=float(L), params=int(n_params))


def rust_command(args, data, precision):
    sets = [
        'data.dataset="file"', f'data.path="{data}"', 'data.scaling="none"',
        f"model.dim={args.dim}", f"model.dim_mults=[{','.join(map(str, args.mults))}]",
        f"train.batch_size={args.batch}", "train.use_ema=true", "train.ema_rate=0.999",
    ]
    cmd = [args.rust_bin, "--steps", str(args.steps), "--k", str(min(args.steps, 50)),
           "--precision", precision]
    if args.plugin:
        cmd += ["--plugin", args.plugin]
    for s in sets:
        cmd += ["--set", s]
    return " ".join(f"'{c}'" for c in cmd)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="3x32x32", help="image shape CxHxW")
    ap.add_argument("--n", type=int, default=1024, help="number of images")
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--mults", default="1,2", help="dim_mults, comma-separated")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per run")
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs per precision")
    ap.add_argument("--precisions", default="f32,bf16")
    ap.add_argument("--rust-bin", default="target/release/examples/bench_unet")
    ap.add_argument("--plugin", help="sbgm-xla plugin (cpu, cuda or a path)")
    ap.add_argument("--out", help="also write the JSON result here")
    args = ap.parse_args(argv)
    args.mults = [int(m) for m in args.mults.split(",")]
    import numpy as np

    shape = tuple(int(s) for s in args.shape.split("x"))
    workdir = tempfile.mkdtemp(prefix="sbgm-unet-images-")
    X = np.random.default_rng(0).uniform(-1, 1, size=(args.n, *shape)).astype(np.float32)
    data = os.path.join(workdir, "images.npy")
    np.save(data, X)
    result = dict(shape=shape, n=args.n, dim=args.dim, dim_mults=args.mults, batch=args.batch,
                  steps=args.steps, device=jax_device(), runs={}, ratios={})
    for precision in args.precisions.split(","):
        sb, rs = [], []
        for _ in range(args.repeat):
            sb.append(sbgm_steps_per_s(args, X, precision))
            print(f"sbgm {precision}: {sb[-1]}", file=sys.stderr)
            rs.append(run_rust(rust_command(args, data, precision), workdir))
            print(f"sbgm-xla {precision}: {rs[-1].get('train_steps_per_s')} steps/s "
                  f"{rs[-1].get('error', '')}", file=sys.stderr)
        pairs = [r["train_steps_per_s"] / s["train_steps_per_s"]
                 for s, r in zip(sb, rs) if r.get("train_steps_per_s")]
        result["runs"][precision] = dict(sbgm=sb, rust=rs)
        result["ratios"][precision] = dict(
            sbgm_steps_per_s=statistics.median(s["train_steps_per_s"] for s in sb),
            rust_steps_per_s=(statistics.median(r["train_steps_per_s"] for r in rs
                                                if r.get("train_steps_per_s"))
                              if pairs else None),
            paired=[round(p, 2) for p in pairs],
            median=round(statistics.median(pairs), 2) if pairs else None)
    result["sbgm_peak_rss_mb"] = peak_rss_mb()
    text = json.dumps(result, indent=1)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(json.dumps(result["ratios"], indent=1))
    return 0 if all(r["median"] for r in result["ratios"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
