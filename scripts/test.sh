#!/bin/sh
# Sets up and runs every test of the project. CI runs exactly this (with
# CI=true, which turns a missing Vulkan device or tool into a failure).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Each step's wall time, printed as a table at the end (also after a failure).
times=$(mktemp "${TMPDIR:-/tmp}/wp-test-times.XXXXXX")
step_name="" step_t0=$(date +%s) run_t0=$(date +%s)
step_end() {
    [ -n "$step_name" ] && printf '%6s s  %s\n' $(($(date +%s) - step_t0)) "$step_name" >>"$times"
    step_name=""
}
# A test process that crashes (a signal, e.g. SIGSEGV) leaves a core file
# (core.<executable path, '/' as '!'>.<pid> in the crate's folder, where
# cargo runs tests); after a failed run, each one's crashing thread and then
# all its threads are printed with gdb, so that a crash CI saw once can be
# read afterwards. The pattern is set where it may be (root, CI); elsewhere
# the system's is kept. (%E, the path: %e is the crashing thread's name,
# which for a test is the test's, cut to 15 bytes.)
ulimit -c unlimited 2>/dev/null || true
if [ "${CI:-}" = true ] && [ -w /proc/sys/kernel/core_pattern ]; then
    echo 'core.%E.%p' >/proc/sys/kernel/core_pattern 2>/dev/null || true
fi
rm -f "$root"/core.*
crash_report() {
    for core in "$root"/core.*; do
        [ -f "$core" ] || continue
        name=$(basename "$core")
        name=${name#core.}
        exe=$(printf '%s' "${name%.*}" | tr '!' '/')
        if [ ! -f "$exe" ]; then
            name=$(basename "$exe")
            exe=$(ls -t "$root"/target/debug/deps/"$name"* "$root"/target/debug/"$name"* 2>/dev/null |
                grep -v '\.d$' | head -1)
        fi
        printf '\n==== %s crashed (%s): its threads, the crashing one first\n' "${exe:-$name}" "$core"
        if command -v gdb >/dev/null 2>&1 && [ -n "$exe" ]; then
            gdb -batch -nx -ex 'bt 40' -ex 'thread apply all bt 16' "$exe" "$core" 2>&1 |
                grep -v -e '^\[New LWP' -e 'Unexpected size of section' | head -2000
        fi
    done
}
print_times() {
    rc=$?
    [ $rc -eq 0 ] || crash_report
    step_end
    printf '\n==== time per step (s)\n'
    cat "$times"
    printf '%6s s  total\n' $(($(date +%s) - run_t0))
    rm -f "$times"
    exit $rc
}
trap print_times EXIT
step() {
    step_end
    step_name=$1 step_t0=$(date +%s)
    printf '\n==== %s (%s)\n' "$1" "$(date +%H:%M:%S)"
}

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
# Under the Khronos validation layer with synchronization validation
# (scripts/vk-validate.sh): any validation error from the Vulkan device, in
# any test, fails the run with the layer's message (~20% on the GPU tests).
#
# Under the layer a test process runs its tests one at a time (the layer's
# device map races between threads: scripts/vk-validate.sh). The two slowest
# tests (lavapipe compiles their private-stack shaders for minutes when its
# shader cache is cold: 250 s and 90 s of a 560 s run of tests/all, one at
# a time, on a fresh cache) run in a second process beside the others:
# processes do not share the layer's map, and one process alone leaves the
# second core mostly idle.
step "cargo test (all features; Vulkan validation layer)"
cargo test --workspace --no-run
slow="gpu_stack::every_stack_storage_matches_the_interpreter gpu_stack::c_kernels_with_frames_at_every_optimization_level"
slow_log=$(mktemp "${TMPDIR:-/tmp}/wp-test-slow.XXXXXX")
# shellcheck disable=SC2086
scripts/vk-validate.sh run cargo test --test all -- --exact $slow >"$slow_log" 2>&1 &
slow_pid=$!
skip=""
for t in $slow; do skip="$skip --skip $t"; done
rc=0
# shellcheck disable=SC2086
scripts/vk-validate.sh run cargo test --workspace -- $skip || rc=$?
slow_rc=0
wait "$slow_pid" || slow_rc=$?
printf '\n== the slow Vulkan tests, run beside the others (exit %s):\n' "$slow_rc"
cat "$slow_log"
# Both ran (a renamed test would otherwise be skipped by both runs).
both_ran=yes
grep -q "test result: ok. 2 passed" "$slow_log" || both_ran=no
rm -f "$slow_log"
[ "$rc" -eq 0 ] || exit "$rc"
[ "$slow_rc" -eq 0 ] || exit "$slow_rc"
if [ "$both_ran" = no ]; then
    echo "test.sh: the slow Vulkan tests did not both run: $slow" >&2
    exit 1
fi

step "CPU device suites on the interpreter kernel engine (the run above used the JIT)"
WASI_PARALLEL_KERNEL_ENGINE=interpreter cargo test --test all -- parallel_ limits:: bad_guest:: examples:: cli::
WASI_PARALLEL_KERNEL_ENGINE=interpreter cargo test --test stress --test parallel_memory

# GPU-assisted validation (out-of-bounds descriptor accesses in our
# shaders) on the semantics and stack suites; the examples' best-practices
# report must hold no barrier warning; then the GPU semantics tests and the
# examples at lavapipe's second subgroup size (LP_NATIVE_VECTOR_WIDTH=128:
# 4 lanes instead of 8).
step "Vulkan: GPU-assisted validation, best practices, second subgroup size"
VK_VALIDATE_GPU_AV=1 scripts/vk-validate.sh run cargo test --test all -- gpu_semantics gpu_stack
scripts/vk-validate.sh best-practices target/debug/wasi-parallel
LP_NATIVE_VECTOR_WIDTH=128 cargo test --test all -- gpu_semantics examples::

step "cargo test --no-default-features (no Vulkan, no JIT)"
cargo test --no-default-features --tests

# armv7: libraries + C hosts under qemu (the CLI is proven on aarch64), to
# keep the whole run inside CI's 90 minutes on 2 cores.
export LIB_ONLY_TARGETS="${LIB_ONLY_TARGETS-armv7}"
# The cross builds in the `ci-cross` profile (Cargo.toml: release code
# generation without LTO, one build per target for the CLI, both libraries
# and the CMake package); the release profile is built natively by
# c-examples/run.sh and tested by scripts/sanitize.sh.
export CROSS_PROFILE="${CROSS_PROFILE-ci-cross}"
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
step_end
echo "all tests passed"
