#!/usr/bin/env bash
# One-call GPU check of sbgm-xla (device machine: NVIDIA GPU, python3 with jax + the CUDA 13
# PJRT plugin, nothing downloadable). Run from the repository root with the release binaries
# built and carried:
#
#   OUT=/some/dir bash tools/gpu_check.sh
#
# needs target/release/sbgm-xla, target/release/examples/{bench_train,sample_bench,bench_unet}
# and, for the side-by-side with sbgm 0.0.38 (JAX), the wheels in .whl/ (sbgm, einx,
# frozendict, beartype, ml_collections, powerbox; installed into /tmp/site when `import sbgm`
# fails). Sections, in order of priority (each guarded by `timeout`, all under one deadline;
# a failed one does not stop the others):
#   env       nvidia-smi, where the CUDA plugin is, `sbgm-xla plugin list` and `devices`
#   fixtures  `sbgm-xla score` of the sbgm model fixtures (MLP, Mixer, UNet, DiT) vs sbgm's output
#   train     `sbgm-xla train --config configs/moons.toml` (f32), steps/s and losses
#   sample    `sbgm-xla sample` (EM, Tsit5 fixed and adaptive, DPM-Solver++) and `loglik`
#   bf16      the same training with train.matmul_precision = "bf16"
#   bench     tools/bench_sbgm.py: sbgm (JAX, same GPU) vs bench_train / sample_bench / sample
#   unet      tools/bench_sbgm.py --unet vs bench_unet (digits UNet)
# Writes to $OUT: gpu_check.log (everything), summary.json, bench.json, bench_unet.json,
# em.png, metrics_f32.jsonl, metrics_bf16.jsonl.
#
# Environment (defaults for the H200 machine; the CPU values test the script locally):
#   GPU_CHECK_PLUGIN=cuda       the plugin (cuda, cpu or a .so path)
#   GPU_CHECK_PYTHON=python3    the Python with jax (and sbgm, or the wheels)
#   GPU_CHECK_BUDGET_S=400      the whole script's deadline, in seconds
#   GPU_CHECK_ONLY=""           run only these sections (e.g. "bench unet"); env always runs
#   GPU_CHECK_TRAIN_STEPS=5000 GPU_CHECK_BENCH_STEPS=2000 GPU_CHECK_N=4096 GPU_CHECK_LL_N=1024
#   GPU_CHECK_UNET_STEPS=200
#   Local test: OUT=/tmp/gpuout GPU_CHECK_PLUGIN=cpu GPU_CHECK_PYTHON=~/.cache/sbgm-ref/bin/python \
#     GPU_CHECK_TRAIN_STEPS=200 GPU_CHECK_BENCH_STEPS=100 GPU_CHECK_N=256 GPU_CHECK_LL_N=32 \
#     GPU_CHECK_UNET_STEPS=5 bash tools/gpu_check.sh

set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
PLUGIN=${GPU_CHECK_PLUGIN:-cuda}
PY=${GPU_CHECK_PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET_S:-400}
ONLY=${GPU_CHECK_ONLY:-}
TRAIN_STEPS=${GPU_CHECK_TRAIN_STEPS:-5000}
BENCH_STEPS=${GPU_CHECK_BENCH_STEPS:-2000}
N=${GPU_CHECK_N:-4096}
LL_N=${GPU_CHECK_LL_N:-1024}
UNET_STEPS=${GPU_CHECK_UNET_STEPS:-200}
BIN=$PWD/target/release/sbgm-xla
EX=$PWD/target/release/examples
WORK=$(mktemp -d /tmp/gpu-check.XXXXXX)
mkdir -p "$WORK/logs"
LOG=$OUT/gpu_check.log
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
START=$SECONDS
DEADLINE=$((START + BUDGET))
export PYTHONUNBUFFERED=1
# timings without sbgm-xla's persistent compilation cache (a fresh machine has none anyway)
export SBGM_XLA_COMPILE_CACHE=off
# never try to download a plugin there
export SBGM_XLA_NO_INSTALL=1
export SBGM_XLA_PYTHON=$PY
if [ "$PLUGIN" = cpu ]; then JAXP=cpu; else JAXP=cuda; fi
export JAX_PLATFORMS=${JAX_PLATFORMS:-$JAXP}
# JAX takes memory as it needs it: the Rust commands (CUDA plugin: 75% of the memory up
# front) run beside the benchmark's JAX process
export XLA_PYTHON_CLIENT_PREALLOCATE=false

