"""Fixtures for sbgm 0.0.38's score networks: leaf skeletons, .eqx checkpoints, scores, DSM
losses and gradients, for tiny instances of every model and conditioning variant.

Writes tests/fixtures/models/<model>_<variant>/ (variants: none, q, a, qa) holding:

  config.json   the model config (tools/sbgm_models.py format: model, kwargs, seed,
                data_shape), how __call__ works, the leaf table (every leaf of
                `jax.tree_util.tree_flatten_with_path(model)`, in order: dotted path, kind
                array / scalar / other, written or not, record shape and dtype, byte offsets
                in model.eqx, python value of scalar leaves), parameter count, file list.
  model.eqx     `eqx.tree_serialise_leaves(path, model)` of the model as constructed
                (Dropout.inference = False, as sbgm writes checkpoints during training).
  io.safetensors
                `in.t` (B,), `in.x` (B, *data_shape), `in.q`, `in.a` (when the variant has
                them), `out.score` (B, *data_shape): jax.vmap of model(t, x, q, a) with
                `eqx.nn.inference_mode(model, True)` (dropout off). The parameters are in
                model.eqx (config.json gives each record's byte offsets).
  dsm.safetensors  (ResidualNetwork: every variant; UNet: none and qa)
                `in.t`, `in.x`, `in.eps` (+ `in.q`, `in.a`), `out.loss` (0-d),
                `out.per_sample_loss` (B,), `grad.<leaf path>` for every inexact array leaf:
                sbgm's single_loss_fn with the noise given (VP SDE, linear beta 0.1..20,
                sbgm's default weight 1 - exp(-B(t))), vmapped and averaged as batch_loss_fn,
                model in inference mode (no dropout), gradient by eqx.filter_value_and_grad.

and tests/fixtures/models/index.json (the list of variants).

Run:  ~/.cache/sbgm-ref/bin/python tools/make_model_fixtures.py
Deterministic: model keys jax.random.key(seed) from the config, inputs from key(100 + i).
"""

from __future__ import annotations

import fixture_common as fc

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from sbgm.sde import VPSDE

import sbgm_models as sm

OUT = fc.FIXTURES / "models"
BATCH = 3

MLP = {"in_size": 2, "width_size": 8, "depth": 2, "activation": "tanh", "dropout_p": 0.1,
       "t1": 2.0}
MIXER = {"img_size": [1, 8, 8], "patch_size": 4, "hidden_size": 8, "mix_patch_size": 8,
         "mix_hidden_size": 8, "num_blocks": 2, "t1": 2.0}
UNET = {"dim": 4, "dim_mults": [1, 2], "channels": 1, "attn_heads": 2, "attn_dim_head": 4,
        "learned_sinusoidal_cond": True, "random_fourier_features": True, "dropout": 0.1}
DIT = {"img_size": 8, "patch_size": 4, "channels": 1, "embed_dim": 8, "depth": 2, "n_heads": 2}


def variants():
    out = []
    cond = {"none": {}, "q": "q", "a": "a", "qa": "qa"}
    for v in cond:
        out.append((f"mlp_{v}", {"model": "ResidualNetwork", "kwargs": {
            **MLP, **({"q_dim": 2} if "q" in v else {}), **({"a_dim": 3} if "a" in v[-1:] else {})}}))
    for v in cond:
        out.append((f"mixer_{v}", {"model": "Mixer2d", "kwargs": {
            **MIXER, **({"q_dim": 1} if "q" in v else {}), **({"a_dim": 2} if "a" in v[-1:] else {})}}))
    for v in cond:
        out.append((f"unet_{v}", {"model": "UNet", "data_shape": [1, 8, 8], "kwargs": {
            **UNET, **({"q_channels": 1} if "q" in v else {}),
            **({"a_dim": 2} if "a" in v[-1:] else {})}}))
    for v in cond:
        out.append((f"dit_{v}", {"model": "DiT", "kwargs": {
            **DIT, **({"q_dim": 1} if "q" in v else {}), **({"a_dim": 2} if "a" in v[-1:] else {})}}))
    for _, cfg in out:
        cfg["seed"] = 0
    return out


DSM_CASES = {"mlp_none", "mlp_q", "mlp_a", "mlp_qa", "unet_none", "unet_qa"}

VP = VPSDE(lambda t: 0.1 * t + 0.5 * (20.0 - 0.1) * t**2, dt=0.01, t0=1e-5, t1=1.0)


