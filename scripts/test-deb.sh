#!/usr/bin/env bash
# The Debian packages on this machine: builds the amd64 packages
# (scripts/deb.sh, reusing the release build of c-examples/run.sh: run that
# first, as scripts/test.sh does; REUSE_BUILD=0 builds instead), installs
# them with `apt-get install ./*.deb`, then, against the installed files only
# (no build tree, no prefix):
#   - builds c-examples/ with CMake find_package and runs the version check,
#     the shared-library and the embedded-host examples under ctest;
#   - builds an example with pkg-config (shared library from /usr/lib) and
#     runs it, checking it loads libwasi_parallel.so.MAJOR from there;
#   - runs the installed CLI;
# and removes the packages again (also on failure). Then builds the arm64
# packages (reusing scripts/test-cross.sh's aarch64 build; DEB_ARM64=0 skips
# them) and checks their architecture and contents.
# Needs root (or sudo) for apt-get. Exit status 0 only when all passed.
set -euo pipefail
export DEB_COMPRESS=${DEB_COMPRESS:-gzip}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
major=${version%%.*}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
pkgs=(libwasi-parallel$major libwasi-parallel-dev wasi-parallel)
pkgs_installed=()
log() { echo "test-deb: $*" >&2; }
t0=$(date +%s)

for p in "${pkgs[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    log "$p is installed already: refusing to replace it (remove it first)"; exit 1
  fi
done
# Nothing of the package may be on the system before (the examples must
# find the installed files, not leftovers).
[ ! -e /usr/include/wasi_parallel.h ] || { log "/usr/include/wasi_parallel.h exists already"; exit 1; }

dist=$root/target/deb/dist
rm -rf "$dist"
# The amd64 packages from c-examples/run.sh's release build (REUSE_BUILD: no
# cargo run), without the CLI, which that build does not make (a release CLI
# build is minutes of CI; the CLI package is built and checked for arm64
# below, and DEB_AMD64_CLI=1 builds, installs and runs it here).
if [ "${DEB_AMD64_CLI:-0}" = 1 ]; then
  DIST=$dist scripts/deb.sh amd64
  pkgs_installed=("${pkgs[@]}")
