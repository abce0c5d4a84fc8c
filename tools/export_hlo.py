"""Golden JAX exports and StableHLO modules for the runtime and interop tests.

Writes, under hlo/ (one folder per program):

  mlp_score/        s(t, x): small tanh MLP score function, t f32[8], x f32[8,2] -> f32[8,2]
  mlp_score_multi/  the same function exported for platforms ("cpu", "cuda") with an extra,
                    unused argument: the module takes a platform index first and drops the
                    unused argument (module_kept_var_idx = [0, 1]).
  simple_dot_tanh/  runtime test module: (a f32[4,3], b f32[3,5]) ->
                    (sum(tanh(a @ b), axis=1) f32[4], max(a @ b) f32[])
  simple_f64_i32/   dtype test module: (x f64[3], n i32[]) -> (x * n f64[3], n + 1 i32[])

Each folder holds:
  lowered.mlir        `jax.jit(f).lower(*args).as_text()` (StableHLO text, no debug info)
  exported.mlir       text of the module inside the export (`Exported.mlir_module()`,
                      debug locations stripped): `main` as the calling convention defines it
  module.mlirbc       `Exported.mlir_module_serialized`: portable VHLO bytecode (target
                      version = JAX's 4-week compatibility version, see meta.json)
  module.compat.mlirbc  the same module serialised for an older VHLO target
                      (meta.json: compat_target_version) so that older plugins can read it
  exported.jax_exported  `Exported.serialize()` (flatbuffer, jax/_src/export/serialization.fbs)
  in_<name>.npy, out_<i>.npy   inputs (by argument name) and outputs (by result index)
  params.safetensors  (MLP only) the weights baked into the program as constants
  meta.json           argument/result shapes and dtypes, versions, calling convention

Run:  ~/.cache/sbgm-ref/bin/python tools/export_hlo.py
Deterministic (fixed PRNG keys); re-running rewrites the same bytes.
"""

from __future__ import annotations

import fixture_common as fc  # noqa: F401  (configures JAX first)

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import export
from jax._src.interpreters import mlir as jax_mlir
from jax._src.lib import _jax
from jax._src.lib.mlir import ir
from jax._src.lib.mlir.dialects import hlo

COMPAT_TARGET = "1.10.0"


def mlp_params(key, sizes):
    """Weights (out, in) and biases of a tanh MLP, drawn from normal / sqrt(fan_in)."""
    params = {}
    keys = jr.split(key, len(sizes) - 1)
    for i, (k, (n_in, n_out)) in enumerate(zip(keys, zip(sizes[:-1], sizes[1:]))):
        kw, kb = jr.split(k)
        params[f"layers.{i}.weight"] = jr.normal(kw, (n_out, n_in), jnp.float32) / np.sqrt(n_in)
        params[f"layers.{i}.bias"] = 0.1 * jr.normal(kb, (n_out,), jnp.float32)
    return params


def mlp_apply(params, n_layers, t, x):
    """Batched score MLP: h = [x, t]; tanh hidden layers; linear output. t (B,), x (B, D)."""
    h = jnp.concatenate([x, t[:, None]], axis=1)
    for i in range(n_layers):
        h = h @ params[f"layers.{i}.weight"].T + params[f"layers.{i}.bias"]
        if i < n_layers - 1:
            h = jnp.tanh(h)
    return h


def strip_debug(text: str) -> str:
    with jax_mlir.make_ir_context():
        m = ir.Module.parse(text)
        return m.operation.get_asm(enable_debug_info=False)


def compat_bytecode(text: str, target: str) -> bytes:
    with jax_mlir.make_ir_context():
        m = ir.Module.parse(text)
        return _jax.mlir.serialize_portable_artifact(m, target, False)


def aval_json(a):
    return {"shape": list(a.shape), "dtype": str(a.dtype)}


