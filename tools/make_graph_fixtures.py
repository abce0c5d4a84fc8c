"""Golden values for the graph builder (issue 3): an MLP score network, sbgm's denoising
score-matching loss with fixed t and noise (VP SDE), and a conv block; values, outputs and
gradients, in float32 and float64.

Writes:
  tests/fixtures/graph/{mlp,dsm_vp,conv_block}_{f32,f64}.safetensors
      named arrays: `in.*` inputs, `param.*` parameters (Equinox-style names),
      `out.*` outputs and intermediates, `grad.*` gradients of the scalar loss `out.loss`
      with respect to every parameter (`grad.<param name>`) and input (`grad.in.<name>`).
  tests/fixtures/graph/meta.json   what each function computes, shapes, conventions.
  hlo/graph/<case>_<dtype>.mlir    StableHLO text of `jax.jit(value_and_grad(loss)).lower()`
                                   and of the forward function, for reading.

The f64 files hold the same values as the f32 ones, cast up (parameters and inputs), with
everything recomputed in float64 (jax_enable_x64).

Run:  ~/.cache/sbgm-ref/bin/python tools/make_graph_fixtures.py
Deterministic: fixed PRNG keys (jax.random.PRNGKey(10..)); re-running rewrites the same bytes.
"""

from __future__ import annotations

import fixture_common as fc

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from sbgm.sde import VPSDE

OUT = fc.FIXTURES / "graph"
HLO = fc.HLO_DIR / "graph"

# ---------------------------------------------------------------- definitions

MLP_SIZES = [3, 16, 16, 2]  # [x (2) ++ t (1)] -> 16 -> 16 -> 2


def mlp_score(params, t, x):
    """Batched tanh MLP. t: (B,), x: (B, 2). Layer i: h @ W_i^T + b_i, W_i (out, in).

    h0 = [x, t] (concatenated on the feature axis, t last); tanh after layers 0 and 1.
    """
    h = jnp.concatenate([x, t[:, None]], axis=1)
    n = len(MLP_SIZES) - 1
    for i in range(n):
        h = h @ params[f"layers.{i}.weight"].T + params[f"layers.{i}.bias"]
        if i < n - 1:
            h = jnp.tanh(h)
    return h


def mlp_loss(params, inputs):
    s = mlp_score(params, inputs["t"], inputs["x"])
    return jnp.mean(jnp.square(s)), {"score": s}


def beta_integral(t):
    """Linear beta(t) = 0.1 + (20 - 0.1) t, integrated from 0: B(t) = 0.1 t + 9.95 t^2."""
    return 0.1 * t + 0.5 * (20.0 - 0.1) * t**2


VP = VPSDE(beta_integral, dt=0.01, t0=1e-5, t1=1.0)


def dsm_loss(params, inputs):
    """sbgm's single_loss_fn with the noise given instead of drawn, vmapped, then averaged.

    mean, std = marginal_prob(x, t); y = mean + std * eps; s = model(t, y);
    l_i = weight(t_i) * mean_j (s_ij + eps_ij / std_i)^2;  loss = mean_i l_i.
    """
    x, t, eps = inputs["x"], inputs["t"], inputs["eps"]

    def one(x, t, eps):
        mean, std = VP.marginal_prob(x, t)
        y = mean + std * eps
        s = mlp_score(params, t[None], y[None])[0]
        w = VP.weight(t)
        return w * jnp.mean(jnp.square(s + eps / std)), (mean, std, w, y, s)

    per, (mean, std, w, y, s) = jax.vmap(one)(x, t, eps)
    return jnp.mean(per), {"per_sample_loss": per, "mean": mean, "std": std, "weight": w,
                           "y": y, "score": s}


