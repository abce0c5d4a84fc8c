"""Building sbgm 0.0.38 score networks from a JSON model config (imported, not run).

A model config is a JSON object:

    {"model": "ResidualNetwork" | "Mixer2d" | "UNet" | "DiT",
     "kwargs": {...constructor keyword arguments...},
     "seed": 0}

`kwargs` are passed to sbgm's own constructor, with `key=jax.random.key(seed)`. Values that
are not JSON (activation functions) are given by name: `"activation": "tanh"` means
`jax.nn.tanh`; lists become tuples where sbgm expects tuples (`img_size`, `dim_mults`).
`data_shape` (the shape of one sample x) is derived from the kwargs.

Used by tools/make_model_fixtures.py (to write the fixtures) and tools/roundtrip_eqx.py (to
load `.eqx` files written by sbgm-xla).
"""

from __future__ import annotations

import io

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
from sbgm.models import DiT, Mixer2d, ResidualNetwork, UNet

import fixture_common as fc

CLASSES = {"ResidualNetwork": ResidualNetwork, "Mixer2d": Mixer2d, "UNet": UNet, "DiT": DiT}

# How each model's __call__ is used (unbatched; batches go through jax.vmap).
CALL_DOCS = {
    "ResidualNetwork": "model(t, x, q, a, *, key=None) -> (in_size,). t: scalar (python float or "
    "0-d array; divided by t1 inside), x: (in_size,), q: (q_dim,) or None, a: (a_dim,) or None "
    "(q and a are positional and have NO defaults: pass None explicitly). Input to the first "
    "layer is concat([x, t/t1, q, a]); every residual layer gets concat([h, t/t1, q, a]); "
    "output = _out(h0 + h_last). q (resp. a) is used only if given AND q_dim (a_dim) is set.",
    "Mixer2d": "model(t, y, q=None, a=None, *, key=None) -> (C, H, W). t: python float or 0-d "
    "array (divided by t1, then a sinusoidal embedding of size embedding_dim with t*1000), "
    "y: (C, H, W), q: (q_dim, H, W) concatenated to y on the channel axis, a: (a_dim,) "
    "concatenated BEFORE the time embedding ([a, emb(t)]) as every block's AdaLayerNorm context.",
    "UNet": "model(t, x, q=None, a=None, key=None) -> (channels, H, W). t: 0-d float array "
    "(jaxtyping-checked; NOT divided by t1), x: (channels, H, W), q: (q_channels, H, W) "
    "concatenated to x before init_conv AND to the features before final_conv, a: (a_dim,) "
    "concatenated to the time features before each time_mlp Linear. key only drives dropout.",
    "DiT": "model(t, x, q=None, a=None, key=None) -> (channels, img, img). t: scalar (0-d array), "
    "x: (channels, img, img), q: (q_dim, img, img) concatenated to x before the patch embedding, "
    "a: (a_dim,) embedded by a Linear and added to the time embedding. Transformer blocks are "
    "stacked (leading depth axis) and run by lax.scan. key is unused.",
}


def data_shape(cfg) -> tuple:
    kw = cfg["kwargs"]
    name = cfg["model"]
    if name == "ResidualNetwork":
        return (kw["in_size"],)
    if name == "Mixer2d":
        return tuple(kw["img_size"])
    if name == "UNet":
        raise KeyError("UNet configs carry an explicit 'data_shape' entry")
    if name == "DiT":
        return (kw["channels"], kw["img_size"], kw["img_size"])
    raise KeyError(name)


def sample_shape(cfg) -> tuple:
    return tuple(cfg["data_shape"]) if "data_shape" in cfg else data_shape(cfg)


def q_shape(cfg):
    """Shape of one sample's q, or None when the model takes none."""
    kw = cfg["kwargs"]
    name = cfg["model"]
    if name == "ResidualNetwork":
        return None if kw.get("q_dim") is None else (kw["q_dim"],)
    key = "q_channels" if name == "UNet" else "q_dim"
    if kw.get(key) is None:
        return None
    _, h, w = sample_shape(cfg)
    return (kw[key], h, w)


