"""optax 0.2.8 reference trajectories for the optimizers sbgm-xla reimplements, plus sbgm's EMA.

Each case runs N_STEPS optimizer steps on a small parameter dict with FIXED gradients per
step (the same gradients for every case), exactly as sbgm's make_step applies them:
`updates, state = opt.update(grads, state, params); params = optax.apply_updates(params, updates)`.

Writes tests/fixtures/optim/<case>.safetensors with (k = 0 .. N_STEPS-1):
  param.<name>               initial parameters
  grad.<k>.<name>            the gradient given at step k
  step.<k>.update.<name>     the update returned by opt.update at step k
  step.<k>.param.<name>      parameters after step k
  step.<k>.state.<path>      every leaf of the optimizer state after step k (dotted key path
                             of the optax state pytree, e.g. `0.mu.layers.0.weight`, `0.count`)
  step.<k>.lr                (scheduled cases) learning rate used at step k = schedule(k)
  step.<k>.ema.<name>        (case ema_*) sbgm's EMA after step k
and tests/fixtures/optim/meta.json: hyperparameters, the optax expression, formulas, and
tests/fixtures/optim/schedules.safetensors: schedule values at steps 0..SCHED_STEPS-1.

Run:  ~/.cache/sbgm-ref/bin/python tools/make_optim_fixtures.py
Deterministic (gradients from jax.random.PRNGKey(20)).
"""

from __future__ import annotations

import fixture_common as fc

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

OUT = fc.FIXTURES / "optim"
N_STEPS = 6
SCHED_STEPS = 24
SHAPES = {"layers.0.weight": (4, 3), "layers.0.bias": (4,), "layers.1.weight": (2, 4)}
# Gradient scale per step: global norms from ~0.5 to ~6, so that clipping at 1.0 acts on
# some steps and not on others.
GRAD_SCALE = [0.1, 1.5, 0.3, 0.05, 1.0, 0.2]

WARMUP_COSINE = dict(init_value=0.0, peak_value=1e-2, warmup_steps=2, decay_steps=5,
                     end_value=1e-4)


def ema_update(ema, params, rate):
    """sbgm._train.apply_ema on the inexact arrays: e <- e * rate + p * (1 - rate)."""
    return jax.tree.map(lambda e, p: e * rate + p * (1.0 - rate), ema, params)


CASES = {
    "adam": dict(expr="optax.adam(1e-3)", opt=lambda: optax.adam(1e-3),
                 hyper=dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0)),
    "adamw_default": dict(expr="optax.adamw(1e-3)  # as in sbgm's moons benchmark",
                          opt=lambda: optax.adamw(1e-3),
                          hyper=dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0,
                                     weight_decay=1e-4)),
    "adamw_wd": dict(expr="optax.adamw(1e-2, weight_decay=0.1)",
                     opt=lambda: optax.adamw(1e-2, weight_decay=0.1),
                     hyper=dict(lr=1e-2, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0,
                                weight_decay=0.1)),
    "adabelief": dict(expr="optax.adabelief(1e-3)  # sbgm configs: opt='adabelief'",
                      opt=lambda: optax.adabelief(1e-3),
                      hyper=dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16)),
    "clip_adamw": dict(expr="optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3))",
                       opt=lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3)),
                       hyper=dict(max_norm=1.0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8,
                                  weight_decay=1e-4)),
    "adam_constant_schedule": dict(
        expr="optax.adam(optax.constant_schedule(1e-3))",
        opt=lambda: optax.adam(optax.constant_schedule(1e-3)),
        schedule=lambda: optax.constant_schedule(1e-3),
        hyper=dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8)),
    "adamw_warmup_cosine": dict(
        expr="optax.adamw(optax.warmup_cosine_decay_schedule(0.0, 1e-2, 2, 5, 1e-4))",
        opt=lambda: optax.adamw(optax.warmup_cosine_decay_schedule(**WARMUP_COSINE)),
        schedule=lambda: optax.warmup_cosine_decay_schedule(**WARMUP_COSINE),
        hyper=dict(schedule=WARMUP_COSINE, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4)),
    "ema_0.999": dict(expr="optax.adamw(1e-3) + sbgm apply_ema(rate=0.999) after each step",
                      opt=lambda: optax.adamw(1e-3), ema=0.999,
                      hyper=dict(lr=1e-3, weight_decay=1e-4, ema_rate=0.999)),
    "ema_0.9": dict(expr="optax.adamw(1e-2, weight_decay=0.1) + apply_ema(rate=0.9)",
                    opt=lambda: optax.adamw(1e-2, weight_decay=0.1), ema=0.9,
                    hyper=dict(lr=1e-2, weight_decay=0.1, ema_rate=0.9)),
}

