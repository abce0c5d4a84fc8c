#!/usr/bin/env bash
# Two sbgm-xla processes of a two-node job on ONE GPU, through the CUDA plugin with
# `enable_mock_nccl` and `num_nodes = 2`: the plugin fakes the other node's GPU and the NCCL
# collectives, so one GPU exercises what a real two-host job runs through: process discovery
# from SBGM_XLA_*, process 0's key-value store and the PJRT key-value callbacks, a client that
# lists non-addressable devices, a program compiled over the global device assignment (sorted
# by process, then id) and executed on this process's addressable device only, the local
# device-count check and the shutdown barrier (tests/dist_cuda_mock.rs).
#
# Then two real `sbgm-xla train` processes of one job (SBGM_XLA_MOCK_NCCL=1, a test-only
# switch that gives the CUDA plugin `enable_mock_nccl`), on a tiny moons config fed from the
# host, once with `mesh = { data = 2 }` (the data axis across the processes) and once with
# `mesh = { fsdp = 2 }` (the state split across the processes: the gather program's
# all-gathers for checkpoints, evaluations and sample plots): both processes exit 0, only
# process 0 writes the run directory and prints the summary, and the run resumes. Mock NCCL
# fakes the collectives, so the numbers are not checked, only that every path runs.
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

BIN=./target/release/sbgm-xla
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Both processes of a job train `run` to `steps` steps (extra arguments after), each with its
# own log; fails unless both exit 0.
train_job() {
    local run=$1 steps=$2; shift 2
    local port pids=()
    port=$(free_port)
    for i in 0 1; do
        SBGM_XLA_MOCK_NCCL=1 "$BIN" train --plugin cuda --config configs/moons.toml \
            --run-dir "$WORK/$run" --coordinator "127.0.0.1:$port" --process-id "$i" \
            --num-processes 2 \
            --set model.width_size=64 --set model.depth=2 --set data.n=1000 \
            --set train.batch_size=32 --set train.steps_per_call=5 --set 'train.feed="host"' \
            --set train.eval_every=10 --set train.sample_every=10 --set train.sample_size=64 \
            --set train.checkpoint_every=10 --set "train.steps=$steps" "$@" \
            >"$WORK/$run.$steps.$i.log" 2>&1 &
        pids+=($!)
    done
    local status=0
    for i in 0 1; do
        if ! wait "${pids[$i]}"; then
            echo "process $i of the $run job (to step $steps) failed:" >&2
            status=1
        fi
    done
    if [ "$status" != 0 ]; then
        for i in 0 1; do echo "---- process $i ----" >&2; cat "$WORK/$run.$steps.$i.log" >&2; done
        exit 1
    fi
}

# The steps logged in metrics.jsonl, in order, one per line.
logged_steps() {
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "loss" in r: print(r["step"])' "$1"
}

for mesh in "data = 2" "fsdp = 2"; do
    run=$(echo "$mesh" | tr -d ' =')
    train_job "$run" 20 --set "train.mesh={ $mesh }"
    for f in checkpoint.safetensors metrics.jsonl config.toml model.eqx loss.png samples; do
        [ -e "$WORK/$run/$f" ] || { echo "mesh { $mesh }: process 0 wrote no $f" >&2; exit 1; }
    done
    # one writer: every step logged once (two writers would log each twice, and the second
    # could not take the run directory's lock)
    [ "$(logged_steps "$WORK/$run/metrics.jsonl" | tr '\n' ' ')" = "$(seq -s ' ' 1 20) " ] || {
        echo "mesh { $mesh }: metrics.jsonl does not log steps 1..20 once each" >&2; exit 1; }
    grep -q "^trained 20 steps" "$WORK/$run.20.0.log" || {
        echo "mesh { $mesh }: process 0 printed no summary" >&2; exit 1; }
    grep -q "^trained" "$WORK/$run.20.1.log" && {
        echo "mesh { $mesh }: process 1 printed the summary too" >&2; exit 1; }
    grep -q "process 1 of 2: finished at step 20" "$WORK/$run.20.1.log" || {
        echo "mesh { $mesh }: process 1 did not name itself" >&2; exit 1; }
    # resume: both processes read process 0's checkpoint and go on to step 30
    train_job "$run" 30 --resume --set "train.mesh={ $mesh }"
    [ "$(logged_steps "$WORK/$run/metrics.jsonl" | tail -n 1)" = 30 ] || {
        echo "mesh { $mesh }: the resumed run did not reach step 30" >&2; exit 1; }
    grep -q "^trained 30 steps" "$WORK/$run.30.0.log" || {
        echo "mesh { $mesh }: the resumed process 0 printed no summary" >&2; exit 1; }
    echo "two mock-NCCL sbgm-xla train processes, mesh = { $mesh }: passed (trained, resumed)"
done