def write_program(name, fn, args, arg_names, platforms=("cpu",), extra_meta=None):
    out = fc.HLO_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    jfn = jax.jit(fn)
    lowered_text = jfn.lower(*args).as_text()
    fc.assert_no_custom_calls(lowered_text, name)
    (out / "lowered.mlir").write_text(lowered_text)

    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args]
    exp = export.export(jfn, platforms=platforms)(*specs)
    exported_text = strip_debug(exp.mlir_module())
    fc.assert_no_custom_calls(exported_text, name)
    (out / "exported.mlir").write_text(exported_text)
    (out / "module.mlirbc").write_bytes(exp.mlir_module_serialized)
    (out / "module.compat.mlirbc").write_bytes(compat_bytecode(exp.mlir_module(), COMPAT_TARGET))
    ser = exp.serialize()
    (out / "exported.jax_exported").write_bytes(bytes(ser))

    results = jfn(*args)
    results = results if isinstance(results, tuple) else (results,)
    for n, a in zip(arg_names, args):
        fc.save_npy(out / f"in_{n}.npy", a)
    for i, r in enumerate(results):
        fc.save_npy(out / f"out_{i}.npy", r)

    # The round trip through the flatbuffer must reproduce the outputs.
    back = export.deserialize(ser)
    again = back.call(*args)
    again = again if isinstance(again, tuple) else (again,)
    for r, a in zip(results, again):
        np.testing.assert_array_equal(np.asarray(r), np.asarray(a))

    blob = exp.mlir_module_serialized
    # MLIR bytecode: magic "ML\xefR", version (prefix varint; one byte when its low bit is 1),
    # then the producer string, NUL-terminated.
    assert blob[:4] == b"ML\xefR" and blob[4] & 1, "unexpected MLIR bytecode header"
    bytecode_version = blob[4] >> 1
    producer = blob[5 : blob.index(b"\x00", 5)].decode()
    cc = exp.calling_convention_version
    n_plat = len(exp.platforms)
    main_args = []
    if n_plat > 1:
        main_args.append({"role": "platform_index", "shape": [], "dtype": "int32",
                          "note": "index into `platforms`; attribute jax.global_constant = \"_platform_index\""})
    for _ in exp.ordered_effects:
        main_args.append({"role": "effect_token"})
    for i in exp.module_kept_var_idx:
        main_args.append({"role": "argument", "index": i, "name": arg_names[i], **aval_json(exp.in_avals[i])})

    meta = {
        "function": name,
        "arguments": [{"name": n, **aval_json(a)} for n, a in zip(arg_names, exp.in_avals)],
        "results": [aval_json(a) for a in exp.out_avals],
        "platforms": list(exp.platforms),
        "module_kept_var_idx": list(exp.module_kept_var_idx),
        "main_arguments_in_order": main_args,
        "ordered_effects": [str(e) for e in exp.ordered_effects],
        "unordered_effects": [str(e) for e in exp.unordered_effects],
        "uses_global_constants": bool(exp.uses_global_constants),
        "nr_devices": exp.nr_devices,
        "calling_convention_version": cc,
        "serialization_version_field": 3,
        "mlir_bytecode_version": bytecode_version,
        "vhlo_producer": producer,
        "stablehlo_target_version": producer.removeprefix("StableHLO_v"),
        "compat_target_version": COMPAT_TARGET,
        "stablehlo_current_version": hlo.get_current_version(),
        "stablehlo_minimum_version": hlo.get_minimum_version(),
        "custom_calls": [],
        "files": {
            "lowered.mlir": "jax.jit(f).lower(*args).as_text()",
            "exported.mlir": "Exported.mlir_module() without debug locations",
            "module.mlirbc": "Exported.mlir_module_serialized (VHLO bytecode, magic 'ML\\xefR')",
            "module.compat.mlirbc": f"same module, serialize_portable_artifact(target={COMPAT_TARGET!r})",
            "exported.jax_exported": "Exported.serialize() flatbuffer",
        },
        "versions": fc.versions(),
    }
    if extra_meta:
        meta.update(extra_meta)
    fc.write_json(out / "meta.json", meta)
    print(f"hlo/{name}: {producer}, kept={list(exp.module_kept_var_idx)}, platforms={list(exp.platforms)}")


def main():
    key = jr.PRNGKey(0)
    sizes = [3, 16, 16, 2]
    params = mlp_params(key, sizes)
    k_t, k_x = jr.split(jr.PRNGKey(1))
    t = jr.uniform(k_t, (8,), jnp.float32, 1e-3, 1.0)
    x = jr.normal(k_x, (8, 2), jnp.float32)

    def score(t, x):
        return mlp_apply(params, len(sizes) - 1, t, x)

    mlp_meta = {
        "description": "s(t, x) = L2(tanh(L1(tanh(L0([x, t]))))); L_i(h) = h @ W_i^T + b_i, "
        "W_i of shape (out, in); weights are constants inside the module (params.safetensors)",
        "layer_sizes": sizes,
    }
    write_program("mlp_score", score, (t, x), ["t", "x"], extra_meta=mlp_meta)
    fc.save_safetensors(fc.HLO_DIR / "mlp_score" / "params.safetensors", params)

    def score_unused(t, x, unused):
        return score(t, x)

    u = jnp.arange(3, dtype=jnp.float32)
    write_program(
        "mlp_score_multi", score_unused, (t, x, u), ["t", "x", "unused"],
        platforms=("cpu", "cuda"), extra_meta=mlp_meta,
    )
    fc.save_safetensors(fc.HLO_DIR / "mlp_score_multi" / "params.safetensors", params)

    k_a, k_b = jr.split(jr.PRNGKey(2))
    a = jr.normal(k_a, (4, 3), jnp.float32)
    b = jr.normal(k_b, (3, 5), jnp.float32)

    def dot_tanh(a, b):
        y = a @ b
        return jnp.sum(jnp.tanh(y), axis=1), jnp.max(y)

    write_program("simple_dot_tanh", dot_tanh, (a, b), ["a", "b"],
                  extra_meta={"description": "(sum(tanh(a @ b), axis=1), max(a @ b))"})

    jax.config.update("jax_enable_x64", True)
    xs = np.array([0.5, -1.25, 3.0], np.float64)
    n = np.array(3, np.int32)

    def f64_i32(x, n):
        return x * n.astype(jnp.float64), n + jnp.int32(1)

    write_program("simple_f64_i32", f64_i32, (xs, n), ["x", "n"],
                  extra_meta={"description": "(x * f64(n), n + 1)"})
    jax.config.update("jax_enable_x64", False)


if __name__ == "__main__":
    main()
