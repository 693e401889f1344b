#!/bin/sh
# The WebAssembly spec test suite (tests/spec/testsuite/*.wast) run as
# kernels on every kernel engine and device: the interpreter on the
# SEQUENTIAL and CPU devices and the Vulkan device (lavapipe in CI; under
# CI=true a missing Vulkan device is a failure). Prints, per file and per
# engine/device, passed/failed/unsupported counts, and ends with one line
# per device: `spec: P of T assertions pass on DEVICE`.
#
#   scripts/spec-conformance.sh                  every in-scope file
#   scripts/spec-conformance.sh f32 conversions  only these files
#   scripts/spec-conformance.sh -v               also every failure and why
#                                                each case is not a kernel
#   SPEC_SIMD=0 scripts/spec-conformance.sh      without the SIMD files
#   SPEC_ENGINES=vulkan scripts/spec-conformance.sh  one engine only
#
# `cargo test` runs the same binary (tests/spec_conformance.rs) with its
# targets as the pass condition; see docs/conformance.md.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
exec cargo test --test spec_conformance -- "$@"
