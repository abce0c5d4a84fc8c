#!/usr/bin/env bash
# Two sbgm-xla processes of a two-node job on ONE GPU, through the CUDA plugin with
# `enable_mock_nccl` and `num_nodes = 2`: the plugin fakes the other node's GPU and the NCCL
# collectives, so one GPU exercises what a real two-host job runs through: process discovery
# from SBGM_XLA_*, process 0's key-value store and the PJRT key-value callbacks, a client that
# lists non-addressable devices, a program compiled over the global device assignment (sorted
# by process, then id) and executed on this process's addressable device only, the local
# device-count check and the shutdown barrier (tests/dist_cuda_mock.rs).
#
# Needs: one NVIDIA GPU, Rust, and the CUDA plugin (`sbgm-xla plugin install cuda12` or
# `cuda13`, or `pip install "jax[cuda12]"` in the active Python environment).
# Usage: tools/multiprocess_cuda_mock.sh        (from anywhere; about a minute after the build)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "no GPU found (nvidia-smi -L failed): run this on a machine with an NVIDIA GPU" >&2
    exit 2
fi
nvidia-smi -L

cargo build --release --bin sbgm-xla
if ! ./target/release/sbgm-xla devices --plugin cuda --quiet; then
    echo "the CUDA plugin did not start: install it with" \
         "\`./target/release/sbgm-xla plugin install cuda12\` (or cuda13)" >&2
    exit 2
fi

SBGM_XLA_CUDA_MOCK=1 cargo test --release --test dist_cuda_mock -- --nocapture --test-threads=1
echo "two mock-NCCL processes on one GPU: passed"
