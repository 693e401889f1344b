#!/bin/sh
# Regenerates include/wasi_parallel.h from src/capi/ with cbindgen.toml.
# Uses the cbindgen library through the freshness test, so no cbindgen
# binary is needed.
set -eu
cd "$(dirname "$0")/.."
WP_BLESS_HEADER=1 cargo test --quiet --test all header_fresh::committed_header_is_fresh
cargo test --quiet --test all header_fresh::
echo "include/wasi_parallel.h regenerated"
