"""Load an .eqx checkpoint (e.g. written by sbgm-xla) into sbgm 0.0.38 and check its scores.

    $PY tools/roundtrip_eqx.py --config MODEL.json --eqx MODEL.eqx \
        [--inputs IO.safetensors | --t t.npy --x x.npy [--q q.npy] [--a a.npy]] \
        [--expect s.npy] [--out s.npy] [--reference REF.eqx] [--rtol 1e-5] [--atol 1e-6] [--json]

1. Builds the model skeleton from MODEL.json (tools/sbgm_models.py format: {"model":
   "ResidualNetwork" | "Mixer2d" | "UNet" | "DiT", "kwargs": {...}, "seed": 0}; the
   tests/fixtures/models/*/config.json files are valid configs) and loads the checkpoint with
   `eqx.tree_deserialise_leaves(path, like=model)`, which checks every leaf's shape and dtype.
2. With inputs (an io.safetensors holding `in.t`, `in.x`, optional `in.q`, `in.a` and
   optionally `out.score`; or separate .npy files), evaluates the batched score
   (jax.vmap of model(t, x, q, a), inference mode) and compares it with the expected scores:
   `--expect FILE.npy`, else `out.score` of the inputs file when present. Pass when
   |got - expected| <= atol + rtol * |expected| everywhere. `--out` writes the scores.
3. With `--reference REF.eqx` (a checkpoint of the same architecture), also compares every
   leaf with the reference's (same tolerances; Python scalar leaves must be equal) and reports
   whether the two files are byte-identical.

Prints a report (or one JSON object with --json). Exit code: 0 when everything loaded and
matched, 1 otherwise (load error, shape/dtype mismatch, values out of tolerance).
Used by the Rust interop test when Python with JAX is available.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import fixture_common as fc  # noqa: E402

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.tree_util as jtu  # noqa: E402
import numpy as np  # noqa: E402

import sbgm_models as sm  # noqa: E402


def load_inputs(args):
    t = x = q = a = expect = None
    if args.inputs:
        from safetensors.numpy import load_file

        d = load_file(args.inputs)
        t, x, q, a = d.get("in.t"), d.get("in.x"), d.get("in.q"), d.get("in.a")
        expect = d.get("out.score")
    for name in ("t", "x", "q", "a"):
        path = getattr(args, name)
        if path:
            arr = np.load(path, allow_pickle=False)
            t, x, q, a = [arr if n == name else v for n, v in zip("txqa", (t, x, q, a))]
    if args.expect:
        expect = np.load(args.expect, allow_pickle=False)
    return t, x, q, a, expect


def compare(got, want, rtol, atol):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False, {"error": f"shape {list(got.shape)} != expected {list(want.shape)}"}
    err = np.abs(got - want)
    ok = bool(np.all(err <= atol + rtol * np.abs(want)))
    return ok, {"max_abs_err": float(err.max(initial=0.0)),
                "max_rel_err": float((err / np.maximum(np.abs(want), 1e-30)).max(initial=0.0))}


def compare_leaves(model, ref, rtol, atol):
    bad = []
    pairs = zip(jtu.tree_flatten_with_path(model)[0], jtu.tree_leaves(ref))
    for (path, u), v in pairs:
        name = fc.keypath_to_name(path)
        if isinstance(u, (jax.Array, np.ndarray)):
            ok, info = compare(u, v, rtol, atol)
            if not ok:
                bad.append({"path": name, **info})
        elif isinstance(u, (bool, int, float, complex, np.generic)) and u != v:
            bad.append({"path": name, "got": u, "expected": v})
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--eqx", required=True)
    ap.add_argument("--inputs")
    for n in "txqa":
        ap.add_argument(f"--{n}")
    ap.add_argument("--expect")
    ap.add_argument("--out")
    ap.add_argument("--reference")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-6)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    report = {"config": args.config, "eqx": args.eqx, "ok": False}

    def finish(code):
        if args.json:
            print(json.dumps(report))
        else:
            for k, v in report.items():
                print(f"{k}: {v}")
        return code

    try:
        cfg = json.loads(pathlib.Path(args.config).read_text())
        skeleton = sm.build_model(cfg)
    except Exception as e:  # noqa: BLE001 - any failure here is a bad config
        report["error"] = f"cannot build the model from {args.config}: {type(e).__name__}: {e}"
        return finish(1)
    try:
        model = eqx.tree_deserialise_leaves(args.eqx, like=skeleton)
    except Exception as e:  # noqa: BLE001
        report["error"] = f"tree_deserialise_leaves failed: {type(e).__name__}: {e}"
        return finish(1)
    report["loaded"] = True
    report["n_params"] = sm.n_params(model)
    ok = True

    t, x, q, a, expect = load_inputs(args)
    if x is not None:
        if t is None:
            report["error"] = "inputs have x but no t"
            return finish(1)
        try:
            score = eqx.filter_jit(sm.score_batched)(
                model, jnp.asarray(t), jnp.asarray(x),
                None if q is None else jnp.asarray(q), None if a is None else jnp.asarray(a))
        except Exception as e:  # noqa: BLE001
            report["error"] = f"score evaluation failed: {type(e).__name__}: {e}"
            return finish(1)
        score = np.asarray(score)
        report["score_shape"] = list(score.shape)
        if args.out:
            np.save(args.out, score)
        if expect is not None:
            s_ok, info = compare(score, expect, args.rtol, args.atol)
            report["score_match"] = s_ok
            report.update({f"score_{k}": v for k, v in info.items()})
            ok &= s_ok
    if args.reference:
        try:
            ref = eqx.tree_deserialise_leaves(args.reference, like=skeleton)
        except Exception as e:  # noqa: BLE001
            report["error"] = f"cannot load the reference: {type(e).__name__}: {e}"
            return finish(1)
        bad = compare_leaves(model, ref, args.rtol, args.atol)
        report["leaves_match"] = not bad
        if bad:
            report["leaf_mismatches"] = bad[:10]
        report["byte_identical"] = (pathlib.Path(args.eqx).read_bytes()
                                    == pathlib.Path(args.reference).read_bytes())
        ok &= not bad
    report["ok"] = bool(ok)
    return finish(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