NAMES=() RCS=() SECS=() NOTES=()
elapsed() { echo $((SECONDS - START)); }
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
note() { NOTES[${#NOTES[@]}-1]="${NOTES[${#NOTES[@]}-1]}$*"; }

# step NAME WANT_SECONDS CMD...: runs CMD under `timeout` (at most WANT_SECONDS, and never past
# the deadline), its output to the log and $WORK/logs/NAME.log; records rc and seconds.
step() {
  local name=$1 wantt=$2
  shift 2
  local left=$((DEADLINE - SECONDS - 5))
  local t=$((wantt < left ? wantt : left))
  NAMES+=("$name")
  NOTES+=("")
  if ((t < 8)); then
    echo "### [$(elapsed)s] SKIP $name: no time left"
    RCS+=(skip)
    SECS+=(0)
    return 99
  fi
  echo
  echo "### [$(elapsed)s] $name (timeout ${t}s): $*"
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout -k 10 "$t" "$@" 2>&1 | tee "$WORK/logs/$name.log"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s.%N)
  RCS+=("$rc")
  SECS+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')")
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "### $name: TIMED OUT after ${t}s"
    note "TIMED OUT after ${t}s; "
  fi
  echo "### [$(elapsed)s] $name: rc=$rc"
  return "$rc"
}
# lognote NAME REGEX: the step's last output line matching REGEX, into its note
lognote() { note "$(grep -E "$2" "$WORK/logs/$1.log" | tail -1) "; }
# pynote ARGS...: a tools/gpu_check.py verdict, into the last step's note (and the log)
pynote() {
  local v
  v=$("$PY" tools/gpu_check.py "$@")
  echo "    $v"
  note "$v"
}
skip() { NAMES+=("$1"); RCS+=(skip); SECS+=(0); NOTES+=("$2"); echo "### SKIP $1: $2"; }

echo "### gpu_check: plugin=$PLUGIN python=$PY budget=${BUDGET}s only='${ONLY}' work=$WORK"
echo "### $(date -u +%FT%TZ) $(uname -srm); $(ldd --version 2>&1 | head -1)"
for f in "$BIN" "$EX/bench_train" "$EX/sample_bench" "$EX/bench_unet"; do
  [ -x "$f" ] || echo "### MISSING $f (carry it)"
done

# ---------------------------------------------------------------- env: GPU, plugin, devices
if command -v nvidia-smi >/dev/null; then
  step nvidia-smi 20 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv
else
  skip nvidia-smi "not installed (no GPU here)"
fi
step python 60 "$PY" -c "import sys, jax; print(sys.executable, sys.version.split()[0], 'jax', jax.__version__, jax.devices())"
PLUGIN_SO=""
if [ "$PLUGIN" = cuda ]; then
  PLUGIN_SO=$("$PY" -c "import importlib.util, os; s = importlib.util.find_spec('jax_plugins.xla_cuda13'); print(os.path.join(s.submodule_search_locations[0], 'xla_cuda_plugin.so'))" 2>/dev/null)
  echo "### CUDA plugin library: ${PLUGIN_SO:-not found by $PY}"
  if [ -n "$PLUGIN_SO" ] && [ -f "$PLUGIN_SO" ]; then
    ls -la "$PLUGIN_SO"
    echo "### ldd (missing libraries):"
    ldd "$PLUGIN_SO" | grep -i "not found" || echo "  none"
  fi
fi
step plugin-list 60 "$BIN" plugin list
# The plugin to use: the platform name (our discovery), else the library's path, else the
# path with the pip-installed NVIDIA libraries on LD_LIBRARY_PATH.
RPLUG=$PLUGIN
if step devices 90 "$BIN" devices --plugin "$PLUGIN"; then
  lognote devices "^platform:"
  lognote devices "^  \[0\]"
else
  if [ -n "$PLUGIN_SO" ] && step devices-path 90 "$BIN" devices --plugin "$PLUGIN_SO"; then
    RPLUG=$PLUGIN_SO
  elif [ -n "$PLUGIN_SO" ]; then
    NVLIBS=$("$PY" tools/gpu_check.py nvlibs)
    echo "### retrying with LD_LIBRARY_PATH=$NVLIBS"
    export LD_LIBRARY_PATH=$NVLIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    step devices-ldpath 90 "$BIN" devices --plugin "$PLUGIN_SO" && RPLUG=$PLUGIN_SO &&
      note "needs LD_LIBRARY_PATH=$NVLIBS"
  fi
fi
echo "### using --plugin $RPLUG"
# A first real compile (the MLP fixture's score: tanh, dots). If XLA cannot find libdevice or
# ptxas, point it at a CUDA folder holding nvvm/libdevice (the pip NVIDIA packages' or
# /usr/local/cuda) and try again.
FX=tests/fixtures/models/mlp_none
"$PY" tools/gpu_check.py fixture-in "$FX" "$WORK/probe"
probe() {
  step "$1" 120 "$BIN" score --checkpoint "$FX/model.eqx" --config "$FX/config.json" \
    --t "$WORK/probe/t.npy" --x "$WORK/probe/x.npy" --out "$WORK/probe/s.npy" --plugin "$RPLUG"
}
if ! probe probe-compile && [ "$PLUGIN" != cpu ]; then
  CUDA_DATA=$("$PY" tools/gpu_check.py cudadir)
  if [ -z "$CUDA_DATA" ]; then
    echo "### no CUDA folder with nvvm/libdevice found; not retrying"
  else
    echo "### retrying with XLA_FLAGS=--xla_gpu_cuda_data_dir=$CUDA_DATA and its bin/ on PATH"
    export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_cuda_data_dir=$CUDA_DATA"
    export PATH=$CUDA_DATA/bin:$PATH
    probe probe-compile-cudadir && note "needs XLA_FLAGS=$XLA_FLAGS"
  fi
fi

# ---------------------------------------------------------------- fixtures: scores vs sbgm
if want fixtures; then
  for m in mlp_none mixer_none unet_none dit_none; do
    d=tests/fixtures/models/$m
    "$PY" tools/gpu_check.py fixture-in "$d" "$WORK/fx_$m" || continue
    if step "score-$m" 60 "$BIN" score --checkpoint "$d/model.eqx" --config "$d/config.json" \
      --t "$WORK/fx_$m/t.npy" --x "$WORK/fx_$m/x.npy" --out "$WORK/fx_$m/s.npy" --plugin "$RPLUG"; then
      pynote fixture-cmp "$d" "$WORK/fx_$m/s.npy"
    fi
  done
fi

# ---------------------------------------------------------------- train (f32, then bf16)
train_notes() { # NAME RUN_DIR
  local l
  l=$(grep -E "^trained " "$WORK/logs/$1.log" | tail -1)
  note "${l:-no summary line}"
  echo "    $l"
}
RUN_F32=$WORK/runs/moons_f32
if want train; then
  step train-f32 150 "$BIN" train --config configs/moons.toml --run-dir "$RUN_F32" --quiet \
    --set "train.steps=$TRAIN_STEPS" --plugin "$RPLUG"
  train_notes train-f32 "$RUN_F32"
  [ -f "$RUN_F32/metrics.jsonl" ] && cp "$RUN_F32/metrics.jsonl" "$OUT/metrics_f32.jsonl"
fi

# ---------------------------------------------------------------- sample and log-likelihood
if want sample; then
  if [ -f "$RUN_F32/checkpoint.safetensors" ]; then
    # each: the command's own timing line, then the samples' sliced W1 to fresh moons
    S="$BIN sample --checkpoint $RUN_F32 --n $N --quiet --plugin $RPLUG"
    for spec in "em:--sampler em --png $OUT/em.png" "tsit5-100:--sampler tsit5 --steps 100" \
      "tsit5-adaptive:--sampler tsit5" "dpm2m-15:--sampler dpm2m --steps 15"; do
      name=${spec%%:*}
      # shellcheck disable=SC2086 # word splitting of the options is meant
      step "sample-$name" 60 $S ${spec#*:} --out "$WORK/$name.npy" &&
        lognote "sample-$name" "samples of shape" && pynote sw1 "$WORK/$name.npy"
    done
    "$PY" tools/gpu_check.py moons "$WORK/moons_ll.npy" "$LL_N"
    L="$BIN loglik --checkpoint $RUN_F32 --data $WORK/moons_ll.npy --quiet --plugin $RPLUG"
    # shellcheck disable=SC2086
    step loglik-exact 90 $L --out "$WORK/ll.npy" &&
      lognote loglik-exact "NFE" && pynote loglik "$WORK/ll.npy"
    # shellcheck disable=SC2086
    step loglik-hutchinson 60 $L --method hutchinson --probes 4 --out "$WORK/ll_h.npy" &&
      lognote loglik-hutchinson "NFE" && pynote loglik "$WORK/ll_h.npy"
  else
    skip sample "no checkpoint from train-f32"
  fi
fi

if want bf16; then
  RUN_BF=$WORK/runs/moons_bf16
  step train-bf16 150 "$BIN" train --config configs/moons.toml --run-dir "$RUN_BF" --quiet \
    --set "train.steps=$TRAIN_STEPS" --set 'train.matmul_precision="bf16"' --plugin "$RPLUG"
  train_notes train-bf16 "$RUN_BF"
  [ -f "$RUN_BF/metrics.jsonl" ] && cp "$RUN_BF/metrics.jsonl" "$OUT/metrics_bf16.jsonl"
fi

# ---------------------------------------------------------------- side by side with sbgm (JAX)
SBGM_OK=0
if want bench || want unet; then
  if ! "$PY" -c "import sbgm" >/dev/null 2>&1 && ls .whl/*.whl >/dev/null 2>&1; then
    step install-wheels 90 "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --ignore-requires-python --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  if ! "$PY" -c "import powerbox" >/dev/null 2>&1; then
    # sbgm imports powerbox only for its data sets: a stand-in module does
    mkdir -p "$WORK/stubs/powerbox"
    : >"$WORK/stubs/powerbox/__init__.py"
    export PYTHONPATH=$WORK/stubs${PYTHONPATH:+:$PYTHONPATH}
    echo "### powerbox: using a stand-in module"
  fi
  step import-sbgm 120 "$PY" -c "import sbgm, jax, equinox, diffrax, optax; print('sbgm', sbgm.__file__, 'jax', jax.__version__, 'equinox', equinox.__version__, 'diffrax', diffrax.__version__, 'optax', optax.__version__)" && SBGM_OK=1
fi
C="env SBGM_XLA_COMPILE_CACHE=off"
if want bench; then
  if [ $SBGM_OK = 1 ]; then
    smp="$BIN sample --checkpoint {eqx} --config {config} --sde {sde} --n $N --steps 100 --sampler em --out {workdir}/em.npy --quiet --plugin $RPLUG"
    step bench-moons 300 "$PY" tools/bench_sbgm.py --steps "$BENCH_STEPS" --samples "$N" \
      --moons-loglik "$LL_N" --workdir "$WORK/bench" --out "$OUT/bench.json" \
      --train-repeat 2 \
      --rust-train-cmd "$C $EX/bench_train --steps $BENCH_STEPS --plugin $RPLUG" \
      --rust-train-cmd "$C $EX/bench_train --steps $BENCH_STEPS --k 1000 --plugin $RPLUG" \
      --rust-train-cmd "$C $EX/bench_train --steps $BENCH_STEPS --precision bf16 --plugin $RPLUG" \
      --rust-cmd "$C $EX/sample_bench --eqx {eqx} --data {data} --n $N --json --plugin $RPLUG" \
      --rust-cmd "$C $EX/sample_bench --eqx {eqx} --data {data} --n $N --json --precision bf16 --plugin $RPLUG" \
      --rust-cmd "$C $smp" >/dev/null
    [ -f "$OUT/bench.json" ] && "$PY" tools/gpu_check.py bench "$OUT/bench.json"
  else
    skip bench-moons "sbgm does not import"
  fi
fi
if want unet; then
  if [ $SBGM_OK = 1 ]; then
    step bench-unet 240 "$PY" tools/bench_sbgm.py --no-moons --unet --unet-steps "$UNET_STEPS" \
      --unet-loglik 8 --ll-steps 4 --workdir "$WORK/bench_unet" --out "$OUT/bench_unet.json" \
      --rust-unet-cmd "$C $EX/bench_unet --steps $UNET_STEPS --loglik 8 --ll-steps 4 --plugin $RPLUG" >/dev/null
    [ -f "$OUT/bench_unet.json" ] && "$PY" tools/gpu_check.py bench "$OUT/bench_unet.json"
  else
    skip bench-unet "sbgm does not import"
  fi
fi

# ---------------------------------------------------------------- summary
echo
echo "### summary ($(elapsed)s of ${BUDGET}s; plugin $RPLUG)"
printf '%-24s %5s %8s  %s\n' step rc seconds note
for i in "${!NAMES[@]}"; do
  printf '%-24s %5s %8s  %s\n' "${NAMES[$i]}" "${RCS[$i]}" "${SECS[$i]}" "${NOTES[$i]}"
done
"$PY" - "$OUT/summary.json" "$RPLUG" "$(elapsed)" "${#NAMES[@]}" "${NAMES[@]}" "${RCS[@]}" "${SECS[@]}" "${NOTES[@]}" <<'PYEOF'
import json, sys
out, plugin, elapsed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
a = sys.argv[5:]
steps = [dict(step=a[i], rc=a[n + i], seconds=float(a[2 * n + i]), note=a[3 * n + i]) for i in range(n)]
json.dump(dict(plugin=plugin, elapsed_s=elapsed, steps=steps), open(out, "w"), indent=1)
PYEOF
ls -la "$OUT"
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
