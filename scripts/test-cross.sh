#!/usr/bin/env bash
# Proof on the target ISA: cross-builds libwasi_parallel (+ CLI) for aarch64
# and armv7, links the C host examples with the cross compilers and runs
# everything under qemu user mode with the Debian cross sysroots.
#
# usage: scripts/test-cross.sh            # aarch64 (full) + armv7 (build + one example)
#        TARGETS=aarch64 scripts/test-cross.sh
# environment:
#   TARGETS         subset of "aarch64 armv7" (default both)
#   CROSS_FEATURES  cargo features of the cross builds (default: "wat,jit" for
#                   aarch64, "wat" for armv7, i.e. without vulkan: boards
#                   without a GPU, and half the build time; armv7 has no
#                   Cranelift backend; "default" for the crate's defaults)
#   CROSS_PROFILE   cargo profile (default: release, what ships)
#   SKIP_SETUP=1    do not run scripts/setup-cross.sh (tools already there)
#   CROSS_OUT       work directory (default: target/cross)
# Exit status 0 only when every check passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
targets=${TARGETS:-aarch64 armv7}
out=${CROSS_OUT:-$root/target/cross}
export PROFILE=${CROSS_PROFILE:-release}
guest=$root/c-examples/embedded/square_guest.wat
failures=0
t0=$(date +%s)
# `auto` below means the build's default engine, not the one a caller's
# environment picks (CI re-runs test suites with it set).
unset WASI_PARALLEL_KERNEL_ENGINE

log() { echo "test-cross: $*" >&2; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }

[ "${SKIP_SETUP:-0}" = 1 ] || scripts/setup-cross.sh $targets

# expect NAME EXPECTED_STDOUT CMD...: runs CMD, compares its stdout.
expect() {
  local name=$1 want=$2; shift 2
  local got rc=0
  got=$("$@" 2>"$out/last.stderr") || rc=$?
  if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
    fail "$name: exit $rc, stdout '$got' (want '$want'); stderr: $(tail -c 600 "$out/last.stderr")"
  else
    log "ok: $name"
  fi
}

