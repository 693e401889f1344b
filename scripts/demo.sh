#!/bin/sh
# The main job: set up, build the runtime and the example guests, then run
# the demo guest, which offloads a Mandelbrot kernel to a wasi-parallel
# device (DEVICE=sequential|cpu|gpu, default: what the guest hints, cpu).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cargo build --release --bin wasi-parallel
WASI_PARALLEL=target/release/wasi-parallel c-examples/guests/build.sh build/guests >/dev/null
echo "== devices"
target/release/wasi-parallel devices
echo "== demo"
target/release/wasi-parallel run --stats --device "${DEVICE:-auto}" build/guests/demo.wasm
