#!/usr/bin/env bash
# The side-by-side benchmarks of the README's Performance section, in one go:
# sbgm 0.0.38 (JAX) and sbgm-xla on moons (training, Euler-Maruyama, PF-ODE, exact
# log-likelihood, the whole `sbgm-xla sample` command) and on 8x8 digits with the UNet
# (training, exact log-likelihood). Results: bench/all.json.
# Needs the reference environment (bash ../shared/reference/sbgm-venv.sh) and ~15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${SBGM_REF_PYTHON:-$HOME/.cache/sbgm-ref/bin/python}
cargo build --release --bin sbgm-xla --example bench_train --example sample_bench --example bench_unet
mkdir -p bench
cold="env SBGM_XLA_COMPILE_CACHE=off"
sample="target/release/sbgm-xla sample --checkpoint {eqx} --config {config} --sde {sde} --n 4096 --steps 100 --sampler em --out {workdir}/em.npy --quiet"
"$PY" tools/bench_sbgm.py --steps 2000 --train-repeat 3 --out bench/all.json \
  --unet --unet-steps 100 --unet-loglik 8 --ll-steps 4 \
  --rust-unet-cmd "$cold target/release/examples/bench_unet --steps 100 --loglik 8 --ll-steps 4" \
  --rust-train-cmd "$cold target/release/examples/bench_train --steps 2000" \
  --rust-train-cmd "$cold target/release/examples/bench_train --steps 2000 --precision bf16" \
  --rust-train-cmd "$cold target/release/examples/bench_train --steps 2000 --precision bf16 --set train.use_ema=false" \
  --rust-cmd "$cold target/release/examples/sample_bench --eqx {eqx} --data {data} --json" \
  --rust-cmd "$cold target/release/examples/sample_bench --eqx {eqx} --data {data} --json --precision bf16" \
  --rust-cmd "$cold $sample" \
  --rust-cmd "$cold $sample --matmul-precision bf16" \
  --rust-cmd "$sample" \
  --rust-cmd "$sample" >/dev/null
"$PY" - <<'PY'
import json
for f in ("bench/all.json",):
    r = json.load(open(f))
    print(f)
    print("  sbgm:", json.dumps(r.get("sbgm")))
    print("  sbgm unet:", json.dumps(r.get("sbgm_unet")))
    for run, ratio in zip(r.get("rust", []), r.get("ratios", [])):
        print("  rust:", " ".join(run["command"][2:6]), "... ->", json.dumps(ratio))
    if r.get("rust_unet"):
        print("  rust unet:", json.dumps(r["rust_unet"]))
        print("  ratios unet:", json.dumps(r.get("ratios_unet")))
PY