def dsm_loss(model, x, q, a, t, eps):
    """sbgm._train.batch_loss_fn / single_loss_fn with fixed noise, dropout off."""
    model = eqx.nn.inference_mode(model, True)

    def one(x, q, a, t, eps):
        mean, std = VP.marginal_prob(x, t)
        y = mean + std * eps
        s = model(t, y, q, a)
        return VP.weight(t) * jnp.mean(jnp.square(s + eps / std))

    per = jax.vmap(one)(x, q, a, t, eps)
    return jnp.mean(per), per


def main():
    index = []
    for i, (name, cfg) in enumerate(variants()):
        d = OUT / name
        d.mkdir(parents=True, exist_ok=True)
        model = sm.build_model(cfg)
        eqx.tree_serialise_leaves(d / "model.eqx", model)
        blob = (d / "model.eqx").read_bytes()
        # The written file loads back into a freshly built skeleton.
        back = eqx.tree_deserialise_leaves(d / "model.eqx", sm.build_model({**cfg, "seed": 1}))
        assert sm.tree_close(eqx.filter(back, eqx.is_array), eqx.filter(model, eqx.is_array)) == 0

        t, x, q, a = sm.make_inputs(cfg, BATCH, jr.key(100 + i))
        score = eqx.filter_jit(sm.score_batched)(model, t, x, q, a)
        assert score.shape == x.shape, (name, score.shape, x.shape)
        io = {"in.t": t, "in.x": x, "out.score": score}
        if q is not None:
            io["in.q"] = q
        if a is not None:
            io["in.a"] = a
        params = sm.array_leaves(model)
        fc.save_safetensors(d / "io.safetensors", io)
        files = {"model.eqx": "eqx.tree_serialise_leaves", "io.safetensors": "inputs and score"}

        if name in DSM_CASES:
            ke = jr.fold_in(jr.key(100 + i), 1)
            eps = jr.normal(ke, x.shape)
            tt = jnp.linspace(0.01, 1.0, BATCH)
            (loss, per), grads = eqx.filter_jit(
                eqx.filter_value_and_grad(dsm_loss, has_aux=True))(model, x, q, a, tt, eps)
            dsm = {"in.t": tt, "in.x": x, "in.eps": eps, "out.loss": loss, "out.per_sample_loss": per}
            if q is not None:
                dsm["in.q"] = q
            if a is not None:
                dsm["in.a"] = a
            g = fc.flat_named(grads)
            assert set(g) == set(params), set(g) ^ set(params)
            dsm.update({f"grad.{k}": v for k, v in g.items()})
            fc.save_safetensors(d / "dsm.safetensors", dsm)
            files["dsm.safetensors"] = "DSM loss (fixed t, eps; VP linear beta 0.1..20) and gradients"

        leaves = sm.leaf_table(model, blob)
        meta = {
            **cfg,
            "data_shape": list(sm.sample_shape(cfg)),
            "q_shape": None if sm.q_shape(cfg) is None else list(sm.q_shape(cfg)),
            "a_shape": None if sm.a_shape(cfg) is None else list(sm.a_shape(cfg)),
            "key": f"jax.random.key({cfg['seed']})",
            "call": sm.CALL_DOCS[cfg["model"]],
            "batching": "jax.vmap(lambda t, x, q, a: eqx.nn.inference_mode(model, True)(t, x, q, a))"
                        "(t, x, q, a); absent q / a are None",
            "batch": BATCH,
            "n_params": sm.n_params(model),
            "n_leaves": len(leaves),
            "n_records": sum(1 for e in leaves if e["written"]),
            "eqx_bytes": len(blob),
            "leaf_naming": "KeyPath entries joined with '.': GetAttrKey -> field name, "
                           "SequenceKey -> index, DictKey -> key",
            "leaves": leaves,
            "files": files,
            "versions": fc.versions(),
        }
        fc.write_json(d / "config.json", meta)
        index.append({"name": name, "model": cfg["model"], "n_params": meta["n_params"],
                      "q": meta["q_shape"] is not None, "a": meta["a_shape"] is not None,
                      "dsm": name in DSM_CASES})
        print(f"models/{name}: {meta['n_params']} params, {len(leaves)} leaves, "
              f"{meta['n_records']} records, {len(blob)} bytes")
    fc.write_json(OUT / "index.json", {"batch": BATCH, "variants": index,
                                       "class_labels": "no sbgm 0.0.38 score network takes class "
                                       "labels; conditioning is q (map/vector) and a (vector)"})


if __name__ == "__main__":
    main()
