#!/usr/bin/env bash
# Tests one release SDK tarball (scripts/package.sh) the way a user takes
# it: unpacked into a fresh folder, nothing else of the build tree used.
#
#   scripts/test-sdk.sh dist/libwasi_parallel-<version>-<target>.tar.gz
#
# For the target in the tarball's name (x86_64 natively, aarch64 and armv7
# under qemu user mode with the Debian cross toolchains of
# scripts/setup-cross.sh):
#   1. the SHA256SUMS inside hold, and the layout is complete (static and
#      shared library with its SONAME links, header, CMake and pkg-config
#      files, licence files);
#   2. the shared library exports only wp_* symbols (check-exports.sh);
#   3. a C host built with the SDK's pkg-config file against the shared
#      library (linked by its SONAME) runs a guest, and the version check
#      says "compatible";
#   4. a C host linked against the static library runs the same guest;
#   5. c-examples/ builds against the SDK through CMake find_package
#      (with the toolchain file for cross targets; TEST_SDK_CMAKE=0 skips
#      it, for scripts/test-cross.sh, which builds and runs them itself);
#   6. the SDK's CLI, where it has one, runs the guest.
# scripts/test-cross.sh checks the aarch64 SDK with it in CI; run it on every
# tarball before a release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: scripts/test-sdk.sh SDK.tar.gz" >&2; exit 2; }
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
name=$(basename "$tarball" .tar.gz)
guest=$root/c-examples/embedded/square_guest.wat
failures=0
log() { echo "test-sdk: $*" >&2; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }

case "$name" in
  *-x86_64-unknown-linux-gnu) triple=""; cc=gcc; run=(); tc="" ;;
  *-aarch64-unknown-linux-gnu) triple=aarch64-linux-gnu; tc=aarch64-linux-gnu.cmake ;;
  *-armv7-unknown-linux-gnueabihf) triple=arm-linux-gnueabihf; tc=armv7-linux-gnueabihf.cmake ;;
  *) log "cannot tell the target from $name"; exit 2 ;;
esac
if [ -n "$triple" ]; then
  cc=$triple-gcc
  qemu=qemu-${triple%%-*}
  [ "$triple" = arm-linux-gnueabihf ] && qemu=qemu-arm
  command -v "$qemu" >/dev/null || qemu=$qemu-static
  command -v "$cc" >/dev/null && command -v "$qemu" >/dev/null ||
    { log "$cc or $qemu missing: run scripts/setup-cross.sh"; exit 1; }
  run=("$qemu" -L "/usr/$triple")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/wp-test-sdk.XXXXXX")
trap 'rm -rf "$work"' EXIT
# expect NAME EXPECTED_STDOUT CMD...
expect() {
  local what=$1 want=$2; shift 2
  local got rc=0
  got=$("$@" 2>"$work/last.stderr") || rc=$?
  if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
    fail "$what: exit $rc, stdout '$got' (want '$want'); stderr: $(tail -c 600 "$work/last.stderr")"
  else
    log "ok: $what"
  fi
}

tar -C "$work" -xzf "$tarball"
sdk=$work/$name
[ -d "$sdk" ] || { log "FAIL: the tarball does not hold $name/"; exit 1; }
# 1. Checksums and layout.
(cd "$sdk" && sha256sum -c --quiet SHA256SUMS) && log "ok: SHA256SUMS" || fail "SHA256SUMS"
version=${name#libwasi_parallel-}; version=${version%%-*}
major=${version%%.*}
for f in lib/libwasi_parallel.a "lib/libwasi_parallel.so.$version" "lib/libwasi_parallel.so.$major" \
         lib/libwasi_parallel.so include/wasi_parallel.h lib/cmake/WasiParallel/WasiParallelConfig.cmake \
         lib/pkgconfig/wasi_parallel.pc LICENSE THIRD-PARTY-NOTICES README.md; do
  [ -e "$sdk/$f" ] || fail "layout: $f missing"
done
[ "$(readlink "$sdk/lib/libwasi_parallel.so")" = "libwasi_parallel.so.$major" ] &&
  [ "$(readlink "$sdk/lib/libwasi_parallel.so.$major")" = "libwasi_parallel.so.$version" ] ||
  fail "layout: the .so links are not .so -> .so.$major -> .so.$version"
# 2. Exports.
"$root/scripts/check-exports.sh" "$sdk/lib/libwasi_parallel.so.$version" >&2 && log "ok: exports" ||
  fail "exports or SONAME"
# 3. pkg-config, shared library.
pc=$(PKG_CONFIG_LIBDIR=$sdk/lib/pkgconfig pkg-config --cflags --libs wasi_parallel)
for ex in embedded_host version_check; do
  # shellcheck disable=SC2086
  $cc -O2 -std=c11 -Wall -Werror "$root/c-examples/$ex.c" $pc -Wl,-rpath,"$sdk/lib" \
    -o "$work/${ex}_pc" || fail "$ex with the SDK's pkg-config file"
done
readelf -d "$work/embedded_host_pc" | grep -q "NEEDED.*libwasi_parallel\.so\.$major\]" ||
  fail "the pkg-config host does not link libwasi_parallel.so.$major"
expect "pkg-config, shared library: C host, 2 threads" ok "${run[@]}" "$work/embedded_host_pc" "$guest" 2
expect "pkg-config, shared library: version check" compatible \
  sh -c '"$@" | tail -n 1' sh "${run[@]}" "$work/version_check_pc"
# 4. Static library.
static_libs=$(PKG_CONFIG_LIBDIR=$sdk/lib/pkgconfig pkg-config --static --libs-only-l wasi_parallel |
  sed 's/-lwasi_parallel//')
# shellcheck disable=SC2086
$cc -O2 -std=c11 -Wall -Werror -I"$sdk/include" "$root/c-examples/embedded_host.c" \
  "$sdk/lib/libwasi_parallel.a" $static_libs -lpthread -ldl -lm -o "$work/embedded_host_static" ||
  fail "embedded_host against the static library"
expect "static library: C host, 4 threads" ok "${run[@]}" "$work/embedded_host_static" "$guest" 4
# 5. CMake find_package.
if [ "${TEST_SDK_CMAKE:-1}" = 1 ]; then
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$sdk")
[ -n "$tc" ] && cmake_args+=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$tc")
if cmake -S "$root/c-examples" -B "$work/cmake" "${cmake_args[@]}" >"$work/cmake.log" 2>&1 &&
   grep -q "WasiParallel_DIR:PATH=$sdk/lib/cmake/WasiParallel" "$work/cmake/CMakeCache.txt" &&
   cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1; then
  log "ok: c-examples through CMake find_package"
else
  fail "c-examples through CMake find_package: $(tail -c 800 "$work/cmake.log")"
fi
fi
# 6. The CLI.
if [ -x "$sdk/bin/wasi-parallel" ]; then
  expect "CLI runs the guest" 0 "${run[@]}" "$sdk/bin/wasi-parallel" run --invoke run "$guest" 4096 64 1
else
  log "no CLI in this SDK"
fi
log "$name: $failures failure(s)"
[ $failures -eq 0 ]