def a_shape(cfg):
    a = cfg["kwargs"].get("a_dim")
    return None if a is None else (a,)


def build_model(cfg):
    kw = dict(cfg["kwargs"])
    if "activation" in kw and isinstance(kw["activation"], str):
        kw["activation"] = getattr(jax.nn, kw["activation"])
    for k in ("img_size", "dim_mults"):
        if k in kw and isinstance(kw[k], list):
            kw[k] = tuple(kw[k])
    return CLASSES[cfg["model"]](**kw, key=jr.key(cfg.get("seed", 0)))


def score_batched(model, t, x, q=None, a=None):
    """Scores of a batch: vmap of the unbatched __call__, model in inference mode."""
    m = eqx.nn.inference_mode(model, True)
    return jax.vmap(lambda t, x, q, a: m(t, x, q, a))(t, x, q, a)


def read_eqx_records(blob: bytes):
    """Offsets, shapes and dtypes of the .npy records of an .eqx file, in order."""
    f = io.BytesIO(blob)
    out = []
    while f.tell() < len(blob):
        start = f.tell()
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        assert not fortran and not dtype.hasobject
        data_start = f.tell()
        f.seek(data_start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
        out.append({"offset": start, "data_offset": data_start, "end": f.tell(),
                    "header_version": f"{version[0]}.{version[1]}",
                    "shape": list(shape), "dtype": dtype.name, "descr": dtype.str})
    return out


def leaf_table(model, blob: bytes):
    """One entry per leaf of `tree_flatten_with_path(model)`, matched with the .eqx records."""
    records = read_eqx_records(blob)
    table = []
    r = 0
    for path, leaf in jtu.tree_flatten_with_path(model)[0]:
        name = fc.keypath_to_name(path)
        entry = {"path": name}
        if isinstance(leaf, (jax.Array, np.ndarray)):
            entry.update(kind="array", written=True)
        elif isinstance(leaf, (bool, int, float, complex, np.generic)):
            entry.update(kind="scalar", written=True, python_type=type(leaf).__name__,
                         value=leaf.item() if isinstance(leaf, np.generic) else leaf)
        else:
            entry.update(kind="other", written=False, python_type=type(leaf).__name__,
                         repr=getattr(leaf, "__name__", type(leaf).__name__))
        if entry["written"]:
            rec = records[r]
            r += 1
            entry.update(shape=rec["shape"], dtype=rec["dtype"], record_offset=rec["offset"],
                         data_offset=rec["data_offset"], record_end=rec["end"],
                         npy_descr=rec["descr"])
            if entry["kind"] == "array":
                assert list(leaf.shape) == rec["shape"], (name, leaf.shape, rec)
        table.append(entry)
    assert r == len(records), f"{len(records)} records, {r} written leaves"
    return table


def array_leaves(model) -> dict:
    """{leaf path: numpy array} of the inexact array leaves (the trainable parameters)."""
    params = eqx.filter(model, eqx.is_inexact_array)
    return fc.flat_named(params)


def n_params(model) -> int:
    return int(sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))))


def make_inputs(cfg, batch: int, key):
    """Fixed inputs for a batch: t in (0, 1], x ~ N(0, 1), q ~ N(0, 1), a ~ N(0, 1)."""
    kt, kx, kq, ka = jr.split(key, 4)
    t = jr.uniform(kt, (batch,), minval=0.05, maxval=1.0)
    x = jr.normal(kx, (batch,) + sample_shape(cfg))
    qs, as_ = q_shape(cfg), a_shape(cfg)
    q = None if qs is None else jr.normal(kq, (batch,) + qs)
    a = None if as_ is None else jr.normal(ka, (batch,) + as_)
    return t, x, q, a


def tree_close(a, b) -> float:
    """Largest |a - b| / max(|b|) over the arrays of two pytrees (0 for equal trees)."""
    worst = 0.0
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        worst = max(worst, float(np.max(np.abs(u - v)) / (np.max(np.abs(v)) + 1e-30)))
    return worst


__all__ = ["build_model", "score_batched", "leaf_table", "make_inputs", "CALL_DOCS", "jnp"]
