#!/bin/sh
# Regenerates THIRD-PARTY-NOTICES (the crates linked into the libraries and
# the CLI, with their licence texts) from Cargo.lock and the crates' sources;
# tests/all/notices.rs fails when the committed file differs.
set -eu
cd "$(dirname "$0")/.."
WP_BLESS_NOTICES=1 cargo test --quiet --test all notices::
cargo test --quiet --test all notices::
echo "THIRD-PARTY-NOTICES regenerated"