mkdir -p "$out"
for t in $targets; do
  case "$t" in
    aarch64) rt=aarch64-unknown-linux-gnu; triple=aarch64-linux-gnu; qemu=qemu-aarch64; tc=aarch64-linux-gnu.cmake ;;
    armv7) rt=armv7-unknown-linux-gnueabihf; triple=arm-linux-gnueabihf; qemu=qemu-arm; tc=armv7-linux-gnueabihf.cmake ;;
    *) log "unknown target $t"; exit 2 ;;
  esac
  # The JIT kernel engine where Cranelift has a backend (aarch64); armv7
  # builds without it (the interpreter runs kernels there).
  case "$t" in
    aarch64) FEATURES=${CROSS_FEATURES:-wat,jit} ;;
    *) FEATURES=${CROSS_FEATURES:-wat} ;;
  esac
  export FEATURES
  jit=0
  if [ "$t" = aarch64 ]; then
    case ",${FEATURES// /,}," in *,jit,* | ,default,) jit=1 ;; esac
  fi
  command -v $qemu >/dev/null || qemu=$qemu-static
  run=($qemu -L /usr/$triple)
  prefix=$out/$t/prefix
  tb=$(date +%s)
  # LIB_ONLY_TARGETS (e.g. "armv7" in CI, to stay inside its time budget):
  # those targets build and test only the libraries and C hosts, not the CLI.
  lib_only=0
  case " ${LIB_ONLY_TARGETS:-} " in *" $t "*) lib_only=1 ;; esac
  rm -rf "$prefix"
  NO_BIN=$lib_only scripts/cross-build.sh "$rt" "$prefix"
  log "$t: cross-build took $(( $(date +%s) - tb )) s"
  file -L "$prefix/lib/libwasi_parallel.so" "$prefix/bin/wasi-parallel" >&2 || true
  # The target's shared library: only wp_* exports, exactly the recorded ABI's.
  scripts/check-exports.sh "$(readlink -f "$prefix/lib/libwasi_parallel.so")" >&2 ||
    fail "$t: shared library exports or SONAME"

  cli=("${run[@]}" "$prefix/bin/wasi-parallel")
  if [ "$lib_only" = 0 ]; then
  # 1. A guest offloading one kernel to the CPU device with 4 worker threads
  #    (100000 elements, 391 iterations); the guest checks every result and
  #    returns 0. --stats must report the CPU device with 4 threads.
  expect "$t: CLI, CPU device, 4 threads" 0 \
    "${cli[@]}" run --threads 4 --stats --invoke run "$guest" 100000 256 1
  # (the per-device line names the engine: "device 1 [cpu (4 threads)] ENGINE: 1 calls, ...")
  grep -q "\[cpu (4 threads)\] [a-z() ]*: 1 calls, 391 iterations" "$out/last.stderr" ||
    fail "$t: --stats does not show the CPU device with 4 threads: $(cat "$out/last.stderr")"
  # 2. _start path (WASI proc_exit) with 2 threads.
  expect "$t: CLI, _start, 2 threads" "" "${cli[@]}" run --threads 2 "$guest"
  if [ "$t" = aarch64 ]; then
    # 3. Every device hint: SEQUENTIAL, CPU, and the GPU kinds (fall back to
    #    the CPU device when built without vulkan or no GPU is present).
    for hint in 0 2 3; do
      expect "$t: CLI, device hint $hint" 0 "${cli[@]}" run --threads 2 --invoke run "$guest" 4096 64 $hint
    done
    # 4. A long-running guest loop and 1M-element kernel call: the interpreter's
    #    tail-call dispatch must not grow the native stack on this ISA.
    expect "$t: CLI, 1M elements (deep interpreter loops)" 0 \
      "${cli[@]}" run --kernel-engine interpreter --threads 3 --invoke run "$guest" 1048576 4096 1
    # 5. The kernel engines on this ISA: each runs the guest's kernel on the
    #    SEQUENTIAL and CPU devices (the guest checks every result); --stats
    #    must name the engine that ran the call. The JIT (Cranelift's aarch64
    #    backend) where it is built in, the interpreter always; a JIT build
    #    whose `auto` is not the JIT is a failure.
    engines="interpreter"
    [ "$jit" = 1 ] && engines="jit interpreter auto"
    for engine in $engines; do
      name=$engine
      [ "$engine" = jit ] && name="jit (cranelift)"
      [ "$engine" = auto ] && name=$( [ "$jit" = 1 ] && echo "jit (cranelift)" || echo interpreter)
      for hint in 0 1; do
        expect "$t: CLI, kernel engine $engine, device hint $hint" 0 \
          "${cli[@]}" run --kernel-engine $engine --threads 2 --stats --invoke run "$guest" 100000 256 $hint
        grep -qF "] $name: 1 calls" "$out/last.stderr" ||
          fail "$t: --stats does not name the $name engine: $(cat "$out/last.stderr")"
      done
    done
    # A long JIT call (1M elements, 3 threads), as 4. for the interpreter.
    if [ "$jit" = 1 ]; then
      expect "$t: CLI, 1M elements on the JIT" 0 \
        "${cli[@]}" run --kernel-engine jit --threads 3 --invoke run "$guest" 1048576 4096 1
    fi
  fi
  fi # lib_only

  # 6. C hosts linked against the cross-built static library.
  if [ -f include/wasi_parallel.h ] && [ -f c-examples/embedded_host.c ]; then
    cc=$triple-gcc
    host=$out/$t/embedded_host
    $cc -O2 -std=c11 -Wall -Werror -I"$prefix/include" c-examples/embedded_host.c \
      "$prefix/lib/libwasi_parallel.a" -lpthread -ldl -lm -o "$host"
    expect "$t: C host (static lib), CPU device, 4 threads" "ok" \
      "${run[@]}" "$host" "$guest" 4
  else
    log "$t: no C API yet (include/wasi_parallel.h or c-examples/embedded_host.c missing): C host skipped"
  fi
  # 7. The release SDK (scripts/package.sh) of this install, where it has the
  #    CLI, checked as a user takes it by scripts/test-sdk.sh (checksums,
  #    layout, exports, C hosts with pkg-config and the static library, the
  #    version check, the CLI, under qemu). Step 8 builds c-examples/
  #    against the unpacked SDK instead of $prefix.
  examples_prefix=$prefix
  if [ "$lib_only" = 0 ]; then
    sdk_root=$out/$t/sdk
    rm -rf "$sdk_root"
    mkdir -p "$sdk_root"
    if SDK_PREFIX=$prefix DIST=$out/dist scripts/package.sh "$t" &&
       tarball=$(echo "$out"/dist/libwasi_parallel-*-"$rt".tar.gz) &&
       tar -C "$sdk_root" -xzf "$tarball"; then
      if TEST_SDK_CMAKE=0 scripts/test-sdk.sh "$tarball"; then
        log "ok: $t: scripts/test-sdk.sh on the SDK"
      else
        fail "$t: scripts/test-sdk.sh on the SDK"
      fi
      examples_prefix=$(echo "$sdk_root"/libwasi_parallel-*)
    else
      fail "$t: scripts/package.sh or unpacking the SDK"
    fi
  fi
  # 8. All of c-examples/ against the installed CMake package (the unpacked
  #    SDK where step 7 made one), configured with the toolchain file; ctest
  #    runs them under qemu (CMAKE_CROSSCOMPILING_EMULATOR).
  if [ -f c-examples/CMakeLists.txt ] && [ -d "$examples_prefix/lib/cmake" ]; then
    cb=$out/$t/c-examples
    rm -rf "$cb"
    if cmake -S c-examples -B "$cb" -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$tc" -DCMAKE_PREFIX_PATH="$examples_prefix" >&2 &&
       grep -q "WasiParallel_DIR:PATH=$examples_prefix/lib/cmake/WasiParallel" "$cb/CMakeCache.txt" &&
       cmake --build "$cb" >&2 &&
       file "$cb/embedded_host" | grep -q "$( [ $t = aarch64 ] && echo aarch64 || echo ARM)" &&
       (cd "$cb" && ctest --output-on-failure >&2); then
      log "ok: $t: c-examples against $examples_prefix (CMake toolchain file, ctest under $qemu)"
    else
      fail "$t: c-examples (CMake toolchain file + ctest under qemu)"
    fi
  else
    log "$t: no CMake package or c-examples/CMakeLists.txt: CMake examples skipped"
  fi
done
log "done in $(( $(date +%s) - t0 )) s, $failures failure(s)"
[ $failures -eq 0 ]