def group_norm(x, weight, bias, groups, eps=1e-5):
    """x (N, C, H, W); statistics per sample and group over (C/G, H, W), biased variance."""
    n, c, h, w = x.shape
    xg = x.reshape(n, groups, c // groups, h, w)
    mean = xg.mean(axis=(2, 3, 4), keepdims=True)
    var = jnp.square(xg - mean).mean(axis=(2, 3, 4), keepdims=True)
    xn = ((xg - mean) / jnp.sqrt(var + eps)).reshape(n, c, h, w)
    return xn * weight[None, :, None, None] + bias[None, :, None, None]


def avg_pool2(x):
    """2x2 average pooling, stride 2, no padding (reduce_window add / 4)."""
    s = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    return s / 4.0


def conv_forward(params, x):
    """x (2, 3, 8, 8) NCHW.
    conv: eqx.nn.Conv2d(3, 4, 3, padding=1) (weight OIHW (4,3,3,3), bias (4,1,1)), vmapped
    norm: group norm, 2 groups, eps 1e-5, affine weight/bias (4,)
    silu, then 2x2 average pool stride 2 -> (2, 4, 4, 4)
    convt: eqx.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
           (weight (out=3, in=4, 3, 3), bias (3,1,1)) -> (2, 3, 8, 8)
    """
    conv = eqx.nn.Conv2d(3, 4, 3, padding=1, key=jr.PRNGKey(0))
    conv = eqx.tree_at(lambda m: (m.weight, m.bias), conv,
                       (params["conv.weight"], params["conv.bias"]))
    convt = eqx.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1,
                                   key=jr.PRNGKey(0))
    convt = eqx.tree_at(lambda m: (m.weight, m.bias), convt,
                        (params["convt.weight"], params["convt.bias"]))
    c = jax.vmap(conv)(x)
    g = group_norm(c, params["norm.weight"], params["norm.bias"], groups=2)
    a = jax.nn.silu(g)
    p = avg_pool2(a)
    o = jax.vmap(convt)(p)
    return o, {"conv": c, "norm": g, "silu": a, "pool": p}


def conv_loss(params, inputs):
    o, inter = conv_forward(params, inputs["x"])
    return jnp.mean(jnp.square(o)), {"y": o, **inter}


# ---------------------------------------------------------------- values (float32 masters)


def make_values():
    k = jr.split(jr.PRNGKey(10), 8)
    mlp_params = {}
    for i, (n_in, n_out) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:])):
        kw, kb = jr.split(k[i])
        mlp_params[f"layers.{i}.weight"] = jr.normal(kw, (n_out, n_in)) / np.sqrt(n_in)
        mlp_params[f"layers.{i}.bias"] = 0.1 * jr.normal(kb, (n_out,))
    kt, kx, ke = jr.split(k[4], 3)
    t = jnp.linspace(1e-5, 1.0, 8, dtype=jnp.float32)  # fixed times spanning [t0, t1]
    mlp_inputs = {"t": jr.uniform(kt, (8,), minval=0.0, maxval=1.0), "x": jr.normal(kx, (8, 2))}
    dsm_inputs = {"t": t, "x": jr.normal(kx, (8, 2)) * 0.7 + 0.3, "eps": jr.normal(ke, (8, 2))}

    kc = jr.split(k[5], 6)
    conv_params = {
        "conv.weight": jr.normal(kc[0], (4, 3, 3, 3)) / np.sqrt(27.0),
        "conv.bias": 0.1 * jr.normal(kc[1], (4, 1, 1)),
        "norm.weight": 1.0 + 0.1 * jr.normal(kc[2], (4,)),
        "norm.bias": 0.1 * jr.normal(kc[3], (4,)),
        "convt.weight": jr.normal(kc[4], (3, 4, 3, 3)) / np.sqrt(36.0),
        "convt.bias": 0.1 * jr.normal(kc[5], (3, 1, 1)),
    }
    conv_inputs = {"x": jr.normal(k[6], (2, 3, 8, 8))}
    to_np = lambda d: {n: np.asarray(v, np.float32) for n, v in d.items()}  # noqa: E731
    return {
        "mlp": (mlp_loss, to_np(mlp_params), to_np(mlp_inputs)),
        "dsm_vp": (dsm_loss, to_np(mlp_params), to_np(dsm_inputs)),
        "conv_block": (conv_loss, to_np(conv_params), to_np(conv_inputs)),
    }