FORMULAS = {
    "adam": "count k starts at 0; k <- k+1; mu = b1 mu + (1-b1) g; nu = b2 nu + (1-b2) g^2; "
            "mu_hat = mu / (1 - b1^k); nu_hat = nu / (1 - b2^k); "
            "u = -lr * mu_hat / (sqrt(nu_hat + eps_root) + eps)",
    "adamw": "u = -lr * (mu_hat / (sqrt(nu_hat + eps_root) + eps) + weight_decay * param) "
             "(decay uses the params passed to update, i.e. before the step; no mask)",
    "adabelief": "mu = b1 mu + (1-b1) g; s = b2 s + (1-b2) (g - mu)^2 + eps_root (mu already "
                 "updated); mu_hat, s_hat bias-corrected as adam; u = -lr * mu_hat / (sqrt(s_hat) + eps)",
    "clip_by_global_norm": "n = sqrt(sum over all leaves of g^2); g <- g * max_norm / n if n > "
                           "max_norm else g (optax: select(n < max_norm, g, g / n * max_norm)); "
                           "state is EmptyState (no leaves)",
    "schedules": "lr at step k = schedule(k) with k the count BEFORE the step (0 for the first)",
    "warmup_cosine_decay_schedule": "k < warmup: init + (peak - init) k / warmup; else "
                                    "end + (peak - end) * 0.5 (1 + cos(pi * min(k - warmup, "
                                    "decay - warmup) / (decay - warmup))); decay_steps counts "
                                    "the warm-up steps too",
    "ema": "sbgm._train.apply_ema after every make_step: ema = ema * rate + params * (1 - rate) on "
           "inexact arrays; ema starts as a copy of the initial model (deepcopy); default rate 0.999",
}


def make_grads():
    keys = jr.split(jr.PRNGKey(20), N_STEPS + 1)
    params = {n: jr.normal(jr.fold_in(keys[0], i), s) for i, (n, s) in enumerate(SHAPES.items())}
    grads = []
    for k in range(N_STEPS):
        grads.append({n: GRAD_SCALE[k] * jr.normal(jr.fold_in(keys[k + 1], i), s)
                      for i, (n, s) in enumerate(SHAPES.items())})
    return params, grads


def run_case(name, case, params0, grads):
    opt = case["opt"]()
    params = params0
    state = opt.init(params)
    ema = params0 if "ema" in case else None
    arrays = {f"param.{n}": v for n, v in params0.items()}
    upd = jax.jit(opt.update)
    for k, g in enumerate(grads):
        arrays.update({f"grad.{k}.{n}": v for n, v in g.items()})
        updates, state = upd(g, state, params)
        params = optax.apply_updates(params, updates)
        arrays.update({f"step.{k}.update.{n}": v for n, v in updates.items()})
        arrays.update({f"step.{k}.param.{n}": v for n, v in params.items()})
        for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
            arrays[f"step.{k}.state.{fc.keypath_to_name(path)}"] = leaf
        if "schedule" in case:
            arrays[f"step.{k}.lr"] = jnp.asarray(case["schedule"]()(k), jnp.float32)
        if ema is not None:
            ema = ema_update(ema, params, case["ema"])
            arrays.update({f"step.{k}.ema.{n}": v for n, v in ema.items()})
    fc.save_safetensors(OUT / f"{name}.safetensors", arrays)
    state_paths = [fc.keypath_to_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    return state_paths


def main():
    params0, grads = make_grads()
    meta = {"n_steps": N_STEPS, "param_shapes": {n: list(s) for n, s in SHAPES.items()},
            "grad_global_norms": [float(optax.global_norm(g)) for g in grads],
            "formulas": FORMULAS, "cases": {}, "versions": fc.versions()}
    for name, case in CASES.items():
        paths = run_case(name, case, params0, grads)
        meta["cases"][name] = {"optax": case["expr"], "hyperparameters": case["hyper"],
                               "state_leaves": paths}
        print(f"optim/{name}: state leaves {paths[:4]}{' ...' if len(paths) > 4 else ''}")
    sched = {"constant_1e-3": optax.constant_schedule(1e-3),
             "warmup_cosine": optax.warmup_cosine_decay_schedule(**WARMUP_COSINE),
             "warmup_cosine_long": optax.warmup_cosine_decay_schedule(
                 init_value=1e-5, peak_value=3e-4, warmup_steps=5, decay_steps=20,
                 end_value=1e-6)}
    fc.save_safetensors(OUT / "schedules.safetensors", {
        n: np.asarray([s(k) for k in range(SCHED_STEPS)], np.float32) for n, s in sched.items()})
    meta["schedules"] = {
        "steps": f"0..{SCHED_STEPS - 1}",
        "constant_1e-3": "optax.constant_schedule(1e-3)",
        "warmup_cosine": f"optax.warmup_cosine_decay_schedule(**{WARMUP_COSINE})",
        "warmup_cosine_long": "optax.warmup_cosine_decay_schedule(init_value=1e-5, "
                              "peak_value=3e-4, warmup_steps=5, decay_steps=20, end_value=1e-6)"}
    fc.write_json(OUT / "meta.json", meta)


if __name__ == "__main__":
    main()
