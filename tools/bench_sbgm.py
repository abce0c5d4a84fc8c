"""Side-by-side benchmark driver: sbgm 0.0.38 (JAX) and, optionally, sbgm-xla, in one run.

The sbgm side follows ../shared/reference/sbgm_moons_bench.py (and sbgm_unet_bench.py with
--unet): on 2-D moons (20k points, noise 0.05, standardised), sbgm's ResidualNetwork (width
256, depth 3, tanh), VP SDE with linear beta 0.1..20 (t0 = 1e-5, t1 = 1, dt = 0.01),
optax.adamw(1e-3), batch 256, it times
  - the first training step (trace + compile + run) and training steps/s after it
    (train_steps_per_s: make_step alone; train_ema_steps_per_s: make_step followed by sbgm's
    apply_ema, as sbgm's own training loop runs a step),
  - Euler-Maruyama sampling, 4096 samples, 100 steps (vmapped; first call and second call),
  - probability-flow ODE sampling with diffrax Tsit5, constant step dt = 0.01 (first, second),
  - the exact log-likelihood of --moons-loglik N points (default 1024; Tsit5, dt = 0.01):
    loglik_first_s and loglik_samples_per_s (second call),
  - peak resident memory of the Python process,
and the sliced Wasserstein-1 distance (64 projections) of the EM samples to fresh data.

With --rust-cmd CMD (repeatable), each CMD (a shell-style command line, e.g.
`--rust-cmd "target/release/examples/bench_train"`) is run afterwards, one after the other;
its stdout's last line that parses as a JSON object is taken as its results. A command that
prints no JSON (a plain `sbgm-xla sample ...`) is timed as a whole and compared with sbgm's
first Euler-Maruyama call. The placeholders {eqx}, {config}, {sde}, {data} and {workdir} in
CMD are replaced by: the trained sbgm model written with eqx.tree_serialise_leaves, its model
config JSON (tools/sbgm_models.py format), a TOML file with the same SDE as an [sde] section,
the moons data as .npy (float32, (20000, 2)) and the scratch directory, so the Rust side can
sample from the same weights. Prefix a command with `env SBGM_XLA_COMPILE_CACHE=off` to time
it without sbgm-xla's persistent compilation cache. The driver also records the command's wall time (start, compile, run, write: the whole command) and its peak RSS
(measured through a small launcher process). Expected
(optional) keys in the Rust JSON, same names as the sbgm side: first_step_s,
train_steps_per_s, eu_first_s, eu_s, ode_first_s, ode_s, sliced_w1, peak_rss_mb.

With --unet (sbgm_unet_bench.py's set-up: sklearn's 8x8 digits scaled to [-1, 1], UNet dim 32,
dim_mults (1, 2), 2 attention heads of 16, random Fourier time features, VP SDE as above,
optax.adamw(3e-4), batch 128) it times the first step and steps/s over --unet-steps steps;
--unet-eu adds Euler-Maruyama sampling of 256 images x 100 steps (first call), and
--unet-loglik N the exact log-likelihood (sbgm._ode.log_likelihood, exact_log_prob=True,
diffrax Tsit5 at constant dt = (t1 - t0)/K with K = --ll-steps, default 10) of N digits,
vmapped: loglik_first_s (trace + compile + run), loglik_s and loglik_samples_per_s (second
call). --rust-unet-cmd CMD runs the Rust counterpart, e.g.
`target/release/examples/bench_unet --steps 200 --loglik 8 --ll-steps 10 [--eu]
[--precision bf16]`, which prints the same keys (first_step_s, train_steps_per_s, final_loss,
params, loglik_first_s, loglik_samples_per_s, eu_first_s, peak_rss_mb); its results are
compared in "ratios_unet".

--rust-train-cmd CMD (repeatable) is a training command run between sbgm's timing repetitions
(--train-repeat R, default 1): each of its R runs is paired with the sbgm repetition just
before it, and the ratios report every pair and their median besides the medians of each side
(the machine is shared: single runs move by up to 25%, so only runs made in the same minutes
compare).

Output: one JSON object on stdout: {"sbgm": {...}, "rust": [{...}, ...], "ratios": [{...}, ...]};
ratios are "how many times better sbgm-xla is" (sbgm time / rust time, rust steps/s / sbgm
steps/s). --out FILE also writes it to FILE.

On a GPU: JAX_PLATFORMS=cuda XLA_PYTHON_CLIENT_PREALLOCATE=false (so that the Rust
commands, whose CUDA plugin takes 75% of the memory, fit beside JAX) and `--plugin cuda` in
each --rust-cmd (tools/gpu_check.sh does this). --out is rewritten after each part.

Run:  ~/.cache/sbgm-ref/bin/python tools/bench_sbgm.py [--steps 2000] [--no-ode] [--unet]
          [--unet-steps 200] [--unet-eu] [--unet-loglik N] [--ll-steps K]
          [--rust-cmd "..."] [--rust-unet-cmd "..."] [--out bench.json]
A full run takes about a minute for moons plus ~1 min for the ODE; --unet adds minutes.
"""

