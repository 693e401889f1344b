#!/bin/sh
# Builds the C examples (c-examples/*.c), the C++ example
# (c-examples/cpp_host.cpp, the header-only C++ API) and the C API stress
# program (tests/c/stress.c) against the Rust static library and runs them
#   1. under AddressSanitizer + UndefinedBehaviorSanitizer, with
#      LeakSanitizer on (detect_leaks=1), every report fatal;
#   2. under valgrind --leak-check=full --error-exitcode=1 (definite and
#      possible leaks are errors), linked to the debug library;
#   3. the same valgrind pass linked to the release library that ships
#      (default features, LTO: what `cmake --install` / c-examples/run.sh
#      build with the same cargo command, so after run.sh in CI this costs
#      only the valgrind runs).
# Exits non-zero on any report.
#
# Modes (environment):
#   WP_SANITIZE_LONG=1   the stress program runs 1000 rounds under both tools
#                        (default: 1000 under ASan, 30 under valgrind, which
#                        is ~50x slower).
#   WP_STRESS_ITERS=N    override the rounds of both runs.
#   WP_SANITIZE_RUST=1   also instrument the Rust library itself with ASan
#                        (needs RUSTC_BOOTSTRAP=1 on stable; a separate,
#                        full build in target/sanitize-rust).
#   WP_SANITIZE_RELEASE=0  skip pass 3 (a fresh release build with LTO takes
#                        ~15 min on 2 cores; after c-examples/run.sh it is
#                        a no-op).
#
# The debug library is built without the `vulkan` feature: the Vulkan loader
# and lavapipe (LLVM JIT) keep process-lifetime allocations and are not ours
# to audit; the GPU device is covered by the Rust tests and the fuzzers. The
# release library has it, and runs with WASI_PARALLEL_VULKAN_DEVICE=none,
# which keeps the loader and the driver out of the process, then once more
# with them (parallel_devices lists the devices, loading lavapipe).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/wp-sanitize.XXXXXX")
trap 'rm -rf "$work"' EXIT
long=${WP_SANITIZE_LONG:-0}
asan_iters=${WP_STRESS_ITERS:-1000}
if [ "$long" = 1 ]; then vg_iters=${WP_STRESS_ITERS:-1000}; else vg_iters=${WP_STRESS_ITERS:-30}; fi
CC=${CC:-clang}
CXX=${CXX:-clang++}
syslibs="-lpthread -ldl -lm -lrt -lutil"

need() { command -v "$1" >/dev/null 2>&1 || { echo "sanitize.sh: $1 not found" >&2; exit 1; }; }
need "$CC"
need "$CXX"
need valgrind

echo "== Rust static library (features: wat; no vulkan)"
if [ "${WP_SANITIZE_RUST:-0}" = 1 ]; then
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" \
    cargo build --lib --no-default-features --features wat,portable-dispatch \
    --target x86_64-unknown-linux-gnu \
    --target-dir target/sanitize-rust
  cp target/sanitize-rust/x86_64-unknown-linux-gnu/debug/libwasi_parallel.a "$work/asan-lib.a"
  asan_lib="$work/asan-lib.a"
fi
# The default target dir: the dependencies are those `cargo test
# --no-default-features` already built.
cargo build --lib --no-default-features --features wat
cp target/debug/libwasi_parallel.a "$work/libwasi_parallel.a"
lib="$work/libwasi_parallel.a"
: "${asan_lib:=$lib}"

progs="c-examples/run_wasi.c c-examples/host_native.c c-examples/call_export.c c-examples/parallel_devices.c c-examples/watchdog.c tests/c/stress.c"

build() { # build OUT SRC LIB EXTRA_FLAGS...
  out=$1 src=$2 l=$3
  shift 3
  # shellcheck disable=SC2086
  "$CC" -std=gnu99 -g -O1 -Wall -Wextra -Werror -Iinclude -Ic-examples "$@" \
    -o "$out" "$src" "$l" $syslibs
}

