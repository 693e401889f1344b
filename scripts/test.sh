#!/bin/sh
# Sets up and runs every test of the project. CI runs exactly this (with
# CI=true, which turns a missing Vulkan device or tool into a failure).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n==== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "setup"
scripts/setup.sh

step "format check"
cargo fmt --all -- --check
# The GPU check runs on a lent GPU machine, not here: at least it must parse.
for s in scripts/*.sh; do bash -n "$s"; done

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps

# Includes the WebAssembly spec suite as kernels (tests/spec_conformance.rs,
# the same run as scripts/spec-conformance.sh) on the interpreter engines and
# the Vulkan device; without the vulkan feature, on the interpreter engines.
step "cargo test (all features)"
cargo test --workspace

step "CPU device suites on the interpreter kernel engine (the run above used the JIT)"
WASI_PARALLEL_KERNEL_ENGINE=interpreter cargo test --test all -- parallel_ limits:: bad_guest:: examples:: cli::
WASI_PARALLEL_KERNEL_ENGINE=interpreter cargo test --test stress --test parallel_memory

step "cargo test --no-default-features (no Vulkan, no JIT)"
cargo test --no-default-features --tests

# armv7: libraries + C hosts under qemu (the CLI is proven on aarch64), to
# keep the whole run inside CI's 90 minutes on 2 cores.
export LIB_ONLY_TARGETS="${LIB_ONLY_TARGETS-armv7}"
# Every one of these is expected: a missing or non-executable script is a
# failure, not a silent skip.
# test-deb.sh after test-cross.sh: it packages the release builds those two made.
for s in c-examples/run.sh scripts/test-cross.sh scripts/test-deb.sh scripts/sanitize.sh; do
    if [ ! -x "$s" ]; then
        echo "error: expected test script $s is missing or not executable" >&2
        exit 1
    fi
    step "$s"
    "$s"
done
step "all tests passed"
