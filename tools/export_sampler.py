"""Export an sbgm 0.0.38 sampler with jax.export, for `sbgm-xla run` (see docs/EXPORT.md).

    $PY tools/export_sampler.py --config MODEL.json [--eqx WEIGHTS.eqx] --out DIR \
        [--sampler em|ode] [--n 16] [--steps 100] [--dt 0.01] [--seed 0]

1. Builds the sbgm model from MODEL.json (tools/sbgm_models.py format, e.g.
   tests/fixtures/models/mlp_none/config.json) and, with --eqx, loads its weights with
   `eqx.tree_deserialise_leaves` (an sbgm checkpoint, or one written by `sbgm-xla convert`).
2. Builds sbgm's VP SDE with linear beta from 0.1 to 20 (beta_integral(t) = 0.1 t + 9.95 t^2,
   t0 = 1e-5, t1 = 1: sbgm's benchmark SDE; `--t1` for another end time) and the sampler:
   `--sampler em`: sbgm's Euler-Maruyama (`single_eu_sample_fn`, T_sample = --steps);
   `--sampler ode`: sbgm's probability-flow ODE (`single_ode_sample_fn`, diffrax Tsit5 with
   the constant step sde.dt = --dt).
3. Exports `sample(key, [q], [a]) -> x` for a batch of --n samples: `key` is a raw uint32[2]
   PRNG key (`jax.random.PRNGKey(seed)`), split into one key per sample; q (n, q shape) and a
   (n, a_dim) are inputs when the model is conditioned on them. The weights are constants of
   the program, so the artifact is self-contained.

Writes into DIR:
  sampler.jax_exported   `Exported.serialize()`: run it with
                         `sbgm-xla run DIR/sampler.jax_exported --input DIR/in_key.npy
                          [--input DIR/in_q.npy] [--input DIR/in_a.npy] --out-dir OUT`
  sampler.mlirbc         `Exported.mlir_module_serialized` (the StableHLO bytecode alone)
  in_key.npy, in_q.npy, in_a.npy   the inputs
  expected.npy           what JAX computes for these inputs (the exported function run by JAX)
  meta.json              shapes, dtypes, sampler settings, versions

Exit code 0 on success. The reference env: ~/.cache/sbgm-ref/bin/python (tools/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

# Equinox's run-time checks (eqx.error_if, used by diffrax) are host callbacks, which
# jax.export cannot serialise: turn failed checks into NaNs instead.
os.environ.setdefault("EQX_ON_ERROR", "nan")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import fixture_common as fc  # noqa: E402  (pins JAX to the CPU backend first)

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from jax import export  # noqa: E402
from sbgm._sample import single_eu_sample_fn, single_ode_sample_fn  # noqa: E402
from sbgm.sde import VPSDE  # noqa: E402

import sbgm_models as sm  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="model config JSON (tools/sbgm_models.py)")
    ap.add_argument("--eqx", help="weights (.eqx); default: the config's fresh initialisation")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--sampler", choices=["em", "ode"], default="em")
    ap.add_argument("--n", type=int, default=16, help="samples per call")
    ap.add_argument("--steps", type=int, default=100, help="Euler-Maruyama steps")
    ap.add_argument("--dt", type=float, default=0.01, help="ODE step (sde.dt)")
    ap.add_argument("--t1", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.n < 1 or args.steps < 1 or args.dt <= 0:
        ap.error("--n and --steps must be >= 1 and --dt > 0")

    cfg = json.loads(pathlib.Path(args.config).read_text())
    model = sm.build_model(cfg)
    if args.eqx:
        model = eqx.tree_deserialise_leaves(args.eqx, like=model)
    shape = sm.sample_shape(cfg)
    q_shape, a_shape = sm.q_shape(cfg), sm.a_shape(cfg)

    sde = VPSDE(lambda t: 0.1 * t + 9.95 * t**2, dt=args.dt, t0=1e-5, t1=args.t1)

    def one(key, q, a):
        if args.sampler == "em":
            return single_eu_sample_fn(model, sde, shape, key, q, a, T_sample=args.steps)
        return single_ode_sample_fn(model, sde, shape, key, q, a)

    def sample(key, *cond):
        q = cond[0] if q_shape is not None else None
        a = cond[-1] if a_shape is not None else None
        keys = jr.split(key, args.n)
        return jax.vmap(one)(keys, q, a)

    specs = [jax.ShapeDtypeStruct((2,), jnp.uint32)]
    inputs = {"key": np.asarray(jr.PRNGKey(args.seed), np.uint32)}
    kq, ka = jr.split(jr.PRNGKey(args.seed + 1))
    if q_shape is not None:
        specs.append(jax.ShapeDtypeStruct((args.n, *q_shape), jnp.float32))
        inputs["q"] = np.asarray(jr.normal(kq, (args.n, *q_shape)), np.float32)
    if a_shape is not None:
        specs.append(jax.ShapeDtypeStruct((args.n, *a_shape), jnp.float32))
        inputs["a"] = np.asarray(jr.normal(ka, (args.n, *a_shape)), np.float32)

    exp = export.export(jax.jit(sample))(*specs)
    fc.assert_no_custom_calls(exp.mlir_module(), "the exported sampler")
    expected = np.asarray(exp.call(*inputs.values()))

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sampler.jax_exported").write_bytes(exp.serialize())
    (out / "sampler.mlirbc").write_bytes(exp.mlir_module_serialized)
    for name, v in inputs.items():
        fc.save_npy(out / f"in_{name}.npy", v)
    fc.save_npy(out / "expected.npy", expected)
    fc.write_json(out / "meta.json", {
        "config": cfg,
        "eqx": args.eqx,
        "sampler": args.sampler,
        "n": args.n,
        "steps": args.steps if args.sampler == "em" else None,
        "dt": args.dt if args.sampler == "ode" else None,
        "sde": {"kind": "vp", "beta_integral": "0.1 t + 9.95 t^2", "t0": 1e-5, "t1": args.t1},
        "inputs": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in inputs.items()},
        "output": {"shape": list(expected.shape), "dtype": str(expected.dtype)},
        "platforms": list(exp.platforms),
        "calling_convention_version": exp.calling_convention_version,
        "module_kept_var_idx": list(exp.module_kept_var_idx),
        "versions": fc.versions(),
    })
    print(f"wrote {out}/sampler.jax_exported: sample({', '.join(inputs)}) -> "
          f"{expected.dtype}{list(expected.shape)}; run it with:")
    flags = " ".join(f"--input {out}/in_{k}.npy" for k in inputs)
    print(f"  sbgm-xla run {out}/sampler.jax_exported {flags} --out-dir OUT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