else
  # lintian on the arm64 set below (the same control files, and the CLI
  # package): on this 50 MB static library it takes minutes (LINTIAN=1 here too).
  DIST=$dist NO_CLI=1 REUSE_BUILD=${REUSE_BUILD:-1} LINTIAN=${LINTIAN:-0} scripts/deb.sh amd64
  pkgs_installed=("${pkgs[@]:0:2}")
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/wp-test-deb.XXXXXX")
cleanup() {
  if [ ${#pkgs_installed[@]} -gt 0 ]; then
    $SUDO apt-get remove -y -qq --purge "${pkgs_installed[@]}" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
tb=$(date +%s)
(cd "$dist" && $SUDO apt-get install -y -qq --no-install-recommends ./*.deb >&2)
log "installed with apt-get in $(( $(date +%s) - tb )) s: $(dpkg-query -W "${pkgs_installed[@]}" | tr '\n' ' ')"
for f in "/usr/lib/$ma/libwasi_parallel.so.$version" "/usr/lib/$ma/libwasi_parallel.so.$major" \
         "/usr/lib/$ma/libwasi_parallel.so" "/usr/lib/$ma/libwasi_parallel.a" /usr/include/wasi_parallel.h \
         "/usr/lib/$ma/cmake/WasiParallel/WasiParallelConfig.cmake" \
         "/usr/lib/$ma/pkgconfig/wasi_parallel.pc"; do
  [ -e "$f" ] || { log "FAIL: $f not installed"; exit 1; }
done
scripts/check-exports.sh "/usr/lib/$ma/libwasi_parallel.so.$version" >&2

# CMake, with no prefix path: the package must be found in /usr.
cmake -S c-examples -B "$work/examples" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; exit 1; }
if grep -q "CMake Warning" "$work/configure.log"; then
  log "FAIL: the installed CMake package warns:"; cat "$work/configure.log" >&2; exit 1
fi
grep -q "WasiParallel_DIR:PATH=/usr/lib/$ma/cmake/WasiParallel" "$work/examples/CMakeCache.txt" ||
  { log "FAIL: CMake did not find the installed package"; grep WasiParallel_DIR "$work/examples/CMakeCache.txt" >&2; exit 1; }
cmake --build "$work/examples" -j "$(nproc)" >/dev/null
(cd "$work/examples" && ctest --output-on-failure -R 'version_check|call_export|embedded_host|run_wasi' >&2)
# The shared example loads the installed library through its SONAME.
ldd "$work/examples/call_export_shared" | grep -q "libwasi_parallel.so.$major => /usr/lib/$ma/libwasi_parallel.so.$version" ||
  ldd "$work/examples/call_export_shared" | grep -q "libwasi_parallel.so.$major => /lib/$ma/libwasi_parallel.so.$major" ||
  { log "FAIL: call_export_shared does not load /usr/lib/$ma/libwasi_parallel.so.$major"; ldd "$work/examples/call_export_shared" >&2; exit 1; }
log "ok: c-examples with find_package(WasiParallel) from /usr"

# pkg-config: the shared library (Libs: -lwasi_parallel).
pkg-config --exact-version="$version" wasi_parallel
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$work/version_check_pc" c-examples/version_check.c \
  $(pkg-config --cflags --libs wasi_parallel)
"$work/version_check_pc" | grep -qx compatible
readelf -d "$work/version_check_pc" | grep -q "NEEDED.*\[libwasi_parallel.so.$major\]" ||
  { log "FAIL: the pkg-config build does not record libwasi_parallel.so.$major"; exit 1; }
log "ok: pkg-config build against the shared library"

# The CLI.
if [ "${DEB_AMD64_CLI:-0}" = 1 ]; then
out=$(wasi-parallel run --invoke run c-examples/embedded/square_guest.wat 4096 64 1)
[ "$out" = 0 ] || { log "FAIL: installed CLI printed '$out'"; exit 1; }
wasi-parallel devices >/dev/null
wasi-parallel --version | grep -qF "$version" || { log "FAIL: wasi-parallel --version: $(wasi-parallel --version)"; exit 1; }
log "ok: installed CLI"
fi
cleanup
trap - EXIT

if [ "${DEB_ARM64:-1}" = 1 ]; then
  tb=$(date +%s)
  # test-cross.sh's aarch64 build (same profile: CROSS_PROFILE), reused.
  DIST=$dist PROFILE=${CROSS_PROFILE:-release} FEATURES=${CROSS_FEATURES:-} REUSE_BUILD=${REUSE_BUILD:-1} \
    scripts/deb.sh arm64
  for deb in "$dist"/*_arm64.deb; do
    [ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || { log "FAIL: $deb is not arm64"; exit 1; }
  done
  x=$(mktemp -d "${TMPDIR:-/tmp}/wp-deb-arm64.XXXXXX")
  dpkg-deb -x "$dist/libwasi-parallel${major}_${version}-1_arm64.deb" "$x"
  dpkg-deb -x "$dist/wasi-parallel_${version}-1_arm64.deb" "$x"
  file -L "$x/usr/lib/aarch64-linux-gnu/libwasi_parallel.so.$major" | grep -q "ARM aarch64" &&
    file "$x/usr/bin/wasi-parallel" | grep -q "ARM aarch64" ||
    { log "FAIL: the arm64 packages do not hold aarch64 binaries"; rm -rf "$x"; exit 1; }
  rm -rf "$x"
  log "ok: arm64 packages ($(( $(date +%s) - tb )) s)"
fi
log "done in $(( $(date +%s) - t0 )) s"
