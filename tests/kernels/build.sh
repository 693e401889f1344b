#!/bin/sh
# Rebuilds the committed clang kernels (needs clang and wasm-ld with the wasm32 target).
set -e
cd "$(dirname "$0")"
for k in histogram lut; do
  clang --target=wasm32 -nostdlib -O2 -Wl,--no-entry -Wl,--import-memory -Wl,--export=kernel \
    -o "$k.wasm" "$k.c"
done
