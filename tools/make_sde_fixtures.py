"""sbgm 0.0.38's VE, VP and SubVP SDEs evaluated on a grid of t, for the parameters sbgm's
configs and benchmarks use, in float32 and float64.

Writes tests/fixtures/sde/<name>_{f32,f64}.safetensors with
  t (T,)                   the time grid: t0, then t1 * [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 1]
  x (P, D)                 a few points
  drift (T, P, D)          f(x, t) from sde.sde(x, t)
  diffusion (T,)           g(t) from sde.sde(x, t)
  mean_factor (T,)         marginal_prob(1, t) mean (the factor multiplying x0)
  std (T,)                 marginal_prob(x, t) std
  weight (T,)              sde.weight(t)  (sbgm's default loss weight; weight_fn=None)
  weight_likelihood (T,)   sde.weight(t, likelihood_weight=True)
  beta (T,)                (VP, SubVP) sde.beta_fn(t) = d/dt beta_integral (jvp)
  sigma (T,)               (VE) sigma_fn(t)
  z (P, D), prior_log_prob (P,)   sde.prior_log_prob(z) per point
and tests/fixtures/sde/meta.json (each SDE's parameters, sbgm's formulas, deviations from
Song et al. 2021).

Run:  ~/.cache/sbgm-ref/bin/python tools/make_sde_fixtures.py
Deterministic (points from jax.random.PRNGKey(30)).
"""

from __future__ import annotations

import fixture_common as fc

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from sbgm.sde import SubVPSDE, VESDE, VPSDE

OUT = fc.FIXTURES / "sde"
U = [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


def linear_beta_integral(b0, b1):
    return lambda t: b0 * t + 0.5 * (b1 - b0) * t**2


def geometric_sigma(smin, smax):
    return lambda t: smin * (smax / smin) ** t


def sde_specs():
    """(name, constructor, parameters). sbgm's configs: VP with beta_integral = t (beta = 1),
    t1 in {1, 4, 8}, t0 in {0, 1e-5}, dt 0.1; its benchmarks: VP linear beta 0.1..20,
    t0 = 1e-5, t1 = 1, dt = 0.01. VE: sbgm ships no config; sigma_min 0.01, sigma_max 50
    (Song et al.'s geometric schedule)."""
    specs = []
    for kind, cls in [("vp", VPSDE), ("subvp", SubVPSDE)]:
        specs.append((f"{kind}_linear", lambda cls=cls: cls(linear_beta_integral(0.1, 20.0),
                                                            dt=0.01, t0=1e-5, t1=1.0),
                      dict(sde=kind.upper() if kind == "vp" else "SubVP",
                           beta_integral="0.1 t + 0.5 (20 - 0.1) t^2", beta="0.1 + 19.9 t",
                           t0=1e-5, t1=1.0, dt=0.01)))
        for t1 in (1.0, 4.0, 8.0):
            t0 = 0.0 if t1 == 4.0 else 1e-5
            specs.append((f"{kind}_const_t1_{int(t1)}",
                          lambda cls=cls, t0=t0, t1=t1: cls(lambda t: t, dt=0.1, t0=t0, t1=t1),
                          dict(sde=kind.upper() if kind == "vp" else "SubVP",
                               beta_integral="t", beta="1", t0=t0, t1=t1, dt=0.1)))
    specs.append(("ve_geometric", lambda: VESDE(geometric_sigma(0.01, 50.0), dt=0.01, t0=1e-5,
                                                t1=1.0),
                  dict(sde="VE", sigma="0.01 * (50 / 0.01)^t", sigma_min=0.01, sigma_max=50.0,
                       t0=1e-5, t1=1.0, dt=0.01)))
    return specs


def evaluate(sde, params, dtype):
    t0, t1 = params["t0"], params["t1"]
    t = jnp.asarray([t0] + [t1 * u for u in U], dtype)
    kx, kz = jr.split(jr.PRNGKey(30))
    x = jr.normal(kx, (3, 2), dtype)
    z = 2.0 * jr.normal(kz, (4, 2), dtype)

    def at_t(t):
        drift = jax.vmap(lambda x: sde.sde(x, t)[0])(x)
        _, diffusion = sde.sde(x[0], t)
        mean, std = sde.marginal_prob(jnp.ones((), dtype), t)
        out = {"drift": drift, "diffusion": diffusion, "mean_factor": mean, "std": std,
               "weight": sde.weight(t), "weight_likelihood": sde.weight(t, likelihood_weight=True)}
        if hasattr(sde, "beta_fn"):
            out["beta"] = sde.beta_fn(t)
        if hasattr(sde, "sigma_fn"):
            out["sigma"] = sde.sigma_fn(t)
        return out

    vals = jax.vmap(at_t)(t)
    arrays = {"t": t, "x": x, "z": z, **vals,
              "prior_log_prob": jax.vmap(sde.prior_log_prob)(z)}
    for n, v in arrays.items():
        assert np.asarray(v).dtype == np.dtype(dtype), (n, np.asarray(v).dtype)
    return arrays


FORMULAS = {
    "VP": {"drift": "-0.5 beta(t) x", "diffusion": "sqrt(beta(t))",
           "mean_factor": "exp(-0.5 B(t))", "std": "sqrt(-expm1(-B(t))) = sqrt(1 - exp(-B))",
           "weight": "-expm1(-B(t)) = std^2", "weight_likelihood": "beta(t) = g^2",
           "prior": "N(0, I)", "B": "beta_integral(t); beta(t) = dB/dt by jax.jvp"},
    "SubVP": {"drift": "-0.5 beta(t) x", "diffusion": "sqrt(beta(t) (1 - exp(-2 B(t))))",
              "mean_factor": "exp(-0.5 B(t))",
              "std": "sqrt((1 - exp(-2 B))^2) = 1 - exp(-2 B)   [DEVIATION: Song et al. "
                     "(Eq. 29): std = 1 - exp(-B)]",
              "weight": "(1 - exp(-B))^2 (= the paper's std^2, not sbgm's own std^2)",
              "weight_likelihood": "beta(t) (1 - exp(-2 B)) = g^2", "prior": "N(0, I)"},
    "VE": {"drift": "0", "diffusion": "sqrt(d sigma^2 / dt) (jax.jvp of sigma(t)^2)",
           "mean_factor": "1", "std": "sqrt(sigma(t)^2 - sigma(0)^2)",
           "weight": "sigma(t)^2",
           "weight_likelihood": "sigma(t)^2   [DEVIATION: likelihood weighting is g^2 = "
                                "d sigma^2/dt = 2 sigma^2 ln(sigma_max/sigma_min); sbgm returns "
                                "sigma^2 for both]",
           "prior": "N(0, sigma(t1)^2 I)"},
}


def main():
    meta = {"grid": f"t = [t0] + [t1 * u for u in {U}]", "formulas": FORMULAS, "sdes": {},
            "versions": fc.versions()}
    for tag, dtype in [("f32", jnp.float32), ("f64", jnp.float64)]:
        jax.config.update("jax_enable_x64", dtype == jnp.float64)
        for name, make, params in sde_specs():
            arrays = evaluate(make(), params, dtype)
            fc.save_safetensors(OUT / f"{name}_{tag}.safetensors", arrays)
            meta["sdes"].setdefault(name, {"parameters": params, "arrays": {
                n: list(np.shape(v)) for n, v in arrays.items()}})
            print(f"sde/{name}_{tag}")
    jax.config.update("jax_enable_x64", False)
    fc.write_json(OUT / "meta.json", meta)


if __name__ == "__main__":
    main()