def run_case(name, loss_fn, params, inputs, dtype, tag):
    params = {n: jnp.asarray(v, dtype) for n, v in params.items()}
    inputs = {n: jnp.asarray(v, dtype) for n, v in inputs.items()}
    vg = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True))
    (loss, aux), (g_params, g_inputs) = vg(params, inputs)
    arrays = {}
    arrays.update({f"in.{n}": v for n, v in inputs.items()})
    arrays.update({f"param.{n}": v for n, v in params.items()})
    arrays["out.loss"] = loss
    arrays.update({f"out.{n}": v for n, v in aux.items()})
    arrays.update({f"grad.{n}": v for n, v in g_params.items()})
    arrays.update({f"grad.in.{n}": v for n, v in g_inputs.items()})
    for n, v in arrays.items():
        assert np.asarray(v).dtype == np.dtype(dtype), (n, np.asarray(v).dtype)
    fc.save_safetensors(OUT / f"{name}_{tag}.safetensors", arrays)

    text = vg.lower(params, inputs).as_text()
    fc.assert_no_custom_calls(text, name)
    HLO.mkdir(parents=True, exist_ok=True)
    (HLO / f"{name}_value_and_grad_{tag}.mlir").write_text(text)
    fwd = jax.jit(lambda p, i: loss_fn(p, i))
    (HLO / f"{name}_forward_{tag}.mlir").write_text(fwd.lower(params, inputs).as_text())
    return {n: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)}
            for n, v in arrays.items()}


DESCRIPTIONS = {
    "mlp": "loss = mean(s(t, x)^2) over all elements; s = tanh MLP: h0 = concat([x, t[:, None]], "
           "axis=1) (B, 3); h1 = tanh(h0 @ W0^T + b0); h2 = tanh(h1 @ W1^T + b1); "
           "s = h2 @ W2^T + b2 (B, 2). W_i stored (out, in).",
    "dsm_vp": "sbgm 0.0.38 denoising score matching (sbgm._train.single_loss_fn) with the noise "
              "given: VP SDE, beta(t) = 0.1 + 19.9 t, B(t) = 0.1 t + 9.95 t^2 (t0 = 1e-5, t1 = 1); "
              "mean = exp(-B/2) x, std = sqrt(-expm1(-B)), weight = -expm1(-B) (sbgm default, = "
              "std^2); y = mean + std*eps; s = mlp(t, y) (same MLP and parameters as 'mlp'); "
              "l_i = weight_i * mean_j (s_ij + eps_ij/std_i)^2; loss = mean_i l_i. "
              "Outputs: per-sample loss, mean, std (B,), weight (B,), y, score. t = linspace(1e-5, 1, 8). "
              "grad.in.t is ill-conditioned at t = 1e-5 (d std/dt ~ 1/(2 sqrt(t))): the f32 "
              "and f64 values differ by 5e-5 relative there; every other array agrees to 3e-7.",
    "conv_block": "x (2,3,8,8) NCHW -> conv 3x3 pad 1 (eqx.nn.Conv2d, weight OIHW, bias (O,1,1)) "
                  "-> group norm (2 groups, eps 1e-5, biased variance over (C/G,H,W), affine "
                  "(C,)) -> silu -> avg pool 2x2 stride 2 -> eqx.nn.ConvTranspose2d(4, 3, 3, "
                  "stride=2, padding=1, output_padding=1): conv_general_dilated(x, W (out,in,kh,"
                  "kw) NOT flipped, window_strides 1, lhs_dilation 2, padding ((1,2),(1,2)) = "
                  "(k-1-p, k-1-p+output_padding)) + bias -> y (2,3,8,8); loss = mean(y^2). "
                  "Intermediates: conv, norm, silu, pool.",
}


def main():
    values = make_values()
    meta = {"versions": fc.versions(), "naming": {
        "in.<name>": "inputs", "param.<name>": "parameters",
        "out.loss": "scalar loss", "out.<name>": "outputs / intermediates",
        "grad.<param>": "d loss / d param", "grad.in.<name>": "d loss / d input"},
        "cases": {}}
    for tag, dtype in [("f32", jnp.float32), ("f64", jnp.float64)]:
        jax.config.update("jax_enable_x64", dtype == jnp.float64)
        for name, (loss_fn, params, inputs) in values.items():
            shapes = run_case(name, loss_fn, params, inputs, dtype, tag)
            meta["cases"].setdefault(name, {"description": DESCRIPTIONS[name], "files": {}})
            meta["cases"][name]["files"][f"{name}_{tag}.safetensors"] = shapes
            print(f"graph/{name}_{tag}: {len(shapes)} arrays")
    jax.config.update("jax_enable_x64", False)
    fc.write_json(OUT / "meta.json", meta)


if __name__ == "__main__":
    main()