from __future__ import annotations

import argparse
from statistics import median
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)  # Linux: KiB


def jax_device() -> str:
    """JAX's first device, e.g. `gpu: NVIDIA H200` (JAX_PLATFORMS picks the platform)."""
    import jax

    d = jax.devices()[0]
    return f"{d.platform}: {d.device_kind}"


def sliced_w1(samples, data, seed=2, n_proj=64):
    import numpy as np

    P = np.random.default_rng(seed).normal(size=(n_proj, samples.shape[1]))
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    return float(np.mean([np.mean(np.abs(np.sort(samples @ p) - np.sort(data @ p))) for p in P]))


def time_exact_loglik(log_likelihood, model, sde, shape, x):
    """sbgm's exact log-likelihood of the rows of x, vmapped: first call (trace + compile +
    run) and the second call's throughput."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    xs = jnp.asarray(x)
    ll = eqx.filter_jit(jax.vmap(lambda v: log_likelihood(
        None, model, sde, shape, v, exact_log_prob=True)[1]))
    t0 = time.perf_counter()
    jax.block_until_ready(ll(xs))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    lp = jax.block_until_ready(ll(xs))
    s = time.perf_counter() - t0
    return dict(loglik_first_s=round(first, 3), loglik_n=len(x), loglik_s=round(s, 3),
                loglik_samples_per_s=round(len(x) / s, 3),
                loglik_mean=round(float(jnp.mean(lp)), 3))


def bench_moons(args, workdir, between=None):
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    import optax
    from sbgm._sample import single_eu_sample_fn, single_ode_sample_fn
    from sbgm._train import apply_ema, make_step
    from sbgm.models import ResidualNetwork
    from sbgm.sde import VPSDE
    from sklearn.datasets import make_moons

    batch, width, depth, n_sample, t_sample = 256, 256, 3, args.samples, 100
    X, _ = make_moons(20000, noise=0.05, random_state=0)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    key = jr.key(0)
    model = ResidualNetwork(2, width, depth, activation=jax.nn.tanh, t1=1.0, key=key)
    sde = VPSDE(lambda t: 0.1 * t + 0.5 * (20.0 - 0.1) * t**2, dt=0.01, t0=1e-5, t1=1.0)
    opt = optax.adamw(1e-3)
    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    rng = np.random.default_rng(0)

    def batch_at():
        return jnp.asarray(X[rng.integers(0, len(X), batch)])

    t0 = time.perf_counter()
    L, model, key, opt_state = make_step(model, sde, (batch_at(), None, None), key, opt_state, opt)
    jax.block_until_ready(L)
    first_step = time.perf_counter() - t0
    # A step as sbgm's own training loop (sbgm._train.train) takes it: make_step, then the
    # parameters' EMA (apply_ema, called eagerly there); its validation step and logging are
    # left out. It runs on its own copy of the state; `model` is the one handed to the Rust side.
    m2, k2, o2, ema_model = model, key, opt_state, model
    L2, m2, k2, o2 = make_step(m2, sde, (batch_at(), None, None), k2, o2, opt)
    jax.block_until_ready(apply_ema(ema_model, m2))
    train_runs, ema_runs = [], []
    for r in range(args.train_repeat):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            L, model, key, opt_state = make_step(model, sde, (batch_at(), None, None), key,
                                                 opt_state, opt)
        jax.block_until_ready(L)
        train_runs.append(args.steps / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(args.steps):
            L2, m2, k2, o2 = make_step(m2, sde, (batch_at(), None, None), k2, o2, opt)
            ema_model = apply_ema(ema_model, m2)
        jax.block_until_ready((L2, ema_model))
        ema_runs.append(args.steps / (time.perf_counter() - t0))
        if between is not None:
            between(r)
    res = dict(system="sbgm-jax", jax=jax.__version__, device=jax_device(), steps=args.steps,
               batch=batch,
               width=width, depth=depth, first_step_s=round(first_step, 3),
               train_steps_per_s=round(median(train_runs), 1), final_loss=float(L),
               train_ema_steps_per_s=round(median(ema_runs), 1))
    res["train_steps_per_s_runs"] = [round(v, 1) for v in train_runs]
    res["train_ema_steps_per_s_runs"] = [round(v, 1) for v in ema_runs]

    # Hand the trained weights to the Rust side.
    eqx.tree_serialise_leaves(os.path.join(workdir, "moons_mlp.eqx"), model)
    cfg = {"model": "ResidualNetwork", "seed": 0, "kwargs": {
        "in_size": 2, "width_size": width, "depth": depth, "activation": "tanh",
        "dropout_p": 0.0, "t1": 1.0},
        "sde": {"sde": "VP", "beta_integral": "0.1 t + 0.5 (20 - 0.1) t^2", "t0": 1e-5,
                "t1": 1.0, "dt": 0.01}}
    with open(os.path.join(workdir, "moons_mlp.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    np.save(os.path.join(workdir, "moons.npy"), X)
    with open(os.path.join(workdir, "moons_sde.toml"), "w") as f:
        f.write('[sde]\nsde = "VP"\nschedule = "linear"\nbeta_min = 0.1\nbeta_max = 20.0\n'
                't0 = 1e-5\nt1 = 1.0\ndt = 0.01\n')

    keys = jr.split(jr.key(1), n_sample)
    eu = eqx.filter_jit(jax.vmap(
        lambda k: single_eu_sample_fn(model, sde, (2,), k, None, None, t_sample)))
    t0 = time.perf_counter()
    s = eu(keys)
    jax.block_until_ready(s)
    res["eu_first_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    s = eu(keys)
    jax.block_until_ready(s)
    res.update(eu_samples=n_sample, eu_steps=t_sample, eu_s=round(time.perf_counter() - t0, 4))
    Y = X[np.random.default_rng(1).integers(0, len(X), n_sample)]
    res["sliced_w1"] = round(sliced_w1(np.asarray(s), Y), 4)
    res["sliced_w1_prior"] = round(sliced_w1(np.random.default_rng(3).normal(
        size=(n_sample, 2)).astype(np.float32), Y), 4)

    if not args.no_ode:
        ode = eqx.filter_jit(jax.vmap(
            lambda k: single_ode_sample_fn(model, sde, (2,), k, None, None)))
        t0 = time.perf_counter()
        so = ode(keys)
        jax.block_until_ready(so)
        res["ode_first_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        so = ode(keys)
        jax.block_until_ready(so)
        res.update(ode_solver="Tsit5, constant dt 0.01", ode_s=round(time.perf_counter() - t0, 4))

    if args.moons_loglik:
        # exact log-likelihood of N data points, vmapped (diffrax Tsit5 at constant dt 0.01)
        from sbgm._ode import log_likelihood

        res.update(time_exact_loglik(log_likelihood, model, sde, (2,), X[:args.moons_loglik]))
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def bench_unet(args):
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    import optax
    from sbgm._sample import single_eu_sample_fn
    from sbgm._train import make_step
    from sbgm.models import UNet
    from sbgm.sde import VPSDE
    from sklearn.datasets import load_digits

    X = (load_digits().images / 8.0 - 1.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    model = UNet(dim=32, dim_mults=(1, 2), channels=1, attn_heads=2, attn_dim_head=16,
                 learned_sinusoidal_cond=True, random_fourier_features=True, key=jr.key(0))
    n_params = sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    sde = VPSDE(lambda t: 0.1 * t + 0.5 * (20.0 - 0.1) * t**2, dt=0.01, t0=1e-5, t1=1.0)
    opt = optax.adamw(3e-4)
    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    rng = np.random.default_rng(0)
    key = jr.key(1)

    def b():
        return jnp.asarray(X[rng.integers(0, len(X), 128)])

    t0 = time.perf_counter()
    L, model, key, opt_state = make_step(model, sde, (b(), None, None), key, opt_state, opt)
    jax.block_until_ready(L)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.unet_steps):
        L, model, key, opt_state = make_step(model, sde, (b(), None, None), key, opt_state, opt)
    jax.block_until_ready(L)
    tr = time.perf_counter() - t0
    res = dict(system="sbgm-jax", device=jax_device(), model="UNet dim32 mults(1,2)",
               params=int(n_params),
               batch=128, steps=args.unet_steps, first_step_s=round(first, 2),
               train_steps_per_s=round(args.unet_steps / tr, 2), final_loss=float(L))
    if args.unet_eu:
        m = eqx.nn.inference_mode(model, True)
        eu = eqx.filter_jit(jax.vmap(
            lambda k: single_eu_sample_fn(m, sde, (1, 8, 8), k, None, None, 100)))
        ks = jr.split(jr.key(3), 256)
        t0 = time.perf_counter()
        s = eu(ks)
        jax.block_until_ready(s)
        res["eu_first_s"] = round(time.perf_counter() - t0, 2)
        res.update(eu_samples=256, eu_steps=100)
    if args.unet_loglik:
        # Exact log-likelihood (trace of the full Jacobian) of N digits, vmapped: sbgm solves
        # with diffrax Tsit5 at constant step sde.dt, so an SDE with dt = (t1 - t0)/K gives
        # K steps (the Rust side's --ll-steps K).
        from sbgm._ode import log_likelihood

        n, k = args.unet_loglik, args.ll_steps
        sde_ll = VPSDE(lambda t: 0.1 * t + 0.5 * (20.0 - 0.1) * t**2, dt=(1.0 - 1e-5) / k,
                       t0=1e-5, t1=1.0)
        res.update(time_exact_loglik(log_likelihood, model, sde_ll, (1, 8, 8),
                                     X[np.arange(n) % len(X)]), loglik_steps=k)
    res["peak_rss_mb"] = peak_rss_mb()
    return res


_LAUNCHER = """
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)
"""


def run_rust(cmd: str, workdir: str):
    subst = {"eqx": os.path.join(workdir, "moons_mlp.eqx"),
             "config": os.path.join(workdir, "moons_mlp.json"),
             "sde": os.path.join(workdir, "moons_sde.toml"),
             "data": os.path.join(workdir, "moons.npy"), "workdir": workdir}
    argv = []
    for a in shlex.split(cmd):
        for name, value in subst.items():
            a = a.replace("{" + name + "}", value)
        argv.append(a)
    if shutil.which(argv[0]) is None:
        return {"error": f"cannot run {argv[0]!r}: not found. Build it first (cargo build "
                         "--release --examples) or pass the right --rust-cmd."}
    # A small launcher process runs the command, so that the child's peak RSS is its own
    # (a child forked from this big JAX process would report our pages as its peak).
    rss_file = os.path.join(workdir, "rust_peak_rss_kib")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, rss_file, *argv],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out = {"command": argv, "exit_code": proc.returncode, "wall_s": round(wall, 3)}
    try:
        with open(rss_file) as f:
            out["peak_rss_mb"] = round(int(f.read()) / 1024.0, 1)
    except (OSError, ValueError):
        pass
    parsed = None
    for line in reversed(proc.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if parsed is None:
        # a plain command: only its wall time counts
        out["whole_command"] = True
        out["stdout_tail"] = proc.stdout[-500:]
    else:
        out.update(parsed)
    if proc.returncode != 0:
        out["error"] = f"exit code {proc.returncode}"
        out["stderr_tail"] = proc.stderr[-2000:]
    return out


def median_run(runs):
    """The run with the median training throughput, with every run's throughput in order."""
    good = [r for r in runs if r.get("train_steps_per_s")]
    if not good:
        return runs[0] if runs else {"error": "no run"}
    run = dict(sorted(good, key=lambda r: r["train_steps_per_s"])[len(good) // 2])
    run["train_steps_per_s_runs"] = [r["train_steps_per_s"] for r in good]
    return run


def paired_ratios(sb, median_of_runs, runs):
    """ratios() of the median run, plus the ratio of each run to the sbgm repetition just before
    it (sbgm's step with apply_ema for a run with an EMA, make_step alone otherwise) and their
    median."""
    r = ratios(sb, median_of_runs)
    key = "train_ema_steps_per_s_runs" if runs and runs[0].get("use_ema") else \
        "train_steps_per_s_runs"
    pairs = [x["train_steps_per_s"] / s for x, s in zip(runs, sb.get(key, []))
             if x.get("train_steps_per_s") and s]
    if pairs:
        what = "sbgm's step with apply_ema" if key.startswith("train_ema") else "make_step"
        r[f"train_steps_per_s vs {what}, paired runs"] = [round(p, 2) for p in pairs]
        r[f"train_steps_per_s vs {what}, median of paired runs"] = round(median(pairs), 2)
    return r


def ratios(sb, rs, whole_command=True):
    if not rs or "error" in rs:
        return {}
    r = {}
    for k in ("train_steps_per_s", "loglik_samples_per_s"):
        if rs.get(k) and sb.get(k):
            r[f"{k} (rust/sbgm)"] = round(rs[k] / sb[k], 2)
    # A Rust training run with an EMA against sbgm's step with one (make_step + apply_ema).
    if rs.get("use_ema") and rs.get("train_steps_per_s") and sb.get("train_ema_steps_per_s"):
        r["train_steps_per_s with EMA (rust/sbgm)"] = round(
            rs["train_steps_per_s"] / sb["train_ema_steps_per_s"], 2)
    for k in ("first_step_s", "eu_first_s", "eu_s", "ode_first_s", "ode_s", "loglik_first_s"):
        if rs.get(k) and sb.get(k):
            r[f"{k} (sbgm/rust)"] = round(sb[k] / rs[k], 2)
    if whole_command and rs.get("whole_command") and sb.get("eu_first_s"):
        r["eu: sbgm first call / whole rust command"] = round(sb["eu_first_s"] / rs["wall_s"], 2)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000, help="timed training steps (moons)")
    ap.add_argument("--samples", type=int, default=4096, help="samples for EM / ODE")
    ap.add_argument("--no-ode", action="store_true", help="skip the PF-ODE timing")
    ap.add_argument("--moons-loglik", type=int, default=1024, metavar="N",
                    help="time the exact log-likelihood of N moons points (0: skip)")
    ap.add_argument("--no-sbgm", action="store_true", help="run only the Rust command(s)")
    ap.add_argument("--no-moons", action="store_true",
                    help="skip sbgm's moons benchmark (e.g. with --unet alone)")
    ap.add_argument("--unet", action="store_true", help="also run the UNet/digits benchmark")
    ap.add_argument("--unet-steps", type=int, default=200)
    ap.add_argument("--unet-eu", action="store_true", help="time UNet EM sampling (~2 min)")
    ap.add_argument("--unet-loglik", type=int, default=0, metavar="N",
                    help="time the exact log-likelihood of N digits (0: skip)")
    ap.add_argument("--ll-steps", type=int, default=10, metavar="K",
                    help="Tsit5 steps of the log-likelihood solve (dt = (t1 - t0)/K)")
    ap.add_argument("--rust-cmd", action="append", default=[],
                    help="sbgm-xla moons command, repeatable (placeholders: {eqx} {config} "
                         "{sde} {data} {workdir})")
    ap.add_argument("--rust-unet-cmd", help="sbgm-xla UNet command")
    ap.add_argument("--rust-train-cmd", action="append", default=[],
                    help="sbgm-xla moons training command (JSON with train_steps_per_s), "
                         "repeatable: run once after each of sbgm's --train-repeat timings")
    ap.add_argument("--train-repeat", type=int, default=1, metavar="R",
                    help="time moons training R times on each side: sbgm's loops, then each "
                         "--rust-train-cmd, in turn; medians and paired ratios are reported "
                         "(a training --rust-cmd is also run R times)")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one)")
    ap.add_argument("--out", help="also write the JSON result here")
    args = ap.parse_args(argv)

    workdir = args.workdir or tempfile.mkdtemp(prefix="sbgm-bench-")
    os.makedirs(workdir, exist_ok=True)
    result = {"workdir": workdir}

    def save():
        # --out is rewritten after each part, so a run stopped by a time limit keeps the parts
        # it finished
        if args.out:
            with open(args.out, "w") as f:
                f.write(json.dumps(result, indent=1) + "\n")

    # Training commands run between sbgm's timing repetitions, so that each pair of runs sees
    # the machine in the same state (it is shared: single runs move by up to 25%).
    train_runs = {cmd: [] for cmd in args.rust_train_cmd}

    def between(_r):
        for cmd in args.rust_train_cmd:
            train_runs[cmd].append(run_rust(cmd, workdir))

    if args.no_sbgm or args.no_moons:
        result["sbgm"] = None
        for r in range(args.train_repeat if args.rust_train_cmd else 0):
            between(r)
    else:
        result["sbgm"] = bench_moons(args, workdir, between)
    result["rust"], result["ratios"] = [], []
    for cmd in args.rust_train_cmd:
        result["rust"].append(median_run(train_runs[cmd]))
        result["ratios"].append(
            paired_ratios(result["sbgm"] or {}, result["rust"][-1], train_runs[cmd]))
    save()
    for cmd in args.rust_cmd:
        run = run_rust(cmd, workdir)
        if args.train_repeat > 1 and run.get("train_steps_per_s"):
            # a training benchmark: run it again and keep the run with the median throughput
            run = median_run([run] + [run_rust(cmd, workdir)
                                       for _ in range(args.train_repeat - 1)])
        result["rust"].append(run)
        result["ratios"].append(ratios(result["sbgm"] or {}, result["rust"][-1]))
        save()
    if args.unet:
        result["sbgm_unet"] = None if args.no_sbgm else bench_unet(args)
        save()
    if args.rust_unet_cmd:
        result["rust_unet"] = run_rust(args.rust_unet_cmd, workdir)
        result["ratios_unet"] = ratios(result.get("sbgm_unet") or {}, result["rust_unet"],
                                        whole_command=False)
    save()
    print(json.dumps(result, indent=1))
    runs = result["rust"] + ([result["rust_unet"]] if result.get("rust_unet") else [])
    rust_failed = any("error" in r for r in runs)
    return 1 if rust_failed else 0


if __name__ == "__main__":
    sys.exit(main())
