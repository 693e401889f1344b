#!/bin/sh
# Re-records abi/wasi_parallel.abi, the C ABI that tests/all/abi_check.rs
# checks (the header's declarations and layouts, the library's symbols).
# Refuses a breaking change (something removed or changed) unless the major
# version in Cargo.toml grew; compatible additions are simply recorded.
# Regenerate the header first (scripts/gen-header.sh) when src/capi changed.
set -eu
cd "$(dirname "$0")/.."
WP_BLESS_ABI=1 cargo test --quiet --test all abi_check::c_abi_matches_the_record
cargo test --quiet --test all abi_check::
echo "abi/wasi_parallel.abi recorded"
