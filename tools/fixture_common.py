"""Shared helpers for the fixture scripts in tools/ (not a script itself).

Every fixture script imports this module first: it pins JAX to the CPU backend, strips
source-file paths from MLIR debug locations (so that regenerated files do not depend on
where the checkout lives), and offers small writers for .npy / safetensors / JSON files.
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_traceback_in_locations_limit", 0)

REPO = pathlib.Path(__file__).resolve().parent.parent
HLO_DIR = REPO / "hlo"
FIXTURES = REPO / "tests" / "fixtures"


def versions() -> dict:
    """Versions of the libraries that produced a fixture (written into every meta JSON)."""
    import importlib.metadata as md

    out = {}
    for name in ["jax", "jaxlib", "equinox", "optax", "diffrax", "sbgm", "numpy"]:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def write_json(path: pathlib.Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def save_npy(path: pathlib.Path, a) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(a), allow_pickle=False)


def save_safetensors(path: pathlib.Path, arrays: dict) -> None:
    """Named arrays to a .safetensors file (contiguous numpy copies; 0-d arrays kept 0-d)."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.array(np.asarray(v), order="C", copy=True) for k, v in arrays.items()}, str(path))


def keypath_to_name(path) -> str:
    """Dotted Equinox leaf path of a `jax.tree_util` KeyPath.

    GetAttrKey(name) -> name, SequenceKey(i) -> str(i), DictKey(k) -> str(k),
    FlattenedIndexKey(i) -> str(i); entries joined with '.'. Example: `layers.0.weight`.
    """
    import jax.tree_util as jtu

    parts = []
    for k in path:
        if isinstance(k, jtu.GetAttrKey):
            parts.append(k.name)
        elif isinstance(k, jtu.SequenceKey):
            parts.append(str(k.idx))
        elif isinstance(k, jtu.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, jtu.FlattenedIndexKey):
            parts.append(str(k.key))
        else:  # pragma: no cover - unknown key kinds are named by their repr
            parts.append(str(k))
    return ".".join(parts)


def flat_named(tree) -> dict:
    """{dotted path: numpy array} for every array leaf of a pytree (tree_flatten_with_path order)."""
    import jax.tree_util as jtu

    out = {}
    for path, leaf in jtu.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, (jax.Array, np.ndarray)):
            out[keypath_to_name(path)] = np.asarray(leaf)
    return out


def stablehlo_text(lowered) -> str:
    """StableHLO text of a `jax.jit(f).lower(...)` result, without debug locations."""
    return lowered.as_text()


def assert_no_custom_calls(text: str, what: str) -> None:
    if "custom_call" in text:
        raise SystemExit(f"{what}: module contains a custom_call; fixtures must not")