buildxx() { # buildxx OUT LIB EXTRA_FLAGS...: the C++ example
  out=$1 l=$2
  shift 2
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 -g -O1 -Wall -Wextra -Werror -Iinclude -Ic-examples "$@" \
    -o "$out" c-examples/cpp_host.cpp "$l" $syslibs
}

run() { # run NAME CMD...
  name=$1
  shift
  if "$@" >"$work/out.txt" 2>&1; then
    echo "  ok   $name: $(tail -n 1 "$work/out.txt")"
  else
    echo "  FAIL $name" >&2
    tail -n 60 "$work/out.txt" >&2
    exit 1
  fi
}

args_for() {
  case $1 in
    parallel_devices) echo "cpu 2" ;;
    *) echo "" ;;
  esac
}

echo "== AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
for src in $progs; do
  name=$(basename "$src" .c)
  build "$work/$name-asan" "$src" "$asan_lib" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  # shellcheck disable=SC2046
  WP_STRESS_ITERS=$asan_iters WP_WATCHDOG_MAX_MS=1000 run "$name (asan+ubsan+lsan)" "$work/$name-asan" $(args_for "$name")
done
for p in sequential "cpu 4"; do
  # shellcheck disable=SC2086
  run "parallel_devices $p (asan+ubsan+lsan)" "$work/parallel_devices-asan" $p
done
# C++: natives from lambdas (a throwing one traps the guest), RAII handles.
buildxx "$work/cpp_host-asan" "$asan_lib" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
run "cpp_host (asan+ubsan+lsan)" "$work/cpp_host-asan"
run "cpp_host sequential (asan+ubsan+lsan)" "$work/cpp_host-asan" sequential
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

valgrind_pass() { # valgrind_pass LABEL LIB
  label=$1 l=$2
  echo "== valgrind --leak-check=full ($label)"
  for src in $progs; do
    name=$(basename "$src" .c)
    build "$work/$name-$label" "$src" "$l"
    # shellcheck disable=SC2046
    WP_STRESS_ITERS=$vg_iters WP_WATCHDOG_MAX_MS=5000 run "$name (valgrind, $label)" valgrind -q --leak-check=full \
      --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible \
      --error-exitcode=1 --suppressions="$root/scripts/valgrind.supp" \
      "$work/$name-$label" $(args_for "$name")
  done
  buildxx "$work/cpp_host-$label" "$l"
  run "cpp_host (valgrind, $label)" valgrind -q --leak-check=full \
    --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible \
    --error-exitcode=1 --suppressions="$root/scripts/valgrind.supp" "$work/cpp_host-$label"
}
valgrind_pass debug "$lib"

if [ "${WP_SANITIZE_RELEASE:-1}" = 1 ]; then
  echo "== release static library (default features, as CMakeLists.txt builds it)"
  t0=$(date +%s)
  cargo rustc --release --lib --locked --crate-type staticlib
  t1=$(date +%s)
  cp target/release/libwasi_parallel.a "$work/libwasi_parallel-release.a"
  export WASI_PARALLEL_VULKAN_DEVICE=none
  valgrind_pass release "$work/libwasi_parallel-release.a"
  unset WASI_PARALLEL_VULKAN_DEVICE
  # With the Vulkan driver loaded: listing devices makes glibc's loader
  # dlopen the ICDs (lavapipe, libLLVM); scripts/valgrind.supp's ld.so
  # strncmp entry is exercised here, and nothing else may be reported.
  WP_STRESS_ITERS=$vg_iters run "parallel_devices cpu 2, Vulkan driver loaded (valgrind, release)" \
    valgrind -q --leak-check=full \
    --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible \
    --error-exitcode=1 --suppressions="$root/scripts/valgrind.supp" \
    "$work/parallel_devices-release" cpu 2
  grep -q "vulkan" "$work/out.txt" || {
    echo "  FAIL parallel_devices did not list a Vulkan device (driver not loaded):" >&2
    cat "$work/out.txt" >&2
    exit 1
  }
  t2=$(date +%s)
  echo "  (release pass: build $((t1 - t0)) s, valgrind $((t2 - t1)) s)"
fi
echo "sanitize.sh: all clean (stress rounds: asan $asan_iters, valgrind $vg_iters)"
